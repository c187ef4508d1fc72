// Models mprotect(2) (mm/mprotect.c): VMA by VMA until a hole, each piece whose flags change is split
// or merged and its entries get the new protection under one PROTECTION_VMA invalidation (sent only
// when a page table exists in the piece). Private writable pieces make exclusively owned anonymous
// pages writable in place; everything else stays read-only until a write fault decides. Writable
// migration, device-private and device-exclusive entries lose write whatever the new protection.

import { EACCES, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  pageAlign,
  VM_ACCESS_FLAGS,
  VM_EXEC,
  VM_READ,
  VM_WRITE,
} from './constants.js';
import type { Mm } from './mm.js';
import {
  flushTlbRange,
  invalidateRangeEnd,
  invalidateRangeStart,
  MMU_NOTIFY_PROTECTION_VMA,
} from './mmuNotify.js';
import type { PmdTable, PteTable } from './pagetable.js';
import { PG_ANON, PG_ANON_EXCLUSIVE } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_WRITE,
} from './pte.js';
import { splitHugePmd } from './thp.js';
import { type Vma, vmaPageProt } from './vma.js';
import { vmaModifyFlags } from './vmaOps.js';

/** calc_vm_prot_bits. */
export function protToVmFlags(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** mprotect(addr, length, prot): 0, -EINVAL, -ENOMEM (hole: pieces before it are changed) or -EACCES. */
export function doMprotect(mm: Mm, addr: number, length: number, prot: number): number {
  if (addr % PAGE_SIZE !== 0) return -EINVAL;
  if (length === 0) return 0;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  const len = pageAlign(length);
  const start = addr / PAGE_SIZE;
  const end = start + len / PAGE_SIZE;
  if (end <= start || len === 0) return -ENOMEM;
  let vma = mm.vmas.findFrom(start);
  if (vma === null || vma.start > start) return -ENOMEM;
  let nstart = start;
  let tmp = vma.start;
  let error = 0;
  while (vma !== null && vma.start < end) {
    if (vma.start !== tmp) {
      error = -ENOMEM;
      break;
    }
    const newFlags = protToVmFlags(prot) | (vma.flags & ~VM_ACCESS_FLAGS);
    // Each VM_READ/WRITE/EXEC needs its VM_MAY* counterpart, four bits up.
    if (newFlags & ~(newFlags >> 4) & VM_ACCESS_FLAGS) {
      error = -EACCES;
      break;
    }
    tmp = Math.min(vma.end, end);
    const done = mprotectFixup(vma, nstart, tmp, newFlags);
    if (typeof done === 'number') {
      error = done;
      break;
    }
    tmp = done.end;
    nstart = tmp;
    vma = mm.vmas.findFrom(tmp);
  }
  if (error === 0 && tmp < end) error = -ENOMEM;
  return error;
}

/** mprotect_fixup: returns the VMA now covering the piece, or -errno. */
function mprotectFixup(vma: Vma, startVpn: number, endVpn: number, newFlags: number): Vma | number {
  if (newFlags === vma.flags) return vma;
  const target = vmaModifyFlags(vma, startVpn, endVpn, newFlags);
  if (typeof target === 'number') return target;
  changeProtection(target, startVpn, endVpn);
  return target;
}

/** change_protection over [startVpn, endVpn) of `vma`, whose flags are already the new ones. */
export function changeProtection(vma: Vma, startVpn: number, endVpn: number): void {
  const mm = vma.mm;
  if (vma.isHugetlb) {
    const range = invalidateRangeStart(mm, MMU_NOTIFY_PROTECTION_VMA, startVpn, endVpn);
    const downgraded = protVisitor.run(vma, startVpn, endVpn);
    invalidateRangeEnd(range);
    if (downgraded) flushTlbRange(mm, startVpn, endVpn);
    return;
  }
  const first = mm.pt.firstPopulatedPud(startVpn, endVpn);
  if (first < 0) return;
  const range = invalidateRangeStart(mm, MMU_NOTIFY_PROTECTION_VMA, first, endVpn);
  for (const edge of [startVpn, endVpn]) {
    if (edge % HPAGE_PMD_NR !== 0 && mm.pt.hugeFlags(edge) !== 0) splitHugePmd(vma, edge);
  }
  const downgraded = protVisitor.run(vma, startVpn, endVpn);
  invalidateRangeEnd(range);
  // The mmu_gather flushes at the end of the call, and only for entries that lost a permission
  // (pte_needs_flush): an upgrade needs no flush.
  if (downgraded) flushTlbRange(mm, startVpn, endVpn);
}

/** New attribute bits of a present entry under `vma`'s (new) protection (pte_modify). */
function newPresentFlags(vma: Vma, f: number, exclusiveAnon: boolean): number {
  // The new vm_page_prot: inaccessible for PROT_NONE, writable for a shared writable VMA.
  const nf = (f & ~(PTE_WRITE | PTE_PROTNONE)) | vmaPageProt(vma);
  // Private writable: only an exclusive anonymous page may be upgraded now
  // (MM_CP_TRY_CHANGE_WRITABLE and can_change_pte_writable).
  return vma.flags & VM_WRITE && exclusiveAnon ? nf | PTE_WRITE : nf;
}

/** Whether an entry lost a permission it had (so the TLB must be flushed). */
function lostPermission(oldFlags: number, newFlags: number): boolean {
  return (
    (oldFlags & PTE_WRITE && !(newFlags & PTE_WRITE)) ||
    (!(oldFlags & PTE_PROTNONE) && (newFlags & PTE_PROTNONE) !== 0)
  );
}

const protVisitor = {
  vma: null as Vma | null,
  downgraded: false,

  /** Applies the VMA's protection to [startVpn, endVpn); returns whether any entry was downgraded. */
  run(vma: Vma, startVpn: number, endVpn: number): boolean {
    this.vma = vma;
    this.downgraded = false;
    vma.mm.pt.walk(startVpn, endVpn, this);
    this.vma = null;
    return this.downgraded;
  },

  ptes(table: PteTable, first: number, end: number, _baseVpn: number): void {
    const vma = this.vma!;
    const mem = vma.mm.kernel.mem;
    const e = table.e;
    for (let i = first; i < end; i++) {
      const f = e[2 * i];
      const kind = f & PTE_KIND_MASK;
      if (kind === PTE_NONE) continue;
      const pfn = e[2 * i + 1];
      if (kind === PTE_PRESENT) {
        const exclusive =
          !(f & PTE_SPECIAL) &&
          (mem.pageFlags(pfn) & (PG_ANON | PG_ANON_EXCLUSIVE)) === (PG_ANON | PG_ANON_EXCLUSIVE);
        e[2 * i] = newPresentFlags(vma, f, exclusive);
        if (lostPermission(f, e[2 * i])) this.downgraded = true;
      } else if (f & PTE_WRITE) {
        this.downgraded = true;
        if (kind === PTE_MIGRATION) {
          const exclusive =
            (mem.pageFlags(pfn) & (PG_ANON | PG_ANON_EXCLUSIVE)) === (PG_ANON | PG_ANON_EXCLUSIVE);
          e[2 * i] = (f & ~PTE_WRITE) | (exclusive ? PTE_MIG_EXCLUSIVE : 0);
        } else if (kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE) {
          e[2 * i] = f & ~PTE_WRITE;
        }
      }
    }
  },

  huge(pmd: PmdTable, idx: number, _blockVpn: number): void {
    const vma = this.vma!;
    const mem = vma.mm.kernel.mem;
    const huge = pmd.huge!;
    const f = huge[idx * 2];
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT) return;
    const head = huge[idx * 2 + 1];
    // Hugetlb never upgrades in place; a THP does when its head is exclusively owned.
    const exclusive =
      !vma.isHugetlb &&
      !(f & PTE_SPECIAL) &&
      (mem.pageFlags(head) & (PG_ANON | PG_ANON_EXCLUSIVE)) === (PG_ANON | PG_ANON_EXCLUSIVE);
    huge[idx * 2] = newPresentFlags(vma, f, exclusive);
    if (lostPermission(f, huge[idx * 2])) this.downgraded = true;
  },
};
