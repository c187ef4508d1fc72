// Models the page-fault handler of mm/memory.c (handle_mm_fault and the paths under it): anonymous
// faults (the zero page on read, a new page on write), file faults with fault-around, COW breaks and
// write-fault reuse of exclusively owned pages, and THP faults at the PMD level. It is called by the
// CPU access path, by get_user_pages (populate) and by hmm_range_fault, which all share its effects.

import { NotModeledError } from '../sim/errors.js';
import {
  FAULT_FLAG_WRITE,
  HPAGE_PMD_NR,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_MAYSHARE,
  VM_SHARED,
  VM_WRITE,
} from './constants.js';
import { hugetlbFault } from './hugetlbFault.js';
import type { DevPagemap } from './devmap.js';
import {
  flushTlbRange,
  invalidateRangeEnd,
  invalidateRangeStart,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
} from './mmuNotify.js';
import type { PteTable } from './pagetable.js';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_LOCKED } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_HUGE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';
import { addNewAnonRmapPmd, addNewAnonRmapPte, addRmapPte, moveAnonRmap, removeRmapPte } from './rmap.js';
import { shmemGetPage } from './shmem.js';
import { splitHugePmd, thpAllowed } from './thp.js';
import { type Vma, vmaPageProt } from './vma.js';
import { anonVmaPrepare } from './vmaOps.js';

/**
 * handle_mm_fault: resolves one fault at `vpn` in `vma` (which must contain it and allow the access;
 * callers check). Returns a VM_FAULT_* code: 0 when the access can be retried.
 */
export function handleMmFault(vma: Vma, vpn: number, faultFlags: number): number {
  const mm = vma.mm;
  const kernel = mm.kernel;
  kernel.stats.add(kernel.ctr.faults);
  kernel.charge(kernel.costs.cpuFaultNs);
  if (vma.isHugetlb) return hugetlbFault(vma, vpn, faultFlags);
  const write = (faultFlags & FAULT_FLAG_WRITE) !== 0;
  const pt = mm.pt;
  const block = vpn - (vpn & 511);
  const pmd = pt.allocPmdTable(vpn);
  const slot = ((vpn / HPAGE_PMD_NR) >>> 0) & 511;
  if (pmd.ptes[slot] === null) {
    const hflags = pmd.huge === null ? 0 : pmd.huge[slot * 2];
    if ((hflags & PTE_KIND_MASK) === PTE_NONE) {
      if (thpAllowed(kernel, vma, block)) {
        const ret = doHugePmdAnonymousPage(vma, block, write);
        if (!(ret & VM_FAULT_FALLBACK)) return ret;
      }
    } else if ((hflags & PTE_KIND_MASK) === PTE_PRESENT) {
      if (write && !(hflags & PTE_WRITE)) {
        const ret = doHugePmdWpPage(vma, block, hflags);
        if (!(ret & VM_FAULT_FALLBACK)) return ret;
      } else {
        pmd.huge![slot * 2] = hflags | PTE_YOUNG | (write ? PTE_DIRTY : 0);
        return 0;
      }
    } else {
      throw new NotModeledError('faults on non-present huge PMD entries');
    }
  }
  const table = pt.allocPteTable(vpn);
  const i = (vpn & 511) * 2;
  const f = table.e[i];
  const kind = f & PTE_KIND_MASK;
  if (kind === PTE_NONE) {
    return vma.isAnonymous ? doAnonymousPage(vma, table, i, vpn, write) : doFault(vma, table, i, vpn, write);
  }
  if (kind !== PTE_PRESENT) return doSwapPage(vma, table, i, vpn, faultFlags);
  if (f & PTE_PROTNONE) return VM_FAULT_SIGSEGV;
  if (write) {
    if (!(f & PTE_WRITE)) return doWpPage(vma, table, i, vpn);
    table.e[i] = f | PTE_DIRTY | PTE_YOUNG;
    return 0;
  }
  table.e[i] = f | PTE_YOUNG;
  return 0;
}

