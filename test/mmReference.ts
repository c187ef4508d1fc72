// A deliberately simple reference for the address-space model: a map from page to protection and
// contents, with no page tables, no sharing of frames and no laziness. Property tests run the same
// random operations on it and on the model and compare every result and every byte read.

import { EEXIST, EINVAL, ENOMEM } from '../src/sim/errno.js';

export const R = 1;
export const W = 2;

/** A shared object: shmem or a tmpfs file. Page contents by index (absent: zeros). */
export interface RefObject {
  readonly id: number;
  readonly pages: Map<number, Uint8Array>;
}

export type RefPage =
  | { kind: 'anon'; prot: number; data: Uint8Array | null }
  | { kind: 'shared'; prot: number; obj: RefObject; index: number }
  | { kind: 'filepriv'; prot: number; obj: RefObject; index: number; copy: Uint8Array | null };

const ZERO = new Uint8Array(4096);

export class RefProcess {
  readonly pages = new Map<number, RefPage>();
  /** Objects this process can pread/pwrite (its open tmpfiles), by the model's fd. */
  readonly files = new Map<number, RefObject>();

  fork(): RefProcess {
    const child = new RefProcess();
    for (const [vpn, p] of this.pages) {
      if (p.kind === 'anon') child.pages.set(vpn, { ...p, data: p.data === null ? null : p.data.slice() });
      else if (p.kind === 'filepriv')
        child.pages.set(vpn, { ...p, copy: p.copy === null ? null : p.copy.slice() });
      else child.pages.set(vpn, { ...p });
    }
    for (const [fd, obj] of this.files) child.files.set(fd, obj);
    return child;
  }

  /** MAP_FIXED / MAP_FIXED_NOREPLACE of `n` pages at `vpn`. */
  mmap(vpn: number, n: number, prot: number, make: (i: number) => RefPage, noreplace: boolean): number {
    if (n <= 0) return -EINVAL;
    if (noreplace) for (let i = 0; i < n; i++) if (this.pages.has(vpn + i)) return -EEXIST;
    for (let i = 0; i < n; i++) this.pages.set(vpn + i, { ...make(i), prot });
    return 0;
  }

  munmap(vpn: number, n: number): number {
    if (n <= 0) return -EINVAL;
    for (let i = 0; i < n; i++) this.pages.delete(vpn + i);
    return 0;
  }

  /** VMA-by-VMA until a hole: pages before the first hole change, then -ENOMEM. */
  mprotect(vpn: number, n: number, prot: number): number {
    for (let i = 0; i < n; i++) {
      const p = this.pages.get(vpn + i);
      if (p === undefined) return -ENOMEM;
      p.prot = prot;
    }
    return 0;
  }

  dontneed(vpn: number, n: number): number {
    let rc = 0;
    for (let i = 0; i < n; i++) {
      const p = this.pages.get(vpn + i);
      if (p === undefined) {
        rc = -ENOMEM;
        continue;
      }
      if (p.kind === 'anon') p.data = null;
      else if (p.kind === 'filepriv') p.copy = null;
    }
    return rc;
  }

  populate(vpn: number, n: number, write: boolean): number {
    for (let i = 0; i < n; i++) {
      const p = this.pages.get(vpn + i);
      if (p === undefined) return -ENOMEM;
      if (!(p.prot & (write ? W : R))) return -EINVAL;
    }
    return 0;
  }

  /** Contents of a page as a load sees it, or null for SIGSEGV. */
  load(vpn: number): Uint8Array | null {
    const p = this.pages.get(vpn);
    if (p === undefined || !(p.prot & R)) return null;
    if (p.kind === 'anon') return p.data ?? ZERO;
    if (p.kind === 'shared') return p.obj.pages.get(p.index) ?? ZERO;
    return p.copy ?? p.obj.pages.get(p.index) ?? ZERO;
  }

  /** Stores a whole page; false for SIGSEGV. */
  store(vpn: number, data: Uint8Array): boolean {
    const p = this.pages.get(vpn);
    if (p === undefined || !(p.prot & W)) return false;
    if (p.kind === 'anon') p.data = data.slice();
    else if (p.kind === 'shared') p.obj.pages.set(p.index, data.slice());
    else p.copy = data.slice();
    return true;
  }
}
