// Models open files (struct file), inodes and their page caches, enough for tmpfs/shmem files,
// shared anonymous memory, hugetlbfs and device files. A VMA that maps a file holds a reference on
// the open file, so a mapping keeps its file open after close(2), as in the kernel.

import { InvariantError } from '../sim/errors.js';
import { PAGE_SIZE } from './constants.js';
import type { Vma } from './vma.js';

/** What a driver or filesystem does with its files. Every member is optional. */
export interface FileOperations {
  /** A short name for messages and the leak report: `tmpfs`, `shmem`, `hmm_dmirror0`. */
  readonly name: string;
  /** Called when the last reference to the open file goes (close of the last fd, last VMA unmapped). */
  release?(file: OpenFile): void;
  /**
   * Sets up a new mapping of the file (f_op->mmap), after the VMA is in the tree: a driver may
   * insert pages. Returns 0 or -errno (the mapping is then undone).
   */
  mmap?(file: OpenFile, vma: Vma): number;
  /** Handles a fault on a none PTE of a mapping of this file (vm_ops->fault); absent: SIGBUS. */
  fault?(vma: Vma, vpn: number, write: boolean): number;
}

/**
 * A page cache (address_space): file page index -> pfn, in chunks of 512 slots so big shmem
 * objects cost four bytes per page. Every cached page holds one reference on its frame.
 */
export class PageCache {
  /** Id under which frames name this cache (PhysMem mapping registry), set when registered. */
  id = 0;
  private readonly chunks = new Map<number, Uint32Array>();
  nrPages = 0;
  /** VMAs mapping this file (the kernel's i_mmap), for reverse mapping of cached pages. */
  readonly vmas = new Set<Vma>();

  get(index: number): number {
    const chunk = this.chunks.get(Math.floor(index / 512));
    return chunk === undefined ? 0 : chunk[index % 512];
  }

  set(index: number, pfn: number): void {
    const key = Math.floor(index / 512);
    let chunk = this.chunks.get(key);
    if (chunk === undefined) {
      chunk = new Uint32Array(512);
      this.chunks.set(key, chunk);
    }
    const had = chunk[index % 512] !== 0;
    if (had && pfn === 0) this.nrPages--;
    if (!had && pfn !== 0) this.nrPages++;
    chunk[index % 512] = pfn;
  }

  /** Every cached (index, pfn), in index order. */
  *entries(): Generator<[number, number]> {
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const chunk = this.chunks.get(key)!;
      for (let i = 0; i < 512; i++) if (chunk[i] !== 0) yield [key * 512 + i, chunk[i]];
    }
  }

  clear(): void {
    this.chunks.clear();
    this.nrPages = 0;
  }
}

export type InodeKind = 'tmpfs' | 'shmem' | 'hugetlbfs' | 'device';

/** An inode: the file's identity, size and page cache. Freed with its last open file. */
export class Inode {
  readonly kind: InodeKind;
  readonly ino: number;
  sizeBytes: number;
  readonly pageCache: PageCache | null;
  /** Open files referring to this inode. */
  openFiles = 0;

  constructor(kind: InodeKind, ino: number, sizeBytes: number, pageCache: PageCache | null) {
    this.kind = kind;
    this.ino = ino;
    this.sizeBytes = sizeBytes;
    this.pageCache = pageCache;
  }

  /** Number of pages inside the file size (faults at or past this index get SIGBUS). */
  get sizePages(): number {
    return Math.ceil(this.sizeBytes / PAGE_SIZE);
  }
}

/** An open file description (struct file): refcounted by fds and by VMAs that map it. */
export class OpenFile {
  /** Unique per kernel, for messages and leak reports. */
  readonly id: number;
  readonly inode: Inode;
  readonly ops: FileOperations;
  /** Driver data (file->private_data). */
  privateData: unknown = null;
  refcount = 1;
  /** Called once the last reference is gone, after `ops.release` (frees the inode's pages). */
  onFinalPut: ((file: OpenFile) => void) | null = null;

  constructor(id: number, inode: Inode, ops: FileOperations) {
    this.id = id;
    this.inode = inode;
    this.ops = ops;
    inode.openFiles++;
  }

  /** get_file. */
  get(): OpenFile {
    if (this.refcount <= 0) throw new InvariantError('get_file on a released file', { file: this.ops.name });
    this.refcount++;
    return this;
  }

  /** fput: the last put runs the release operation. */
  put(): void {
    if (this.refcount <= 0) throw new InvariantError('fput on a released file', { file: this.ops.name });
    this.refcount--;
    if (this.refcount === 0) {
      this.ops.release?.(this);
      this.inode.openFiles--;
      this.onFinalPut?.(this);
    }
  }
}