/** do_anonymous_page: the zero page for a read, a fresh exclusive page for a write. */
function doAnonymousPage(vma: Vma, table: PteTable, i: number, vpn: number, write: boolean): number {
  const kernel = vma.mm.kernel;
  const mem = kernel.mem;
  if (vma.flags & VM_SHARED) return VM_FAULT_SIGBUS;
  kernel.stats.add(kernel.ctr.anonFaults);
  if (!write) {
    table.e[i] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG | vmaPageProt(vma);
    table.e[i + 1] = mem.zeroPfn;
    kernel.stats.add(kernel.ctr.zeroPageMaps);
    return 0;
  }
  anonVmaPrepare(vma);
  const pfn = mem.allocPage();
  if (pfn < 0) return VM_FAULT_OOM;
  kernel.charge(kernel.costs.pageZeroNs);
  addNewAnonRmapPte(mem, pfn, vma, vpn);
  table.e[i] =
    PTE_PRESENT | PTE_YOUNG | vmaPageProt(vma) | (vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0);
  table.e[i + 1] = pfn;
  return 0;
}

/** Maps an existing page-cache or driver page at entry `i` (finish_fault / set_pte_range). */
function mapFilePage(
  vma: Vma,
  table: PteTable,
  i: number,
  pfn: number,
  write: boolean,
  young: boolean,
): void {
  const mem = vma.mm.kernel.mem;
  mem.get(pfn);
  addRmapPte(mem, vma.mm, pfn);
  table.e[i] = PTE_PRESENT | (young ? PTE_YOUNG : 0) | vmaPageProt(vma) | (write ? PTE_WRITE | PTE_DIRTY : 0);
  table.e[i + 1] = pfn;
}

/** do_fault: a none PTE in a file-backed VMA (tmpfs/shmem file, shared anonymous, device file). */
function doFault(vma: Vma, table: PteTable, i: number, vpn: number, write: boolean): number {
  const kernel = vma.mm.kernel;
  const file = vma.file!;
  const inode = file.inode;
  kernel.stats.add(kernel.ctr.fileFaults);
  if (inode.pageCache === null) {
    // A driver mapping: its own fault handler, or none (SIGBUS for a page that is gone).
    return file.ops.fault ? file.ops.fault(vma, vpn, write) : VM_FAULT_SIGBUS;
  }
  const index = vma.linearPageIndex(vpn);
  if (index >= inode.sizePages) return VM_FAULT_SIGBUS;
  if (!write) {
    faultAround(vma, table, vpn, index);
    if ((table.e[i] & PTE_KIND_MASK) !== PTE_NONE) return 0;
    const pfn = shmemGetPage(kernel, inode, index, true);
    if (pfn < 0) return VM_FAULT_OOM;
    mapFilePage(vma, table, i, pfn, false, true);
    return 0;
  }
  const pfn = shmemGetPage(kernel, inode, index, true);
  if (pfn < 0) return VM_FAULT_OOM;
  if (vma.flags & VM_SHARED) {
    mapFilePage(vma, table, i, pfn, true, true);
    return 0;
  }
  // do_cow_fault: a private copy of the file page.
  anonVmaPrepare(vma);
  const mem = kernel.mem;
  const copy = mem.allocPage();
  if (copy < 0) return VM_FAULT_OOM;
  mem.content.copy(copy, pfn);
  addNewAnonRmapPte(mem, copy, vma, vpn);
  table.e[i] =
    PTE_PRESENT | PTE_YOUNG | vmaPageProt(vma) | (vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0);
  table.e[i + 1] = copy;
  kernel.stats.add(kernel.ctr.cowCopies);
  kernel.charge(kernel.costs.pageCopyNs);
  return 0;
}

/**
 * do_fault_around + filemap_map_pages: maps the pages already in the page cache around a read
 * fault, within an aligned window of `faultAroundPages`, the VMA, this PTE table and the file size.
 */
function faultAround(vma: Vma, table: PteTable, vpn: number, index: number): void {
  const nr = vma.mm.kernel.faultAroundPages;
  if (nr <= 1) return;
  const inode = vma.file!.inode;
  const cache = inode.pageCache!;
  const pteOff = vpn & 511;
  const vmaOff = vpn - vma.start;
  const fromPte = Math.max(pteOff - (pteOff % nr), pteOff - Math.min(pteOff, vmaOff));
  const toPte = Math.min(fromPte + nr, 512, pteOff + (vma.npages - vmaOff)) - 1;
  const lastIndex = inode.sizePages - 1;
  for (let p = fromPte; p <= toPte; p++) {
    const idx = index + (p - pteOff);
    if (idx > lastIndex) break;
    if ((table.e[p * 2] & PTE_KIND_MASK) !== PTE_NONE) continue;
    const pfn = cache.get(idx);
    if (pfn === 0) continue;
    mapFilePage(vma, table, p * 2, pfn, false, p === pteOff);
  }
}

