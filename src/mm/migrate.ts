// Models the mm side of page migration (mm/rmap.c try_to_migrate, mm/migrate.c
// remove_migration_ptes): replacing every mapping of a page by a migration entry (so accesses wait
// and the page's content is stable while it is copied), and turning those entries back into
// mappings of the new page, or of the old one when the migration did not happen. Also the split of
// a large anonymous folio into small ones that migration of a THP needs first.

import { NotModeledError } from '../sim/errors.js';
import { HPAGE_PMD_NR } from './constants.js';
import { flushTlbRange, invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_CLEAR } from './mmuNotify.js';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, type PhysMem, ZONE_DEVICE_PRIVATE } from './physmem.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';
import { folioNotMapped, folioStartIn, rmapWalk } from './rmapWalk.js';
import { splitHugePmdLocked } from './thp.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import { type Vma, vmaPageProt } from './vma.js';

/** The migration entry that replaces a mapping with flags `f` of a page with page flags `pf`. */
export function migrationEntryFor(f: number, pf: number): number {
  const carried = f & (PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY);
  if (f & PTE_WRITE) return PTE_MIGRATION | PTE_WRITE | carried;
  if ((pf & (PG_ANON | PG_ANON_EXCLUSIVE)) === (PG_ANON | PG_ANON_EXCLUSIVE))
    return PTE_MIGRATION | PTE_MIG_EXCLUSIVE | carried;
  return PTE_MIGRATION | carried;
}

/**
 * try_to_migrate for a small page: every remaining mapping (present PTE or device-private entry,
 * in any process) becomes a migration entry under a CLEAR invalidation of that page in that mm;
 * each mapping's reference and mapcount go. The caller holds its own reference. The walk stops as
 * soon as the page is mapped nowhere (folio_not_mapped).
 */
export function tryToMigrate(kernel: Kernel, pfn: number): void {
  const mem = kernel.mem;
  if (mem.isLargeFolio(pfn)) throw new NotModeledError('try_to_migrate of a large folio');
  rmapWalk(mem, pfn, tryToMigrateOne, folioNotMapped, null);
}

/** try_to_migrate_one: announces the CLEAR before looking at the entry, so every VMA visited gets one. */
function tryToMigrateOne(pfn: number, vma: Vma, vpn: number, _arg: null): boolean {
  const mm = vma.mm;
  const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, vpn, vpn + 1);
  migrateOne(mm, vpn, pfn);
  invalidateRangeEnd(range);
  return true;
}

/** The body of try_to_migrate_one for one address: a mapping of `pfn` there becomes a migration entry. */
function migrateOne(mm: Mm, vpn: number, pfn: number): void {
  const mem = mm.kernel.mem;
  const table = mm.pt.pteTable(vpn);
  if (table === null) return;
  const i = (vpn & 511) * 2;
  const f = table.e[i];
  const kind = f & PTE_KIND_MASK;
  if (table.e[i + 1] !== pfn) return;
  if (!((kind === PTE_PRESENT && !(f & PTE_SPECIAL)) || kind === PTE_DEVICE_PRIVATE)) return;
  if (f & PTE_DIRTY) mem.setPageFlag(pfn, PG_DIRTY);
  table.e[i] = migrationEntryFor(f, mem.pageFlags(pfn));
  if (kind === PTE_PRESENT) flushTlbRange(mm, vpn, vpn + 1);
  // The mapping's rmap and reference go; the migration entry still counts in the RSS.
  mem.addMapcount(pfn, -1);
  mem.put(pfn);
}

/**
 * remove_migration_ptes: every migration entry for `srcPfn` becomes a mapping of `dstPfn` (which
 * is `srcPfn` when the migration did not happen). The new mapping is made from the VMA's page
 * protection (so it stays inaccessible in a PROT_NONE VMA) and keeps the entry's writability; a
 * device-private destination is mapped by a device-private entry. No invalidation: the entries
 * were not present.
 */
export function removeMigrationPtes(kernel: Kernel, srcPfn: number, dstPfn: number): void {
  rmapWalk(kernel.mem, dstPfn, removeMigrationPte, null, srcPfn);
}

