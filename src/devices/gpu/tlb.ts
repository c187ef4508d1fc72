// The GPU's TLB: a set-associative cache of its page-table entries, tagged by address space (as
// a GPU TLB is tagged by its VA space / PASID). A hit uses the cached pfn and attributes without
// reading the table, so a driver that changes an entry without invalidating the TLB lets the GPU
// use a stale translation, exactly the bug a real driver would have. Every table update in this
// model goes through GpuVaSpace, which invalidates here.

export class GpuTlb {
  private readonly sets: number;
  private readonly ways: number;
  /** Tag per entry: spaceIndex * 2^36 + vpn, or -1 when empty. */
  private readonly tag: Float64Array;
  private readonly pfn: Float64Array;
  private readonly attr: Uint32Array;
  /** Per-entry use stamp for least-recently-used replacement within a set. */
  private readonly used: Float64Array;
  private clock = 0;
  /** Filled by `lookup` on a hit. */
  hitPfn = 0;
  hitAttr = 0;
  invalidations = 0;

  constructor(entries: number, ways: number) {
    if (!Number.isInteger(entries) || entries < ways || !Number.isInteger(ways) || ways < 1)
      throw new RangeError(`GPU TLB: need entries >= ways >= 1, got ${entries} entries, ${ways} ways`);
    let sets = 1;
    while (sets * 2 * ways <= entries) sets *= 2;
    this.sets = sets;
    this.ways = ways;
    const n = sets * ways;
    this.tag = new Float64Array(n).fill(-1);
    this.pfn = new Float64Array(n);
    this.attr = new Uint32Array(n);
    this.used = new Float64Array(n);
  }

  get entries(): number {
    return this.sets * this.ways;
  }

  /** Every cached translation (for checks from outside; not a path the GPU takes). */
  *cached(): Generator<{ space: number; vpn: number; pfn: number; attr: number }> {
    for (let w = 0; w < this.tag.length; w++) {
      if (this.tag[w] < 0) continue;
      const space = Math.floor(this.tag[w] / 2 ** 36);
      yield { space, vpn: this.tag[w] - space * 2 ** 36, pfn: this.pfn[w], attr: this.attr[w] };
    }
  }

  private setBase(spaceIndex: number, vpn: number): number {
    return ((vpn ^ (spaceIndex * 0x9e37)) & (this.sets - 1)) * this.ways;
  }

  /** True on a hit (hitPfn and hitAttr are set). */
  lookup(spaceIndex: number, vpn: number): boolean {
    const key = spaceIndex * 2 ** 36 + vpn;
    const base = this.setBase(spaceIndex, vpn);
    for (let w = base; w < base + this.ways; w++) {
      if (this.tag[w] === key) {
        this.used[w] = ++this.clock;
        this.hitPfn = this.pfn[w];
        this.hitAttr = this.attr[w];
        return true;
      }
    }
    return false;
  }

  /** Caches a translation (after a walk), replacing the set's least recently used entry. */
  fill(spaceIndex: number, vpn: number, pfn: number, attr: number): void {
    const key = spaceIndex * 2 ** 36 + vpn;
    const base = this.setBase(spaceIndex, vpn);
    let victim = base;
    for (let w = base; w < base + this.ways; w++) {
      if (this.tag[w] === key || this.tag[w] < 0) {
        victim = w;
        break;
      }
      if (this.used[w] < this.used[victim]) victim = w;
    }
    this.tag[victim] = key;
    this.pfn[victim] = pfn;
    this.attr[victim] = attr;
    this.used[victim] = ++this.clock;
  }

  /** Drops the translations of [startVpn, endVpn) of one address space. */
  invalidateRange(spaceIndex: number, startVpn: number, endVpn: number): void {
    this.invalidations++;
    if (endVpn - startVpn > this.sets) {
      // Cheaper to sweep every entry than to probe each page.
      const lo = spaceIndex * 2 ** 36 + startVpn;
      const hi = spaceIndex * 2 ** 36 + endVpn;
      for (let w = 0; w < this.tag.length; w++) if (this.tag[w] >= lo && this.tag[w] < hi) this.tag[w] = -1;
      return;
    }
    for (let vpn = startVpn; vpn < endVpn; vpn++) {
      const key = spaceIndex * 2 ** 36 + vpn;
      const base = this.setBase(spaceIndex, vpn);
      for (let w = base; w < base + this.ways; w++) if (this.tag[w] === key) this.tag[w] = -1;
    }
  }

  /** Drops every translation of one address space. */
  invalidateSpace(spaceIndex: number): void {
    this.invalidateRange(spaceIndex, 0, 2 ** 36);
  }
}
