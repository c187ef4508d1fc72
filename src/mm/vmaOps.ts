// Models the VMA-tree operations of mm/vma.c: linking and unlinking VMAs (with their file and
// anon_vma references), splitting at a boundary, changing the flags of a sub-range, and merging
// neighbours that have become compatible, with the 6.12 mergeability rules. Merging is visible to
// secondary MMUs: fork notifies whole VMAs and hmm faults spans up to a VMA's end.

import { EINVAL } from '../sim/errno.js';
import { AnonVma } from './anonVma.js';
import { HPAGE_PMD_NR, VM_HUGETLB, VM_SPECIAL } from './constants.js';
import { splitHugePmdIfNeeded } from './thp.js';
import { Vma } from './vma.js';

/** anon_vma_prepare: gives the VMA its own anon_vma before its first anonymous page. */
export function anonVmaPrepare(vma: Vma): AnonVma {
  if (vma.anonVma !== null) return vma.anonVma;
  const mem = vma.mm.kernel.mem;
  const av = new AnonVma(null);
  av.id = mem.registerMapping(av);
  vma.anonVma = av;
  vma.anonChain = [av];
  av.vmas.add(vma);
  return av;
}

/** Links `vma` into every anon_vma of `chain` (anon_vma_clone); the registration reference counts one link. */
export function linkAnonChain(vma: Vma, chain: AnonVma[], own: AnonVma | null): void {
  const mem = vma.mm.kernel.mem;
  vma.anonChain = chain.slice();
  vma.anonVma = own;
  for (const av of chain) {
    av.vmas.add(vma);
    mem.mappingGet(av.id);
  }
}

/** unlink_anon_vmas. */
export function unlinkAnonChain(vma: Vma): void {
  const mem = vma.mm.kernel.mem;
  for (const av of vma.anonChain) {
    av.vmas.delete(vma);
    mem.mappingPut(av.id);
  }
  vma.anonChain = [];
  vma.anonVma = null;
}

/** Puts a VMA in its mm's tree and, for a file mapping, in the file's i_mmap. */
export function linkVma(vma: Vma): void {
  vma.mm.vmas.insert(vma);
  vma.file?.inode.pageCache?.vmas.add(vma);
}

/** Removes a VMA from its mm for good: its anon_vma links, file reference and hugetlb reservations. */
export function releaseVma(vma: Vma): void {
  const mm = vma.mm;
  mm.vmas.remove(vma);
  vma.file?.inode.pageCache?.vmas.delete(vma);
  unlinkAnonChain(vma);
  if (vma.hugetlbResv !== null) {
    mm.kernel.hugetlb.unreserve(vma.hugetlbResv.size);
    vma.hugetlbResv = null;
  }
  vma.file?.put();
}

/**
 * __split_vma: splits `vma` at `atVpn` (strictly inside it) and returns the new upper part.
 * Hugetlb VMAs split only at 2 MiB boundaries (-EINVAL otherwise, from may_split).
 */
export function splitVma(vma: Vma, atVpn: number): Vma | number {
  if (vma.isHugetlb && atVpn % HPAGE_PMD_NR !== 0) return -EINVAL;
  splitHugePmdIfNeeded(vma, atVpn);
  const mm = vma.mm;
  const upper = new Vma(mm, atVpn, vma.end, vma.flags, vma.pgoff + (atVpn - vma.start), vma.file);
  vma.file?.get();
  linkAnonChain(upper, vma.anonChain, vma.anonVma);
  upper.hugetlbOwner = vma.hugetlbOwner;
  if (vma.hugetlbResv !== null) {
    const lowerResv = new Set<number>();
    const upperResv = new Set<number>();
    for (const idx of vma.hugetlbResv) (idx * HPAGE_PMD_NR < upper.pgoff ? lowerResv : upperResv).add(idx);
    vma.hugetlbResv = lowerResv;
    upper.hugetlbResv = upperResv;
  }
  vma.end = atVpn;
  mm.vmas.touched();
  linkVma(upper);
  return upper;
}

/** is_mergeable_anon_vma (6.12): `middle` is the VMA being modified, or null for a new mapping. */
function anonCompatible(a: Vma, b: Vma, middle: Vma | null): boolean {
  if ((a.anonVma === null || b.anonVma === null) && (middle === null || middle.anonChain.length === 1)) {
    return true;
  }
  return a.anonVma === b.anonVma;
}

/** Whether `left` and `right` (adjacent, left below right) could be one VMA. */
export function canMerge(left: Vma, right: Vma, middle: Vma | null): boolean {
  if (left.end !== right.start) return false;
  if (left.flags !== right.flags || left.file !== right.file) return false;
  if (left.flags & (VM_SPECIAL | VM_HUGETLB)) return false;
  if (left.pgoff + left.npages !== right.pgoff) return false;
  return anonCompatible(left, right, middle);
}

/** Merges `right` into `left` (adjacent and compatible): `left` grows, `right` disappears. */
function absorb(left: Vma, right: Vma): void {
  const mm = left.mm;
  if (left.anonVma === null && right.anonVma !== null) {
    // dup_anon_vma: the merged VMA adopts the anon_vma its pages point to.
    linkAnonChain(left, right.anonChain, right.anonVma);
  }
  const end = right.end;
  releaseVma(right);
  left.end = end;
  mm.vmas.touched();
}

/**
 * Tries to merge `vma` with its neighbours (vma_merge). `middle` tells the anon_vma rule whether
 * `vma` is an existing VMA whose flags changed (itself) or a new mapping (null). Returns the VMA
 * that now covers `vma`'s range.
 */
export function mergeWithNeighbours(vma: Vma, middle: Vma | null): Vma {
  const mm = vma.mm;
  const prev = mm.vmas.prev(vma);
  const next = mm.vmas.next(vma);
  const left = prev !== null && canMerge(prev, vma, middle);
  const right = next !== null && canMerge(vma, next, middle);
  if (left && right && prev !== null && next !== null) {
    if (prev.anonVma === null || next.anonVma === null || prev.anonVma === next.anonVma) {
      absorb(prev, vma);
      absorb(prev, next);
      return prev;
    }
  }
  if (left && prev !== null) {
    absorb(prev, vma);
    return prev;
  }
  if (right && next !== null) {
    absorb(vma, next);
    return vma;
  }
  return vma;
}

/**
 * vma_modify_flags: gives [startVpn, endVpn) (inside `vma`) the flags `newFlags`, splitting and
 * merging as the kernel does. Returns the VMA now covering the range, or -EINVAL (hugetlb boundary).
 */
export function vmaModifyFlags(vma: Vma, startVpn: number, endVpn: number, newFlags: number): Vma | number {
  if (vma.isHugetlb && (startVpn % HPAGE_PMD_NR !== 0 || endVpn % HPAGE_PMD_NR !== 0)) {
    if (startVpn !== vma.start || endVpn !== vma.end) return -EINVAL;
  }
  let target = vma;
  if (startVpn > target.start) {
    const upper = splitVma(target, startVpn);
    if (typeof upper === 'number') return upper;
    target = upper;
  }
  if (endVpn < target.end) {
    const rc = splitVma(target, endVpn);
    if (typeof rc === 'number') return rc;
  }
  target.flags = newFlags;
  return mergeWithNeighbours(target, target);
}
