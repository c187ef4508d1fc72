// A process: an address space, a file-descriptor table, and the system calls that act on them.
// This is the façade tests, scenarios and the oracle replayer drive; the mechanisms live in the
// files it calls. Addresses and lengths are in bytes, as in the system calls.

import { EBADF, EINVAL, ENOMEM } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import { PAGE_SIZE } from './constants.js';
import { ACCESS_OOM, cpuAccessPage, SIGBUS, SIGSEGV } from './cpuAccess.js';
import type { OpenFile } from './file.js';
import { dupMm } from './fork.js';
import type { Kernel } from './kernel.js';
import { doMadvise } from './madvise.js';
import type { Mm } from './mm.js';
import { doMmap } from './mmap.js';
import { doMprotect } from './mprotect.js';
import { doMunmap } from './munmap.js';
import { shmemCreateFile, shmemRead, shmemWrite } from './shmem.js';

/** How a CPU access ended: `signal` 0 for success, else SIGSEGV, SIGBUS or 'oom'. */
export interface AccessResult {
  readonly signal: 0 | typeof SIGSEGV | typeof SIGBUS | 'oom';
  /** Bytes accessed before the access stopped (all of them on success). */
  readonly bytesDone: number;
}

export interface ReadResult extends AccessResult {
  /** The bytes read (bytesDone of them). */
  readonly data: Uint8Array;
}

export interface TokenReadResult extends AccessResult {
  /** One content token per page read. */
  readonly tokens: Uint32Array;
}

function signalOf(rc: number): AccessResult['signal'] {
  if (rc === -SIGSEGV) return SIGSEGV;
  if (rc === -SIGBUS) return SIGBUS;
  if (rc === -ACCESS_OOM) return 'oom';
  return 0;
}

export class Task {
  readonly kernel: Kernel;
  readonly pid: number;
  /** The address space; null once the process has exited. */
  mm: Mm | null;
  readonly fds = new Map<number, OpenFile>();
  private nextFd = 3;

  constructor(kernel: Kernel, pid: number, mm: Mm) {
    this.kernel = kernel;
    this.pid = pid;
    this.mm = mm;
  }

  get alive(): boolean {
    return this.mm !== null;
  }

  private liveMm(): Mm {
    if (this.mm === null) throw new KernelBug(`process ${this.pid} has exited`);
    return this.mm;
  }

  /** mmap(2). `fd` -1 with MAP_ANONYMOUS. Returns the address or -errno. */
  mmap(addr: number, length: number, prot: number, flags: number, fd = -1, offset = 0): number {
    let file: OpenFile | null = null;
    if (fd >= 0) {
      file = this.fds.get(fd) ?? null;
      if (file === null) return -EBADF;
    }
    this.kernel.charge(this.kernel.costs.syscallNs);
    return doMmap(this.liveMm(), addr, length, prot, flags, file, offset);
  }

  munmap(addr: number, length: number): number {
    this.kernel.charge(this.kernel.costs.syscallNs);
    return doMunmap(this.liveMm(), addr, length);
  }

  mprotect(addr: number, length: number, prot: number): number {
    this.kernel.charge(this.kernel.costs.syscallNs);
    return doMprotect(this.liveMm(), addr, length, prot);
  }

  madvise(addr: number, length: number, advice: number): number {
    this.kernel.charge(this.kernel.costs.syscallNs);
    return doMadvise(this.liveMm(), addr, length, advice);
  }

