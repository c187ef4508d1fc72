// Models mm/migrate_device.c: moving anonymous pages between system RAM and device memory.
// migrate_vma_setup collects the pages of a range (with the select flags and the owner filter),
// replaces their mappings by migration entries and checks nobody else holds them; the driver
// allocates and fills destinations; migrate_vma_pages moves the page metadata (and fills holes);
// migrate_vma_finalize points every migration entry at the new page, or back at the old one.
// migrate_device_range does the same for device pages found by pfn (eviction), in every process.
//
// Migrate-pfn words follow the kernel: VALID bit 0, MIGRATE bit 1, WRITE bit 3, pfn from bit 6
// (exact in a double: pfns are below 2^32, so words are below 2^38).

import { EBUSY, EINVAL } from '../sim/errno.js';
import { NotModeledError } from '../sim/errors.js';
import { GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, PGD_NR, PUD_NR, VM_SPECIAL, VM_WRITE } from './constants.js';
import type { PageCache } from './file.js';
import type { Kernel } from './kernel.js';
import { removeMigrationPtes, splitFolio, tryToMigrate } from './migrate.js';
import { flushTlbRange, invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_MIGRATE } from './mmuNotify.js';
import {
  PG_ANON,
  PG_ANON_EXCLUSIVE,
  PG_DIRTY,
  PG_LOCKED,
  PG_PAGECACHE,
  type PhysMem,
  ZONE_DEVICE_COHERENT,
  ZONE_DEVICE_PRIVATE,
  ZONE_RAM,
} from './physmem.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';
import { addNewAnonRmapPte } from './rmap.js';
import { splitHugePmd } from './thp.js';
import { type Vma, vmaPageProt } from './vma.js';
import { anonVmaPrepare } from './vmaOps.js';

export const MIGRATE_PFN_VALID = 1;
export const MIGRATE_PFN_MIGRATE = 2;
export const MIGRATE_PFN_WRITE = 8;
const MIGRATE_PFN_SHIFT_MUL = 64;

export const MIGRATE_VMA_SELECT_SYSTEM = 1;
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 2;
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 4;

/** migrate_pfn: a VALID word for `pfn`. */
export function migratePfn(pfn: number): number {
  return pfn * MIGRATE_PFN_SHIFT_MUL + MIGRATE_PFN_VALID;
}

/** migrate_pfn_to_page: the pfn of a VALID word, else 0. */
export function migratePfnToPfn(word: number): number {
  return word & MIGRATE_PFN_VALID ? Math.floor(word / MIGRATE_PFN_SHIFT_MUL) : 0;
}

/**
 * The destination word for a device page leaving for system memory (the driver's alloc-and-copy
 * step): a new locked system page holding a copy of `fromPfn`, writable if the source word was.
 * 0 when no system page is free.
 */
export function copyToNewSystemPage(mem: PhysMem, srcWord: number, fromPfn: number): number {
  const dpage = mem.allocPage();
  if (dpage < 0) return 0;
  mem.setPageFlag(dpage, PG_LOCKED);
  mem.content.copy(dpage, fromPfn);
  return migratePfn(dpage) + (srcWord & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0);
}

function clearMigrate(word: number): number {
  return word & MIGRATE_PFN_MIGRATE ? word - MIGRATE_PFN_MIGRATE : word;
}

/** struct migrate_vma. Pages are [start, end) in vpns; src/dst hold one migrate-pfn word per page. */
export class MigrateVma {
  vma: Vma;
  start: number;
  end: number;
  src: Float64Array;
  dst: Float64Array;
  cpages = 0;
  npages = 0;
  pgmapOwner: unknown = null;
  flags = 0;
  /** The device page a migrate_to_ram is for (its lock and extra reference are the caller's), or 0. */
  faultPage = 0;

  constructor(vma: Vma, start: number, end: number, src?: Float64Array, dst?: Float64Array) {
    this.vma = vma;
    this.start = start;
    this.end = end;
    const n = Math.max(0, end - start);
    this.src = src ?? new Float64Array(n);
    this.dst = dst ?? new Float64Array(n);
  }
}

/**
 * migrate_vma_setup: 0 (even when nothing can migrate; see `cpages`) or -EINVAL for a VMA or range
 * migration cannot use (R-MIG-4). On return every `src` word with MIGRATE has its page locked,
 * unmapped everywhere behind migration entries, and held by nobody else.
 */
