// Figures of the hmm layer: the hmm_range_fault snapshot of resident memory, and the dmirror test
// device's READ, which mirrors a range through hmm_range_fault and copies it out through the mirror.
//
// Timing method: as in mm.bench.ts, tinybench runs a fixed count of repetitions (warmup + REPS) and
// the median is reported. `hmm.range_fault_pages_per_s` and `hmm.dmirror_read_mirrored_MBps` only
// read state, so one populated model serves all their repetitions (built once, untimed, checked
// after every repetition); `hmm.dmirror_read_MBps` changes the mirror, so every repetition gets a
// fresh Kernel whose buffer the CPU has just written.

import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Task } from '../src/mm/task.js';
import { HMM_PFN_VALID, HMM_PFN_WRITE } from '../src/hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../src/hmm/hmmRangeFault.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../src/notifier/interval.js';
import { DmirrorDriver } from '../src/devices/dmirror/device.js';
import { type DmirrorCmd, HMM_DMIRROR_READ } from '../src/devices/dmirror/uapi.js';
import { type Figure, medianRate } from './harness.js';

/** 1 Mi pages (4 GiB of modeled memory) for the snapshot figure. */
const PAGES = 1 << 20;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const RAM = 8 * GiB;
const REPS = 5;
/**
 * Pages per hmmRangeFault call in `hmm.range_fault_pages_per_s`: the whole 1 Mi-page range in one
 * call (the kernel allows any size), into one preallocated pair of 1 Mi-entry Uint32Arrays passed
 * to the HmmRange constructor and reused by every repetition.
 */
const SNAPSHOT_PIECE = PAGES;
/** 256 MiB read through dmirror (64 Ki pages), bytes mode. */
const READ_BYTES = 256 * MiB;
const READ_PAGES = READ_BYTES / PAGE_SIZE;
const READ_RAM = 1 * GiB;