/**
 * do_swap_page for the non-present kinds the model has: a migration entry (wait: the fault is
 * retried), a device-private entry (the owner's migrate_to_ram), a device-exclusive entry (revoke
 * it and restore the mapping).
 */
function doSwapPage(vma: Vma, table: PteTable, i: number, vpn: number, flags: number): number {
  const f = table.e[i];
  const pfn = table.e[i + 1];
  const mem = vma.mm.kernel.mem;
  switch (f & PTE_KIND_MASK) {
    case PTE_MIGRATION:
      // migration_entry_wait: the access retries once the migration completes.
      return VM_FAULT_RETRY;
    case PTE_DEVICE_PRIVATE: {
      const pgmap = mem.zone(pfn).pgmap as DevPagemap | null;
      if (pgmap === null || pgmap.ops.migrateToRam === undefined) return VM_FAULT_SIGBUS;
      // The page is locked across migrate_to_ram; someone else holding the lock means retry.
      if (!mem.trylock(pfn)) return VM_FAULT_RETRY;
      mem.get(pfn);
      const ret = pgmap.ops.migrateToRam({ vma, vpn, pfn, flags });
      mem.unlock(pfn);
      mem.put(pfn);
      return ret;
    }
    case PTE_DEVICE_EXCLUSIVE:
      return removeDeviceExclusiveEntry(vma, table, i, vpn);
    case PTE_SWAP:
      throw new NotModeledError('swap');
    default:
      return VM_FAULT_SIGBUS;
  }
}

/**
 * remove_device_exclusive_entry (R-DEVX-8): an EXCLUSIVE invalidation with no owner for the page,
 * then the normal mapping comes back (old, writable+dirty iff the entry was writable and the VMA
 * allows it, mapcount restored; the entry's reference becomes the mapping's).
 */
function removeDeviceExclusiveEntry(vma: Vma, table: PteTable, i: number, vpn: number): number {
  const mm = vma.mm;
  const mem = mm.kernel.mem;
  const pfn = table.e[i + 1];
  if (mem.folioRefcount(pfn) === 0) return 0;
  mem.get(pfn);
  if (!mem.trylock(pfn)) {
    mem.put(pfn);
    return VM_FAULT_RETRY;
  }
  const range = invalidateRangeStart(mm, MMU_NOTIFY_EXCLUSIVE, vpn, vpn + 1, null);
  if ((table.e[i] & PTE_KIND_MASK) === PTE_DEVICE_EXCLUSIVE && table.e[i + 1] === pfn) {
    restoreExclusivePte(vma, table, i);
  }
  mem.unlock(pfn);
  mem.put(pfn);
  invalidateRangeEnd(range);
  return 0;
}

/**
 * restore_exclusive_pte: the device-exclusive entry at `i` becomes a present mapping again, old,
 * with the VMA's protection (inaccessible in a PROT_NONE VMA), writable and dirty only if the entry
 * was writable and the VMA allows writes.
 */
export function restoreExclusivePte(vma: Vma, table: PteTable, i: number): void {
  const mem = vma.mm.kernel.mem;
  const f = table.e[i];
  const pfn = table.e[i + 1];
  let nf = PTE_PRESENT | vmaPageProt(vma) | (f & PTE_SOFT_DIRTY);
  if (f & PTE_WRITE && vma.flags & VM_WRITE) nf |= PTE_WRITE | PTE_DIRTY;
  mem.addMapcount(pfn, 1);
  table.e[i] = nf;
}

/** wp_can_reuse_anon_folio: only a small folio with no other reference may be reused in place. */
function canReuseAnonFolio(vma: Vma, pfn: number): boolean {
  const mem = vma.mm.kernel.mem;
  if (mem.isLargeFolio(pfn)) return false;
  if (mem.refcountOf(pfn) !== 1 || mem.testPageFlag(pfn, PG_LOCKED)) return false;
  moveAnonRmap(mem, pfn, vma);
  return true;
}

