// Eviction policies: which pages leave a full GPU memory. LRU over 4 KiB pages; LRU over 2 MiB VA
// blocks (a whole block goes, as NVIDIA UVM evicts whole root chunks); and the tree-based
// neighbourhood eviction of Ganguly et al. (TBNe): the least recently used 64 KiB big page of the
// least recently used block goes, then every subregion of that block left less than `threshold`%
// resident is evicted whole, mirroring the tree prefetcher.

import { z } from 'zod';
import { BIG_PAGE_PAGES, BIG_PAGES_PER_BLOCK, VA_BLOCK_PAGES, type VaBlock } from '../vaBlock.js';
import { SlotList } from './slotList.js';
import type { EvictionPolicy, GpuMemoryView, PolicyDefinition } from './types.js';

/** Appends the block's resident, unpinned slots in [first, end) to `out`; returns how many. */
function takeResident(
  memory: GpuMemoryView,
  block: VaBlock,
  first: number,
  end: number,
  out: number[],
): number {
  let n = 0;
  for (let i = first; i < end; i++) {
    const slot = block.slot[i];
    if (slot >= 0 && !memory.isPinned(slot)) {
      out.push(slot);
      n++;
    }
  }
  return n;
}

/**
 * Blocks in least-recently-used order: a Map's insertion order, refreshed when a page of a block is
 * placed or accessed (consecutive touches of one block cost a comparison). Placement refreshes as
 * UVMSmart's refresh_valid_pages and UVM's move of a root chunk to the tail of its list do.
 */
class BlockLru {
  private readonly order = new Map<VaBlock, true>();
  private last: VaBlock | null = null;

  /** `last` is always the block at the back of `order` (or null), so skipping it is exact. */
  touch(block: VaBlock): void {
    if (block === this.last) return;
    this.order.delete(block);
    this.order.set(block, true);
    this.last = block;
  }

  /** Blocks from least to most recent; empty blocks are dropped on the way. */
  *oldestFirst(): Generator<VaBlock> {
    for (const block of this.order.keys()) {
      if (block.residentPages === 0) {
        this.order.delete(block);
        if (block === this.last) this.last = null;
        continue;
      }
      yield block;
    }
  }
}

const lru4k: PolicyDefinition<EvictionPolicy> = {
  name: 'lru-4k',
  description: 'the least recently used 4 KiB pages go (Ganguly LRU 4KB)',
  params: z.strictObject({}),
  create: (_params, { memory }) => {
    const list = new SlotList(memory.capacityPages);
    return {
      name: 'lru-4k',
      inserted: (slot) => list.pushBack(slot),
      accessed: (slot) => list.pushBack(slot),
      removed: (slot) => list.unlink(slot),
      selectVictims(pages, out) {
        const goal = out.length + pages;
        for (let s = list.first(); s >= 0 && out.length < goal; s = list.after(s))
          if (!memory.isPinned(s)) out.push(s);
      },
    };
  },
};

const lru2m: PolicyDefinition<EvictionPolicy> = {
  name: 'lru-2m',
  description: 'the least recently used 2 MiB VA blocks go whole (Ganguly LRU 2MB; UVM root chunks)',
  params: z.strictObject({}),
  create: (_params, { memory }) => {
    const lru = new BlockLru();
    return {
      name: 'lru-2m',
      inserted: (slot) => lru.touch(memory.blockOf(slot)!),
      accessed: (slot) => lru.touch(memory.blockOf(slot)!),
      removed: () => undefined,
      selectVictims(pages, out) {
        const goal = out.length + pages;
        for (const block of lru.oldestFirst()) {
          if (out.length >= goal) break;
          takeResident(memory, block, 0, VA_BLOCK_PAGES, out);
        }
      },
    };
  },
};

/** Slots chosen in the current selection round, so a block can give several rounds. */
export class TakenSlots {
  private readonly marks: Uint8Array;
  constructor(capacity: number) {
    this.marks = new Uint8Array(capacity);
  }
  has(slot: number): boolean {
    return this.marks[slot] === 1;
  }
  mark(slot: number): void {
    this.marks[slot] = 1;
  }
  /** Clears the marks of `slots` (the round is over). */
  clear(slots: readonly number[]): void {
    for (const s of slots) this.marks[s] = 0;
  }
}