export function migrateVmaSetup(args: MigrateVma): number {
  const vma = args.vma;
  const nr = args.end - args.start;
  if (vma.isHugetlb || vma.flags & VM_SPECIAL) return -EINVAL;
  if (nr <= 0) return -EINVAL;
  if (args.start < vma.start || args.start >= vma.end) return -EINVAL;
  if (args.end <= vma.start || args.end > vma.end) return -EINVAL;
  if (args.src.length < nr || args.dst.length < nr) return -EINVAL;
  const kernel = vma.mm.kernel;
  kernel.charge(kernel.costs.migrateCallNs + nr * kernel.costs.migratePageNs);
  const mem = kernel.mem;
  if (args.faultPage !== 0 && mem.zone(args.faultPage).kind !== ZONE_DEVICE_PRIVATE) return -EINVAL;
  args.src.fill(0, 0, nr);
  args.cpages = 0;
  args.npages = 0;
  collect(args);
  if (args.cpages > 0) args.cpages = unmapPages(vma.mm.kernel, args.src, args.npages, args.faultPage);
  return 0;
}

/** migrate_vma_collect: the MIGRATE invalidation around a walk of the range (R-MIG-5..7). */
function collect(args: MigrateVma): void {
  const mm = args.vma.mm;
  const range = invalidateRangeStart(mm, MMU_NOTIFY_MIGRATE, args.start, args.end, args.pgmapOwner);
  const pt = mm.pt;
  let vpn = args.start;
  while (vpn < args.end) {
    const pgdIdx = Math.floor(vpn / PGD_NR);
    if (pt.pgd[pgdIdx] === null) {
      vpn = collectHole(args, vpn, Math.min((pgdIdx + 1) * PGD_NR, args.end));
      continue;
    }
    const pudKey = (vpn / PUD_NR) >>> 0;
    if (pt.pgd[pgdIdx]!.pmds[pudKey & 511] === null) {
      vpn = collectHole(args, vpn, Math.min((pudKey + 1) * PUD_NR, args.end));
      continue;
    }
    const block = vpn - (vpn & 511);
    const next = Math.min(block + HPAGE_PMD_NR, args.end);
    collectPmd(args, vpn, next);
    vpn = next;
  }
  invalidateRangeEnd(range);
  args.end = args.start + args.npages;
}

function collectHole(args: MigrateVma, a: number, b: number): number {
  const anon = args.vma.isAnonymous;
  for (let v = a; v < b; v++) {
    args.dst[args.npages] = 0;
    args.src[args.npages++] = anon ? MIGRATE_PFN_MIGRATE : 0;
    if (anon) args.cpages++;
  }
  return b;
}

function collectSkip(args: MigrateVma, a: number, b: number): void {
  for (let v = a; v < b; v++) {
    args.dst[args.npages] = 0;
    args.src[args.npages++] = 0;
  }
}

