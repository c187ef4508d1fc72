// Models the address-space half of fork(2) (dup_mmap and copy_page_range): the child gets a copy of
// every VMA; entries are copied only for VMAs that need it (anonymous pages, PFN/mixed maps), with
// private anonymous pages shared copy-on-write and write-protected on both sides under one
// PROTECTION_PAGE invalidation of the parent per VMA. Shared mappings are not copied: the child
// faults them in from the page cache.

import { NotModeledError } from '../sim/errors.js';
import { AnonVma } from './anonVma.js';
import {
  GUP_PIN_COUNTING_BIAS,
  HPAGE_PMD_NR,
  VM_MAYWRITE,
  VM_SHARED,
  VM_WRITE,
  VPN_END_MAX,
} from './constants.js';
import { restoreExclusivePte } from './fault.js';
import type { Mm } from './mm.js';
import {
  flushTlbRange,
  invalidateRangeEnd,
  invalidateRangeStart,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_PAGE,
} from './mmuNotify.js';
import type { PmdTable, PteTable } from './pagetable.js';
import { PG_ANON, PG_ANON_EXCLUSIVE } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.js';
import { accountRss, addNewAnonRmapPte, addRmapPmd, addRmapPte } from './rmap.js';
import { Vma, vmaPageProt } from './vma.js';
import { anonVmaPrepare, linkAnonChain, linkVma } from './vmaOps.js';

/** dup_mmap: a new mm that is a copy-on-write copy of `parent`. */
export function dupMm(parent: Mm): Mm {
  const kernel = parent.kernel;
  const child = kernel.newMm();
  for (const vma of parent.vmas.toArray()) {
    const copy = new Vma(child, vma.start, vma.end, vma.flags, vma.pgoff, vma.file);
    vma.file?.get();
    if (vma.anonVma !== null) {
      // anon_vma_fork: the child links to the parent's chain and gets its own anon_vma under it.
      const own = new AnonVma(vma.anonVma);
      own.id = kernel.mem.registerMapping(own);
      linkAnonChain(copy, vma.anonChain, own);
      copy.anonChain.push(own);
      own.vmas.add(copy);
    }
    linkVma(copy);
    if (vmaNeedsCopy(vma)) copyPageRange(copy, vma);
  }
  // flush_tlb_mm(oldmm): the parent's write-protected entries leave every TLB.
  flushTlbRange(parent, 0, VPN_END_MAX);
  return child;
}

/** vma_needs_copy: only VMAs whose entries cannot be refaulted from a file are copied at fork. */
function vmaNeedsCopy(vma: Vma): boolean {
  return vma.isPfnmapOrMixed || vma.anonVma !== null;
}

