// Models tmpfs/shmem files (mm/shmem.c): an inode whose pages live only in its page cache. Used for
// MAP_SHARED|MAP_ANONYMOUS memory, for files created in tmpfs, and as the object behind hugetlb
// mappings. Reads of holes return zeros without allocating; writes and faults allocate.

import { EINVAL, ENOMEM } from '../sim/errno.js';
import { NotModeledError } from '../sim/errors.js';
import { PAGE_SIZE } from './constants.js';
import { type FileOperations, Inode, type InodeKind, OpenFile, PageCache } from './file.js';
import type { Kernel } from './kernel.js';

const tmpfsOps: FileOperations = { name: 'tmpfs' };
const shmemOps: FileOperations = { name: 'shmem' };
const hugetlbfsOps: FileOperations = { name: 'hugetlbfs' };

function opsFor(kind: InodeKind): FileOperations {
  switch (kind) {
    case 'tmpfs':
      return tmpfsOps;
    case 'shmem':
      return shmemOps;
    case 'hugetlbfs':
      return hugetlbfsOps;
    case 'device':
      throw new TypeError('device files are created by their driver');
  }
}

/** Creates an inode of `sizeBytes` and an open file on it; the file's last put frees its pages. */
export function shmemCreateFile(kernel: Kernel, kind: InodeKind, sizeBytes: number): OpenFile {
  const cache = kind === 'hugetlbfs' ? null : new PageCache();
  const inode = new Inode(kind, kernel.newObjectId(), sizeBytes, cache);
  if (cache !== null) cache.id = kernel.mem.registerMapping(cache);
  const file = new OpenFile(kernel.newObjectId(), inode, opsFor(kind));
  file.onFinalPut = () => {
    if (inode.openFiles === 0) shmemEvictInode(kernel, inode);
  };
  return file;
}

/** Truncates every page out of the inode's cache and drops the cache's references. */
export function shmemEvictInode(kernel: Kernel, inode: Inode): void {
  const cache = inode.pageCache;
  if (cache === null) return;
  const mem = kernel.mem;
  for (const [, pfn] of [...cache.entries()]) {
    mem.clearMapping(pfn);
    mem.put(pfn);
  }
  cache.clear();
  mem.mappingPut(cache.id);
}

/**
 * shmem_get_folio: the page at `index`, allocated (zeroed) into the cache if `allocate` and absent.
 * Returns the pfn (no reference added for the caller), 0 for a hole when not allocating, or -ENOMEM.
 */
export function shmemGetPage(kernel: Kernel, inode: Inode, index: number, allocate: boolean): number {
  const cache = inode.pageCache!;
  const pfn = cache.get(index);
  if (pfn !== 0 || !allocate) return pfn;
  const mem = kernel.mem;
  const fresh = mem.allocPage();
  if (fresh < 0) return fresh;
  mem.setMapping(fresh, cache.id, index, false);
  cache.set(index, fresh);
  return fresh;
}

/** pread(2) on a tmpfs file (bytes mode): returns the bytes read (short at end of file). */
export function shmemRead(kernel: Kernel, inode: Inode, offset: number, length: number): Uint8Array | number {
  if (inode.pageCache === null) return -EINVAL;
  if (offset < 0 || length < 0) return -EINVAL;
  const end = Math.min(offset + length, inode.sizeBytes);
  const out = new Uint8Array(Math.max(0, end - offset));
  for (let pos = offset; pos < end;) {
    const index = Math.floor(pos / PAGE_SIZE);
    const inPage = pos % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - inPage, end - pos);
    const pfn = inode.pageCache.get(index);
    if (pfn !== 0) kernel.mem.content.read(pfn, inPage, out, pos - offset, n);
    pos += n;
  }
  return out;
}

/** pwrite(2) on a tmpfs file (bytes mode): allocates pages as needed and extends the size. */
export function shmemWrite(kernel: Kernel, inode: Inode, offset: number, data: Uint8Array): number {
  if (inode.pageCache === null) return -EINVAL;
  if (offset < 0) return -EINVAL;
  let written = 0;
  while (written < data.length) {
    const pos = offset + written;
    const index = Math.floor(pos / PAGE_SIZE);
    const inPage = pos % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - inPage, data.length - written);
    const pfn = shmemGetPage(kernel, inode, index, true);
    if (pfn < 0) break;
    kernel.mem.content.write(pfn, inPage, data, written, n);
    written += n;
    if (pos + n > inode.sizeBytes) inode.sizeBytes = pos + n;
  }
  if (written === 0 && data.length > 0) return -ENOMEM;
  return written;
}

/** Sets a tmpfs file's size (ftruncate), growing only: shrinking would need truncation of mappings. */
export function shmemGrow(inode: Inode, sizeBytes: number): number {
  if (sizeBytes < inode.sizeBytes)
    throw new NotModeledError('shrinking a tmpfs file (truncate of mapped pages)');
  inode.sizeBytes = sizeBytes;
  return 0;
}