/** migrate_vma_collect_pmd over [a, b) inside one 2 MiB block. */
function collectPmd(args: MigrateVma, a: number, b: number): void {
  const vma = args.vma;
  const mm = vma.mm;
  const kernel = mm.kernel;
  const mem = kernel.mem;
  const pt = mm.pt;
  const hflags = pt.hugeFlags(a);
  if (pt.pteTable(a) === null && (hflags & PTE_KIND_MASK) === PTE_NONE) {
    collectHole(args, a, b);
    return;
  }
  if ((hflags & PTE_KIND_MASK) === PTE_PRESENT) {
    const head = pt.hugePfn(a);
    if (mem.isZeroPfn(head)) {
      splitHugePmd(vma, a);
    } else {
      // A THP is split into small pages first; if that is impossible, the whole block is skipped.
      if (args.faultPage !== 0 && mem.folioHead(args.faultPage) === head) return collectSkip(args, a, b);
      if (!mem.trylock(head)) return collectSkip(args, a, b);
      mem.get(head);
      splitFolio(kernel, head);
      mem.unlock(head);
      mem.put(head);
    }
  } else if ((hflags & PTE_KIND_MASK) !== PTE_NONE) {
    throw new NotModeledError('migration of a non-present huge PMD');
  }
  const table = pt.pteTable(a);
  if (table === null) {
    collectHole(args, a, b);
    return;
  }
  const e = table.e;
  let unmapped = 0;
  for (let vpn = a; vpn < b; vpn++) {
    const i = (vpn & 511) * 2;
    const f = e[i];
    const kind = f & PTE_KIND_MASK;
    let mpfn = 0;
    let page = 0;
    if (kind === PTE_NONE) {
      if (vma.isAnonymous) {
        mpfn = MIGRATE_PFN_MIGRATE;
        args.cpages++;
      }
    } else if (kind !== PTE_PRESENT) {
      const pfn = e[i + 1];
      const zone = kind === PTE_DEVICE_PRIVATE ? mem.zone(pfn) : null;
      if (zone !== null && args.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE && zone.owner === args.pgmapOwner) {
        page = pfn;
        mpfn = migratePfn(pfn) + MIGRATE_PFN_MIGRATE + (f & PTE_WRITE ? MIGRATE_PFN_WRITE : 0);
      }
    } else {
      const pfn = e[i + 1];
      if (mem.isZeroPfn(pfn) && args.flags & MIGRATE_VMA_SELECT_SYSTEM) {
        mpfn = MIGRATE_PFN_MIGRATE;
        args.cpages++;
      } else {
        const normal = !(f & PTE_SPECIAL);
        const kindOfZone = normal ? mem.zone(pfn).kind : -1;
        const selected =
          !normal ||
          (kindOfZone === ZONE_RAM && (args.flags & MIGRATE_VMA_SELECT_SYSTEM) !== 0) ||
          (kindOfZone === ZONE_DEVICE_COHERENT &&
            (args.flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) !== 0 &&
            mem.zone(pfn).owner === args.pgmapOwner);
        if (selected) {
          page = normal ? pfn : 0;
          mpfn = migratePfn(pfn) + MIGRATE_PFN_MIGRATE + (f & PTE_WRITE ? MIGRATE_PFN_WRITE : 0);
        }
      }
    }
    if (page === 0 && mpfn !== 0 && mpfn !== MIGRATE_PFN_MIGRATE) mpfn = 0;
    if (page !== 0) {
      const pf = mem.pageFlags(page);
      // Only pages with a mapping (anonymous or page cache), and no large folios (6.12).
      if (!(pf & (PG_ANON | PG_PAGECACHE)) || mem.isLargeFolio(page)) {
        mpfn = 0;
      } else {
        mem.get(page);
        if (page === args.faultPage || mem.trylock(page)) {
          const anonExclusive = (pf & (PG_ANON | PG_ANON_EXCLUSIVE)) === (PG_ANON | PG_ANON_EXCLUSIVE);
          if (anonExclusive && mem.folioRefcount(page) >= GUP_PIN_COUNTING_BIAS) {
            // folio_try_share_anon_rmap_pte fails for a page that may be DMA-pinned.
            if (page !== args.faultPage) mem.unlock(page);
            mem.put(page);
            mpfn = 0;
          } else {
            if (anonExclusive) mem.clearPageFlag(page, PG_ANON_EXCLUSIVE);
            args.cpages++;
            if (f & PTE_DIRTY) mem.setPageFlag(page, PG_DIRTY);
            // Writable, else readable-exclusive for an exclusive anonymous page, else readable.
            const carried =
              kind === PTE_PRESENT ? f & (PTE_YOUNG | PTE_DIRTY | PTE_SOFT_DIRTY) : f & PTE_SOFT_DIRTY;
            e[i] =
              PTE_MIGRATION | carried | (f & PTE_WRITE ? PTE_WRITE : anonExclusive ? PTE_MIG_EXCLUSIVE : 0);
            mem.addMapcount(page, -1);
            mem.put(page);
            if (kind === PTE_PRESENT) unmapped++;
          }
        } else {
          mem.put(page);
          mpfn = 0;
        }
      }
    }
    args.dst[args.npages] = 0;
    args.src[args.npages++] = mpfn;
  }
  if (unmapped > 0) flushTlbRange(mm, a, b);
}

/** migrate_vma_check_page: nobody but the migration (and the fault path) holds the page. */
function checkPage(mem: PhysMem, pfn: number, faultPage: number): boolean {
  if (mem.isLargeFolio(pfn)) return false;
  let extra = 1 + (pfn === faultPage ? 1 : 0);
  const zone = mem.zone(pfn).kind;
  if (zone !== ZONE_RAM) extra++;
  if (mem.testPageFlag(pfn, PG_PAGECACHE)) extra++;
  return mem.refcountOf(pfn) - extra <= mem.mapcountOf(pfn);
}

/**
 * migrate_device_unmap (R-MIG-8): the remaining mappings become migration entries; a page still
 * mapped or held by someone else is restored and dropped from the migration. Returns the number of
 * entries still migrating (holes included).
 */
