// Models madvise(2) (mm/madvise.c) for the advice hetmem distinguishes: DONTNEED (zap, with a CLEAR
// invalidation per VMA), POPULATE_READ/WRITE (fault pages in through GUP), HUGEPAGE/NOHUGEPAGE (VMA
// flags, with splitting and merging), and WILLNEED/COLD (accepted; they change nothing observable
// here). Unmapped holes in the range are skipped and reported as -ENOMEM at the end.

import { EAGAIN, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  MADV_COLD,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_WILLNEED,
  PAGE_SIZE,
  pageAlign,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
} from './constants.js';
import { populateRange } from './gup.js';
import type { Mm } from './mm.js';
import { invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_CLEAR } from './mmuNotify.js';
import type { Vma } from './vma.js';
import { vmaModifyFlags } from './vmaOps.js';
import { zapVmaRange } from './zap.js';

const SUPPORTED = new Set([
  MADV_NORMAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_COLD,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
]);

/** madvise(addr, length, advice): 0 or -errno. */
export function doMadvise(mm: Mm, addr: number, length: number, advice: number): number {
  if (!SUPPORTED.has(advice)) return -EINVAL;
  if (addr % PAGE_SIZE !== 0) return -EINVAL;
  const len = pageAlign(length);
  if (length !== 0 && len === 0) return -EINVAL;
  const start = addr / PAGE_SIZE;
  const end = start + len / PAGE_SIZE;
  if (end === start) return 0;
  if (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE) {
    return madvisePopulate(mm, start, end, advice === MADV_POPULATE_WRITE);
  }
  return walkVmas(mm, start, end, advice);
}

/** madvise_populate: faults in the range chunk by chunk until done or an error. */
function madvisePopulate(mm: Mm, start: number, end: number, write: boolean): number {
  let vpn = start;
  while (vpn < end) {
    const pages = populateRange(mm, vpn, end, write);
    if (pages < 0) return pages;
    vpn += pages;
  }
  return 0;
}

/** madvise_walk_vmas. */
function walkVmas(mm: Mm, startVpn: number, endVpn: number, advice: number): number {
  let start = startVpn;
  let unmappedError = 0;
  let vma = mm.vmas.findFrom(start);
  for (;;) {
    if (vma === null) return -ENOMEM;
    if (start < vma.start) {
      unmappedError = -ENOMEM;
      start = vma.start;
      if (start >= endVpn) break;
    }
    const tmp = Math.min(vma.end, endVpn);
    const result = visit(vma, start, tmp, advice);
    if (typeof result === 'number') return result;
    start = Math.max(tmp, result.end);
    if (start >= endVpn) break;
    vma = mm.vmas.findFrom(result.end);
  }
  return unmappedError;
}

/** madvise_vma_behavior: returns the VMA now covering the piece (`prev`), or -errno. */
function visit(vma: Vma, start: number, end: number, advice: number): Vma | number {
  switch (advice) {
    case MADV_DONTNEED:
      return dontneed(vma, start, end);
    case MADV_COLD:
      return vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB) ? -EINVAL : vma;
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE: {
      const newFlags =
        advice === MADV_HUGEPAGE
          ? (vma.flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
          : (vma.flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
      if (newFlags === vma.flags) return vma;
      const rc = vmaModifyFlags(vma, start, end, newFlags);
      return rc === -ENOMEM ? -EAGAIN : rc;
    }
    default:
      // WILLNEED (shmem swap-in, readahead) and NORMAL leave nothing to see in this model.
      return vma;
  }
}

/** madvise_dontneed_free for DONTNEED: validates the VMA, then zaps under a CLEAR invalidation. */
function dontneed(vma: Vma, start: number, end: number): Vma | number {
  let zapEnd = end;
  if (vma.isHugetlb) {
    if (start % HPAGE_PMD_NR !== 0) return -EINVAL;
    zapEnd = end - (end % HPAGE_PMD_NR);
  } else if (vma.flags & (VM_LOCKED | VM_PFNMAP)) {
    return -EINVAL;
  }
  if (start === zapEnd) return vma;
  const mm = vma.mm;
  const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, start, zapEnd);
  const tlb = mm.kernel.acquireGather(mm);
  zapVmaRange(tlb, vma, start, zapEnd);
  invalidateRangeEnd(range);
  mm.kernel.releaseGather(tlb);
  return vma;
}
