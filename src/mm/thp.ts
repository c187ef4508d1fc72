// Models transparent huge pages at the PMD level (mm/huge_memory.c): when a fault may map a 2 MiB
// folio, and __split_huge_pmd, which turns one PMD mapping into 512 PTEs (the folio itself stays
// large; it is split or freed later). A PMD split is announced with a CLEAR invalidation of the
// whole 2 MiB block, even when no huge mapping is there (6.12 notifies before looking).

import { HPAGE_PMD_NR, VM_HUGEPAGE, VM_NOHUGEPAGE } from './constants.js';
import type { Kernel } from './kernel.js';
import { flushTlbRange, invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_CLEAR } from './mmuNotify.js';
import { PG_ANON_EXCLUSIVE } from './physmem.js';
import {
  PTE_DIRTY,
  PTE_HUGE,
  PTE_KIND_MASK,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';
import type { Vma } from './vma.js';

/** thp_vma_allowable_order(PMD) for a fault: may [blockVpn, +512) of `vma` be mapped by a THP? */
export function thpAllowed(kernel: Kernel, vma: Vma, blockVpn: number): boolean {
  if (kernel.thp === 'never' || !vma.isAnonymous || vma.isHugetlb || vma.isShared) return false;
  if (vma.flags & VM_NOHUGEPAGE) return false;
  if (kernel.thp === 'madvise' && !(vma.flags & VM_HUGEPAGE)) return false;
  return blockVpn >= vma.start && blockVpn + HPAGE_PMD_NR <= vma.end;
}

/**
 * split_huge_pmd_if_needed: a VMA boundary is about to appear at `vpn` inside `vma`. If `vpn` is not
 * 2 MiB aligned, the whole block lies inside the VMA and a PMD table exists there, the block's PMD
 * is split (with its CLEAR notification) so no huge mapping straddles the new boundary.
 */
export function splitHugePmdIfNeeded(vma: Vma, vpn: number): void {
  if (vpn % HPAGE_PMD_NR === 0 || vma.isHugetlb) return;
  const block = vpn - (vpn & 511);
  if (block < vma.start || block + HPAGE_PMD_NR > vma.end) return;
  if (vma.mm.pt.pmdTable(vpn) === null) return;
  splitHugePmd(vma, vpn);
}

/** __split_huge_pmd: CLEAR-notifies the 2 MiB block around `vpn` and splits its PMD if it is huge. */
export function splitHugePmd(vma: Vma, vpn: number): void {
  const block = vpn - (vpn & 511);
  const range = invalidateRangeStart(vma.mm, MMU_NOTIFY_CLEAR, block, block + HPAGE_PMD_NR);
  splitHugePmdLocked(vma, block);
  invalidateRangeEnd(range);
}

/** __split_huge_pmd_locked: replaces a huge PMD leaf at `blockVpn` by a table of 512 PTEs. */
export function splitHugePmdLocked(vma: Vma, blockVpn: number): void {
  const mm = vma.mm;
  const pt = mm.pt;
  const hflags = pt.hugeFlags(blockVpn);
  if ((hflags & PTE_KIND_MASK) !== PTE_PRESENT) return;
  const kernel = mm.kernel;
  const mem = kernel.mem;
  const head = pt.hugePfn(blockVpn);
  pt.setHuge(blockVpn, 0, 0);
  flushTlbRange(mm, blockVpn, blockVpn + HPAGE_PMD_NR);
  kernel.stats.add(kernel.ctr.thpSplits);
  const table = pt.allocPteTable(blockVpn);
  const e = table.e;
  const carried = hflags & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_PROTNONE);
  if (mem.isZeroPfn(head)) {
    // The huge zero page becomes 512 read-only mappings of the small zero page.
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      e[2 * i] = PTE_PRESENT | PTE_SPECIAL | (hflags & (PTE_YOUNG | PTE_PROTNONE));
      e[2 * i + 1] = mem.zeroPfn;
    }
    return;
  }
  // Each PTE maps one frame of the folio: one reference and one mapcount per PTE, PMD map dropped.
  mem.get(head, HPAGE_PMD_NR - 1);
  mem.addEntireMapcount(head, -1);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    mem.addMapcount(head + i, 1);
    e[2 * i] = PTE_PRESENT | (carried & ~PTE_HUGE);
    e[2 * i + 1] = head + i;
    if (!mem.testPageFlag(head + i, PG_ANON_EXCLUSIVE)) e[2 * i] &= ~PTE_WRITE;
  }
}