  /** CPU loads of `length` bytes at `addr`, page by page (bytes mode). */
  read(addr: number, length: number): ReadResult {
    const mm = this.liveMm();
    const content = this.kernel.mem.content;
    const data = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const pos = addr + done;
      const inPage = pos % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, length - done);
      const pfn = cpuAccessPage(mm, Math.floor(pos / PAGE_SIZE), false);
      if (pfn < 0) return { signal: signalOf(pfn), bytesDone: done, data: data.subarray(0, done) };
      content.read(pfn, inPage, data, done, n);
      done += n;
    }
    return { signal: 0, bytesDone: done, data };
  }

  /** CPU stores of `data` at `addr`, page by page (bytes mode). */
  write(addr: number, data: Uint8Array): AccessResult {
    const mm = this.liveMm();
    const content = this.kernel.mem.content;
    let done = 0;
    while (done < data.length) {
      const pos = addr + done;
      const inPage = pos % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, data.length - done);
      const pfn = cpuAccessPage(mm, Math.floor(pos / PAGE_SIZE), true);
      if (pfn < 0) return { signal: signalOf(pfn), bytesDone: done };
      content.write(pfn, inPage, data, done, n);
      done += n;
    }
    return { signal: 0, bytesDone: done };
  }

  /**
   * CPU accesses to every page of [addr, addr + length) without moving data: faults pages in as a
   * load or store would. In tokens mode a store gives the page a fresh content token.
   */
  touch(addr: number, length: number, write: boolean): AccessResult {
    const mm = this.liveMm();
    const kernel = this.kernel;
    const tokens = kernel.contentMode === 'tokens';
    const first = Math.floor(addr / PAGE_SIZE);
    const end = Math.ceil((addr + length) / PAGE_SIZE);
    for (let vpn = first; vpn < end; vpn++) {
      const pfn = cpuAccessPage(mm, vpn, write);
      if (pfn < 0) return { signal: signalOf(pfn), bytesDone: Math.max(0, vpn * PAGE_SIZE - addr) };
      if (write && tokens) kernel.mem.content.setToken(pfn, kernel.newToken());
    }
    return { signal: 0, bytesDone: length };
  }

  /** The content token of every page of [addr, addr + length) as a load sees it (tokens mode). */
  readTokens(addr: number, length: number): TokenReadResult {
    const mm = this.liveMm();
    const content = this.kernel.mem.content;
    const first = Math.floor(addr / PAGE_SIZE);
    const end = Math.ceil((addr + length) / PAGE_SIZE);
    const tokens = new Uint32Array(end - first);
    for (let vpn = first; vpn < end; vpn++) {
      const pfn = cpuAccessPage(mm, vpn, false);
      if (pfn < 0) {
        return {
          signal: signalOf(pfn),
          bytesDone: (vpn - first) * PAGE_SIZE,
          tokens: tokens.subarray(0, vpn - first),
        };
      }
      tokens[vpn - first] = content.token(pfn);
    }
    return { signal: 0, bytesDone: length, tokens };
  }

  /** fork(2): a child with a copy-on-write copy of the address space and every open file. */
  fork(): Task {
    const mm = this.liveMm();
    const child = new Task(this.kernel, this.kernel.allocPid(), dupMm(mm));
    for (const [fd, file] of this.fds) child.fds.set(fd, file.get());
    child.nextFd = this.nextFd;
    this.kernel.tasks.set(child.pid, child);
    return child;
  }

  /**
   * execve(2) of a new image: the process gets a fresh, empty address space (no PASID, no bonds)
   * and the old one loses this user, which tears it down if it was the last. Open files stay open
   * (the model has no close-on-exec descriptors).
   */
  exec(): void {
    const old = this.liveMm();
    this.mm = this.kernel.newMm();
    old.mmput();
  }

  /** exit(2): the address space goes first (mmput), then the files (R-NOTIF-50). */
  exit(): void {
    const mm = this.liveMm();
    this.mm = null;
    mm.mmput();
    for (const fd of [...this.fds.keys()].sort((a, b) => a - b)) this.close(fd);
    this.kernel.taskExited(this);
  }

  /** Installs an open file (taking over the caller's reference) and returns its descriptor. */
  installFile(file: OpenFile): number {
    const fd = this.nextFd++;
    this.fds.set(fd, file);
    return fd;
  }

  /** A new file in tmpfs of `sizeBytes` (open(O_TMPFILE) + ftruncate). Returns its descriptor. */
  openTmpfile(sizeBytes: number): number {
    if (!Number.isInteger(sizeBytes) || sizeBytes < 0) return -EINVAL;
    return this.installFile(shmemCreateFile(this.kernel, 'tmpfs', sizeBytes));
  }

  close(fd: number): number {
    const file = this.fds.get(fd);
    if (file === undefined) return -EBADF;
    this.fds.delete(fd);
    file.put();
    return 0;
  }

  /** pread(2) on a tmpfs file (bytes mode). Returns the bytes read or -errno. */
  pread(fd: number, offset: number, length: number): Uint8Array | number {
    const file = this.fds.get(fd);
    if (file === undefined) return -EBADF;
    if (file.inode.pageCache === null) return -EINVAL;
    return shmemRead(this.kernel, file.inode, offset, length);
  }

  /** pwrite(2) on a tmpfs file (bytes mode). Returns the byte count or -errno. */
  pwrite(fd: number, offset: number, data: Uint8Array): number {
    const file = this.fds.get(fd);
    if (file === undefined) return -EBADF;
    if (file.inode.pageCache === null) return -EINVAL;
    const rc = shmemWrite(this.kernel, file.inode, offset, data);
    return rc === -ENOMEM && data.length === 0 ? 0 : rc;
  }
}
