// Models hmm_range_fault (mm/hmm.c): snapshot the CPU page table of [start, end) into hmm pfn words,
// faulting pages in where the requests say so, and report the state a device may mirror. The walk
// visits VMAs in order and descends the page table; holes are spans with no table at some level, a
// fault covers the rest of the current walk segment (the span rule, R-HRF-32), and every pass starts
// with the collision check, so an invalidation of the caller's range since read_begin is -EBUSY.

import { EBUSY, EFAULT, EINVAL, EPERM } from '../sim/errno.js';
import { KernelBug, LimitError } from '../sim/errors.js';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  HPAGE_PMD_NR,
  PGD_NR,
  PUD_NR,
  VM_FAULT_ERROR,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from '../mm/constants.js';
import { handleMmFault } from '../mm/fault.js';
import type { DevPagemap } from '../mm/devmap.js';
import type { Mm } from '../mm/mm.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
} from '../mm/pte.js';
import type { Vma } from '../mm/vma.js';
import { type MmuIntervalNotifier, mmuIntervalCheckRetry } from '../notifier/interval.js';
import {
  HMM_PFN_DEVICE_EXCLUSIVE,
  HMM_PFN_ERROR,
  HMM_PFN_ORDER_SHIFT,
  HMM_PFN_P2P,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
} from './hmmPfn.js';

/** struct hmm_range. Pages are [startVpn, endVpn); `flags[i]`/`pfns[i]` describe page startVpn + i. */
export class HmmRange {
  notifier: MmuIntervalNotifier;
  /** The value mmu_interval_read_begin returned for this attempt. */
  notifierSeq = 0;
  startVpn: number;
  endVpn: number;
  /** Per page: request flags on input, result flags on output (the high half of the hmm pfn). */
  flags: Uint32Array;
  /** Per page: the pfn on output. */
  pfns: Uint32Array;
  defaultFlags = 0;
  pfnFlagsMask = 0;
  /** The caller's device-private owner cookie; pages of this owner are reported in place. */
  devPrivateOwner: unknown = null;
  /** Opt-in: report device-exclusive entries with HMM_PFN_DEVICE_EXCLUSIVE (off = mainline). */
  reportExclusive = false;
  /**
   * The caller's interconnect (P2P extension): with the kernel's `p2p` option on, another device's
   * private page whose page map is in the same cluster is reported in place (HMM_PFN_P2P) instead of
   * being migrated back to RAM. null: mainline behaviour.
   */
  p2pCluster: unknown = null;

  constructor(
    notifier: MmuIntervalNotifier,
    startVpn: number,
    endVpn: number,
    flags?: Uint32Array,
    pfns?: Uint32Array,
  ) {
    const n = Math.max(0, endVpn - startVpn);
    this.notifier = notifier;
    this.startVpn = startVpn;
    this.endVpn = endVpn;
    this.flags = flags ?? new Uint32Array(n);
    this.pfns = pfns ?? new Uint32Array(n);
    if (this.flags.length < n || this.pfns.length < n)
      throw new RangeError('hmm pfn arrays shorter than the range');
  }
}

const NEED_FAULT = 1;
const NEED_WRITE = 2;
/** Internal: a fault or a migration wait happened; walk again from `last`. */
const RESTART = 1;
/** Bound on internal restarts of one call (R-HRF-36: report a livelock rather than hang). */
const MAX_RESTARTS = 10_000;

/** Per-call state (struct hmm_vma_walk). */
class HmmWalk {
  last: number;
  readonly canFault: boolean;
  /** The kernel's P2P extension is on. */
  readonly p2p: boolean;

  constructor(
    readonly range: HmmRange,
    readonly mm: Mm,
  ) {
    this.last = range.startVpn;
    this.canFault = ((range.defaultFlags | range.pfnFlagsMask) & HMM_PFN_REQ_FAULT) !== 0;
    this.p2p = mm.kernel.p2p;
  }

  /** hmm_pte_need_fault for page `vpn` given the CPU's flags for it. */
  need(vpn: number, cpuFlags: number): number {
    if (!this.canFault) return 0;
    const r = this.range;
    const req = (r.flags[vpn - r.startVpn] & r.pfnFlagsMask) | r.defaultFlags;
    if (!(req & HMM_PFN_REQ_FAULT)) return 0;
    if (req & HMM_PFN_REQ_WRITE && !(cpuFlags & HMM_PFN_WRITE)) return NEED_FAULT | NEED_WRITE;
    if (!(cpuFlags & HMM_PFN_VALID)) return NEED_FAULT;
    return 0;
  }