/**
 * Tree eviction in one block: the least recently used big page with evictable pages goes, then
 * a post-order walk evicts every node left non-empty but below `threshold`% resident. Pages
 * already taken this round count as gone; pinned pages stay and count as resident. Returns how
 * many slots it took.
 */
export function treeEvictBlock(
  memory: GpuMemoryView,
  block: VaBlock,
  threshold: number,
  counts: Uint16Array,
  taken: TakenSlots,
  out: number[],
): number {
  // Leaves of a 32-leaf tree (nodes 32..63): resident pages per big page, not counting taken ones.
  let victim = -1;
  counts.fill(0);
  for (let b = 0; b < BIG_PAGES_PER_BLOCK; b++) {
    let resident = 0;
    let evictable = 0;
    for (let i = b * BIG_PAGE_PAGES; i < (b + 1) * BIG_PAGE_PAGES; i++) {
      const slot = block.slot[i];
      if (slot < 0 || taken.has(slot)) continue;
      resident++;
      if (!memory.isPinned(slot)) evictable++;
    }
    counts[BIG_PAGES_PER_BLOCK + b] = resident;
    if (evictable > 0 && (victim < 0 || block.bigPageStamp[b] < block.bigPageStamp[victim])) victim = b;
  }
  if (victim < 0) return 0;
  const before = out.length;
  // Takes the evictable pages of big pages [firstBig, firstBig + bigs); returns the pinned pages
  // left there, which stay resident and keep counting (UVMSmart's valid_size keeps blocks that
  // are not evictable).
  const take = (firstBig: number, bigs: number): number => {
    let left = 0;
    for (let b = firstBig; b < firstBig + bigs; b++) {
      let pinned = 0;
      for (let i = b * BIG_PAGE_PAGES; i < (b + 1) * BIG_PAGE_PAGES; i++) {
        const slot = block.slot[i];
        if (slot < 0 || taken.has(slot)) continue;
        if (memory.isPinned(slot)) {
          pinned++;
          continue;
        }
        taken.mark(slot);
        out.push(slot);
      }
      counts[BIG_PAGES_PER_BLOCK + b] = pinned;
      left += pinned;
    }
    return left;
  };
  take(victim, 1);
  // Post-order over the inner nodes: deeper nodes first (higher indexes), so what a node evicts
  // is seen by its ancestors.
  for (let n = BIG_PAGES_PER_BLOCK - 1; n >= 1; n--) {
    const level = 31 - Math.clz32(n);
    const pages = VA_BLOCK_PAGES >> level;
    const count = counts[2 * n] + counts[2 * n + 1];
    counts[n] = count;
    if (count === 0 || count * 100 >= pages * threshold) continue;
    const bigs = BIG_PAGES_PER_BLOCK >> level;
    counts[n] = take(n * bigs - BIG_PAGES_PER_BLOCK, bigs);
  }
  return out.length - before;
}

const tree: PolicyDefinition<EvictionPolicy, { threshold: number }> = {
  name: 'tree',
  description:
    'tree-based neighbourhood eviction (Ganguly TBNe): the LRU 64 KiB of the LRU 2 MiB block goes, then any subregion left under threshold% resident',
  params: z.strictObject({ threshold: z.number().int().min(1).max(100).default(50) }),
  create: ({ threshold }, { memory }) => {
    const lru = new BlockLru();
    const counts = new Uint16Array(2 * BIG_PAGES_PER_BLOCK);
    const taken = new TakenSlots(memory.capacityPages);
    let clock = 0;
    return {
      name: 'tree',
      inserted(slot) {
        const block = memory.blockOf(slot)!;
        lru.touch(block);
        block.bigPageStamp[memory.indexOf(slot) >> 4] = ++clock;
      },
      accessed(slot) {
        const block = memory.blockOf(slot)!;
        lru.touch(block);
        block.bigPageStamp[memory.indexOf(slot) >> 4] = ++clock;
      },
      removed: () => undefined,
      selectVictims(pages, out) {
        const from = out.length;
        const goal = from + pages;
        for (const block of lru.oldestFirst()) {
          // A block may give several rounds before the next one is needed.
          while (out.length < goal && treeEvictBlock(memory, block, threshold, counts, taken, out) > 0);
          if (out.length >= goal) break;
        }
        taken.clear(out.slice(from));
      },
    };
  },
};

export const EVICTION_POLICIES: readonly PolicyDefinition<EvictionPolicy, never>[] = [
  lru4k,
  lru2m,
  tree,
] as never;