/** do_wp_page: a write to a present read-only PTE. */
function doWpPage(vma: Vma, table: PteTable, i: number, vpn: number): number {
  const kernel = vma.mm.kernel;
  const mem = kernel.mem;
  const f = table.e[i];
  const pfn = table.e[i + 1];
  if (vma.flags & (VM_SHARED | VM_MAYSHARE)) {
    // wp_page_shared: upgrading a shared mapping needs no flush and no notification.
    table.e[i] = f | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    return 0;
  }
  const normal = !(f & PTE_SPECIAL);
  if (
    normal &&
    mem.pageFlags(pfn) & PG_ANON &&
    (mem.pageFlags(pfn) & PG_ANON_EXCLUSIVE || canReuseAnonFolio(vma, pfn))
  ) {
    mem.setPageFlag(pfn, PG_ANON_EXCLUSIVE);
    table.e[i] = f | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    kernel.stats.add(kernel.ctr.wpReuses);
    return 0;
  }
  return wpPageCopy(vma, table, i, vpn, normal ? pfn : 0);
}

/** wp_page_copy: COW break into a new exclusive page (zero-filled when replacing the zero page). */
function wpPageCopy(vma: Vma, table: PteTable, i: number, vpn: number, oldPfn: number): number {
  const mm = vma.mm;
  const kernel = mm.kernel;
  const mem = kernel.mem;
  anonVmaPrepare(vma);
  const fresh = mem.allocPage();
  if (fresh < 0) return VM_FAULT_OOM;
  if (oldPfn !== 0) mem.content.copy(fresh, oldPfn);
  const range = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, vpn, vpn + 1);
  if (oldPfn !== 0) removeRmapPte(mem, mm, oldPfn);
  table.e[i] = 0;
  flushTlbRange(mm, vpn, vpn + 1);
  addNewAnonRmapPte(mem, fresh, vma, vpn);
  table.e[i] =
    PTE_PRESENT | PTE_YOUNG | vmaPageProt(vma) | (vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0);
  table.e[i + 1] = fresh;
  invalidateRangeEnd(range);
  if (oldPfn !== 0) mem.put(oldPfn);
  kernel.stats.add(kernel.ctr.cowCopies);
  kernel.charge(kernel.costs.pageCopyNs);
  return 0;
}

/** do_huge_pmd_anonymous_page: the huge zero page on read, a fresh THP on write (or fall back). */
function doHugePmdAnonymousPage(vma: Vma, block: number, write: boolean): number {
  const kernel = vma.mm.kernel;
  const mem = kernel.mem;
  anonVmaPrepare(vma);
  if (!write && kernel.thpUseZeroPage) {
    const hz = mem.hugeZeroPfn();
    if (hz < 0) {
      kernel.stats.add(kernel.ctr.thpFallbacks);
      return VM_FAULT_FALLBACK;
    }
    vma.mm.pt.setHuge(block, PTE_PRESENT | PTE_HUGE | PTE_SPECIAL | PTE_YOUNG | vmaPageProt(vma), hz);
    return 0;
  }
  const head = mem.allocHugeFolio();
  if (head < 0) {
    kernel.stats.add(kernel.ctr.thpFallbacks);
    return VM_FAULT_FALLBACK;
  }
  addNewAnonRmapPmd(mem, head, vma, block);
  const writable = vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0;
  vma.mm.pt.setHuge(block, PTE_PRESENT | PTE_HUGE | PTE_YOUNG | vmaPageProt(vma) | writable, head);
  kernel.stats.add(kernel.ctr.thpFaults);
  kernel.charge(kernel.costs.pageZeroNs * HPAGE_PMD_NR);
  return 0;
}

/** do_huge_pmd_wp_page: reuse an exclusive THP in place, else split the PMD and fall back. */
function doHugePmdWpPage(vma: Vma, block: number, hflags: number): number {
  const mm = vma.mm;
  const mem = mm.kernel.mem;
  const head = mm.pt.hugePfn(block);
  if (!mem.isZeroPfn(head) && mem.testPageFlag(head, PG_ANON)) {
    let reuse = mem.testPageFlag(head, PG_ANON_EXCLUSIVE);
    if (!reuse && mem.refcountOf(head) === 1 && !mem.testPageFlag(head, PG_LOCKED)) {
      for (let p = head; p < head + HPAGE_PMD_NR; p++) moveAnonRmap(mem, p, vma);
      reuse = true;
    }
    if (reuse) {
      mm.pt.setHuge(block, hflags | PTE_WRITE | PTE_DIRTY | PTE_YOUNG, head);
      return 0;
    }
  }
  splitHugePmd(vma, block);
  return VM_FAULT_FALLBACK;
}
