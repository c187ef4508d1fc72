// A device's own page table as drivers keep it: a sparse map from vpn to (pfn, tag), stored in
// chunks of 512 entries so a mirror of a million pages costs a few MiB and no object per page.

const CHUNK = 512;

export class DeviceTable {
  private readonly chunks = new Map<number, Uint32Array>();
  /** Entries currently present. */
  size = 0;

  /** The pfn mapped at `vpn`, or 0. */
  pfn(vpn: number): number {
    const c = this.chunks.get(Math.floor(vpn / CHUNK));
    return c === undefined ? 0 : c[(vpn % CHUNK) * 2];
  }

  /** The tag stored with `vpn`'s entry, or -1 when there is none. */
  tag(vpn: number): number {
    const c = this.chunks.get(Math.floor(vpn / CHUNK));
    return c === undefined ? -1 : c[(vpn % CHUNK) * 2 + 1] - 1;
  }

  has(vpn: number): boolean {
    return this.tag(vpn) >= 0;
  }

  set(vpn: number, pfn: number, tag: number): void {
    const key = Math.floor(vpn / CHUNK);
    let c = this.chunks.get(key);
    if (c === undefined) {
      c = new Uint32Array(CHUNK * 2);
      this.chunks.set(key, c);
    }
    const i = (vpn % CHUNK) * 2;
    if (c[i + 1] === 0) this.size++;
    c[i] = pfn;
    c[i + 1] = tag + 1;
  }

  delete(vpn: number): void {
    const c = this.chunks.get(Math.floor(vpn / CHUNK));
    if (c === undefined) return;
    const i = (vpn % CHUNK) * 2;
    if (c[i + 1] !== 0) this.size--;
    c[i] = 0;
    c[i + 1] = 0;
  }

  /** Removes every entry with a vpn in [firstVpn, lastVpn] (inclusive). */
  eraseRange(firstVpn: number, lastVpn: number): void {
    if (this.size === 0) return;
    if (lastVpn - firstVpn > this.chunks.size * CHUNK) {
      // A huge range (exit, RELEASE): visit the chunks that exist instead of the range.
      for (const [key, c] of this.chunks) {
        const base = key * CHUNK;
        if (base + CHUNK - 1 < firstVpn || base > lastVpn) continue;
        this.eraseInChunk(c, Math.max(firstVpn, base) - base, Math.min(lastVpn, base + CHUNK - 1) - base);
      }
      return;
    }
    for (let vpn = firstVpn; vpn <= lastVpn;) {
      const key = Math.floor(vpn / CHUNK);
      const base = key * CHUNK;
      const c = this.chunks.get(key);
      const last = Math.min(lastVpn, base + CHUNK - 1);
      if (c !== undefined) this.eraseInChunk(c, vpn - base, last - base);
      vpn = last + 1;
    }
  }

  /** Every (vpn, pfn, tag), in vpn order. */
  *entries(): Generator<[number, number, number]> {
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const c = this.chunks.get(key)!;
      for (let i = 0; i < CHUNK; i++)
        if (c[i * 2 + 1] !== 0) yield [key * CHUNK + i, c[i * 2], c[i * 2 + 1] - 1];
    }
  }

  clear(): void {
    this.chunks.clear();
    this.size = 0;
  }

  private eraseInChunk(c: Uint32Array, from: number, to: number): void {
    for (let i = from; i <= to; i++) {
      if (c[i * 2 + 1] !== 0) this.size--;
      c[i * 2] = 0;
      c[i * 2 + 1] = 0;
    }
  }
}