  /** hmm_range_need_fault: the OR over [a, b) of a span that shares one CPU state. */
  needRange(a: number, b: number, cpuFlags: number): number {
    if (!this.canFault) return 0;
    let required = 0;
    for (let vpn = a; vpn < b; vpn++) {
      required |= this.need(vpn, cpuFlags);
      if (required === (NEED_FAULT | NEED_WRITE)) break;
    }
    return required;
  }

  fill(a: number, b: number, flags: number): void {
    const r = this.range;
    r.flags.fill(flags, a - r.startVpn, b - r.startVpn);
    r.pfns.fill(0, a - r.startVpn, b - r.startVpn);
  }
}

/**
 * hmm_range_fault: 0 with every word filled, or -EBUSY (an invalidation of the notifier's range
 * since `notifierSeq`: call mmu_interval_read_begin and try again), -EFAULT, -EPERM or -EINVAL.
 * The caller holds a user reference on the mm (mmget_not_zero) and, in the kernel, its mmap lock.
 */
export function hmmRangeFault(range: HmmRange): number {
  if (range.startVpn >= range.endVpn) return -EINVAL;
  const mm = range.notifier.mm;
  if (mm === null) throw new KernelBug('hmm_range_fault with a notifier that is not inserted');
  if (mm.users <= 0) throw new KernelBug('hmm_range_fault on an mm without users (no mmget_not_zero?)');
  mm.kernel.charge((range.endVpn - range.startVpn) * mm.kernel.costs.ptePageNs);
  const walk = new HmmWalk(range, mm);
  for (let restarts = 0; ; restarts++) {
    if (restarts === MAX_RESTARTS) {
      throw new LimitError(
        'hmm.restarts',
        MAX_RESTARTS,
        `hmm_range_fault restarted ${MAX_RESTARTS} times: livelock`,
      );
    }
    if (mmuIntervalCheckRetry(range.notifier, range.notifierSeq)) return -EBUSY;
    const rc = walkRange(walk, walk.last, range.endVpn);
    if (rc !== RESTART) return rc;
  }
}

/** walk_page_range over [from, end): VMA by VMA, gaps between them are holes without a VMA. */
function walkRange(w: HmmWalk, from: number, end: number): number {
  const vmas = w.mm.vmas;
  let vpn = from;
  while (vpn < end) {
    const vma = vmas.findFrom(vpn);
    if (vma === null || vma.start >= end) return holeNoVma(w, vpn, end);
    if (vma.start > vpn) {
      const rc = holeNoVma(w, vpn, vma.start);
      if (rc !== 0) return rc;
      vpn = vma.start;
    }
    const segEnd = Math.min(vma.end, end);
    if (vma.flags & (VM_IO | VM_PFNMAP) || !(vma.flags & VM_READ)) {
      // hmm_vma_walk_test: an unsupported VMA is an error to fault, else filled with ERROR.
      if (w.needRange(vpn, segEnd, 0)) return -EFAULT;
      w.fill(vpn, segEnd, HMM_PFN_ERROR);
    } else {
      const rc = vma.isHugetlb ? walkHugetlb(w, vma, vpn, segEnd) : walkVma(w, vma, vpn, segEnd);
      if (rc !== 0) return rc;
    }
    vpn = segEnd;
  }
  return 0;
}

function holeNoVma(w: HmmWalk, a: number, b: number): number {
  if (w.needRange(a, b, 0)) return -EFAULT;
  w.fill(a, b, HMM_PFN_ERROR);
  return 0;
}

/** hmm_vma_walk_hole inside a VMA: nothing mapped at some page-table level over [a, b). */
function hole(w: HmmWalk, vma: Vma, a: number, b: number): number {
  const need = w.needRange(a, b, 0);
  if (need) return vmaFault(w, vma, a, b, need);
  w.fill(a, b, 0);
  return 0;
}

