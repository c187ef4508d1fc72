// Models vm_area_struct and the per-mm VMA tree. A VMA covers [start, end) in pages with one set of
// vm_flags, an optional file (with the page offset of `start` in it) and an optional anon_vma
// chain. The tree is a sorted array with binary search: processes have few VMAs, and splits and
// merges are rare next to lookups, which hit a one-entry cache most of the time.

import type { AnonVma } from './anonVma.js';
import { VM_ACCESS_FLAGS, VM_HUGETLB, VM_MIXEDMAP, VM_PFNMAP, VM_SHARED, VM_WRITE } from './constants.js';
import type { OpenFile } from './file.js';
import type { Mm } from './mm.js';
import { PTE_PROTNONE, PTE_WRITE } from './pte.js';

export class Vma {
  /** Creation order within the kernel (orders reverse-map walks like the kernel's interval trees). */
  readonly id: number;
  readonly mm: Mm;
  start: number;
  end: number;
  flags: number;
  /** File page index of `start` (for anonymous VMAs: `start`, as the kernel sets vm_pgoff). */
  pgoff: number;
  readonly file: OpenFile | null;
  /** This VMA's own anon_vma (created on its first anonymous page), or null. */
  anonVma: AnonVma | null = null;
  /** Every anon_vma this VMA is linked into: its own and those of the VMAs it was forked from. */
  anonChain: AnonVma[] = [];
  /** Hugetlb reservations still held by this mapping (private hugetlb, owner side), by huge index. */
  hugetlbResv: Set<number> | null = null;
  /** Set for a private hugetlb mapping in the process that created it (HPAGE_RESV_OWNER). */
  hugetlbOwner = false;

  constructor(mm: Mm, start: number, end: number, flags: number, pgoff: number, file: OpenFile | null) {
    this.id = mm.kernel.newObjectId();
    this.mm = mm;
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.file = file;
  }

  get npages(): number {
    return this.end - this.start;
  }

  /** vma_is_anonymous: no file behind it (shared anonymous memory has a shmem file). */
  get isAnonymous(): boolean {
    return this.file === null;
  }

  get isHugetlb(): boolean {
    return (this.flags & VM_HUGETLB) !== 0;
  }

  get isShared(): boolean {
    return (this.flags & VM_SHARED) !== 0;
  }

  get isPfnmapOrMixed(): boolean {
    return (this.flags & (VM_PFNMAP | VM_MIXEDMAP)) !== 0;
  }

  /** File page index of `vpn` inside this VMA. */
  linearPageIndex(vpn: number): number {
    return this.pgoff + (vpn - this.start);
  }

  contains(vpn: number): boolean {
    return vpn >= this.start && vpn < this.end;
  }
}

/**
 * vma->vm_page_prot as the protection bits of a present PTE made for `vma` (mk_pte(page,
 * vma->vm_page_prot)): PTE_PROTNONE when the VMA allows no access (PROT_NONE: the entry stays
 * present but the CPU faults on it), PTE_WRITE when it is shared and writable (tmpfs, shmem and
 * device files need no write notification), else 0: read-only until a write fault or an explicit
 * pte_mkwrite. Every path that builds a present PTE starts from these bits.
 */
export function vmaPageProt(vma: Vma): number {
  const f = vma.flags;
  if (!(f & VM_ACCESS_FLAGS)) return PTE_PROTNONE;
  return (f & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE) ? PTE_WRITE : 0;
}

export class VmaList {
  private readonly list: Vma[] = [];
  private last: Vma | null = null;

  get size(): number {
    return this.list.length;
  }

  /** The VMAs in address order (a copy, safe to hold while the list changes). */
  toArray(): Vma[] {
    return this.list.slice();
  }

  at(i: number): Vma {
    return this.list[i];
  }

  /** The VMA containing `vpn`, or null (vma_lookup). */
  find(vpn: number): Vma | null {
    const last = this.last;
    if (last !== null && vpn >= last.start && vpn < last.end) return last;
    const i = this.indexAtOrAfter(vpn);
    if (i < this.list.length) {
      const vma = this.list[i];
      if (vma.start <= vpn) {
        this.last = vma;
        return vma;
      }
    }
    return null;
  }

  /** The first VMA that ends after `vpn` (find_vma: it may start above `vpn`), or null. */
  findFrom(vpn: number): Vma | null {
    const i = this.indexAtOrAfter(vpn);
    return i < this.list.length ? this.list[i] : null;
  }

  /** The last VMA that ends at or before `vpn`, or null. */
  findBefore(vpn: number): Vma | null {
    const i = this.indexAtOrAfter(vpn);
    if (i > 0) return this.list[i - 1];
    return null;
  }

  /** The VMA just before `vma` in the list, or null. */
  prev(vma: Vma): Vma | null {
    const i = this.indexOf(vma);
    return i > 0 ? this.list[i - 1] : null;
  }

  next(vma: Vma): Vma | null {
    const i = this.indexOf(vma);
    return i + 1 < this.list.length ? this.list[i + 1] : null;
  }

  /** Whether any VMA intersects [start, end). */
  overlaps(start: number, end: number): boolean {
    const vma = this.findFrom(start);
    return vma !== null && vma.start < end;
  }

  /** VMAs intersecting [start, end), in order. */
  range(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.indexAtOrAfter(start); i < this.list.length && this.list[i].start < end; i++) {
      out.push(this.list[i]);
    }
    return out;
  }

  insert(vma: Vma): void {
    const i = this.indexAtOrAfter(vma.start);
    this.list.splice(i, 0, vma);
  }

  remove(vma: Vma): void {
    const i = this.indexOf(vma);
    this.list.splice(i, 1);
    if (this.last === vma) this.last = null;
  }

  clear(): void {
    this.list.length = 0;
    this.last = null;
  }

  /** Forgets the lookup cache (after a VMA's bounds changed). */
  touched(): void {
    this.last = null;
  }

  private indexOf(vma: Vma): number {
    const i = this.indexAtOrAfter(vma.start);
    if (this.list[i] !== vma) throw new Error('VMA not in this list');
    return i;
  }

  /** Index of the first VMA whose end is above `vpn`. */
  private indexAtOrAfter(vpn: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid].end <= vpn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
