// A 2 MiB VA block of one address space as the GPU driver tracks it (NVIDIA UVM's uvm_va_block):
// which of its 512 pages are resident in GPU memory and in which slot, a tree of residency counts
// the prefetch and eviction policies read (a complete binary tree over the 512 pages: node 1 is
// the block, nodes 512..1023 the pages), per-64 KiB access stamps for tree-based eviction, and
// the thrashing history of its pages, allocated the first time a thrashing policy records one.

import { InvariantError } from '../../sim/errors.js';

export const VA_BLOCK_PAGES = 512;
export const VA_BLOCK_SHIFT = 9;
/** Pages of a 64 KiB big page, the leaf of the tree policies (UVMSmart's basic block). */
export const BIG_PAGE_PAGES = 16;
export const BIG_PAGES_PER_BLOCK = VA_BLOCK_PAGES / BIG_PAGE_PAGES;

/** Per-page thrashing history (uvm_perf_thrashing's page_thrashing_info, in arrays). */
export class ThrashState {
  /** Time of the page's last counted migration (-1: none). */
  readonly lastNs = new Float64Array(VA_BLOCK_PAGES).fill(-1);
  /** Consecutive migrations closer than the lapse. */
  readonly events = new Uint8Array(VA_BLOCK_PAGES);
  /** The page is pinned (or mapped remotely) until this time. */
  readonly pinnedUntilNs = new Float64Array(VA_BLOCK_PAGES);
  /** Last time any page of the block had a thrashing event (for the epoch reset). */
  lastEventNs = 0;
}

export class VaBlock {
  /** The slot in GPU memory holding each page, or -1. */
  readonly slot = new Int32Array(VA_BLOCK_PAGES).fill(-1);
  /** Resident-page counts: node n covers its subtree; leaves 512 + i. */
  readonly tree = new Uint16Array(2 * VA_BLOCK_PAGES);
  /** Last access stamp of each 64 KiB big page (GPU accesses, in the memory's access clock). */
  readonly bigPageStamp = new Float64Array(BIG_PAGES_PER_BLOCK);
  thrash: ThrashState | null = null;

  constructor(
    /** The owning address space's index on its GPU. */
    readonly spaceIndex: number,
    /** First vpn of the block (2 MiB aligned). */
    readonly firstVpn: number,
  ) {}

  get residentPages(): number {
    return this.tree[1];
  }

  isResident(index: number): boolean {
    return this.slot[index] >= 0;
  }

  /** Records that page `index` now lives in GPU slot `slot`. */
  place(index: number, slot: number): void {
    if (this.slot[index] >= 0)
      throw new InvariantError('VA block page is already resident', { firstVpn: this.firstVpn, index });
    this.slot[index] = slot;
    for (let n = VA_BLOCK_PAGES + index; n >= 1; n >>= 1) this.tree[n]++;
  }

  /** Records that page `index` left GPU memory. */
  remove(index: number): void {
    if (this.slot[index] < 0)
      throw new InvariantError('VA block page is not resident', { firstVpn: this.firstVpn, index });
    this.slot[index] = -1;
    for (let n = VA_BLOCK_PAGES + index; n >= 1; n >>= 1) this.tree[n]--;
  }

  /** Resident pages in [first, first + count). */
  residentIn(first: number, count: number): number {
    if (count <= 0) return 0;
    // A subtree when aligned; otherwise count the leaves.
    if ((first & (count - 1)) === 0 && (count & (count - 1)) === 0) {
      const level = Math.log2(VA_BLOCK_PAGES / count);
      return this.tree[(1 << level) + first / count];
    }
    let n = 0;
    for (let i = first; i < first + count; i++) if (this.slot[i] >= 0) n++;
    return n;
  }

  thrashState(): ThrashState {
    return (this.thrash ??= new ThrashState());
  }
}

/** The block key of a page of an address space: unique per (space, 2 MiB block). */
export function blockKey(spaceIndex: number, vpn: number): number {
  return spaceIndex * 2 ** 36 + Math.floor(vpn / VA_BLOCK_PAGES);
}
