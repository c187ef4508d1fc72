// Models the hugetlb page pool (HugePages_Total/Free/Rsvd): 2 MiB pages set aside from RAM at boot,
// handed out to MAP_HUGETLB mappings. A private mapping reserves its pages at mmap time, so its own
// faults cannot fail for lack of pages; other allocations (a child's COW copy) take unreserved pages.

import { ENOMEM, ENOSPC } from '../sim/errno.js';
import { HPAGE_PMD_NR } from './constants.js';
import type { PhysMem } from './physmem.js';

export class HugetlbPool {
  readonly total: number;
  private readonly freeHeads: number[];
  /** Pages promised to mappings and not yet faulted in. */
  reserved = 0;

  constructor(
    private readonly mem: PhysMem,
    nrPages: number,
  ) {
    const heads = nrPages > 0 ? mem.reserveHugeBlocks(mem.ram, nrPages) : [];
    if (typeof heads === 'number') {
      throw new RangeError(`cannot set aside ${nrPages} hugetlb pages: RAM is too small`);
    }
    this.total = nrPages;
    this.freeHeads = heads.reverse();
    mem.onHugetlbFree = (head) => this.freeHeads.push(head);
  }

  get free(): number {
    return this.freeHeads.length;
  }

  /** hugetlb_reserve_pages: promises `n` pages, or -ENOMEM when the pool cannot cover them. */
  reserve(n: number): number {
    if (this.freeHeads.length - this.reserved < n) return -ENOMEM;
    this.reserved += n;
    return 0;
  }

  unreserve(n: number): void {
    this.reserved -= n;
  }

  /**
   * alloc_hugetlb_folio: a zeroed 2 MiB folio with refcount 1. `fromReservation` consumes a
   * reservation; otherwise only unreserved pages may be taken (-ENOSPC when there are none).
   */
  alloc(fromReservation: boolean): number {
    if (fromReservation) {
      if (this.reserved <= 0 || this.freeHeads.length === 0) return -ENOSPC;
      this.reserved--;
    } else if (this.freeHeads.length - this.reserved <= 0) {
      return -ENOSPC;
    }
    const head = this.freeHeads.pop()!;
    const mem = this.mem;
    for (let p = head; p < head + HPAGE_PMD_NR; p++) mem.content.zero(p);
    mem.initHugetlbRef(head);
    return head;
  }
}
