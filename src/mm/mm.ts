// Models struct mm_struct: one address space with its VMAs, page table, RSS counters and the two
// reference counts the kernel keeps. `users` (mm_users) keeps the contents alive: when it drops to
// zero the address space is torn down (exit_mmap). `count` (mm_count) keeps the object alive: the
// users collectively hold one count, and notifier registrations or SVA bonds hold their own, so an
// mm can outlive its contents but never the other way round.

import { KernelBug } from '../sim/errors.js';
import type { Kernel } from './kernel.js';
import type { MmuNotifierHooks } from './mmuNotify.js';
import { PageTable } from './pagetable.js';
import { VmaList } from './vma.js';

export class Mm {
  readonly id: number;
  readonly kernel: Kernel;
  /** mm_users. */
  users = 1;
  /** mm_count; the users together hold one. */
  count = 1;
  readonly pt = new PageTable();
  readonly vmas = new VmaList();
  rssAnon = 0;
  rssFile = 0;
  rssShmem = 0;
  /** The notifier layer's subscriptions record, created on first registration (null: none). */
  notifier: MmuNotifierHooks | null = null;
  /** Invalidations currently between start and end on this mm. */
  invalidateDepth = 0;
  /**
   * The architecture declared the page tables unusable for DMA (x86: linear-address masking on
   * without the SVA override); SVA binds fail with EBUSY (R-SVA-4).
   */
  dmaIncompatible = false;
  /** exit_mmap has run: the address space is gone, only the object remains. */
  torndown = false;
  /** mm_count reached zero: the object is freed. */
  freed = false;
  /** Called when the object is freed (mm_count reached zero), e.g. to free the notifier record. */
  readonly onFree: ((mm: Mm) => void)[] = [];

  constructor(kernel: Kernel, id: number) {
    this.kernel = kernel;
    this.id = id;
  }

  /** Resident pages (anonymous + file + shmem), as in /proc/PID/status VmRSS. */
  get rssPages(): number {
    return this.rssAnon + this.rssFile + this.rssShmem;
  }

  /** mmget: a transient user; only legal while the mm has users. */
  mmget(): void {
    if (this.users <= 0) throw new KernelBug(`mmget on mm ${this.id} with no users`);
    this.users++;
  }

  /** mmget_not_zero: takes a user reference unless the address space is already being torn down. */
  mmgetNotZero(): boolean {
    if (this.users <= 0) return false;
    this.users++;
    return true;
  }

  /** mmput: the last user tears the address space down and drops the users' mm_count. */
  mmput(): void {
    if (this.users <= 0) throw new KernelBug(`mmput on mm ${this.id} with no users`);
    this.users--;
    if (this.users === 0) {
      this.kernel.exitMmap(this);
      this.mmdrop();
    }
  }

  /** mmgrab: keeps the object (not the contents) alive. */
  mmgrab(): void {
    if (this.count <= 0) throw new KernelBug(`mmgrab on freed mm ${this.id}`);
    this.count++;
  }

  mmdrop(): void {
    if (this.count <= 0) throw new KernelBug(`mmdrop on freed mm ${this.id}`);
    this.count--;
    if (this.count === 0) {
      this.freed = true;
      for (const hook of this.onFree) hook(this);
      this.kernel.mmFreed(this);
    }
  }
}
