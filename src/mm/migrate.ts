// Models the mm side of page migration (mm/rmap.c try_to_migrate, mm/migrate.c
// remove_migration_ptes): replacing every mapping of a page by a migration entry (so accesses wait
// and the page's content is stable while it is copied), and turning those entries back into
// mappings of the new page, or of the old one when the migration did not happen. Also the split of
// a large anonymous folio into small ones that migration of a THP needs first.

import { HPAGE_PMD_NR, VM_SHARED, VM_WRITE } from './constants.js';
import { flushTlbRange, invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_CLEAR } from './mmuNotify.js';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, ZONE_DEVICE_PRIVATE } from './physmem.js';
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
import { rmapWalk } from './rmapWalk.js';
import { splitHugePmd } from './thp.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';

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
 * each mapping's reference and mapcount go. The caller holds its own reference.
 */
export function tryToMigrate(kernel: Kernel, pfn: number): void {
  const mem = kernel.mem;
  rmapWalk(
    mem,
    pfn,
    (vma, vpn) => {
      // try_to_migrate_one announces the CLEAR before looking at the entry, so every VMA visited
      // gets one, mapped or not.
      const mm = vma.mm;
      const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, vpn, vpn + 1);
      migrateOne(mm, vpn, pfn);
      invalidateRangeEnd(range);
    },
    () => mem.folioMapcount(pfn) === 0,
  );
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
  {
    if (f & PTE_DIRTY) mem.setPageFlag(pfn, PG_DIRTY);
    table.e[i] = migrationEntryFor(f, mem.pageFlags(pfn));
    if (kind === PTE_PRESENT) flushTlbRange(mm, vpn, vpn + 1);
    // The mapping's rmap and reference go; the migration entry still counts in the RSS.
    mem.addMapcount(pfn, -1);
    mem.put(pfn);
  }
}

/**
 * remove_migration_ptes: every migration entry for `srcPfn` becomes a mapping of `dstPfn` (which
 * is `srcPfn` when the migration did not happen). The new mapping keeps the entry's writability;
 * a device-private destination is mapped by a device-private entry. No invalidation: the entries
 * were not present.
 */
export function removeMigrationPtes(kernel: Kernel, srcPfn: number, dstPfn: number): void {
  const mem = kernel.mem;
  const dstPrivate = mem.zone(dstPfn).kind === ZONE_DEVICE_PRIVATE;
  rmapWalk(mem, dstPfn, (vma, vpn) => {
    const mm = vma.mm;
    const table = mm.pt.pteTable(vpn);
    if (table === null) return;
    const i = (vpn & 511) * 2;
    const f = table.e[i];
    if ((f & PTE_KIND_MASK) !== PTE_MIGRATION || table.e[i + 1] !== srcPfn) return;
    const writable = (f & PTE_WRITE) !== 0;
    let nf: number;
    if (dstPrivate) {
      nf = PTE_DEVICE_PRIVATE | (writable ? PTE_WRITE : 0);
    } else {
      const protWritable = (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);
      nf =
        PTE_PRESENT |
        (writable || protWritable ? PTE_WRITE : 0) |
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
  });
}

/**
 * split_folio for an anonymous THP: every PMD mapping of it is split into PTEs (with the CLEAR
 * notification of the 2 MiB block), then the folio becomes 512 small folios, each keeping the
 * references of its own mappings; the head keeps any reference beyond the mappings (the caller's).
 */
export function splitFolio(kernel: Kernel, head: number): void {
  const mem = kernel.mem;
  rmapWalk(mem, head, (vma, vpn) => {
    const block = vpn - (vpn & 511);
    if (vma.mm.pt.hugeFlags(block) !== 0 && vma.mm.pt.hugePfn(block) === head) splitHugePmd(vma, block);
  });
  // unmap_folio + remap: one more CLEAR over the block in each mm that maps it.
  rmapWalk(mem, head, (vma, vpn) => {
    const block = vpn - (vpn & 511);
    const range = invalidateRangeStart(
      vma.mm,
      MMU_NOTIFY_CLEAR,
      Math.max(block, vma.start),
      Math.min(block + HPAGE_PMD_NR, vma.end),
    );
    invalidateRangeEnd(range);
  });
  let mapped = 0;
  for (let p = head; p < head + HPAGE_PMD_NR; p++) mapped += mem.mapcountOf(p);
  const extra = mem.refcountOf(head) - mapped;
  mem.splitLargeFolio(head, extra);
}
