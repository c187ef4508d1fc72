// Models rmap_walk (mm/rmap.c): from a folio to every VMA that may map it. An anonymous folio is
// found through its anon_vma (the VMA it was created in and every VMA forked from it), a page-cache
// folio through its file's i_mmap. Like rmap_walk_anon and rmap_walk_file, the walk visits every
// VMA whose page-offset range overlaps the folio's [index, index + nr_pages) (a folio can straddle
// VMAs after a split of its VMA), in the order of the kernel's interval trees (by page offset,
// older first), and hands each one the first address of the folio inside it (vma_address). Callers
// check the entries from that address on, since "may map" is not "maps".
//
// The model numbers an anonymous page by its address (its index is the vpn it was created at,
// where the kernel uses linear_page_index, the VMA's vm_pgoff plus the offset), so for an anon_vma a
// VMA's place in the index space is its start; for a page cache it is the file offset, vma.pgoff.
// Both give the same order as the kernel's trees, which are keyed by vm_pgoff: the VMAs of one
// anon_vma family all keep vm_pgoff - vm_start constant (splits and forks preserve it, and mremap
// is not modeled).
//
// The walk allocates nothing per call: `rmapOne` and `done` are plain functions that get the
// caller's argument back (rmap_walk_control.arg), and the rare walk that meets several VMAs sorts
// them in a scratch array kept per nesting depth (a callback may start another walk).

import { AnonVma } from './anonVma.js';
import { HPAGE_PMD_NR } from './constants.js';
import { PageCache } from './file.js';
import type { PhysMem } from './physmem.js';
import type { Vma } from './vma.js';

/**
 * rmap_one: `pfn` is the page the walk was started for, `vpn` the first page of its folio inside
 * `vma` (the VMA's start when the folio begins below it). Returning false ends the walk.
 */
export type RmapOne<T> = (pfn: number, vma: Vma, vpn: number, arg: T) => boolean;
/** rmap_walk_control.done: asked after each VMA; true ends the walk. */
export type RmapDone<T> = (mem: PhysMem, pfn: number, arg: T) => boolean;

/** folio_not_mapped: the `done` of walks that unmap (try_to_migrate, make_device_exclusive). */
export function folioNotMapped(mem: PhysMem, pfn: number): boolean {
  return mem.folioMapcount(pfn) === 0;
}

/** Interval-tree order: by page offset of the VMA's start, then insertion (creation) order. */
function treeBefore(a: Vma, b: Vma): boolean {
  return a.pgoff < b.pgoff || (a.pgoff === b.pgoff && a.id < b.id);
}

/** Scratch arrays for walks that meet several VMAs, one per nesting depth. */
const scratch: Vma[][] = [];
let depth = 0;

/**
 * rmap_walk for the folio containing `pfn`: calls `rmapOne(pfn, vma, vpn, arg)` for every VMA that
 * may map a page of it, in interval-tree order, until one returns false or `done` (if any), asked
 * after each call, returns true.
 */
export function rmapWalk<T>(
  mem: PhysMem,
  pfn: number,
  rmapOne: RmapOne<T>,
  done: RmapDone<T> | null,
  arg: T,
): void {
  const head = mem.folioHead(pfn);
  const obj = mem.mappingObject(mem.mappingOf(head));
  let vmas: Set<Vma>;
  let anon: boolean;
  if (obj instanceof AnonVma) {
    vmas = obj.vmas;
    anon = true;
  } else if (obj instanceof PageCache) {
    vmas = obj.vmas;
    anon = false;
  } else {
    return;
  }
  // folio_pgoff .. + folio_nr_pages - 1: the interval the trees are searched with.
  const first = mem.indexOf(head);
  const last = first + (mem.isLargeFolio(head) ? HPAGE_PMD_NR : 1) - 1;
  let only: Vma | null = null;
  let list: Vma[] | null = null;
  for (const vma of vmas) {
    const key = anon ? vma.start : vma.pgoff;
    if (key > last || key + (vma.end - vma.start) <= first) continue;
    if (only === null) {
      only = vma;
      continue;
    }
    if (list === null) {
      list = scratch[depth] ?? (scratch[depth] = []);
      list.length = 0;
      list.push(only);
    }
    // Insertion sort: walks that meet more than one VMA meet a handful.
    let i = list.length;
    list.push(vma);
    while (i > 0 && treeBefore(vma, list[i - 1])) {
      list[i] = list[i - 1];
      i--;
    }
    list[i] = vma;
  }
  if (only === null) return;
  if (list === null) {
    rmapOne(pfn, only, vmaAddress(only, first, anon), arg);
    return;
  }
  depth++;
  try {
    for (let i = 0; i < list.length; i++) {
      const vma = list[i];
      if (!rmapOne(pfn, vma, vmaAddress(vma, first, anon), arg)) break;
      if (done?.(mem, pfn, arg)) break;
    }
  } finally {
    depth--;
    list.length = 0;
  }
}

/**
 * vma_address: the first page of a range starting at index `pgoff` that `vma` maps (the VMA's
 * start when the range begins below it). The caller knows the range overlaps the VMA.
 */
export function vmaAddress(vma: Vma, pgoff: number, anon: boolean): number {
  const key = anon ? vma.start : vma.pgoff;
  return pgoff >= key ? vma.start + (pgoff - key) : vma.start;
}

/** The page of `vma` where a folio whose first page has index `index` would begin (may be outside it). */
export function folioStartIn(vma: Vma, index: number, anon: boolean): number {
  return vma.start + (index - (anon ? vma.start : vma.pgoff));
}
