// hmm_range_fault against ../shared/spec/hmm-range-fault.md (rules R-HRF-n).

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import { EBUSY, EFAULT, EINVAL, EPERM } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_IO,
  VM_PFNMAP,
  VPN_END_MAX,
} from '../mm/constants.js';
import { Inode, OpenFile } from '../mm/file.js';
import { Kernel } from '../mm/kernel.js';
import type { Task } from '../mm/task.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../notifier/interval.js';
import { makeDeviceExclusiveRange } from '../mm/deviceExclusive.js';
import {
  describeHmmPfn,
  HMM_PFN_DEVICE_EXCLUSIVE,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToMapOrder,
} from './hmmPfn.js';
import { HmmRange, hmmRangeFault } from './hmmRangeFault.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let isub: MmuIntervalNotifier;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, hugetlbPages: 2 });
  task = kernel.spawn();
  isub = new MmuIntervalNotifier({ invalidate: (s, _r, seq) => (mmuIntervalSetSeq(s, seq), true) });
  expect(mmuIntervalNotifierInsert(isub, task.mm!, 0, VPN_END_MAX - 1, isub.ops)).toBe(0);
});

function map(npages: number, prot = RW, flags = MAP_PRIVATE | MAP_ANONYMOUS, at = 0): number {
  const addr = task.mmap(BASE + at * PAGE_SIZE, npages * PAGE_SIZE, prot, flags | MAP_FIXED);
  expect(addr).toBe(BASE + at * PAGE_SIZE);
  return addr;
}

/** Runs one hmm_range_fault over pages [first, first + n) of the base with the given requests. */
function fault(
  first: number,
  n: number,
  defaultFlags = 0,
  mask = 0,
  perPage?: number[],
): { rc: number; out: string[]; range: HmmRange } {
  const range = new HmmRange(isub, V + first, V + first + n);
  range.defaultFlags = defaultFlags;
  range.pfnFlagsMask = mask;
  if (perPage) range.flags.set(perPage);
  range.notifierSeq = mmuIntervalReadBegin(isub);
  const rc = hmmRangeFault(range);
  const out = Array.from(range.flags.subarray(0, n), (f, i) =>
    describeHmmPfn(f, range.pfns[i]).replace(/ pfn=\d+/, ''),
  );
  return { rc, out, range };
}

/** The driver loop (R-HRF-37) without the device: retry on -EBUSY. */
function faultRetry(
  first: number,
  n: number,
  defaultFlags: number,
  mask = 0,
  perPage?: number[],
): { rc: number; out: string[]; tries: number } {
  for (let tries = 1; tries < 10; tries++) {
    const r = fault(first, n, defaultFlags, mask, perPage);
    if (r.rc !== -EBUSY) return { ...r, tries };
  }
  throw new Error('no progress');
}

