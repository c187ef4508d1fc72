// Models zapping page-table entries (zap_pte_range, zap_huge_pmd, __unmap_hugepage_range) with an
// mmu_gather: entries are cleared first, the TLB is flushed (secondary TLBs with it), and only then
// are the pages' references dropped, so no CPU or device can reach a page after it is freed.

import { HPAGE_PMD_NR } from './constants.js';
import type { Mm } from './mm.js';
import { flushTlbRange } from './mmuNotify.js';
import type { PmdTable, PteTable } from './pagetable.js';
import { PG_DIRTY } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
} from './pte.js';
import { accountRss, removeRmapPmd, removeRmapPte } from './rmap.js';
import { splitHugePmd } from './thp.js';
import type { Vma } from './vma.js';

/** Batches the references to drop until after the TLB flush (struct mmu_gather). */
export class MmuGather {
  private pfns = new Int32Array(4096);
  private n = 0;
  private mm: Mm | null = null;
  private startVpn = Number.POSITIVE_INFINITY;
  private endVpn = 0;

  begin(mm: Mm): void {
    this.mm = mm;
    this.n = 0;
    this.startVpn = Number.POSITIVE_INFINITY;
    this.endVpn = 0;
  }

  /** Records that [startVpn, endVpn) lost its translations (the range to flush). */
  cover(startVpn: number, endVpn: number): void {
    if (startVpn < this.startVpn) this.startVpn = startVpn;
    if (endVpn > this.endVpn) this.endVpn = endVpn;
  }

  /** Queues one reference on `pfn` to be dropped after the flush. */
  putLater(pfn: number): void {
    if (this.n === this.pfns.length) this.flush();
    this.pfns[this.n++] = pfn;
  }

  /** tlb_flush_mmu: flush the covered range, then free the batched pages. */
  flush(): void {
    const mm = this.mm!;
    if (this.endVpn > this.startVpn) flushTlbRange(mm, this.startVpn, this.endVpn);
    this.startVpn = Number.POSITIVE_INFINITY;
    this.endVpn = 0;
    const mem = mm.kernel.mem;
    const n = this.n;
    this.n = 0;
    mm.kernel.charge(n * mm.kernel.costs.ptePageNs);
    for (let i = 0; i < n; i++) mem.put(this.pfns[i]);
  }

  finish(): void {
    this.flush();
    this.mm = null;
  }
}

/**
 * unmap_single_vma: clears every entry of `vma` in [startVpn, endVpn) (clipped to the VMA). A huge
 * PMD only partly inside the range is split first, with its own CLEAR notification.
 */
export function zapVmaRange(tlb: MmuGather, vma: Vma, startVpn: number, endVpn: number): void {
  const start = Math.max(startVpn, vma.start);
  const end = Math.min(endVpn, vma.end);
  if (start >= end) return;
  const pt = vma.mm.pt;
  if (!vma.isHugetlb) {
    // Split huge PMDs the range only partly covers before walking.
    for (const edge of [start, end]) {
      if (edge % HPAGE_PMD_NR !== 0 && pt.hugeFlags(edge) !== 0) {
        const block = edge - (edge % HPAGE_PMD_NR);
        if (block < end && block + HPAGE_PMD_NR > start) splitHugePmd(vma, edge);
      }
    }
  }
  tlb.cover(start, end);
  const visitor = zapVisitor;
  visitor.tlb = tlb;
  visitor.vma = vma;
  pt.walk(start, end, visitor);
  visitor.vma = null;
}

const zapVisitor = {
  tlb: null as MmuGather | null,
  vma: null as Vma | null,

  ptes(table: PteTable, first: number, end: number, _baseVpn: number): void {
    const vma = this.vma!;
    const mm = vma.mm;
    const mem = mm.kernel.mem;
    const tlb = this.tlb!;
    const e = table.e;
    for (let i = first; i < end; i++) {
      const f = e[2 * i];
      const kind = f & PTE_KIND_MASK;
      if (kind === PTE_NONE) continue;
      const pfn = e[2 * i + 1];
      e[2 * i] = 0;
      e[2 * i + 1] = 0;
      if (kind === PTE_PRESENT) {
        if (f & PTE_SPECIAL) continue;
        if (f & PTE_DIRTY) mem.setPageFlag(mem.folioHead(pfn), PG_DIRTY);
        removeRmapPte(mem, mm, pfn);
        tlb.putLater(pfn);
      } else if (kind === PTE_DEVICE_PRIVATE) {
        removeRmapPte(mem, mm, pfn);
        tlb.putLater(pfn);
      } else if (kind === PTE_DEVICE_EXCLUSIVE) {
        // 6.12: the exclusive entry holds a reference but no mapcount.
        accountRss(mem, mm, pfn, -1);
        tlb.putLater(pfn);
      } else if (kind === PTE_MIGRATION) {
        accountRss(mem, mm, pfn, -1);
      }
    }
  },

  huge(pmd: PmdTable, idx: number, _blockVpn: number): void {
    const vma = this.vma!;
    const mm = vma.mm;
    const mem = mm.kernel.mem;
    const huge = pmd.huge!;
    const f = huge[idx * 2];
    const head = huge[idx * 2 + 1];
    huge[idx * 2] = 0;
    huge[idx * 2 + 1] = 0;
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT || f & PTE_SPECIAL) return;
    if (f & PTE_DIRTY) mem.setPageFlag(head, PG_DIRTY);
    removeRmapPmd(mem, mm, head);
    this.tlb!.putLater(head);
  },
};