export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark check failed: ${what}`);
}

export interface Populated {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly addr: number;
  /** First page of the mapping. */
  readonly vpn: number;
  readonly pages: number;
}

/** A fresh tokens-mode kernel and process with `pages` private anonymous pages write-faulted. */
export function populatedTokens(pages: number, ramBytes = RAM): Populated {
  const kernel = new Kernel({ ramBytes, contentMode: 'tokens' });
  const proc = kernel.spawn();
  const len = pages * PAGE_SIZE;
  const addr = proc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  check(addr >= 0, `mmap of ${len} bytes returned ${addr}`);
  const r = proc.touch(addr, len, true);
  check(r.signal === 0, `populating write faults ended with signal ${r.signal}`);
  check(proc.mm!.rssAnon === pages, `rss ${proc.mm!.rssAnon} after populating ${pages} pages`);
  return { kernel, proc, addr, vpn: addr / PAGE_SIZE, pages };
}

/** Every task exits; no frame may stay allocated. */
export function exitAll(kernel: Kernel): void {
  for (const task of [...kernel.tasks.values()]) task.exit();
  check(kernel.mem.usedPages() === 0, `${kernel.mem.usedPages()} frames leaked after exit`);
  check(kernel.warnings.length === 0, `kernel warnings: ${kernel.warnings.slice(0, 3).join('; ')}`);
}

/** An interval notifier whose invalidate callback only moves the sequence (what a mirror must do). */
function insertNotifier(p: Populated, startVpn: number, npages: number): MmuIntervalNotifier {
  const ops = {
    invalidate: (isub: MmuIntervalNotifier, _range: unknown, curSeq: number) => {
      mmuIntervalSetSeq(isub, curSeq);
      return true;
    },
  };
  const isub = new MmuIntervalNotifier(ops);
  const rc = mmuIntervalNotifierInsert(isub, p.proc.mm!, startVpn, npages, ops);
  check(rc === 0, `mmu_interval_notifier_insert returned ${rc}`);
  return isub;
}

/**
 * Checks a snapshot of resident private anonymous pages: every word VALID | WRITE (order 0) with a
 * pfn, and the pfns distinct from their neighbours (a stuck copy of one entry would repeat).
 */
export function checkSnapshot(range: HmmRange, first: number, end: number): void {
  const want = (HMM_PFN_VALID | HMM_PFN_WRITE) >>> 0;
  const { flags, pfns } = range;
  let prev = -1;
  for (let i = first; i < end; i++) {
    if (flags[i] !== want || pfns[i] === 0 || pfns[i] === prev) {
      check(false, `hmm pfn word ${i}: flags 0x${(flags[i] >>> 0).toString(16)}, pfn ${pfns[i]}`);
    }
    prev = pfns[i];
  }
}

const rangeFault: Figure = {
  name: 'hmm.range_fault_pages_per_s',
  unit: 'pages/s',
  target: { min: 20_000_000 },
  description:
    'hmm_range_fault snapshot (no fault requested) of 1 Mi resident private anonymous pages in one ' +
    'call, tokens mode, under an interval notifier covering the range',
  run: async () => {
    const p = populatedTokens(PAGES);
    const isub = insertNotifier(p, p.vpn, PAGES);
    const flags = new Uint32Array(SNAPSHOT_PIECE);
    const pfns = new Uint32Array(SNAPSHOT_PIECE);
    const range = new HmmRange(isub, p.vpn, p.vpn + SNAPSHOT_PIECE, flags, pfns);
    const rate = await medianRate(PAGES, {
      name: 'range_fault',
      reps: REPS,
      warmup: 3,
      setup: () => {
        // Stale words would pass the check: start every repetition from zeros.
        flags.fill(0);
        pfns.fill(0);
        return range;
      },
      measure: (r) => {
        for (let vpn = p.vpn; vpn < p.vpn + PAGES; vpn += SNAPSHOT_PIECE) {
          r.startVpn = vpn;
          r.endVpn = vpn + SNAPSHOT_PIECE;
          r.notifierSeq = mmuIntervalReadBegin(isub);
          const rc = hmmRangeFault(r);
          if (rc !== 0) check(false, `hmm_range_fault at vpn ${vpn} returned ${rc}`);
        }
      },
      // With pieces smaller than the range only the last one is still in the arrays.
      teardown: (r) => checkSnapshot(r, 0, SNAPSHOT_PIECE),
    });
    exitAll(p.kernel);
    return rate;
  },
};

interface ReadModel {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly driver: DmirrorDriver;
  readonly fd: number;
  readonly vpn: number;
}

/** Byte `k` of page `page` as the CPU wrote it: a stamp in bytes 0..3, a pattern elsewhere. */
function patternByte(page: number, k: number): number {
  if (k < 4) return (page >>> (8 * k)) & 0xff;
  return (k * 131 + 7) & 0xff;
}

/** A bytes-mode kernel whose process wrote 256 MiB (page by page) and opened /dev/hmm_dmirror0. */
function writtenBuffer(chunk: Uint8Array): ReadModel {
  const kernel = new Kernel({ ramBytes: READ_RAM, contentMode: 'bytes' });
  const proc = kernel.spawn();
  const addr = proc.mmap(0, READ_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  check(addr >= 0, `mmap returned ${addr}`);
  for (let page = 0; page < READ_PAGES; page++) {
    for (let k = 0; k < 4; k++) chunk[k] = patternByte(page, k);
    const r = proc.write(addr + page * PAGE_SIZE, chunk);
    if (r.signal !== 0) check(false, `CPU write of page ${page} ended with signal ${r.signal}`);
  }
  const driver = new DmirrorDriver(kernel);
  const fd = driver.open(proc, 0);
  check(fd >= 0, `open /dev/hmm_dmirror0 returned ${fd}`);
  return { kernel, proc, driver, fd, vpn: addr / PAGE_SIZE };
}

/** READ of the whole buffer into `out`; checks the return code and the page count. */
function dmirrorRead(m: ReadModel, out: Uint8Array, expectFaults: boolean): DmirrorCmd {
  const cmd: DmirrorCmd = { addrVpn: m.vpn, npages: READ_PAGES, cpages: 0, faults: 0 };
  const rc = m.driver.ioctl(m.proc, m.fd, HMM_DMIRROR_READ, cmd, out);
  check(rc === 0, `HMM_DMIRROR_READ returned ${rc}`);
  check(cmd.cpages === READ_PAGES, `READ copied ${cmd.cpages} of ${READ_PAGES} pages`);
  check(
    expectFaults ? cmd.faults >= 1 : cmd.faults === 0,
    `READ took ${cmd.faults} fault rounds, expected ${expectFaults ? 'at least 1' : 'none'}`,
  );
  return cmd;
}

/** The data READ returned: every page's stamp, and every byte of a spread of sampled pages. */
function checkReadData(out: Uint8Array): void {
  for (let page = 0; page < READ_PAGES; page++) {
    const o = page * PAGE_SIZE;
    const stamp = out[o] | (out[o + 1] << 8) | (out[o + 2] << 16) | (out[o + 3] << 24);
    if (stamp >>> 0 !== page) check(false, `READ page ${page} carries the stamp of page ${stamp >>> 0}`);
  }
  for (let page = 0; page < READ_PAGES; page += 4093) {
    const o = page * PAGE_SIZE;
    for (let k = 0; k < PAGE_SIZE; k++) {
      if (out[o + k] !== patternByte(page, k)) check(false, `READ page ${page} byte ${k} differs`);
    }
  }
}

const dmirrorReadFirst: Figure = {
  name: 'hmm.dmirror_read_MBps',
  unit: 'MB/s',
  target: { min: 1_000 },
  description:
    'bytes mode: the first HMM_DMIRROR_READ of 256 MiB the CPU has just written (the mirror is ' +
    'empty, so it includes the hmm_range_fault round of 64-page pieces); MB = 2^20 bytes',
  run: () => {
    const chunk = new Uint8Array(PAGE_SIZE);
    for (let k = 0; k < PAGE_SIZE; k++) chunk[k] = patternByte(0, k);
    const out = new Uint8Array(READ_BYTES);
    return medianRate(READ_BYTES / MiB, {
      name: 'dmirror_read',
      reps: REPS,
      setup: () => {
        out.fill(0);
        return writtenBuffer(chunk);
      },
      measure: (m) => {
        dmirrorRead(m, out, true);
      },
      teardown: (m) => {
        checkReadData(out);
        exitAll(m.kernel);
      },
    });
  },
};

const dmirrorReadMirrored: Figure = {
  name: 'hmm.dmirror_read_mirrored_MBps',
  unit: 'MB/s',
  target: {},
  description:
    'bytes mode: HMM_DMIRROR_READ of 256 MiB already mirrored by an earlier READ (no fault round: ' +
    'the copy through the device table alone); MB = 2^20 bytes',
  run: async () => {
    const chunk = new Uint8Array(PAGE_SIZE);
    for (let k = 0; k < PAGE_SIZE; k++) chunk[k] = patternByte(0, k);
    const out = new Uint8Array(READ_BYTES);
    const m = writtenBuffer(chunk);
    dmirrorRead(m, out, true);
    checkReadData(out);
    const rate = await medianRate(READ_BYTES / MiB, {
      name: 'dmirror_read_mirrored',
      reps: REPS,
      setup: () => {
        out.fill(0);
        return m;
      },
      measure: (s) => {
        dmirrorRead(s, out, false);
      },
      teardown: () => checkReadData(out),
    });
    exitAll(m.kernel);
    return rate;
  },
};

export const hmmFigures: readonly Figure[] = [rangeFault, dmirrorReadFirst, dmirrorReadMirrored];
