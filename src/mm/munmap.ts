// Models munmap(2) (do_vmi_munmap in mm/vma.c): split the VMAs at the range edges, send one UNMAP
// invalidation for the requested range, zap every entry, free the page tables no VMA needs any more,
// then drop the VMAs with their file and anon_vma references.

import { EINVAL } from '../sim/errno.js';
import { PAGE_SIZE, pageAlign, TASK_SIZE } from './constants.js';
import type { Mm } from './mm.js';
import { invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_UNMAP } from './mmuNotify.js';
import type { Vma } from './vma.js';
import { releaseVma, splitVma } from './vmaOps.js';
import { zapVmaRange } from './zap.js';

/** munmap(addr, length): 0 or -EINVAL. Unmapping a range with nothing mapped succeeds. */
export function doMunmap(mm: Mm, addr: number, length: number): number {
  if (addr % PAGE_SIZE !== 0 || addr > TASK_SIZE || length > TASK_SIZE - addr) return -EINVAL;
  const len = pageAlign(length);
  if (len === 0) return -EINVAL;
  return unmapRange(mm, addr / PAGE_SIZE, (addr + len) / PAGE_SIZE);
}

/** Unmaps [startVpn, endVpn) (page-aligned, validated). Shared by munmap and MAP_FIXED. */
export function unmapRange(mm: Mm, startVpn: number, endVpn: number): number {
  let first = mm.vmas.findFrom(startVpn);
  if (first === null || first.start >= endVpn) return 0;
  if (startVpn > first.start) {
    const upper = splitVma(first, startVpn);
    if (typeof upper === 'number') return upper;
    first = upper;
  }
  const victims = mm.vmas.range(startVpn, endVpn);
  const last = victims[victims.length - 1];
  if (last.end > endVpn) {
    const rc = splitVma(last, endVpn);
    if (typeof rc === 'number') return rc;
  }
  const prev = mm.vmas.prev(first);
  const next = mm.vmas.next(last);
  unmapVmas(mm, victims, startVpn, endVpn, prev === null ? 0 : prev.end, next === null ? 0 : next.start);
  return 0;
}

/**
 * Zaps and removes `victims` (whole VMAs inside [startVpn, endVpn)) under one UNMAP invalidation,
 * then frees page tables between `floorVpn` and `ceilingVpn` (0: no ceiling).
 */
export function unmapVmas(
  mm: Mm,
  victims: readonly Vma[],
  startVpn: number,
  endVpn: number,
  floorVpn: number,
  ceilingVpn: number,
): void {
  const tlb = mm.kernel.acquireGather(mm);
  const range = invalidateRangeStart(mm, MMU_NOTIFY_UNMAP, startVpn, endVpn);
  for (const vma of victims) zapVmaRange(tlb, vma, startVpn, endVpn);
  invalidateRangeEnd(range);
  for (let i = 0; i < victims.length; i++) {
    // free_pgtables: each VMA (or run of nearby ones) up to the next victim or the ceiling.
    const vma = victims[i];
    const nextVictim = i + 1 < victims.length ? victims[i + 1] : null;
    mm.pt.freeRange(vma.start, vma.end, floorVpn, nextVictim !== null ? nextVictim.start : ceilingVpn);
  }
  mm.kernel.releaseGather(tlb);
  for (const vma of victims) releaseVma(vma);
}
