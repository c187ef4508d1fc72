// A set-associative translation cache, the shape of both an IOMMU's IOTLB and a device's ATS
// translation cache (ATC): entries keyed by (tag, page) where the tag is a PASID (ATC, VT-d/AMD
// IOTLB) or an ASID (SMMU IOTLB). A translation covers one 4 KiB page or one aligned 2 MiB block.
// Everything lives in typed arrays: a lookup or a fill allocates nothing.

import { HPAGE_PMD_NR } from '../mm/constants.js';

// A cached value: pfn * 16 + flags. The low bits are the permissions granted and the size.
export const TC_READ = 1;
export const TC_WRITE = 2;
export const TC_EXEC = 4;
/** The entry translates a whole aligned 2 MiB block. */
export const TC_HUGE = 8;
export const TC_PERM_MASK = TC_READ | TC_WRITE | TC_EXEC;

/** Every tag (an invalidation without PASID covers all of them). */
export const TC_ALL_TAGS = -1;

const EMPTY = -1;

export interface TranslationCacheOptions {
  /** Total entries (rounded up to a power of two; default 1024). */
  readonly entries?: number;
  /** Ways per set (default 8). */
  readonly ways?: number;
}

export class TranslationCache {
  readonly entries: number;
  readonly ways: number;
  private readonly setMask: number;
  private readonly tags: Int32Array;
  /** Base page of the entry (2 MiB-aligned for huge entries). */
  private readonly vpns: Float64Array;
  private readonly values: Float64Array;
  private readonly stamps: Uint32Array;
  private clock = 1;
  /** Valid entries right now. */
  size = 0;
  hits = 0;
  misses = 0;

  constructor(options: TranslationCacheOptions = {}) {
    const ways = options.ways ?? 8;
    let entries = Math.max(ways, options.entries ?? 1024);
    entries = 2 ** Math.ceil(Math.log2(entries));
    if (!Number.isInteger(ways) || ways < 1 || entries % ways !== 0) {
      throw new RangeError(`translation cache ways must divide its ${entries} entries, got ${ways}`);
    }
    this.entries = entries;
    this.ways = ways;
    this.setMask = entries / ways - 1;
    this.tags = new Int32Array(entries).fill(EMPTY);
    this.vpns = new Float64Array(entries);
    this.values = new Float64Array(entries);
    this.stamps = new Uint32Array(entries);
  }

  /** The cached value for (tag, vpn): pfn of `vpn` * 16 + permission bits, or -1 on a miss. */
  lookup(tag: number, vpn: number): number {
    let i = this.find(tag, vpn, false);
    if (i >= 0) {
      this.hits++;
      this.stamps[i] = this.clock++;
      return this.values[i];
    }
    const base = vpn - (vpn % HPAGE_PMD_NR);
    i = this.find(tag, base, true);
    if (i >= 0) {
      this.hits++;
      this.stamps[i] = this.clock++;
      // A huge entry's pfn is the block's first frame: offset it to the page asked for.
      return this.values[i] + (vpn - base) * 16;
    }
    this.misses++;
    return -1;
  }

  /**
   * Caches a translation of `vpn`: `value` is pfn * 16 + TC_* bits, the pfn being `vpn`'s own
   * frame. With TC_HUGE the entry covers the whole aligned 2 MiB block around `vpn`.
   */
  insert(tag: number, vpn: number, value: number): void {
    const huge = (value & TC_HUGE) !== 0;
    const key = huge ? vpn - (vpn % HPAGE_PMD_NR) : vpn;
    if (huge) value -= (vpn - key) * 16;
    let i = this.find(tag, key, huge);
    if (i < 0) {
      i = this.victim(tag, key, huge);
      if (this.tags[i] === EMPTY) this.size++;
      this.tags[i] = tag;
      this.vpns[i] = key;
    }
    this.values[i] = value;
    this.stamps[i] = this.clock++;
  }

  /**
   * Drops every entry of `tag` (or of every tag, TC_ALL_TAGS) that overlaps [startVpn, endVpn).
   * Returns how many entries went.
   */
  invalidateRange(tag: number, startVpn: number, endVpn: number): number {
    if (this.size === 0 || endVpn <= startVpn) return 0;
    const npages = endVpn - startVpn;
    // Probing page by page beats a full scan only for short ranges of one tag.
    if (tag !== TC_ALL_TAGS && npages <= this.entries / 4) {
      let n = 0;
      for (let v = startVpn; v < endVpn; v++) n += this.drop(this.find(tag, v, false));
      const firstBlock = startVpn - (startVpn % HPAGE_PMD_NR);
      for (let b = firstBlock; b < endVpn; b += HPAGE_PMD_NR) n += this.drop(this.find(tag, b, true));
      return n;
    }
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      const t = this.tags[i];
      if (t === EMPTY || (tag !== TC_ALL_TAGS && t !== tag)) continue;
      const base = this.vpns[i];
      const span = this.values[i] & TC_HUGE ? HPAGE_PMD_NR : 1;
      if (base < endVpn && base + span > startVpn) n += this.drop(i);
    }
    return n;
  }

  /** Drops every entry of `tag` (TC_ALL_TAGS: everything). */
  invalidateTag(tag: number): number {
    if (this.size === 0) return 0;
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.tags[i] !== EMPTY && (tag === TC_ALL_TAGS || this.tags[i] === tag)) n += this.drop(i);
    }
    return n;
  }

  /** Calls `fn(tag, baseVpn, value)` for every valid entry (checkers and reports). */
  forEach(fn: (tag: number, baseVpn: number, value: number) => void): void {
    for (let i = 0; i < this.entries; i++)
      if (this.tags[i] !== EMPTY) fn(this.tags[i], this.vpns[i], this.values[i]);
  }

  /** Whether any entry of `tag` (TC_ALL_TAGS: any entry) is valid. */
  holdsTag(tag: number): boolean {
    if (this.size === 0) return false;
    for (let i = 0; i < this.entries; i++) {
      if (this.tags[i] !== EMPTY && (tag === TC_ALL_TAGS || this.tags[i] === tag)) return true;
    }
    return false;
  }

  private setBase(tag: number, key: number, huge: boolean): number {
    // Indexed by the low page-number bits, as hardware does (neighbouring pages never collide),
    // with the tag folded in so PASIDs share the sets evenly.
    const lo = key >>> 0;
    const h = (huge ? Math.imul(lo >>> 9, 0x2545f491) : lo) ^ (Math.imul(tag, 0x9e3779b1) >>> 11);
    return (h & this.setMask) * this.ways;
  }

  private find(tag: number, key: number, huge: boolean): number {
    const base = this.setBase(tag, key, huge);
    for (let i = base; i < base + this.ways; i++) {
      if (this.tags[i] === tag && this.vpns[i] === key && (this.values[i] & TC_HUGE ? huge : !huge)) return i;
    }
    return -1;
  }

  /** An empty way of the set, else its least recently used one. */
  private victim(tag: number, key: number, huge: boolean): number {
    const base = this.setBase(tag, key, huge);
    let best = base;
    for (let i = base; i < base + this.ways; i++) {
      if (this.tags[i] === EMPTY) return i;
      if (this.stamps[i] < this.stamps[best]) best = i;
    }
    return best;
  }

  private drop(i: number): number {
    if (i < 0 || this.tags[i] === EMPTY) return 0;
    this.tags[i] = EMPTY;
    this.size--;
    return 1;
  }
}
