// Models get_user_pages (mm/gup.c) as far as faulting pages in goes: walk the range, and for every
// page whose entry does not already allow the access, run the fault handler and look again. Used by
// MADV_POPULATE_READ/WRITE here, and by hmm_range_fault and device-exclusive access later.

import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../sim/errno.js';
import { LimitError } from '../sim/errors.js';
import {
  FAULT_FLAG_GUP,
  GUP_PIN_COUNTING_BIAS,
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
import { migrateDeviceCoherentFolio } from './migrateDevice.js';
import type { Mm } from './mm.js';
import { ZONE_DEVICE_COHERENT } from './physmem.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from './pte.js';
import { splitHugePmd } from './thp.js';
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

// ---- get_user_pages / pin_user_pages ---------------------------------------------------------------

export const FOLL_WRITE = 0x01;
export const FOLL_GET = 0x04;
export const FOLL_FORCE = 0x10;
export const FOLL_LONGTERM = 0x100;
export const FOLL_SPLIT_PMD = 0x800;
export const FOLL_REMOTE = 0x2000;
export const FOLL_PIN = 0x40000;

/**
 * get_user_pages_remote / pin_user_pages: faults in and takes a reference (FOLL_GET) or a pin
 * (FOLL_PIN, which adds GUP_PIN_COUNTING_BIAS) on `n` pages from `startVpn`, writing their pfns to
 * `pages`. Returns the number of pages obtained, or -errno when the first one fails.
 * FOLL_SPLIT_PMD splits a THP's PMD mapping (the folio stays large); FOLL_LONGTERM moves a
 * device-coherent page to system RAM first (R-EVICT-5).
 */
export function getUserPages(
  mm: Mm,
  startVpn: number,
  n: number,
  gupFlags: number,
  pages: number[] | null,
): number {
  const write = (gupFlags & FOLL_WRITE) !== 0;
  const mem = mm.kernel.mem;
  let vma: Vma | null = null;
  for (let done = 0; done < n; done++) {
    const vpn = startVpn + done;
    if (vma === null || vpn >= vma.end) {
      vma = mm.vmas.find(vpn);
      if (vma === null) return partialOr(done, -EFAULT);
      const rc = checkVmaFlags(vma, write);
      if (rc < 0) return partialOr(done, rc);
      if (gupFlags & FOLL_SPLIT_PMD && vma.isHugetlb) return partialOr(done, -EOPNOTSUPP);
    }
    let pfn: number;
    for (let tries = 0; ; tries++) {
      if (tries === MAX_FAULTS_PER_PAGE) {
        throw new LimitError(
          'gup.faultsPerPage',
          MAX_FAULTS_PER_PAGE,
          `page ${vpn} kept faulting without progress`,
        );
      }
      if (
        gupFlags & FOLL_SPLIT_PMD &&
        !vma.isHugetlb &&
        mm.pt.pteTable(vpn) === null &&
        mm.pt.hugeFlags(vpn) !== 0
      ) {
        splitHugePmd(vma, vpn);
      }
      if (entryAllows(entryFlags(mm, vpn), write)) {
        pfn = entryPfn(mm, vpn);
        if (gupFlags & FOLL_LONGTERM && mem.zone(pfn).kind === ZONE_DEVICE_COHERENT) {
          // A long-term pin may not stay in device memory: move the page, then look again.
          if (migrateDeviceCoherentFolio(mm.kernel, pfn) < 0) return partialOr(done, -ENOMEM);
          continue;
        }
        break;
      }
      const ret = handleMmFault(
        vma,
        vpn,
        (write ? FAULT_FLAG_WRITE : 0) | FAULT_FLAG_REMOTE | FAULT_FLAG_GUP,
      );
      if (ret & VM_FAULT_ERROR) return partialOr(done, ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT);
    }
    mem.get(pfn, gupFlags & FOLL_PIN ? GUP_PIN_COUNTING_BIAS : 1);
    if (pages !== null) pages[done] = pfn;
  }
  return n;
}

/** GUP's result when a page fails: the pages obtained so far, or the error if there are none. */
function partialOr(done: number, rc: number): number {
  return done > 0 ? done : rc;
}

/** The pfn of the frame an accessible entry maps at `vpn`. */
function entryPfn(mm: Mm, vpn: number): number {
  const table = mm.pt.pteTable(vpn);
  if (table !== null) return table.e[(vpn & 511) * 2 + 1];
  return mm.pt.hugePfn(vpn) + (vpn & 511);
}

/** put_page for a FOLL_GET reference. */
export function putUserPage(mm: Mm, pfn: number): void {
  mm.kernel.mem.put(pfn);
}

/** unpin_user_page for a FOLL_PIN pin. */
export function unpinUserPage(mm: Mm, pfn: number): void {
  mm.kernel.mem.put(pfn, GUP_PIN_COUNTING_BIAS);
}