function unmapPages(kernel: Kernel, src: Float64Array, npages: number, faultPage: number): number {
  const mem = kernel.mem;
  let unmapped = 0;
  let restore = 0;
  for (let i = 0; i < npages; i++) {
    const page = migratePfnToPfn(src[i]);
    if (page === 0) {
      if (src[i] & MIGRATE_PFN_MIGRATE) unmapped++;
      continue;
    }
    if (mem.folioMapcount(page) > 0) tryToMigrate(kernel, page);
    if (mem.folioMapcount(page) > 0 || !checkPage(mem, page, faultPage)) {
      src[i] = clearMigrate(src[i]);
      restore++;
      continue;
    }
    unmapped++;
  }
  for (let i = 0; i < npages && restore > 0; i++) {
    const page = migratePfnToPfn(src[i]);
    if (page === 0 || src[i] & MIGRATE_PFN_MIGRATE) continue;
    removeMigrationPtes(kernel, page, page);
    src[i] = 0;
    if (page !== faultPage) mem.unlock(page);
    mem.put(page);
    restore--;
  }
  return unmapped;
}

/**
 * migrate_vma_pages (R-MIG-11): for every entry the driver gave a destination, moves the page
 * metadata (or maps a new page into a hole, with one MIGRATE invalidation from the first hole to
 * the end); entries that cannot move lose MIGRATE. No data is copied here.
 */
export function migrateVmaPages(args: MigrateVma): void {
  migratePagesInner(args.vma.mm.kernel, args.src, args.dst, args.npages, args);
}

/** migrate_device_pages: the same for pages found by pfn (no holes). */
export function migrateDevicePages(
  kernel: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
): void {
  migratePagesInner(kernel, src, dst, npages, null);
}

function migratePagesInner(
  kernel: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  args: MigrateVma | null,
): void {
  const mem = kernel.mem;
  let range: ReturnType<typeof invalidateRangeStart> | null = null;
  for (let i = 0; i < npages; i++) {
    const newpage = migratePfnToPfn(dst[i]);
    const page = migratePfnToPfn(src[i]);
    if (newpage === 0) {
      src[i] = clearMigrate(src[i]);
      continue;
    }
    if (page === 0) {
      if (!(src[i] & MIGRATE_PFN_MIGRATE) || args === null) continue;
      if (range === null)
        range = invalidateRangeStart(
          args.vma.mm,
          MMU_NOTIFY_MIGRATE,
          args.start + i,
          args.end,
          args.pgmapOwner,
        );
      src[i] = insertPage(args, args.start + i, newpage) ? MIGRATE_PFN_MIGRATE : 0;
      continue;
    }
    const newKind = mem.zone(newpage).kind;
    if (newKind !== ZONE_RAM && mem.testPageFlag(page, PG_PAGECACHE)) {
      // Only anonymous memory goes to device memory.
      src[i] = clearMigrate(src[i]);
      continue;
    }
    // folio_migrate_mapping: only our reference (and the fault path's) may remain.
    const expected =
      1 + (args !== null && args.faultPage === page ? 1 : 0) + (mem.testPageFlag(page, PG_PAGECACHE) ? 1 : 0);
    if (mem.refcountOf(page) !== expected) {
      src[i] = clearMigrate(src[i]);
      continue;
    }
    const pf = mem.pageFlags(page);
    if (pf & PG_PAGECACHE) {
      // The page-cache slot now holds the new page, and the cache's reference moves with it; the
      // dirty bit moves too. The old page keeps only the migration's reference.
      const cache = mem.mappingObject(mem.mappingOf(page)) as PageCache;
      mem.get(newpage);
      cache.set(mem.indexOf(page), newpage);
      mem.put(page);
      if (pf & PG_DIRTY) mem.clearPageFlag(page, PG_DIRTY);
    }
    mem.setMapping(newpage, mem.mappingOf(page), mem.indexOf(page), (pf & PG_ANON) !== 0);
    if (pf & PG_DIRTY) mem.setPageFlag(newpage, PG_DIRTY);
  }
  if (range !== null) invalidateRangeEnd(range);
}

