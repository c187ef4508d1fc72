// Models hugetlb_fault (mm/hugetlb.c) for 2 MiB pages: a none entry allocates a pool page (from the
// mapping's reservation when it has one), a private mapping maps it read-only unless the fault is a
// write, and a write to a read-only private page reuses it when this is its only mapping or copies
// the whole 2 MiB page otherwise.

import { ENOSPC } from '../sim/errno.js';
import {
  FAULT_FLAG_WRITE,
  HPAGE_PMD_NR,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_SHARED,
  VM_WRITE,
} from './constants.js';
import { flushTlbRange, invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_CLEAR } from './mmuNotify.js';
import { PG_ANON, PG_ANON_EXCLUSIVE } from './physmem.js';
import { PTE_DIRTY, PTE_HUGE, PTE_KIND_MASK, PTE_NONE, PTE_PRESENT, PTE_WRITE, PTE_YOUNG } from './pte.js';
import { addNewAnonRmapPmd, removeRmapPmd } from './rmap.js';
import { type Vma, vmaPageProt } from './vma.js';
import { anonVmaPrepare } from './vmaOps.js';

export function hugetlbFault(vma: Vma, vpn: number, faultFlags: number): number {
  const mm = vma.mm;
  const kernel = mm.kernel;
  const pt = mm.pt;
  const write = (faultFlags & FAULT_FLAG_WRITE) !== 0;
  const block = vpn - (vpn & 511);
  const hflags = pt.hugeFlags(block);
  kernel.stats.add(kernel.ctr.hugetlbFaults);
  if ((hflags & PTE_KIND_MASK) === PTE_NONE) return hugetlbNoPage(vma, block, write);
  if (write && !(hflags & PTE_WRITE)) return hugetlbWp(vma, block, hflags);
  pt.setHuge(block, hflags | PTE_YOUNG | (write ? PTE_DIRTY : 0), pt.hugePfn(block));
  return 0;
}

function hugetlbNoPage(vma: Vma, block: number, write: boolean): number {
  const mm = vma.mm;
  const kernel = mm.kernel;
  const shared = (vma.flags & VM_SHARED) !== 0;
  const hugeIndex = vma.linearPageIndex(block) / HPAGE_PMD_NR;
  const fromResv = vma.hugetlbResv?.has(hugeIndex) === true;
  if (!shared) anonVmaPrepare(vma);
  const head = kernel.hugetlb.alloc(fromResv);
  if (head >= 0) kernel.charge(kernel.costs.pageZeroNs * HPAGE_PMD_NR);
  if (head < 0) return head === -ENOSPC ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
  if (fromResv) vma.hugetlbResv!.delete(hugeIndex);
  addNewAnonRmapPmd(kernel.mem, head, vma, block);
  // A private mapping's page starts read-only (vm_page_prot); a write fault then takes it over in
  // hugetlb_wp. A shared writable mapping's page is writable at once.
  mm.pt.setHuge(block, PTE_PRESENT | PTE_HUGE | PTE_YOUNG | vmaPageProt(vma), head);
  if (write && !shared) return hugetlbWp(vma, block, mm.pt.hugeFlags(block));
  return 0;
}

function hugetlbWp(vma: Vma, block: number, hflags: number): number {
  const mm = vma.mm;
  const kernel = mm.kernel;
  const mem = kernel.mem;
  const head = mm.pt.hugePfn(block);
  if (mem.folioMapcount(head) === HPAGE_PMD_NR && mem.testPageFlag(head, PG_ANON)) {
    // Mapped once (by us): take the page over without copying.
    for (let p = head; p < head + HPAGE_PMD_NR; p++) mem.setPageFlag(p, PG_ANON_EXCLUSIVE);
    mm.pt.setHuge(block, hflags | PTE_WRITE | PTE_DIRTY | PTE_YOUNG, head);
    return 0;
  }
  const fresh = kernel.hugetlb.alloc(false);
  if (fresh < 0) return fresh === -ENOSPC ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
  for (let i = 0; i < HPAGE_PMD_NR; i++) mem.content.copy(fresh + i, head + i);
  const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, block, block + HPAGE_PMD_NR);
  removeRmapPmd(mem, mm, head);
  mm.pt.setHuge(block, 0, 0);
  flushTlbRange(mm, block, block + HPAGE_PMD_NR);
  addNewAnonRmapPmd(mem, fresh, vma, block);
  const writable = vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0;
  mm.pt.setHuge(block, PTE_PRESENT | PTE_HUGE | PTE_YOUNG | vmaPageProt(vma) | writable, fresh);
  invalidateRangeEnd(range);
  mem.put(head);
  kernel.stats.add(kernel.ctr.cowCopies);
  kernel.charge(kernel.costs.pageCopyNs * HPAGE_PMD_NR);
  return 0;
}
