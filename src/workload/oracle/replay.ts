// Replays an oracle operation sequence against the model: one Kernel configured like the recording
// VM (4 GiB, THP in madvise mode, 64 hugetlb pages, bytes mode), the dmirror devices, and processes
// p0..p31, producing one outcome line per operation in the oracle's format.

import { errnoName } from '../../sim/errno.js';
import {
  MADV_COLD,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_WILLNEED,
  MAP_ANONYMOUS,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import { SIGBUS, SIGSEGV } from '../../mm/cpuAccess.js';
import { Kernel } from '../../mm/kernel.js';
import type { Task } from '../../mm/task.js';
import { DmirrorDriver } from '../../devices/dmirror/device.js';
import {
  type DmirrorCmd,
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from '../../devices/dmirror/uapi.js';
import type { Advice, BufferType, OracleLine, Prot } from './opsFile.js';
import { formatOutcome, type Outcome } from './outcome.js';
import { fillPattern, pageChecksum } from './pattern.js';

const SLOT_BASE = 0x100000000000;
const SLOT_SIZE = 0x40000000;

const PROT: Record<Prot, number> = { none: PROT_NONE, r: PROT_READ, rw: PROT_READ | PROT_WRITE };
const ADVICE: Record<Advice, number> = {
  dontneed: MADV_DONTNEED,
  hugepage: MADV_HUGEPAGE,
  nohugepage: MADV_NOHUGEPAGE,
  populate_read: MADV_POPULATE_READ,
  populate_write: MADV_POPULATE_WRITE,
  willneed: MADV_WILLNEED,
  cold: MADV_COLD,
};

interface BufferRec {
  readonly addr: number;
  readonly npages: number;
  readonly type: BufferType;
  /** The tmpfs file's descriptor (same number in forked children), or -1. */
  readonly fd: number;
}

export interface ReplayResult {
  readonly lines: string[];
  readonly kernel: Kernel;
  readonly driver: DmirrorDriver;
}

/** Runs every operation, then exits every live process in order p0, p1, ... */
export function replayOracle(ops: readonly OracleLine[]): ReplayResult {
  const kernel = new Kernel({
    ramBytes: 4 * 1024 ** 3,
    contentMode: 'bytes',
    thp: 'madvise',
    hugetlbPages: 64,
  });
  const driver = new DmirrorDriver(kernel);
  const procs = new Map<number, Task>([[0, kernel.spawn()]]);
  const devFds = new Map<number, Map<number, number>>([[0, new Map()]]);
  const bufs = new Map<number, BufferRec>();
  let slot = 0;
  const lines: string[] = [];

  for (const o of ops) {
    const task = procs.get(o.proc)!;
    const fds = devFds.get(o.proc)!;
    const op = o.op;
    const rc = (n: number): string => (n < 0 ? `-${errnoName(n)}` : '0');
    const addr = (b: number, page: number) => bufs.get(b)!.addr + page * PAGE_SIZE;
    let out: Outcome;
    switch (op.kind) {
      case 'mmap': {
        const at = SLOT_BASE + slot++ * SLOT_SIZE;
        const len = op.npages * PAGE_SIZE;
        const prot = PROT[op.prot];
        let fd = -1;
        let r: number;
        switch (op.type) {
          case 'anon':
            r = task.mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
            break;
          case 'shared':
            r = task.mmap(at, len, prot, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
            break;
          case 'hugetlb':
            r = task.mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE);
            break;
          case 'file':
          case 'file_private':
            fd = task.openTmpfile(len);
            r = task.mmap(
              at,
              len,
              prot,
              (op.type === 'file' ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED_NOREPLACE,
              fd,
              0,
            );
            break;
          case 'devmap':
            r = task.mmap(at, len, prot, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fds.get(op.dev)!, 0);
            break;
        }
        bufs.set(op.buf, { addr: at, npages: op.npages, type: op.type, fd });
        out = { rc: rc(r) };
        break;
      }
      case 'munmap':
        out = { rc: rc(task.munmap(addr(op.buf, op.start), op.count * PAGE_SIZE)) };
        break;
      case 'mprotect':
        out = { rc: rc(task.mprotect(addr(op.buf, op.start), op.count * PAGE_SIZE, PROT[op.prot])) };
        break;
      case 'madvise':
        out = { rc: rc(task.madvise(addr(op.buf, op.start), op.count * PAGE_SIZE, ADVICE[op.advice])) };
        break;
      case 'read': {
        const sums: string[] = [];
        out = { rc: '0', sums };
        for (let j = 0; j < op.count; j++) {
          const r = task.read(addr(op.buf, op.start + j), PAGE_SIZE);
          if (r.signal !== 0) {
            out = { rc: signalName(r.signal), done: j, sums };
            break;
          }
          sums.push(pageChecksum(r.data, 0));
        }
        break;
      }
      case 'write': {
        out = { rc: '0' };
        const page = new Uint8Array(PAGE_SIZE);
        for (let j = 0; j < op.count; j++) {
          fillPattern(page, 0, op.seed, op.start + j);
          const r = task.write(addr(op.buf, op.start + j), page);
          if (r.signal !== 0) {
            out = { rc: signalName(r.signal), done: j };
            break;
          }
        }
        break;
      }
      case 'pread': {
        const fd = bufs.get(op.buf)!.fd;
        const r = fd < 0 ? -9 : task.pread(fd, op.start * PAGE_SIZE, op.count * PAGE_SIZE);
        if (typeof r === 'number') {
          out = { rc: rc(r) };
        } else {
          const sums: string[] = [];
          for (let off = 0; off + PAGE_SIZE <= r.length; off += PAGE_SIZE) sums.push(pageChecksum(r, off));
          out = { rc: '0', bytes: r.length, sums };
        }
        break;
      }
      case 'pwrite': {
        const fd = bufs.get(op.buf)!.fd;
        const data = new Uint8Array(op.count * PAGE_SIZE);
        for (let j = 0; j < op.count; j++) fillPattern(data, j * PAGE_SIZE, op.seed, op.start + j);
        const r = fd < 0 ? -9 : task.pwrite(fd, op.start * PAGE_SIZE, data);
        out = r < 0 ? { rc: rc(r) } : { rc: '0', bytes: r };
        break;
      }
      case 'fork': {
        const child = task.fork();
        procs.set(op.child, child);
        devFds.set(op.child, new Map(fds));
        out = { rc: '0' };
        break;
      }
      case 'exit':
        task.exit();
        procs.delete(o.proc);
        out = { rc: '0' };
        break;
      case 'open': {
        const fd = driver.open(task, op.unit);
        if (fd >= 0) fds.set(op.dev, fd);
        out = { rc: rc(fd) };
        break;
      }
      case 'close':
        out = { rc: rc(task.close(fds.get(op.dev)!)) };
        fds.delete(op.dev);
        break;
      case 'release': {
        const cmd: DmirrorCmd = { addrVpn: 0, npages: 1, cpages: 0, faults: 0 };
        out = { rc: rc(driver.ioctl(task, fds.get(op.dev)!, HMM_DMIRROR_RELEASE, cmd)) };
        break;
      }
      default: {
        const cmd: DmirrorCmd = {
          addrVpn: addr(op.buf, op.start) / PAGE_SIZE,
          npages: op.count,
          cpages: 0,
          faults: 0,
        };
        const fd = fds.get(op.dev)!;
        out = deviceOp(driver, task, fd, op.kind, cmd, op.kind === 'dwrite' ? op.seed : 0, op.start);
      }
    }
    lines.push(formatOutcome(o.index, o.proc, o.name, out));
  }
  for (const id of [...procs.keys()].sort((a, b) => a - b)) procs.get(id)!.exit();
  return { lines, kernel, driver };
}

function signalName(signal: number | string): string {
  if (signal === SIGSEGV) return 'SIGSEGV';
  if (signal === SIGBUS) return 'SIGBUS';
  return String(signal);
}

function deviceOp(
  driver: DmirrorDriver,
  task: Task,
  fd: number,
  kind: string,
  cmd: DmirrorCmd,
  seed: number,
  startPage: number,
): Outcome {
  const rcOf = (n: number): string => (n < 0 ? `-${errnoName(n)}` : '0');
  const sumsOf = (data: Uint8Array, pages: number): string[] => {
    const sums: string[] = [];
    for (let i = 0; i < pages; i++) sums.push(pageChecksum(data, i * PAGE_SIZE));
    return sums;
  };
  switch (kind) {
    case 'dread': {
      const data = new Uint8Array(cmd.npages * PAGE_SIZE);
      const r = driver.ioctl(task, fd, HMM_DMIRROR_READ, cmd, data);
      return r < 0
        ? { rc: rcOf(r) }
        : { rc: '0', cpages: cmd.cpages, faults: cmd.faults, sums: sumsOf(data, cmd.cpages) };
    }
    case 'dwrite': {
      const data = new Uint8Array(cmd.npages * PAGE_SIZE);
      for (let j = 0; j < cmd.npages; j++) fillPattern(data, j * PAGE_SIZE, seed, startPage + j);
      const r = driver.ioctl(task, fd, HMM_DMIRROR_WRITE, cmd, data);
      return r < 0 ? { rc: rcOf(r) } : { rc: '0', cpages: cmd.cpages, faults: cmd.faults };
    }
    case 'snapshot': {
      const snap = new Uint8Array(cmd.npages);
      const r = driver.ioctl(task, fd, HMM_DMIRROR_SNAPSHOT, cmd, snap);
      return r < 0
        ? { rc: rcOf(r) }
        : { rc: '0', cpages: cmd.cpages, snap: [...snap].map((b) => b.toString(16).padStart(2, '0')) };
    }
    case 'migrate_dev':
    case 'exclusive': {
      const data = new Uint8Array(cmd.npages * PAGE_SIZE);
      const r = driver.ioctl(
        task,
        fd,
        kind === 'exclusive' ? HMM_DMIRROR_EXCLUSIVE : HMM_DMIRROR_MIGRATE_TO_DEV,
        cmd,
        data,
      );
      return r < 0 ? { rc: rcOf(r) } : { rc: '0', cpages: cmd.cpages, sums: sumsOf(data, cmd.cpages) };
    }
    case 'migrate_sys': {
      const r = driver.ioctl(task, fd, HMM_DMIRROR_MIGRATE_TO_SYS, cmd);
      return r < 0 ? { rc: rcOf(r) } : { rc: '0', cpages: cmd.cpages };
    }
    default: {
      const r = driver.ioctl(task, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, cmd);
      return { rc: rcOf(r) };
    }
  }
}
