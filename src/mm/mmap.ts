// Models mmap(2) (do_mmap / mmap_region): argument checks, address selection (top-down below the
// mmap base, or MAP_FIXED / MAP_FIXED_NOREPLACE), the VMA's flags, and its backing: private
// anonymous memory, shared anonymous memory (a shmem object), a file (with its page cache), hugetlb
// pages (reserved at mmap time), or a driver's file. Compatible neighbours merge as in the kernel.

import { EEXIST, EINVAL, ENODEV, ENOMEM, EOVERFLOW } from '../sim/errno.js';
import { NotModeledError } from '../sim/errors.js';
import {
  HPAGE_PMD_NR,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MMAP_BASE_VPN,
  PAGE_SIZE,
  pageAlign,
  TASK_SIZE_VPN,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_SHARED,
  VM_WRITE,
} from './constants.js';
import type { OpenFile } from './file.js';
import { populateRange } from './gup.js';
import type { Mm } from './mm.js';
import { protToVmFlags } from './mprotect.js';
import { unmapRange, unmapVmas } from './munmap.js';
import { shmemCreateFile } from './shmem.js';
import { Vma } from './vma.js';
import { linkVma, mergeWithNeighbours, releaseVma } from './vmaOps.js';

/** Lowest address mmap hands out (vm.mmap_min_addr = 64 KiB). */
const MMAP_MIN_VPN = 16;

/**
 * mmap(addr, length, prot, flags, file, offset). Returns the mapped address, or -errno. `file` is
 * required unless MAP_ANONYMOUS; `offset` is in bytes and page aligned.
 */
export function doMmap(
  mm: Mm,
  addr: number,
  length: number,
  prot: number,
  flags: number,
  file: OpenFile | null = null,
  offset = 0,
): number {
  if (length <= 0 || !Number.isFinite(length)) return -EINVAL;
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  const hugetlb = (flags & MAP_HUGETLB) !== 0;
  let type = flags & (MAP_SHARED | MAP_PRIVATE);
  if (type === MAP_SHARED_VALIDATE) type = MAP_SHARED;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  if (!anonymous && file === null) return -EINVAL;
  if (offset % PAGE_SIZE !== 0) return -EINVAL;
  if (hugetlb && !anonymous) return -EINVAL;
  if (hugetlb && type === MAP_SHARED) throw new NotModeledError('shared hugetlb mappings');
  const hugeBytes = HPAGE_PMD_NR * PAGE_SIZE;
  const len = hugetlb ? Math.ceil(length / hugeBytes) * hugeBytes : pageAlign(length);
  const npages = len / PAGE_SIZE;
  if (npages > TASK_SIZE_VPN) return -ENOMEM;
  const pgoff = anonymous ? 0 : offset / PAGE_SIZE;
  if (pgoff + npages > 2 ** 52) return -EOVERFLOW;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  let startVpn: number;
  if (fixed) {
    if (addr % PAGE_SIZE !== 0) return -EINVAL;
    startVpn = addr / PAGE_SIZE;
    if (hugetlb && startVpn % HPAGE_PMD_NR !== 0) return -EINVAL;
    if (startVpn + npages > TASK_SIZE_VPN) return -ENOMEM;
    if (
      flags & MAP_FIXED_NOREPLACE &&
      !(flags & MAP_FIXED) &&
      mm.vmas.overlaps(startVpn, startVpn + npages)
    ) {
      return -EEXIST;
    }
  } else {
    const found = getUnmappedArea(mm, addr, npages, hugetlb ? HPAGE_PMD_NR : 1);
    if (found < 0) return found;
    startVpn = found;
  }
  const endVpn = startVpn + npages;
  let vmFlags = protToVmFlags(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (type === MAP_SHARED) vmFlags |= VM_SHARED | VM_MAYSHARE;
  if (hugetlb) vmFlags |= VM_HUGETLB;
  if (flags & MAP_FIXED) {
    const rc = unmapRange(mm, startVpn, endVpn);
    if (rc < 0) return rc;
  }
  const kernel = mm.kernel;
  let vmaFile: OpenFile | null = null;
  if (hugetlb) {
    vmaFile = shmemCreateFile(kernel, 'hugetlbfs', len);
  } else if (anonymous && type === MAP_SHARED) {
    vmaFile = shmemCreateFile(kernel, 'shmem', len);
  } else if (!anonymous) {
    vmaFile = file!.get();
  }
  const vma = new Vma(
    mm,
    startVpn,
    endVpn,
    vmFlags,
    anonymous && vmaFile === null ? startVpn : pgoff,
    vmaFile,
  );
  if (hugetlb && type === MAP_PRIVATE) {
    const nHuge = npages / HPAGE_PMD_NR;
    if (kernel.hugetlb.reserve(nHuge) < 0) {
      vmaFile?.put();
      return -ENOMEM;
    }
    vma.hugetlbResv = new Set(Array.from({ length: nHuge }, (_, i) => i));
    vma.hugetlbOwner = true;
  }
  linkVma(vma);
  if (vmaFile !== null && !anonymous && vmaFile.ops.mmap !== undefined) {
    const rc = vmaFile.ops.mmap(vmaFile, vma);
    if (rc < 0) {
      unmapVmas(mm, [vma], startVpn, endVpn, mm.vmas.prev(vma)?.end ?? 0, mm.vmas.next(vma)?.start ?? 0);
      return rc;
    }
  } else if (!anonymous && vmaFile !== null && vmaFile.inode.pageCache === null) {
    // A driver file without an mmap operation cannot be mapped.
    releaseVma(vma);
    return -ENODEV;
  }
  mergeWithNeighbours(vma, null);
  if (flags & MAP_POPULATE) {
    // mm_populate: errors are ignored; private writable mappings are populated for write.
    populateRange(mm, startVpn, endVpn, (vmFlags & (VM_WRITE | VM_SHARED)) === VM_WRITE);
  }
  return startVpn * PAGE_SIZE;
}

/**
 * get_unmapped_area, top-down: the hint if the range is free, else the highest free gap below the
 * mmap base that fits `npages` at `align`-page alignment. Returns a vpn or -ENOMEM.
 */
export function getUnmappedArea(mm: Mm, hintAddr: number, npages: number, align: number): number {
  if (hintAddr > 0 && hintAddr % PAGE_SIZE === 0) {
    const hint = hintAddr / PAGE_SIZE;
    if (hint % align === 0 && hint >= MMAP_MIN_VPN && hint + npages <= TASK_SIZE_VPN) {
      if (!mm.vmas.overlaps(hint, hint + npages)) return hint;
    }
  }
  let top = MMAP_BASE_VPN;
  const vmas = mm.vmas.toArray();
  for (let i = vmas.length - 1; i >= -1; i--) {
    const vma = i >= 0 ? vmas[i] : null;
    if (vma !== null && vma.start >= top) continue;
    const gapStart = vma === null ? MMAP_MIN_VPN : vma.end;
    let candidate = top - npages;
    candidate -= candidate % align;
    if (candidate >= gapStart && candidate >= MMAP_MIN_VPN) return candidate;
    if (vma !== null) top = Math.min(top, vma.start);
  }
  return -ENOMEM;
}