/** hmm_vma_fault: fault every page of [a, b) (the span rule), then restart at `a`. */
function vmaFault(w: HmmWalk, vma: Vma, a: number, b: number, need: number): number {
  w.last = a;
  let faultFlags = FAULT_FLAG_REMOTE;
  if (need & NEED_WRITE) {
    if (!(vma.flags & VM_WRITE)) return -EPERM;
    faultFlags |= FAULT_FLAG_WRITE;
  }
  for (let vpn = a; vpn < b; vpn++) {
    if (handleMmFault(vma, vpn, faultFlags) & VM_FAULT_ERROR) return -EFAULT;
  }
  return RESTART;
}

/** Descends the page table over [a, b) of a supported, non-hugetlb VMA. */
function walkVma(w: HmmWalk, vma: Vma, a: number, b: number): number {
  const pt = w.mm.pt;
  let vpn = a;
  while (vpn < b) {
    const pgdIdx = Math.floor(vpn / PGD_NR);
    const pud = pt.pgd[pgdIdx];
    if (pud === null) {
      const next = Math.min((pgdIdx + 1) * PGD_NR, b);
      const rc = hole(w, vma, vpn, next);
      if (rc !== 0) return rc;
      vpn = next;
      continue;
    }
    const pudKey = (vpn / PUD_NR) >>> 0;
    const pmd = pud.pmds[pudKey & 511];
    if (pmd === null) {
      const next = Math.min((pudKey + 1) * PUD_NR, b);
      const rc = hole(w, vma, vpn, next);
      if (rc !== 0) return rc;
      vpn = next;
      continue;
    }
    const pmdKey = (vpn / HPAGE_PMD_NR) >>> 0;
    const idx = pmdKey & 511;
    const blockVpn = pmdKey * HPAGE_PMD_NR;
    const next = Math.min(blockVpn + HPAGE_PMD_NR, b);
    const table = pmd.ptes[idx];
    let rc: number;
    if (table !== null) {
      rc = walkPtes(w, vma, table.e, blockVpn, vpn, next);
    } else {
      const hflags = pmd.huge === null ? 0 : pmd.huge[idx * 2];
      const kind = hflags & PTE_KIND_MASK;
      if (kind === PTE_NONE) rc = hole(w, vma, vpn, next);
      else if (kind === PTE_PRESENT)
        rc = handlePmd(w, vma, vpn, next, hflags, pmd.huge![idx * 2 + 1] + (vpn - blockVpn));
      else if (kind === PTE_MIGRATION) rc = migrationPmd(w, vpn, next);
      else rc = w.needRange(vpn, next, 0) ? -EFAULT : (w.fill(vpn, next, HMM_PFN_ERROR), 0);
    }
    if (rc !== 0) return rc;
    vpn = next;
  }
  return 0;
}

function migrationPmd(w: HmmWalk, a: number, b: number): number {
  if (w.needRange(a, b, 0)) {
    w.last = a;
    return RESTART;
  }
  w.fill(a, b, 0);
  return 0;
}

/** hmm_vma_handle_pmd: a huge mapping; every page gets the same flags (order 9), pfns in sequence. */
function handlePmd(w: HmmWalk, vma: Vma, a: number, b: number, hflags: number, firstPfn: number): number {
  const cpu =
    hflags & PTE_PROTNONE
      ? 0
      : HMM_PFN_VALID | (hflags & PTE_WRITE ? HMM_PFN_WRITE : 0) | (9 << HMM_PFN_ORDER_SHIFT);
  const need = w.needRange(a, b, cpu);
  if (need) return vmaFault(w, vma, a, b, need);
  const r = w.range;
  for (let vpn = a, pfn = firstPfn; vpn < b; vpn++, pfn++) {
    r.flags[vpn - r.startVpn] = cpu;
    r.pfns[vpn - r.startVpn] = pfn;
  }
  return 0;
}