/** migrate_vma_insert_page: maps a new page into a hole (or over the zero page) of an anonymous VMA. */
function insertPage(args: MigrateVma, vpn: number, newpage: number): boolean {
  const vma = args.vma;
  const mm = vma.mm;
  const mem = mm.kernel.mem;
  if (!vma.isAnonymous) return false;
  const pt = mm.pt;
  if (pt.hugeFlags(vpn) !== 0) return false;
  const table = pt.allocPteTable(vpn);
  anonVmaPrepare(vma);
  const i = (vpn & 511) * 2;
  const orig = table.e[i];
  let flush = false;
  if ((orig & PTE_KIND_MASK) === PTE_PRESENT) {
    if (!mem.isZeroPfn(table.e[i + 1])) return false;
    flush = true;
  } else if ((orig & PTE_KIND_MASK) !== PTE_NONE) {
    return false;
  }
  if (mm.torndown) return false;
  const writable = (vma.flags & VM_WRITE) !== 0;
  const kind = mem.zone(newpage).kind;
  addNewAnonRmapPte(mem, newpage, vma, vpn);
  mem.get(newpage);
  // A coherent or system page is mapped with the VMA's protection (inaccessible for PROT_NONE).
  table.e[i] =
    kind === ZONE_DEVICE_PRIVATE
      ? PTE_DEVICE_PRIVATE | (writable ? PTE_WRITE : 0)
      : PTE_PRESENT | PTE_YOUNG | vmaPageProt(vma) | (writable ? PTE_WRITE | PTE_DIRTY : 0);
  table.e[i + 1] = newpage;
  if (flush) flushTlbRange(mm, vpn, vpn + 1);
  return true;
}

/** migrate_vma_finalize (R-MIG-13). */
export function migrateVmaFinalize(args: MigrateVma): void {
  migrateDeviceFinalize(args.vma.mm.kernel, args.src, args.dst, args.npages, args.faultPage);
}

/**
 * migrate_device_finalize: every migration entry now maps the destination, or the source again if
 * the entry did not migrate; unused destinations are freed, sources lose their last reference.
 */
export function migrateDeviceFinalize(
  kernel: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  faultPage = 0,
): void {
  const mem = kernel.mem;
  for (let i = 0; i < npages; i++) {
    const newpage = migratePfnToPfn(dst[i]);
    const page = migratePfnToPfn(src[i]);
    if (page === 0) {
      if (newpage !== 0) {
        mem.unlock(newpage);
        mem.put(newpage);
      }
      continue;
    }
    let target = newpage;
    if (!(src[i] & MIGRATE_PFN_MIGRATE) || newpage === 0) {
      if (newpage !== 0) {
        mem.unlock(newpage);
        mem.put(newpage);
      }
      target = page;
    }
    removeMigrationPtes(kernel, page, target);
    if (page !== faultPage) mem.unlock(page);
    mem.put(page);
    if (target !== page) {
      mem.unlock(target);
      mem.put(target);
    }
  }
}

/**
 * migrate_device_pfns (upstream) / migrate_device_range (6.12, contiguous pfns): collects device
 * pages by pfn: free or locked pages are skipped; the rest are unmapped from every process
 * (R-EVICT-1). Always 0.
 */
export function migrateDevicePfns(kernel: Kernel, src: Float64Array, pfns: ArrayLike<number>): number {
  const mem = kernel.mem;
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i];
    if (mem.refcountOf(pfn) === 0 || mem.isLargeFolio(pfn)) {
      src[i] = 0;
      continue;
    }
    mem.get(pfn);
    if (!mem.trylock(pfn)) {
      src[i] = 0;
      mem.put(pfn);
      continue;
    }
    src[i] = migratePfn(pfn) + MIGRATE_PFN_MIGRATE;
  }
  unmapPages(kernel, src, pfns.length, 0);
  return 0;
}

export function migrateDeviceRange(
  kernel: Kernel,
  src: Float64Array,
  startPfn: number,
  npages: number,
): number {
  const pfns = new Float64Array(npages);
  for (let i = 0; i < npages; i++) pfns[i] = startPfn + i;
  return migrateDevicePfns(kernel, src, pfns);
}

/**
 * migrate_device_coherent_folio: moves one device-coherent page to a new system page (a long-term
 * pin cannot stay on device memory). 0, or -EBUSY when the page could not be unmapped or moved.
 */
export function migrateDeviceCoherentFolio(kernel: Kernel, pfn: number): number {
  const mem = kernel.mem;
  if (!mem.trylock(pfn)) return -EBUSY;
  const src = new Float64Array([migratePfn(pfn) + MIGRATE_PFN_MIGRATE]);
  const dst = new Float64Array(1);
  mem.get(pfn);
  unmapPages(kernel, src, 1, 0);
  if (!(src[0] & MIGRATE_PFN_MIGRATE)) return -EBUSY;
  const fresh = mem.allocPage();
  if (fresh >= 0) {
    mem.trylock(fresh);
    mem.content.copy(fresh, pfn);
    dst[0] = migratePfn(fresh);
  }
  migrateDevicePages(kernel, src, dst, 1);
  const moved = (src[0] & MIGRATE_PFN_MIGRATE) !== 0;
  migrateDeviceFinalize(kernel, src, dst, 1);
  return moved ? 0 : -EBUSY;
}