function isCowMapping(vma: Vma): boolean {
  return (vma.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

function copyPageRange(dst: Vma, src: Vma): void {
  const parent = src.mm;
  const cow = isCowMapping(src);
  if (src.isHugetlb) {
    const range = cow ? invalidateRangeStart(parent, MMU_NOTIFY_CLEAR, src.start, src.end) : null;
    copier.run(dst, src, cow);
    if (range !== null) invalidateRangeEnd(range);
    return;
  }
  const range = cow ? invalidateRangeStart(parent, MMU_NOTIFY_PROTECTION_PAGE, src.start, src.end) : null;
  copier.run(dst, src, cow);
  if (range !== null) invalidateRangeEnd(range);
}

/**
 * copy_present_page: the child gets its own exclusive copy of a pinned anonymous page, mapped with
 * the child VMA's protection (inaccessible in a PROT_NONE VMA), writable if the VMA allows writes.
 */
function copyPinnedPage(dst: Vma, vpn: number, pfn: number, de: Uint32Array, i: number): void {
  const mem = dst.mm.kernel.mem;
  anonVmaPrepare(dst);
  const copy = mem.allocPage();
  if (copy < 0) throw new NotModeledError('out of memory during fork');
  mem.content.copy(copy, pfn);
  addNewAnonRmapPte(mem, copy, dst, vpn);
  de[i] = PTE_PRESENT | vmaPageProt(dst) | (dst.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0);
  de[i + 1] = copy;
}

const copier = {
  dst: null as Vma | null,
  src: null as Vma | null,
  cow: false,

  run(dst: Vma, src: Vma, cow: boolean): void {
    this.dst = dst;
    this.src = src;
    this.cow = cow;
    src.mm.pt.walk(src.start, src.end, this);
    this.dst = null;
    this.src = null;
  },

  ptes(table: PteTable, first: number, end: number, baseVpn: number): void {
    const dst = this.dst!;
    const src = this.src!;
    const child = dst.mm;
    const mem = child.kernel.mem;
    const cow = this.cow;
    const shared = (src.flags & VM_SHARED) !== 0;
    const se = table.e;
    const de = child.pt.allocPteTable(baseVpn).e;
    for (let i = first; i < end; i++) {
      let f = se[2 * i];
      let kind = f & PTE_KIND_MASK;
      if (kind === PTE_NONE) continue;
      const pfn = se[2 * i + 1];
      if (kind === PTE_DEVICE_EXCLUSIVE) {
        // R-FORK-5: the parent's entry is restored (no EXCLUSIVE event), then copied as present.
        if (!mem.trylock(pfn)) throw new NotModeledError('fork racing a locked device-exclusive page');
        restoreExclusivePte(src, table, 2 * i);
        mem.unlock(pfn);
        f = se[2 * i];
        kind = PTE_PRESENT;
      }
      if (kind === PTE_PRESENT && !(f & PTE_SPECIAL) && mem.testPageFlag(pfn, PG_ANON)) {
        if (mem.folioRefcount(pfn) >= GUP_PIN_COUNTING_BIAS && !mem.isLargeFolio(pfn)) {
          // copy_present_page: a possibly DMA-pinned page is copied for the child at once.
          copyPinnedPage(dst, baseVpn + i, pfn, de, 2 * i);
          continue;
        }
      }
      if (kind === PTE_PRESENT) {
        if (!(f & PTE_SPECIAL)) {
          mem.get(pfn);
          addRmapPte(mem, child, pfn);
          mem.clearPageFlag(pfn, PG_ANON_EXCLUSIVE);
          if (cow && f & PTE_WRITE) {
            f &= ~PTE_WRITE;
            se[2 * i] = f;
          }
        }
        f &= ~PTE_YOUNG;
        if (shared) f &= ~PTE_DIRTY;
      } else if (kind === PTE_DEVICE_PRIVATE) {
        // R-FORK-1: the device page is shared; a writable entry becomes readable on both sides.
        mem.get(pfn);
        addRmapPte(mem, child, pfn);
        mem.clearPageFlag(pfn, PG_ANON_EXCLUSIVE);
        if (cow && f & PTE_WRITE) {
          f &= ~PTE_WRITE;
          se[2 * i] = f;
        }
      } else if (kind === PTE_MIGRATION) {
        // R-FORK-4: migration entries are copied, writable ones downgraded on both sides.
        accountRss(mem, child, pfn, 1);
        if (cow && f & (PTE_WRITE | PTE_MIG_EXCLUSIVE)) {
          f &= ~(PTE_WRITE | PTE_MIG_EXCLUSIVE);
          se[2 * i] = f;
        }
      } else {
        throw new NotModeledError(`fork of a ${kind} entry`);
      }
      de[2 * i] = f;
      de[2 * i + 1] = pfn;
    }
  },

  huge(pmd: PmdTable, idx: number, blockVpn: number): void {
    const dst = this.dst!;
    const src = this.src!;
    const child = dst.mm;
    const mem = child.kernel.mem;
    // copy_huge_pmd copies only anonymous THPs (file THPs refault); hugetlb copies every entry.
    if (!src.isAnonymous && !src.isHugetlb) return;
    const huge = pmd.huge!;
    let f = huge[idx * 2];
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT) throw new NotModeledError('fork of a non-present huge entry');
    const head = huge[idx * 2 + 1];
    if (!(f & PTE_SPECIAL)) {
      mem.get(head);
      addRmapPmd(mem, child, head);
      for (let p = head; p < head + HPAGE_PMD_NR; p++) mem.clearPageFlag(p, PG_ANON_EXCLUSIVE);
    }
    if (this.cow || !src.isHugetlb) {
      f &= ~PTE_WRITE;
      huge[idx * 2] = f;
    }
    child.pt.setHuge(blockVpn, f & ~PTE_YOUNG, head);
  },
};
