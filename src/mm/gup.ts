// Models get_user_pages (mm/gup.c) as far as faulting pages in goes: walk the range, and for every
// page whose entry does not already allow the access, run the fault handler and look again. Used by
// MADV_POPULATE_READ/WRITE here, and by hmm_range_fault and device-exclusive access later.

import { EFAULT, EINVAL, ENOMEM } from '../sim/errno.js';
import { LimitError } from '../sim/errors.js';
import {
  FAULT_FLAG_GUP,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from './constants.js';
import { handleMmFault } from './fault.js';
import type { Mm } from './mm.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from './pte.js';
import type { Vma } from './vma.js';

/** How many times one page may be faulted before GUP gives up (a bound, not a kernel value). */
const MAX_FAULTS_PER_PAGE = 64;

/** The entry mapping `vpn` (a PTE, or the huge PMD covering it): its flags, 0 when none. */
export function entryFlags(mm: Mm, vpn: number): number {
  const pt = mm.pt;
  const table = pt.pteTable(vpn);
  if (table !== null) return table.e[(vpn & 511) * 2];
  return pt.hugeFlags(vpn);
}

/** Whether the entry at `vpn` already allows the access (follow_page succeeds). */
export function entryAllows(flags: number, write: boolean): boolean {
  if ((flags & (PTE_KIND_MASK | PTE_PROTNONE)) !== PTE_PRESENT) return false;
  return !write || (flags & PTE_WRITE) !== 0;
}

/** check_vma_flags: may GUP touch this VMA for this access? 0 or -EFAULT. */
export function checkVmaFlags(vma: Vma, write: boolean): number {
  if (vma.flags & (VM_IO | VM_PFNMAP)) return -EFAULT;
  if (write ? !(vma.flags & VM_WRITE) : !(vma.flags & VM_READ)) return -EFAULT;
  return 0;
}

/**
 * faultin_page: faults `vpn` until its entry allows the access. Returns 0, or -EFAULT (SIGBUS or
 * SIGSEGV from the fault), or -ENOMEM (out of memory).
 */
export function faultinPage(vma: Vma, vpn: number, write: boolean, remote: boolean): number {
  const mm = vma.mm;
  const flags = (write ? FAULT_FLAG_WRITE : 0) | (remote ? FAULT_FLAG_REMOTE : 0) | FAULT_FLAG_GUP;
  for (let tries = 0; !entryAllows(entryFlags(mm, vpn), write); tries++) {
    if (tries === MAX_FAULTS_PER_PAGE) {
      throw new LimitError(
        'gup.faultsPerPage',
        MAX_FAULTS_PER_PAGE,
        `page ${vpn} kept faulting without progress`,
      );
    }
    const ret = handleMmFault(vma, vpn, flags);
    if (ret & VM_FAULT_ERROR) return ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT;
  }
  return 0;
}

/**
 * faultin_page_range for MADV_POPULATE_(READ|WRITE): faults in [startVpn, endVpn). Returns the number
 * of pages done before stopping, or, when none were done, -ENOMEM (no VMA), -EINVAL (a VMA the access
 * is not allowed on) or the fault's error.
 */
export function populateRange(mm: Mm, startVpn: number, endVpn: number, write: boolean): number {
  let vma: Vma | null = null;
  let done = 0;
  for (let vpn = startVpn; vpn < endVpn; vpn++) {
    if (vma === null || vpn >= vma.end) {
      vma = mm.vmas.find(vpn);
      if (vma === null) return done > 0 ? done : -ENOMEM;
      if (checkVmaFlags(vma, write) !== 0) return done > 0 ? done : -EINVAL;
    }
    const rc = faultinPage(vma, vpn, write, false);
    if (rc < 0) return done > 0 ? done : rc;
    done++;
  }
  return done;
}
