// Prefetch policies: which pages a fault batch migrates besides the faulting ones, within one
// 2 MiB VA block. The four of Ganguly et al. (ISCA 2019): none (on-demand paging), random, the
// sequential-local 64 KiB block, and NVIDIA UVM's tree-based neighbourhood prefetcher
// (uvm_perf_prefetch.c: a subregion is pulled whole once more than `threshold`% of it is resident
// or faulted; the largest such subregion around each fault wins).

import { z } from 'zod';
import { BIG_PAGE_PAGES, VA_BLOCK_PAGES } from '../vaBlock.js';
import type { PolicyDefinition, PrefetchPolicy, PrefetchRequest } from './types.js';

const powerOfTwoPages = z
  .number()
  .int()
  .min(1)
  .max(VA_BLOCK_PAGES)
  .refine((n) => (n & (n - 1)) === 0, 'a power of two');

/** Selects every page of the aligned `pages`-page group around each faulted page (inside the VMA). */
export function selectAlignedGroups(request: PrefetchRequest, pages: number): void {
  const { faulted, select, firstIndex, endIndex } = request;
  for (let i = firstIndex; i < endIndex; i++) {
    if (!faulted[i]) continue;
    const first = Math.max(firstIndex, i & ~(pages - 1));
    const end = Math.min(endIndex, (i & ~(pages - 1)) + pages);
    for (let j = first; j < end; j++) select[j] = 1;
    i = end - 1;
  }
}

const none: PolicyDefinition<PrefetchPolicy> = {
  name: 'none',
  description: 'on-demand paging: only the faulting pages (and the migration granularity) move',
  params: z.strictObject({}),
  create: () => ({ name: 'none', prefetch: () => undefined }),
};

const random: PolicyDefinition<PrefetchPolicy, { pages: number }> = {
  name: 'random',
  description: 'each fault also pulls `pages` random pages of its 2 MiB block (Ganguly Rp)',
  params: z.strictObject({ pages: z.number().int().min(1).max(VA_BLOCK_PAGES).default(1) }),
  create: ({ pages }) => ({
    name: 'random',
    prefetch(request) {
      const { faulted, select, firstIndex, endIndex, rng } = request;
      const span = endIndex - firstIndex;
      for (let i = firstIndex; i < endIndex; i++) {
        if (!faulted[i]) continue;
        for (let k = 0; k < pages; k++) select[firstIndex + rng.below(span)] = 1;
      }
    },
  }),
};

const sequentialLocal: PolicyDefinition<PrefetchPolicy, { pages: number }> = {
  name: 'sequential-local',
  description: 'each fault pulls its aligned group of `pages` pages, 16 = 64 KiB (Ganguly SLp)',
  params: z.strictObject({ pages: powerOfTwoPages.default(BIG_PAGE_PAGES) }),
  create: ({ pages }) => ({
    name: 'sequential-local',
    prefetch: (request) => selectAlignedGroups(request, pages),
  }),
};

/**
 * The tree rule on a request: the faulted pages are first grown to whole 64 KiB big pages; then,
 * for each faulted page, the largest aligned subregion containing it of which more than
 * `threshold`% is resident or selected is selected whole. Counts are taken before any of the
 * subregions is added (one pass, as the driver computes its prefetch mask).
 */
export function treePrefetch(request: PrefetchRequest, threshold: number, counts: Uint16Array): void {
  const { block, faulted, select, firstIndex, endIndex } = request;
  selectAlignedGroups(request, BIG_PAGE_PAGES);
  // Leaves: resident or selected pages of the VMA's part of the block; inner nodes: sums.
  counts.fill(0);
  for (let i = firstIndex; i < endIndex; i++)
    counts[VA_BLOCK_PAGES + i] = select[i] || block.isResident(i) ? 1 : 0;
  for (let n = VA_BLOCK_PAGES - 1; n >= 1; n--) counts[n] = counts[2 * n] + counts[2 * n + 1];
  for (let i = firstIndex; i < endIndex; i++) {
    if (!faulted[i]) continue;
    let best = 0;
    let bestSize = 0;
    let size = 1;
    for (let n = (VA_BLOCK_PAGES + i) >> 1; n >= 1; n >>= 1) {
      size *= 2;
      if (counts[n] * 100 > size * threshold) {
        best = n;
        bestSize = size;
      }
    }
    if (best === 0) continue;
    // Node `best` covers pages [first, first + bestSize).
    const first = (best << Math.log2(bestSize)) - VA_BLOCK_PAGES;
    const end = Math.min(endIndex, first + bestSize);
    for (let j = Math.max(first, firstIndex); j < end; j++) select[j] = 1;
  }
}

const tree: PolicyDefinition<PrefetchPolicy, { threshold: number }> = {
  name: 'tree',
  description:
    "NVIDIA UVM's tree-based neighbourhood prefetcher over 2 MiB blocks: a subregion more than threshold% resident is pulled whole (Ganguly TBNp)",
  params: z.strictObject({ threshold: z.number().int().min(1).max(100).default(51) }),
  create: ({ threshold }) => {
    const counts = new Uint16Array(2 * VA_BLOCK_PAGES);
    return { name: 'tree', prefetch: (request) => treePrefetch(request, threshold, counts) };
  },
};

export const PREFETCH_POLICIES: readonly PolicyDefinition<PrefetchPolicy, never>[] = [
  none,
  random,
  sequentialLocal,
  tree,
] as never;