/** remove_migration_pte for a small page: the entry at `vpn`, if it is a migration entry for `srcPfn`. */
function removeMigrationPte(dstPfn: number, vma: Vma, vpn: number, srcPfn: number): boolean {
  const mm = vma.mm;
  const mem = mm.kernel.mem;
  const table = mm.pt.pteTable(vpn);
  if (table === null) return true;
  const i = (vpn & 511) * 2;
  const f = table.e[i];
  if ((f & PTE_KIND_MASK) !== PTE_MIGRATION || table.e[i + 1] !== srcPfn) return true;
  const writable = (f & PTE_WRITE) !== 0;
  let nf: number;
  if (mem.zone(dstPfn).kind === ZONE_DEVICE_PRIVATE) {
    nf = PTE_DEVICE_PRIVATE | (writable ? PTE_WRITE : 0);
  } else {
    // mk_pte(new, vma->vm_page_prot), then pte_mkwrite for a writable migration entry.
    nf =
      PTE_PRESENT |
      vmaPageProt(vma) |
      (writable ? PTE_WRITE : 0) |
      (f & (PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY));
  }
  if (mem.testPageFlag(dstPfn, PG_ANON)) {
    if (f & (PTE_WRITE | PTE_MIG_EXCLUSIVE)) mem.setPageFlag(dstPfn, PG_ANON_EXCLUSIVE);
    else mem.clearPageFlag(dstPfn, PG_ANON_EXCLUSIVE);
  }
  mem.get(dstPfn);
  mem.addMapcount(dstPfn, 1);
  table.e[i] = nf;
  table.e[i + 1] = dstPfn;
  return true;
}

/** How many mappings of the folio being split the walk has not reached yet (its `done`). */
interface SplitWalk {
  unvisited: number;
}

/**
 * split_folio for an anonymous THP. unmap_folio is a try_to_migrate of the whole folio with
 * TTU_SPLIT_HUGE_PMD: in every VMA that may map it (until no mapping is left) a CLEAR of the 2 MiB
 * block wherever a PMD table exists (split_huge_pmd_address, which splits a huge PMD mapping this
 * folio), then a CLEAR of the folio's part of the VMA; remap_page brings the mappings back, now of
 * 512 small folios, each keeping the references of its own mappings; the head keeps any reference
 * beyond the mappings (the caller's).
 */
export function splitFolio(kernel: Kernel, head: number): void {
  const mem = kernel.mem;
  const walk: SplitWalk = { unvisited: mem.folioMapcount(head) };
  rmapWalk(mem, head, splitFolioOne, splitFolioDone, walk);
  let mapped = 0;
  for (let p = head; p < head + HPAGE_PMD_NR; p++) mapped += mem.mapcountOf(p);
  const extra = mem.refcountOf(head) - mapped;
  mem.splitLargeFolio(head, extra);
}

function splitFolioOne(head: number, vma: Vma, vpn: number, walk: SplitWalk): boolean {
  const mm = vma.mm;
  const pt = mm.pt;
  if (pt.pmdTable(vpn) !== null) {
    const block = vpn - (vpn & 511);
    const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, block, block + HPAGE_PMD_NR);
    if ((pt.hugeFlags(block) & PTE_KIND_MASK) === PTE_PRESENT && pt.hugePfn(block) === head) {
      splitHugePmdLocked(vma, block);
    }
    invalidateRangeEnd(range);
  }
  // vma_address_end: the folio's end, or the VMA's if the folio runs past it.
  const end = Math.min(folioStartIn(vma, mm.kernel.mem.indexOf(head), true) + HPAGE_PMD_NR, vma.end);
  const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, vpn, end);
  walk.unvisited -= folioMappingsIn(mm, vpn, end, head);
  invalidateRangeEnd(range);
  return true;
}

function splitFolioDone(_mem: PhysMem, _head: number, walk: SplitWalk): boolean {
  return walk.unvisited <= 0;
}

/** PTE mappings of pages of the large folio `head` in [startVpn, endVpn) of `mm`. */
function folioMappingsIn(mm: Mm, startVpn: number, endVpn: number, head: number): number {
  let n = 0;
  for (let v = startVpn; v < endVpn; v++) {
    const table = mm.pt.pteTable(v);
    if (table === null) continue;
    const i = (v & 511) * 2;
    const p = table.e[i + 1];
    if (p < head || p >= head + HPAGE_PMD_NR) continue;
    const f = table.e[i];
    if ((f & PTE_KIND_MASK) === PTE_PRESENT && !(f & PTE_SPECIAL)) n++;
  }
  return n;
}