/** hmm_vma_handle_pte over [a, b) of one PTE table (entry i maps blockVpn + i). */
function walkPtes(w: HmmWalk, vma: Vma, e: Uint32Array, blockVpn: number, a: number, b: number): number {
  const r = w.range;
  const mem = w.mm.kernel.mem;
  const out = r.flags;
  const pfns = r.pfns;
  const base = r.startVpn;
  for (let vpn = a; vpn < b; vpn++) {
    const i = (vpn - blockVpn) * 2;
    const f = e[i];
    const kind = f & PTE_KIND_MASK;
    const o = vpn - base;
    if (kind === PTE_PRESENT) {
      const cpu = f & PTE_PROTNONE ? 0 : HMM_PFN_VALID | (f & PTE_WRITE ? HMM_PFN_WRITE : 0);
      if (w.canFault) {
        const need = w.need(vpn, cpu);
        if (need) return vmaFault(w, vma, vpn, b, need);
      }
      const pfn = e[i + 1];
      if (f & PTE_SPECIAL && !mem.isZeroPfn(pfn)) {
        // A special pfn (PFN map): no struct page to hand out.
        if (w.need(vpn, 0)) return -EFAULT;
        out[o] = HMM_PFN_ERROR;
        pfns[o] = 0;
        continue;
      }
      out[o] = cpu;
      pfns[o] = pfn;
      continue;
    }
    if (kind === PTE_NONE) {
      const need = w.need(vpn, 0);
      if (need) return vmaFault(w, vma, vpn, b, need);
      out[o] = 0;
      pfns[o] = 0;
      continue;
    }
    const pfn = e[i + 1];
    const owner = r.devPrivateOwner;
    if (kind === PTE_DEVICE_PRIVATE && owner !== null && mem.zone(pfn).owner === owner) {
      // R-HRF-22: the caller's own device pages are reported in place, whatever was requested.
      out[o] = HMM_PFN_VALID | (f & PTE_WRITE ? HMM_PFN_WRITE : 0);
      pfns[o] = pfn;
      continue;
    }
    if (kind === PTE_DEVICE_PRIVATE && r.p2pCluster !== null && w.p2p) {
      const pgmap = mem.zone(pfn).pgmap as DevPagemap | null;
      if (pgmap !== null && pgmap.p2pCluster === r.p2pCluster) {
        out[o] = HMM_PFN_VALID | HMM_PFN_P2P | (f & PTE_WRITE ? HMM_PFN_WRITE : 0);
        pfns[o] = pfn;
        continue;
      }
    }
    const need = w.need(vpn, 0);
    if (!need) {
      if (kind === PTE_DEVICE_EXCLUSIVE && r.reportExclusive) {
        out[o] = HMM_PFN_DEVICE_EXCLUSIVE;
        pfns[o] = pfn;
      } else {
        out[o] = 0;
        pfns[o] = 0;
      }
      continue;
    }
    if (kind === PTE_SWAP || kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE) {
      return vmaFault(w, vma, vpn, b, need);
    }
    if (kind === PTE_MIGRATION) {
      // Waits for the migration to finish, then walks again from here.
      w.last = vpn;
      return RESTART;
    }
    return -EFAULT;
  }
  return 0;
}

/** hmm_vma_walk_hugetlb_entry, huge page by huge page: only the first page's request counts. */
function walkHugetlb(w: HmmWalk, vma: Vma, a: number, b: number): number {
  const pt = w.mm.pt;
  const r = w.range;
  let vpn = a;
  while (vpn < b) {
    const block = vpn - (vpn & 511);
    const next = Math.min(block + HPAGE_PMD_NR, b);
    if (pt.pmdTable(vpn) === null) {
      const rc = hole(w, vma, vpn, next);
      if (rc !== 0) return rc;
      vpn = next;
      continue;
    }
    const hflags = pt.hugeFlags(vpn);
    const present = (hflags & PTE_KIND_MASK) === PTE_PRESENT && !(hflags & PTE_PROTNONE);
    const cpu =
      (present ? HMM_PFN_VALID | (hflags & PTE_WRITE ? HMM_PFN_WRITE : 0) : 0) | (9 << HMM_PFN_ORDER_SHIFT);
    const need = w.need(vpn, cpu);
    if (need) return vmaFault(w, vma, vpn, next, need);
    const head = (hflags & PTE_KIND_MASK) === PTE_NONE ? 0 : pt.hugePfn(vpn);
    for (let v = vpn; v < next; v++) {
      r.flags[v - r.startVpn] = cpu;
      r.pfns[v - r.startVpn] = head === 0 ? 0 : head + (v - block);
    }
    vpn = next;
  }
  return 0;
}
