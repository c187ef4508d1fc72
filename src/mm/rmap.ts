// Models the reverse-map and accounting side of mapping a page (mm/rmap.c): mapcounts, PageAnon and
// PageAnonExclusive, the anon_vma a new anonymous page points to, and the mm's RSS counters. Every
// PTE or PMD that maps a page goes through these helpers, so counts always match the page tables.

import { HPAGE_PMD_NR } from './constants.js';
import type { Mm } from './mm.js';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_PAGECACHE, type PhysMem } from './physmem.js';
import type { Vma } from './vma.js';

/** folio_add_new_anon_rmap for a small page: first mapping, exclusively owned. */
export function addNewAnonRmapPte(mem: PhysMem, pfn: number, vma: Vma, vpn: number): void {
  mem.setMapping(pfn, vma.anonVma!.id, vpn, true);
  mem.setPageFlag(pfn, PG_ANON_EXCLUSIVE);
  mem.addMapcount(pfn, 1);
  vma.mm.rssAnon++;
}

/** folio_add_new_anon_rmap for a PMD-mapped THP. */
export function addNewAnonRmapPmd(mem: PhysMem, head: number, vma: Vma, blockVpn: number): void {
  const id = vma.anonVma!.id;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    mem.setMapping(head + i, id, blockVpn + i, true);
    mem.setPageFlag(head + i, PG_ANON_EXCLUSIVE);
  }
  mem.addEntireMapcount(head, 1);
  vma.mm.rssAnon += HPAGE_PMD_NR;
}

/** One more PTE mapping of an existing page (file page fault, fork copy). Takes no reference. */
export function addRmapPte(mem: PhysMem, mm: Mm, pfn: number): void {
  mem.addMapcount(pfn, 1);
  accountRss(mem, mm, pfn, 1);
}

/** Removes one PTE mapping of a page. The caller drops the reference the mapping held. */
export function removeRmapPte(mem: PhysMem, mm: Mm, pfn: number): void {
  mem.addMapcount(pfn, -1);
  accountRss(mem, mm, pfn, -1);
}

export function addRmapPmd(mem: PhysMem, mm: Mm, head: number): void {
  mem.addEntireMapcount(head, 1);
  accountRss(mem, mm, head, HPAGE_PMD_NR);
}

export function removeRmapPmd(mem: PhysMem, mm: Mm, head: number): void {
  mem.addEntireMapcount(head, -1);
  accountRss(mem, mm, head, -HPAGE_PMD_NR);
}

/** folio_move_anon_rmap + SetPageAnonExclusive on reuse: the page now belongs to `vma` alone. */
export function moveAnonRmap(mem: PhysMem, pfn: number, vma: Vma): void {
  mem.setMapping(pfn, vma.anonVma!.id, mem.indexOf(pfn), true);
  mem.setPageFlag(pfn, PG_ANON_EXCLUSIVE);
}

/** Adds `n` to the RSS counter of `pfn`'s kind (anonymous, shmem, file) in `mm`. */
export function accountRss(mem: PhysMem, mm: Mm, pfn: number, n: number): void {
  const f = mem.pageFlags(pfn);
  if (f & PG_ANON) mm.rssAnon += n;
  else if (f & PG_PAGECACHE) mm.rssShmem += n;
  else mm.rssFile += n;
}
