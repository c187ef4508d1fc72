// Figures of the mm layer: fault-in, unmap, fork with copy-on-write, CPU copies in bytes mode, and
// the metadata cost of a resident page.
//
// Timing method: each throughput figure is one big operation (1 Mi pages, or 256 MiB), too long for
// tinybench's usual many-iterations loop, so `medianRate` runs tinybench with a fixed iteration count
// (2-3 warmup + REPS measured repetitions), building a fresh Kernel in its untimed beforeEach hook, and
// reports the median. The memory figure needs no timing and is measured directly (median of 3).

import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Task } from '../src/mm/task.js';
import { type Figure, medianRate, settledHeapBytes } from './harness.js';

/** 1 Mi pages (4 GiB of modeled memory). */
const PAGES = 1 << 20;
const LEN = PAGES * PAGE_SIZE;
/** Measured repetitions per throughput figure (after the warmup ones). */
const REPS = 5;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Fits 1 Mi pages plus the zero page. */
const RAM = 8 * GiB;
/** Fork with 1 Mi pages needs 2 Mi frames plus the zero page: more than 8 GiB. */
const FORK_RAM = 16 * GiB;
const COPY_BYTES = 256 * MiB;
const CHUNK = 4 * 1024;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark check failed: ${what}`);
}

interface Mapped {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly addr: number;
}

/** A fresh kernel and process with `len` bytes of private anonymous memory mapped (not populated). */
function mapAnon(contentMode: 'tokens' | 'bytes', len: number, ramBytes = RAM): Mapped {
  const kernel = new Kernel({ ramBytes, contentMode });
  const proc = kernel.spawn();
  const addr = proc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  check(addr >= 0, `mmap of ${len} bytes returned ${addr}`);
  return { kernel, proc, addr };
}

/** `mapAnon` plus a write fault on every page (tokens mode). */
function populated(ramBytes = RAM): Mapped {
  const m = mapAnon('tokens', LEN, ramBytes);
  const r = m.proc.touch(m.addr, LEN, true);
  check(r.signal === 0, `populating write faults ended with signal ${r.signal}`);
  check(m.proc.mm!.rssAnon === PAGES, `rss ${m.proc.mm!.rssAnon} after populating ${PAGES} pages`);
  return m;
}

function exitAll(m: Mapped): void {
  for (const task of [...m.kernel.tasks.values()]) task.exit();
  check(m.kernel.mem.usedPages() === 0, `${m.kernel.mem.usedPages()} frames leaked after exit`);
}

const populate: Figure = {
  name: 'mm.populate_pages_per_s',
  unit: 'pages/s',
  target: { min: 5_000_000 },
  description: 'write-fault 1 Mi pages of private anonymous memory (tokens mode) with one touch()',
  run: () =>
    medianRate(PAGES, {
      name: 'populate',
      reps: REPS,
      // First in a cold process: its early runs also warm up the fault path for the other figures.
      warmup: 3,
      setup: () => mapAnon('tokens', LEN),
      measure: (m) => {
        const r = m.proc.touch(m.addr, LEN, true);
        check(r.signal === 0, `touch ended with signal ${r.signal}`);
      },
      teardown: (m) => {
        check(m.proc.mm!.rssAnon === PAGES, `rss ${m.proc.mm!.rssAnon}, expected ${PAGES}`);
        exitAll(m);
      },
    }),
};

const munmap: Figure = {
  name: 'mm.munmap_pages_per_s',
  unit: 'pages/s',
  target: { min: 10_000_000 },
  description: 'munmap() of 1 Mi populated anonymous pages (zap, TLB flush, page and table freeing)',
  run: () =>
    medianRate(PAGES, {
      name: 'munmap',
      reps: REPS,
      setup: () => populated(),
      measure: (m) => {
        const rc = m.proc.munmap(m.addr, LEN);
        check(rc === 0, `munmap returned ${rc}`);
      },
      teardown: (m) => {
        check(m.kernel.mem.usedPages() === 0, `${m.kernel.mem.usedPages()} frames still used after munmap`);
        exitAll(m);
      },
    }),
};

const forkCow: Figure = {
  name: 'mm.fork_cow_pages_per_s',
  unit: 'pages/s',
  target: { min: 2_000_000 },
  description:
    'fork() of a process with 1 Mi resident pages, then a write to every page in the child ' +
    '(COW copies); pages written per second of fork + writes',
  run: () =>
    medianRate(PAGES, {
      name: 'fork_cow',
      reps: REPS,
      setup: () => ({ parent: populated(FORK_RAM), child: null as Task | null }),
      measure: (s) => {
        const child = s.parent.proc.fork();
        s.child = child;
        const r = child.touch(s.parent.addr, LEN, true);
        check(r.signal === 0, `child writes ended with signal ${r.signal}`);
      },
      teardown: (s) => {
        const cowCopies = s.parent.kernel.stats.get('mm.cow_copies');
        check(cowCopies === PAGES, `${cowCopies} COW copies, expected ${PAGES}`);
        check(s.child!.mm!.rssAnon === PAGES, `child rss ${s.child!.mm!.rssAnon}`);
        exitAll(s.parent);
      },
    }),
};

const cpuCopy: Figure = {
  name: 'mm.cpu_copy_MBps',
  unit: 'MB/s',
  target: { min: 2_000 },
  description:
    'bytes mode: write() 256 MiB in 4 KiB page-aligned chunks (faulting the pages in), then read() ' +
    'them back; 512 MiB moved per run (MB = 2^20 bytes)',
  run: () => {
    const pattern = new Uint8Array(CHUNK);
    for (let i = 0; i < CHUNK; i++) pattern[i] = (i * 131 + 7) & 0xff;
    let sink = 0;
    return medianRate((2 * COPY_BYTES) / MiB, {
      name: 'cpu_copy',
      reps: REPS,
      setup: () => mapAnon('bytes', COPY_BYTES),
      measure: (m) => {
        const { proc, addr } = m;
        for (let off = 0; off < COPY_BYTES; off += CHUNK) {
          const r = proc.write(addr + off, pattern);
          if (r.signal !== 0) check(false, `write at +${off} ended with signal ${r.signal}`);
        }
        for (let off = 0; off < COPY_BYTES; off += CHUNK) {
          const r = proc.read(addr + off, CHUNK);
          if (r.signal !== 0) check(false, `read at +${off} ended with signal ${r.signal}`);
          sink ^= r.data[CHUNK - 1];
        }
      },
      teardown: (m) => {
        check(sink >= 0, 'unreachable');
        const last = m.proc.read(m.addr + COPY_BYTES - CHUNK, CHUNK);
        check(last.signal === 0 && last.data.every((b, i) => b === pattern[i]), 'read-back mismatch');
        exitAll(m);
      },
    });
  },
};

const bytesPerPage: Figure = {
  name: 'mm.bytes_per_resident_page',
  unit: 'B/page',
  target: { max: 64 },
  description:
    'JS heap + typed-array bytes (heapUsed + external, after forced GC) added by a new tokens-mode ' +
    'Kernel with 1 Mi pages write-faulted, divided by 1 Mi',
  run: () => {
    const samples = [residentBytesPerPage(), residentBytesPerPage(), residentBytesPerPage()];
    samples.sort((a, b) => a - b);
    return samples[1];
  },
};

/**
 * One measurement of `mm.bytes_per_resident_page`. Kept in its own function: a loop body would leave
 * the previous repetition's Kernel in a stale interpreter register, still reachable at the next
 * "before" measurement, and the delta would come out near zero.
 */
function residentBytesPerPage(): number {
  const before = settledHeapBytes();
  const m = populated();
  const after = settledHeapBytes();
  // Uses the kernel after the second measurement, so it is certainly live during it.
  check(m.proc.mm!.rssAnon === PAGES, 'populated process lost pages');
  exitAll(m);
  return (after - before) / PAGES;
}

export const mmFigures: readonly Figure[] = [populate, munmap, forkCow, cpuCopy, bytesPerPage];
