// A device's own page table as drivers keep it: a sparse map from vpn to (pfn, attributes), in
// chunks of 512 entries so a mirror of a million pages costs a few MiB and no object per page.
// Attributes are a driver-defined non-zero word (0: no entry); drivers use the hmm pfn flag layout
// (VALID, WRITE, ...) so a batch from hmm_range_fault is stored with two array copies and no
// per-page work. Each chunk is one Uint32Array: pfns in the first half, attributes in the second.

const CHUNK = 512;

export class DeviceTable {
  private readonly chunks = new Map<number, Uint32Array>();
  private lastKey = -1;
  private lastChunk: Uint32Array | null = null;

  private chunk(key: number, create: boolean): Uint32Array | null {
    if (key === this.lastKey) return this.lastChunk;
    let c = this.chunks.get(key) ?? null;
    if (c === null && create) {
      c = new Uint32Array(CHUNK * 2);
      this.chunks.set(key, c);
    }
    if (c !== null) {
      this.lastKey = key;
      this.lastChunk = c;
    }
    return c;
  }

  /** The pfn mapped at `vpn`, or 0. */
  pfn(vpn: number): number {
    const c = this.chunk(Math.floor(vpn / CHUNK), false);
    return c === null ? 0 : c[vpn & (CHUNK - 1)];
  }

  /** The attributes of `vpn`'s entry, or 0 when there is none. */
  attr(vpn: number): number {
    const c = this.chunk(Math.floor(vpn / CHUNK), false);
    return c === null ? 0 : c[CHUNK + (vpn & (CHUNK - 1))];
  }

  has(vpn: number): boolean {
    return this.attr(vpn) !== 0;
  }

  /** Stores one entry; `attr` must be non-zero. */
  set(vpn: number, pfn: number, attr: number): void {
    const c = this.chunk(Math.floor(vpn / CHUNK), true)!;
    const i = vpn & (CHUNK - 1);
    c[i] = pfn;
    c[CHUNK + i] = attr;
  }

  /**
   * Stores `n` entries from `startVpn` with pfns `pfns[from..]` and attributes `attrs[from..]` (a
   * batch from hmm_range_fault: a word with no flag set stores no entry).
   */
  setBatch(startVpn: number, n: number, pfns: Uint32Array, attrs: Uint32Array, from: number): void {
    let done = 0;
    while (done < n) {
      const vpn = startVpn + done;
      const c = this.chunk(Math.floor(vpn / CHUNK), true)!;
      const off = vpn & (CHUNK - 1);
      const k = Math.min(CHUNK - off, n - done);
      const src = from + done;
      if (k === CHUNK && src === 0 && pfns.length === CHUNK && attrs.length === CHUNK) {
        // A whole, aligned chunk: two straight copies, no views.
        c.set(pfns, 0);
        c.set(attrs, CHUNK);
      } else {
        c.set(pfns.subarray(src, src + k), off);
        c.set(attrs.subarray(src, src + k), CHUNK + off);
      }
      done += k;
    }
  }

  delete(vpn: number): void {
    const c = this.chunk(Math.floor(vpn / CHUNK), false);
    if (c === null) return;
    const i = vpn & (CHUNK - 1);
    c[i] = 0;
    c[CHUNK + i] = 0;
  }

  /** Removes every entry with a vpn in [firstVpn, lastVpn] (inclusive). */
  eraseRange(firstVpn: number, lastVpn: number): void {
    if (this.chunks.size === 0) return;
    if (lastVpn - firstVpn > this.chunks.size * CHUNK) {
      // A huge range (exit, RELEASE): visit the chunks that exist instead of the range.
      for (const [key, c] of this.chunks) {
        const base = key * CHUNK;
        if (base + CHUNK - 1 < firstVpn || base > lastVpn) continue;
        eraseInChunk(c, Math.max(firstVpn, base) - base, Math.min(lastVpn, base + CHUNK - 1) - base);
      }
      return;
    }
    for (let vpn = firstVpn; vpn <= lastVpn;) {
      const key = Math.floor(vpn / CHUNK);
      const base = key * CHUNK;
      const last = Math.min(lastVpn, base + CHUNK - 1);
      const c = this.chunk(key, false);
      if (c !== null) eraseInChunk(c, vpn - base, last - base);
      vpn = last + 1;
    }
  }

  /** Number of entries (a scan: meant for tests and reports, not hot paths). */
  get size(): number {
    let n = 0;
    for (const c of this.chunks.values()) for (let i = CHUNK; i < 2 * CHUNK; i++) if (c[i] !== 0) n++;
    return n;
  }

  /** Every (vpn, pfn, attributes), in vpn order. */
  *entries(): Generator<[number, number, number]> {
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const c = this.chunks.get(key)!;
      for (let i = 0; i < CHUNK; i++) if (c[CHUNK + i] !== 0) yield [key * CHUNK + i, c[i], c[CHUNK + i]];
    }
  }

  /**
   * Every chunk that exists, with its number (vpns [key * 512, key * 512 + 512)): pfns in words
   * [0, 512), attributes in [512, 1024). For observers that diff the table; do not write to it.
   */
  forEachChunk(fn: (key: number, chunk: Uint32Array) => void): void {
    for (const [key, c] of this.chunks) fn(key, c);
  }

  clear(): void {
    this.chunks.clear();
    this.lastKey = -1;
    this.lastChunk = null;
  }
}

function eraseInChunk(c: Uint32Array, from: number, to: number): void {
  c.fill(0, from, to + 1);
  c.fill(0, CHUNK + from, CHUNK + to + 1);
}