describe('snapshots (no fault requested)', () => {
  it('R-HRF-5/17/21: none entries are 0, present pages VALID (+WRITE), the zero page VALID only', () => {
    map(4);
    task.read(BASE, 1);
    task.write(BASE + PAGE_SIZE, new Uint8Array(1));
    expect(fault(0, 4).out).toEqual(['valid', 'valid write', 'none', 'none']);
    const zero = fault(0, 1).range.pfns[0];
    expect(kernel.mem.isZeroPfn(zero)).toBe(true);
  });

  it('R-HRF-15/16: a hole without VMA and a PROT_NONE VMA are ERROR; VM_IO/VM_PFNMAP VMAs too', () => {
    map(2);
    map(2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, 3);
    const ops = {
      name: 'pfnmap-dev',
      mmap: (_f: OpenFile, vma: { flags: number }) => {
        vma.flags |= VM_IO | VM_PFNMAP;
        return 0;
      },
    };
    const fd = task.installFile(
      new OpenFile(kernel.newObjectId(), new Inode('device', kernel.newObjectId(), 0, null), ops),
    );
    expect(task.mmap(BASE + 6 * PAGE_SIZE, PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd)).toBe(
      BASE + 6 * PAGE_SIZE,
    );
    expect(fault(0, 7).out).toEqual(['none', 'none', 'error', 'error', 'error', 'error', 'error']);
    // R-HRF-15/16: requesting a fault anywhere there is -EFAULT.
    expect(fault(0, 3, HMM_PFN_REQ_FAULT).rc).toBe(-EFAULT);
    expect(fault(3, 1, HMM_PFN_REQ_FAULT).rc).toBe(-EFAULT);
    expect(fault(6, 1, HMM_PFN_REQ_FAULT).rc).toBe(-EFAULT);
  });

  it('R-HRF-27/6: a THP gives every page order 9 with consecutive pfns', () => {
    map(1024);
    expect(task.madvise(BASE, 1024 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    task.write(BASE, new Uint8Array(1));
    const { out, range } = fault(10, 4);
    expect(out).toEqual(Array(4).fill('valid write order=9'));
    expect(hmmPfnToMapOrder(range.flags[0])).toBe(9);
    expect(range.pfns[1] - range.pfns[0]).toBe(1);
    expect(range.pfns[0] % 512).toBe(10);
  });

  it('R-HRF-30: hugetlb pages report order 9; a none entry under an existing table has VALID clear', () => {
    task.mmap(BASE, 1024 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED);
    // No page table at all yet: a hole, reported 0.
    expect(fault(0, 2).out).toEqual(['none', 'none']);
    task.read(BASE, 1);
    expect(fault(0, 2).out).toEqual(['valid order=9', 'valid order=9']);
    // The second huge page shares the now existing PMD table: its none entry carries the order.
    expect(fault(512, 2).out).toEqual(['order=9', 'order=9']);
  });

  it('R-HRF-2: start >= end is -EINVAL; an mm without users is a caller bug', () => {
    map(1);
    const range = new HmmRange(isub, V + 1, V + 1);
    expect(hmmRangeFault(range)).toBe(-EINVAL);
    task.exit();
    expect(() => hmmRangeFault(new HmmRange(isub, V, V + 1))).toThrow(KernelBug);
  });
});

describe('device-exclusive entries', () => {
  it('R-HRF-26: reported 0 without a request; the opt-in flag reports them; a fault request revokes', () => {
    map(2);
    task.write(BASE, new Uint8Array(2 * PAGE_SIZE).fill(5));
    const pages: number[] = [];
    expect(makeDeviceExclusiveRange(task.mm!, V, V + 2, pages, 'gpu')).toBe(2);
    for (const pfn of pages) {
      kernel.mem.unlock(pfn);
      kernel.mem.put(pfn);
    }
    expect(fault(0, 2).out).toEqual(['none', 'none']);
    const opt = new HmmRange(isub, V, V + 2);
    opt.reportExclusive = true;
    opt.notifierSeq = mmuIntervalReadBegin(isub);
    expect(hmmRangeFault(opt)).toBe(0);
    expect([...opt.flags].map((f) => f & HMM_PFN_DEVICE_EXCLUSIVE && !(f & HMM_PFN_VALID))).toEqual([
      true,
      true,
    ]);
    expect([...opt.pfns]).toEqual(pages);
    // A read request revokes the exclusive access: our own collision first, then the mapping.
    const r = faultRetry(0, 2, HMM_PFN_REQ_FAULT);
    expect(r.out).toEqual(['valid write', 'valid write']);
    expect(r.tries).toBe(2);
  });
});

describe('faulting', () => {
  it('R-HRF-33: fault-for-read of none pages maps the zero page; for write allocates writable pages', () => {
    map(4);
    expect(fault(0, 2, HMM_PFN_REQ_FAULT).out).toEqual(['valid', 'valid']);
    expect(fault(2, 2, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE).out).toEqual(['valid write', 'valid write']);
  });

  it('R-HRF-32: -EPERM for a write fault in a read-only VMA, even over the zero page, and nothing faulted', () => {
    map(2, PROT_READ);
    expect(fault(0, 1, HMM_PFN_REQ_FAULT).out).toEqual(['valid']);
    const before = kernel.stats.get('mm.faults');
    expect(fault(0, 2, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE).rc).toBe(-EPERM);
    expect(kernel.stats.get('mm.faults')).toBe(before);
  });

  it('R-HRF-9/10/12: per-page requests through the mask; REQ_WRITE without REQ_FAULT asks nothing', () => {
    map(4);
    // With no page table, the range is one hole: the OR of its requests (a write) faults it all.
    expect(fault(0, 4, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, [0, HMM_PFN_REQ_WRITE, 0, 0]).out).toEqual(
      Array(4).fill('valid write'),
    );
    map(4, RW, MAP_PRIVATE | MAP_ANONYMOUS, 4);
    task.write(BASE + 7 * PAGE_SIZE, new Uint8Array(1));
    // With a PTE table, page 4 is read-faulted (the zero page), then page 5's write request faults
    // pages 5..7 for write (R-HRF-34): page 6 becomes writable without asking.
    // The write over the zero pages is a COW break, so the first attempt sees its own collision.
    const r = faultRetry(4, 4, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, [0, HMM_PFN_REQ_WRITE, 0, 0]);
    expect([r.rc, r.tries]).toEqual([0, 2]);
    expect(r.out).toEqual(['valid', 'valid write', 'valid write', 'valid write']);
    map(4, RW, MAP_PRIVATE | MAP_ANONYMOUS, 8);
    expect(fault(8, 2, HMM_PFN_REQ_WRITE).out).toEqual(['none', 'none']);
    expect(fault(8, 2, 0, HMM_PFN_REQ_WRITE, [HMM_PFN_REQ_WRITE, HMM_PFN_REQ_WRITE]).out).toEqual([
      'none',
      'none',
    ]);
  });

  it('R-HRF-34: a write fault on one page breaks COW for the following pages of the segment', () => {
    map(4);
    task.write(BASE, new Uint8Array(4 * PAGE_SIZE).fill(1));
    const child = task.fork();
    const rec = NotifyRecorder.attach(child.mm!);
    const before = kernel.stats.get('mm.cow_copies');
    // The parent faults page 1 for write: pages 1, 2 and 3 (same segment) are all write-faulted.
    const r = faultRetry(0, 4, 0);
    expect(r.out).toEqual(['valid', 'valid', 'valid', 'valid']);
    const w = fault(0, 4, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, [0, HMM_PFN_REQ_WRITE, 0, 0]);
    // The COW break notified our own notifier: the first attempt collides (R-HRF-25).
    expect(w.rc).toBe(-EBUSY);
    const again = fault(0, 4, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, [0, HMM_PFN_REQ_WRITE, 0, 0]);
    expect(again.rc).toBe(0);
    expect(again.out).toEqual(['valid', 'valid write', 'valid write', 'valid write']);
    expect(kernel.stats.get('mm.cow_copies') - before).toBe(3);
    expect(rec.starts()).toEqual([]);
  });

  it('R-HRF-13/37: an invalidation of the range since read_begin is -EBUSY before any walk', () => {
    map(2);
    const range = new HmmRange(isub, V, V + 2);
    range.notifierSeq = mmuIntervalReadBegin(isub);
    task.munmap(BASE, PAGE_SIZE);
    expect(hmmRangeFault(range)).toBe(-EBUSY);
    range.notifierSeq = mmuIntervalReadBegin(isub);
    range.defaultFlags = HMM_PFN_REQ_FAULT;
    // The page now has no VMA: faulting it is -EFAULT (the anon_teardown outcome).
    expect(hmmRangeFault(range)).toBe(-EFAULT);
  });

  it('R-HRF-35: pages before the failing one keep their outputs and their side effects', () => {
    map(2);
    const { rc, range } = fault(0, 3, HMM_PFN_REQ_FAULT);
    expect(rc).toBe(-EFAULT);
    expect(range.flags[0] & HMM_PFN_VALID).toBeTruthy();
    expect(range.flags[1] & HMM_PFN_VALID).toBeTruthy();
    expect(fault(0, 2).out).toEqual(['valid', 'valid']);
  });

  it('R-HRF-5: ERROR and VALID are never both set; WRITE only with VALID', () => {
    map(3);
    map(1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, 3);
    task.write(BASE, new Uint8Array(1));
    const { range } = fault(0, 6);
    for (const f of range.flags) {
      expect(f & HMM_PFN_ERROR && f & HMM_PFN_VALID).toBeFalsy();
      if (f & HMM_PFN_WRITE) expect(f & HMM_PFN_VALID).toBeTruthy();
    }
  });
});
