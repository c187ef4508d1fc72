// Interval mmu notifiers against mmu-notifiers.md section 4: insertion (with its deferred and
// "invalidating" cases), removal, the collision-retry sequence protocol and the dispatch of
// invalidations to interval subscriptions. Every test is named after the rule(s) it checks.

import { beforeEach, describe, expect, it } from 'vitest';
import { EAGAIN, EINVAL, ENOMEM, EOVERFLOW } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  VPN_END_MAX,
} from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import {
  invalidateRangeEnd,
  invalidateRangeStart,
  invalidateRangeStartNonblock,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENT_NAMES,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierRange,
} from '../mm/mmuNotify.js';
import type { Task } from '../mm/task.js';
import { MmuNotifier, mmuNotifierRegister } from './classic.js';
import {
  MmuIntervalNotifier,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  type MmuIntervalNotifierOps,
  mmuIntervalNotifierRemove,
  mmuIntervalNotifierRemoveTry,
  mmuIntervalReadBegin,
  mmuIntervalReadBeginTry,
  mmuIntervalReadRetry,
  mmuIntervalRemoveFinish,
  mmuIntervalSetSeq,
  mmuIntervalWaitEven,
} from './interval.js';
import { failNextRecordAlloc, MmuNotifierSubscriptions } from './subscriptions.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let mm: Mm;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  task = kernel.spawn();
  mm = task.mm!;
});

function rec(): MmuNotifierSubscriptions {
  return MmuNotifierSubscriptions.of(mm)!;
}

function desc(r: MmuNotifierRange): string {
  const where = r.startVpn === 0 && r.endVpn === VPN_END_MAX ? 'all' : `${r.startVpn - V} ${r.endVpn - V}`;
  return `${MMU_NOTIFY_EVENT_NAMES[r.event]} ${where}`;
}

interface ProbeOptions {
  /** Call mmuIntervalSetSeq (default true). */
  setSeq?: boolean;
  /** The callback's answer (default true). */
  answer?: (r: MmuNotifierRange) => boolean;
  /** Extra work inside the callback. */
  inside?: (isub: MmuIntervalNotifier, r: MmuNotifierRange, seq: number) => void;
}

function probeOps(name: string, log: string[], o: ProbeOptions = {}): MmuIntervalNotifierOps {
  return {
    invalidate: (isub, r, seq) => {
      log.push(`${name} ${desc(r)} seq=${seq}`);
      if (o.setSeq ?? true) mmuIntervalSetSeq(isub, seq);
      o.inside?.(isub, r, seq);
      return o.answer ? o.answer(r) : true;
    },
  };
}

/** An interval subscription over pages [first, first + npages) relative to BASE. */
function probe(
  name: string,
  log: string[],
  first: number,
  npages: number,
  o: ProbeOptions = {},
): MmuIntervalNotifier {
  const ops = probeOps(name, log, o);
  const isub = new MmuIntervalNotifier(ops);
  expect(mmuIntervalNotifierInsert(isub, mm, V + first, npages, ops)).toBe(0);
  return isub;
}

/** Starts an invalidation of pages [a, b) relative to BASE. */
function start(
  a: number,
  b: number,
  event: typeof MMU_NOTIFY_CLEAR | typeof MMU_NOTIFY_UNMAP = MMU_NOTIFY_CLEAR,
) {
  return invalidateRangeStart(mm, event, V + a, V + b);
}

/** A whole start/end pair over [a, b). */
function inval(a: number, b: number): void {
  invalidateRangeEnd(start(a, b));
}

describe('4: insert', () => {
  it('R-NOTIF-24: a subscription covers [start, start + length - 1] inclusive, and only invalidations intersecting it reach it', () => {
    const log: string[] = [];
    const a = probe('A', log, 10, 5);
    expect(a.startVpn).toBe(V + 10);
    expect(a.lastVpn).toBe(V + 14);
    expect(a.mm).toBe(mm);
    inval(0, 10);
    inval(15, 20);
    expect(log).toEqual([]);
    expect(rec().invalidateSeq).toBe(2);
    inval(14, 15);
    inval(9, 11);
    inval(0, 100);
    expect(log).toEqual(['A clear 14 15 seq=3', 'A clear 9 11 seq=5', 'A clear 0 100 seq=7']);
    expect(rec().invalidateSeq).toBe(8);
  });

  it('R-NOTIF-25: the first insert creates the record in interval mode: has_itree, no classic entry, one mm_count, seq = record seq - 1', () => {
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    const isub = new MmuIntervalNotifier(probeOps('A', []));
    expect(mmuIntervalNotifierInsert(isub, mm, V, 8, isub.ops)).toBe(0);
    const r = rec();
    expect(r.hasItree).toBe(true);
    expect(r.list).toEqual([]);
    expect(r.invalidateSeq).toBe(2);
    expect(isub.invalidateSeq).toBe(1);
    expect(r.itree.has(isub)).toBe(true);
    expect(r.itree.size).toBe(1);
    expect(mm.count).toBe(2);
    expect(mm.users).toBe(1);
  });

  it('R-NOTIF-25: insert on a record made by a classic registration turns has_itree on and keeps the record', () => {
    expect(mmuNotifierRegister(new MmuNotifier({}), mm)).toBe(0);
    const r = rec();
    expect(r.hasItree).toBe(false);
    probe('A', [], 0, 4);
    expect(rec()).toBe(r);
    expect(r.hasItree).toBe(true);
    expect(r.list).toHaveLength(1);
    expect(mm.count).toBe(3);
  });

  it('R-NOTIF-25: an idle insert takes the record seq minus one (odd, never equal to the even record seq)', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    inval(0, 1);
    inval(0, 1);
    expect(rec().invalidateSeq).toBe(6);
    const b = probe('B', log, 100, 4);
    expect(b.invalidateSeq).toBe(5);
    expect(mmuIntervalReadBegin(b)).toBe(5);
  });

  it('R-NOTIF-25: length 0 or an end past ULONG_MAX gives -EOVERFLOW; the record created by the first step stays', () => {
    const isub = new MmuIntervalNotifier(probeOps('A', []));
    expect(mmuIntervalNotifierInsert(isub, mm, V, 0, isub.ops)).toBe(-EOVERFLOW);
    expect(rec()).not.toBeNull();
    expect(rec().hasItree).toBe(true);
    expect(rec().itree.size).toBe(0);
    expect(mm.count).toBe(1);
    expect(isub.mm).toBeNull();
    expect(mmuIntervalNotifierInsert(isub, mm, VPN_END_MAX - 1, 2, isub.ops)).toBe(-EOVERFLOW);
    expect(mmuIntervalNotifierInsert(isub, mm, VPN_END_MAX - 8, 9, isub.ops)).toBe(-EOVERFLOW);
    expect(mm.count).toBe(1);
    expect(rec().itree.size).toBe(0);
    // The very last page is fine.
    expect(mmuIntervalNotifierInsert(isub, mm, VPN_END_MAX - 1, 1, isub.ops)).toBe(0);
    expect(isub.lastVpn).toBe(VPN_END_MAX - 1);
    expect(mm.count).toBe(2);
  });

  it('R-NOTIF-25: a record allocation failure gives -ENOMEM and inserts nothing', () => {
    failNextRecordAlloc.add(mm);
    const isub = new MmuIntervalNotifier(probeOps('A', []));
    expect(mmuIntervalNotifierInsert(isub, mm, V, 4, isub.ops)).toBe(-ENOMEM);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(isub.mm).toBeNull();
    expect(mm.count).toBe(1);
    expect(mmuIntervalNotifierInsert(isub, mm, V, 4, isub.ops)).toBe(0);
    expect(rec().itree.has(isub)).toBe(true);
  });

  it('R-NOTIF-25: with has_itree already set and mm_users == 0, insert warns and returns -EINVAL (after the -EOVERFLOW check)', () => {
    probe('A', [], 0, 4);
    task.exit();
    expect(mm.users).toBe(0);
    expect(mm.count).toBe(1);
    const b = new MmuIntervalNotifier(probeOps('B', []));
    expect(mmuIntervalNotifierInsert(b, mm, V, 0, b.ops)).toBe(-EOVERFLOW);
    expect(kernel.warnings).toEqual([]);
    expect(mmuIntervalNotifierInsert(b, mm, V, 4, b.ops)).toBe(-EINVAL);
    expect(kernel.warnings).toHaveLength(1);
    expect(b.mm).toBeNull();
    expect(mm.count).toBe(1);
    expect(rec().itree.size).toBe(1);
  });

  it('R-NOTIF-25, R-NOTIF-12: without has_itree, inserting on an mm with no users hits the registration precondition (KernelBug)', () => {
    expect(mmuNotifierRegister(new MmuNotifier({}), mm)).toBe(0);
    task.exit();
    const b = new MmuIntervalNotifier(probeOps('B', []));
    expect(() => mmuIntervalNotifierInsert(b, mm, V, 4, b.ops)).toThrow(KernelBug);
    expect(rec().hasItree).toBe(false);
    expect(mm.count).toBe(1);
    const other = kernel.spawn();
    const omm = other.mm!;
    omm.mmgrab();
    other.exit();
    expect(() => mmuIntervalNotifierInsert(b, omm, V, 4, b.ops)).toThrow(KernelBug);
    expect(MmuNotifierSubscriptions.of(omm)).toBeNull();
  });

  it('R-NOTIF-25, R-NOTIF-26, R-NOTIF-39: insert while an invalidation that hit something is in flight is deferred: not in the tree, seq = the odd record seq', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    const r = start(0, 1);
    expect(rec().invalidateSeq).toBe(3);
    const b = new MmuIntervalNotifier(probeOps('B', log));
    expect(mmuIntervalNotifierInsert(b, mm, V + 100, 4, b.ops)).toBe(0);
    expect(rec().deferredList).toEqual([b]);
    expect(rec().itree.has(b)).toBe(false);
    expect(b.invalidateSeq).toBe(3);
    expect(mm.count).toBe(3);
    // Not yet in the tree: an invalidation of its range during the burst does not reach it.
    inval(100, 104);
    expect(rec().invalidateSeq).toBe(3);
    expect(rec().activeInvalidateRanges).toBe(1);
    // Conservatively collided: a reader would have to wait.
    expect(mmuIntervalReadBeginTry(b)).toBe(-EAGAIN);
    expect(() => mmuIntervalReadBegin(b)).toThrow(KernelBug);
    invalidateRangeEnd(r);
    expect(rec().invalidateSeq).toBe(4);
    expect(rec().deferredList).toEqual([]);
    expect(rec().itree.has(b)).toBe(true);
    expect(mmuIntervalReadBegin(b)).toBe(3);
    expect(mmuIntervalReadRetry(b, 3)).toBe(false);
    inval(100, 101);
    expect(log).toEqual(['A clear 0 1 seq=3', 'B clear 100 101 seq=5']);
    expect(mmuIntervalReadRetry(b, 3)).toBe(true);
  });

  it('R-NOTIF-25, R-NOTIF-26: insert while an invalidation that hit nothing is in flight makes the record invalidating and inserts at once', () => {
    const log: string[] = [];
    const a = probe('A', log, 0, 4);
    const r = start(50, 60);
    expect(rec().invalidateSeq).toBe(2);
    expect(rec().activeInvalidateRanges).toBe(1);
    const b = new MmuIntervalNotifier(probeOps('B', log));
    expect(mmuIntervalNotifierInsert(b, mm, V + 50, 4, b.ops)).toBe(0);
    expect(rec().invalidateSeq).toBe(3);
    expect(b.invalidateSeq).toBe(3);
    expect(rec().itree.has(b)).toBe(true);
    expect(rec().deferredList).toEqual([]);
    expect(mmuIntervalReadBeginTry(b)).toBe(-EAGAIN);
    // A was not hit: its readers are not held up.
    expect(mmuIntervalReadBeginTry(a)).toBe(1);
    // In the tree already: a nested invalidation of its range reaches it with the same odd seq.
    inval(50, 51);
    expect(log).toEqual(['B clear 50 51 seq=3']);
    expect(rec().invalidateSeq).toBe(3);
    invalidateRangeEnd(r);
    expect(rec().invalidateSeq).toBe(4);
    expect(rec().activeInvalidateRanges).toBe(0);
    expect(mmuIntervalReadBegin(b)).toBe(3);
    expect(mmuIntervalReadRetry(b, 3)).toBe(false);
  });
});

describe('4: remove', () => {
  it('R-NOTIF-28: an idle remove takes the subscription out of the tree at once and drops its mm_count; it is never called again', () => {
    const log: string[] = [];
    const a = probe('A', log, 0, 4);
    expect(mm.count).toBe(2);
    mmuIntervalNotifierRemove(a);
    expect(rec().itree.has(a)).toBe(false);
    expect(a.mm).toBeNull();
    expect(mm.count).toBe(1);
    inval(0, 4);
    expect(log).toEqual([]);
    expect(rec().invalidateSeq).toBe(2);
  });

  it('R-NOTIF-28: remove during a burst queues the removal and waits for the final end; meanwhile the subscription is still called', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    const b = probe('B', log, 10, 4);
    const r = start(0, 1);
    // The blocking variant would wait forever for a sequential caller.
    expect(() => mmuIntervalNotifierRemove(b)).toThrow(KernelBug);
    expect(mmuIntervalNotifierRemoveTry(b)).toBe(-EAGAIN);
    expect(rec().deferredList).toEqual([b]);
    expect(rec().itree.has(b)).toBe(true);
    expect(b.mm).toBe(mm);
    expect(mm.count).toBe(3);
    const wakes: string[] = [];
    mmuIntervalWaitEven(b, () => {
      wakes.push(`woken seq=${rec().invalidateSeq} inTree=${rec().itree.has(b)}`);
      mmuIntervalRemoveFinish(b);
    });
    // The tree is not modified while the seq is odd: a nested invalidation still reaches B.
    inval(10, 11);
    expect(wakes).toEqual([]);
    expect(rec().invalidateSeq).toBe(3);
    invalidateRangeEnd(r);
    expect(wakes).toEqual(['woken seq=4 inTree=false']);
    expect(b.mm).toBeNull();
    expect(mm.count).toBe(2);
    expect(rec().deferredList).toEqual([]);
    inval(10, 14);
    expect(log).toEqual(['A clear 0 1 seq=3', 'B clear 10 11 seq=3']);
  });

  it('R-NOTIF-28: removing a subscription still waiting for deferred insertion drops it from the deferred list without waiting', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    const r = start(0, 1);
    const b = new MmuIntervalNotifier(probeOps('B', log));
    expect(mmuIntervalNotifierInsert(b, mm, V + 100, 4, b.ops)).toBe(0);
    expect(mm.count).toBe(3);
    expect(mmuIntervalNotifierRemoveTry(b)).toBe(0);
    expect(rec().deferredList).toEqual([]);
    expect(b.mm).toBeNull();
    expect(mm.count).toBe(2);
    invalidateRangeEnd(r);
    expect(rec().itree.has(b)).toBe(false);
    expect(rec().itree.size).toBe(1);
    inval(100, 104);
    expect(log).toEqual(['A clear 0 1 seq=3']);
  });

  it('R-NOTIF-28: while only invalidations that hit nothing are in flight (seq even), remove is immediate', () => {
    const a = probe('A', [], 0, 4);
    const r = start(50, 60);
    expect(rec().invalidateSeq).toBe(2);
    expect(mmuIntervalNotifierRemoveTry(a)).toBe(0);
    expect(rec().itree.has(a)).toBe(false);
    expect(a.mm).toBeNull();
    invalidateRangeEnd(r);
    expect(rec().invalidateSeq).toBe(2);
  });

  it("R-NOTIF-28: remove from inside the subscription's own invalidate callback would self-deadlock (KernelBug)", () => {
    let caught: unknown = null;
    probe('A', [], 0, 4, {
      inside: (isub) => {
        try {
          mmuIntervalNotifierRemove(isub);
        } catch (e) {
          caught = e;
        }
      },
    });
    inval(0, 1);
    expect(caught).toBeInstanceOf(KernelBug);
  });

  it('R-NOTIF-29: removal needs no mm_users: it works after the process exited, and the last one frees the mm and its record', () => {
    const a = probe('A', [], 0, 4);
    task.exit();
    expect(mm.users).toBe(0);
    expect(mm.count).toBe(1);
    expect(rec().itree.has(a)).toBe(true);
    mmuIntervalNotifierRemove(a);
    expect(a.mm).toBeNull();
    expect(mm.count).toBe(0);
    expect(mm.freed).toBe(true);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
  });
});

describe('4: invalidate return value', () => {
  it('R-NOTIF-30: false for a blockable range is warned about and treated as success: the others are called and the unmap completes', () => {
    const log: string[] = [];
    probe('A', log, 0, 2, { answer: () => false });
    probe('B', log, 2, 2);
    const k = new MmuNotifier({
      invalidateRangeStart: (_s, r) => {
        log.push(`K.start ${desc(r)}`);
        return 0;
      },
      invalidateRangeEnd: (_s, r) => {
        log.push(`K.end ${desc(r)}`);
      },
    });
    expect(mmuNotifierRegister(k, mm)).toBe(0);
    expect(task.mmap(BASE, 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    expect(task.write(BASE, new Uint8Array(4 * PAGE_SIZE)).signal).toBe(0);
    expect(task.munmap(BASE, 4 * PAGE_SIZE)).toBe(0);
    expect(log).toEqual(['A unmap 0 4 seq=3', 'B unmap 0 4 seq=3', 'K.start unmap 0 4', 'K.end unmap 0 4']);
    expect(kernel.warnings).toHaveLength(1);
    expect(mm.vmas.toArray()).toEqual([]);
    expect(task.read(BASE, 1).signal).toBe(11);
    expect(rec().invalidateSeq).toBe(4);
    expect(rec().activeInvalidateRanges).toBe(0);
  });
});

describe('4.1: the sequence protocol', () => {
  it('R-NOTIF-35, R-NOTIF-31, R-NOTIF-33: the worked example, step by step', () => {
    const log: string[] = [];
    const a = probe('A', log, 0, 4);
    expect(rec().invalidateSeq).toBe(2);
    expect(a.invalidateSeq).toBe(1);
    expect(mmuIntervalReadBegin(a)).toBe(1);
    const r = start(0, 2);
    expect(rec().invalidateSeq).toBe(3);
    expect(log).toEqual(['A clear 0 2 seq=3']);
    expect(a.invalidateSeq).toBe(3);
    expect(mmuIntervalReadRetry(a, 1)).toBe(true);
    // read_begin during the invalidation would block (A.seq == record seq == 3).
    expect(mmuIntervalReadBeginTry(a)).toBe(-EAGAIN);
    expect(() => mmuIntervalReadBegin(a)).toThrow(KernelBug);
    const woken: number[] = [];
    mmuIntervalWaitEven(a, () => woken.push(rec().invalidateSeq));
    invalidateRangeEnd(r);
    expect(woken).toEqual([4]);
    expect(rec().invalidateSeq).toBe(4);
    expect(mmuIntervalReadBegin(a)).toBe(3);
    expect(mmuIntervalReadRetry(a, 3)).toBe(false);
    inval(2, 3);
    expect(log).toEqual(['A clear 0 2 seq=3', 'A clear 2 3 seq=5']);
    expect(mmuIntervalReadRetry(a, 3)).toBe(true);
    expect(rec().invalidateSeq).toBe(6);
  });

  it('R-NOTIF-31: read_begin never blocks while the record is idle, and returns the subscription seq unchanged however often it is called', () => {
    const a = probe('A', [], 0, 4);
    inval(0, 1);
    expect(mmuIntervalReadBegin(a)).toBe(3);
    expect(mmuIntervalReadBegin(a)).toBe(3);
    expect(mmuIntervalReadBeginTry(a)).toBe(3);
    expect(a.invalidateSeq).toBe(3);
    expect(rec().invalidateSeq).toBe(4);
  });

  it('R-NOTIF-32: set_seq stores cur_seq; every cur_seq handed to a callback is odd; without set_seq the subscription seq never moves', () => {
    const seqs: number[] = [];
    const log: string[] = [];
    const a = probe('A', log, 0, 64, { inside: (_i, _r, s) => seqs.push(s) });
    const lazy = probe('L', [], 0, 64, { setSeq: false });
    expect(task.mmap(BASE, 64 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    const lazySeq = mmuIntervalReadBegin(lazy);
    expect(task.read(BASE, PAGE_SIZE).signal).toBe(0);
    expect(task.write(BASE, new Uint8Array(8 * PAGE_SIZE)).signal).toBe(0);
    expect(task.mprotect(BASE, 64 * PAGE_SIZE, PROT_READ)).toBe(0);
    task.fork().exit();
    expect(task.munmap(BASE, 64 * PAGE_SIZE)).toBe(0);
    expect(seqs).toEqual([3, 5, 7, 9]);
    expect(seqs.every((s) => s % 2 === 1)).toBe(true);
    expect(a.invalidateSeq).toBe(9);
    expect(lazy.invalidateSeq).toBe(lazySeq);
    expect(mmuIntervalReadRetry(lazy, lazySeq)).toBe(false);
    mmuIntervalSetSeq(lazy, 41);
    expect(lazy.invalidateSeq).toBe(41);
    expect(mmuIntervalReadRetry(lazy, lazySeq)).toBe(true);
  });

  it('R-NOTIF-33, R-NOTIF-34: read_retry and check_retry are false until an invalidation hits the subscription, true from its callback on (even mid-burst)', () => {
    let seen: boolean[] = [];
    let seq = 0;
    const a = probe('A', [], 0, 4, {
      inside: (isub) => {
        seen = [mmuIntervalCheckRetry(isub, seq), mmuIntervalReadRetry(isub, seq)];
      },
    });
    seq = mmuIntervalReadBegin(a);
    inval(10, 20);
    expect(mmuIntervalCheckRetry(a, seq)).toBe(false);
    expect(mmuIntervalReadRetry(a, seq)).toBe(false);
    const r = start(3, 4);
    expect(seen).toEqual([true, true]);
    expect(mmuIntervalCheckRetry(a, seq)).toBe(true);
    expect(mmuIntervalReadRetry(a, seq)).toBe(true);
    invalidateRangeEnd(r);
    expect(mmuIntervalCheckRetry(a, seq)).toBe(true);
    expect(mmuIntervalReadRetry(a, seq)).toBe(true);
  });

  it('R-NOTIF-36: an invalidation that misses a subscription leaves its seq alone, and read_begin on it does not block meanwhile', () => {
    const log: string[] = [];
    const a = probe('A', log, 0, 10);
    const b = probe('B', log, 100, 10);
    const seqB = mmuIntervalReadBegin(b);
    const r = start(0, 5);
    expect(rec().invalidateSeq).toBe(3);
    expect(mmuIntervalReadBeginTry(a)).toBe(-EAGAIN);
    expect(mmuIntervalReadBeginTry(b)).toBe(seqB);
    expect(mmuIntervalReadBegin(b)).toBe(1);
    invalidateRangeEnd(r);
    expect(log).toEqual(['A clear 0 5 seq=3']);
    expect(b.invalidateSeq).toBe(1);
    expect(mmuIntervalReadRetry(b, seqB)).toBe(false);
  });
});

describe('4.2: dispatch', () => {
  it('R-NOTIF-37: every intersecting subscription is called in ascending start order with the same cur_seq, in a fixed order for ties', () => {
    const log: string[] = [];
    probe('C50', log, 50, 10);
    probe('A10', log, 10, 5);
    probe('B30', log, 30, 30);
    probe('D10', log, 10, 40);
    probe('X200', log, 200, 1);
    inval(0, 100);
    const first = log.splice(0);
    expect(first).toHaveLength(4);
    expect(first.slice(2)).toEqual(['B30 clear 0 100 seq=3', 'C50 clear 0 100 seq=3']);
    expect(first.slice(0, 2).sort()).toEqual(['A10 clear 0 100 seq=3', 'D10 clear 0 100 seq=3']);
    inval(0, 100);
    expect(log.map((l) => l.split(' ')[0])).toEqual(first.map((l) => l.split(' ')[0]));
    expect(log.every((l) => l.endsWith('seq=5'))).toBe(true);
  });

  it('R-NOTIF-37: intersection is node.start <= range.end - 1 && node.last >= range.start', () => {
    const log: string[] = [];
    probe('ends-at-start', log, 0, 11); // [0, 10]
    probe('before', log, 5, 5); // [5, 9]
    probe('last-page', log, 19, 1); // [19, 19]
    probe('after', log, 20, 6); // [20, 25]
    inval(10, 20);
    expect(log).toEqual(['ends-at-start clear 10 20 seq=3', 'last-page clear 10 20 seq=3']);
  });

  it('R-NOTIF-37: each start counts one more active range, whether or not it hit anything', () => {
    const active: number[] = [];
    probe('A', [], 0, 4, { inside: () => active.push(rec().activeInvalidateRanges) });
    const r1 = start(50, 60);
    expect(rec().activeInvalidateRanges).toBe(1);
    const r2 = start(0, 1);
    expect(active).toEqual([2]);
    expect(rec().activeInvalidateRanges).toBe(2);
    invalidateRangeEnd(r2);
    expect(rec().activeInvalidateRanges).toBe(1);
    invalidateRangeEnd(r1);
    expect(rec().activeInvalidateRanges).toBe(0);
  });

  it('R-NOTIF-37, R-NOTIF-41: a false from a non-blockable range stops the interval callbacks, skips classic ones, ends the range at once and returns -EAGAIN', () => {
    const log: string[] = [];
    let woken = 0;
    let late: MmuIntervalNotifier | null = null;
    probe('A', log, 0, 10, {
      inside: () => {
        // Inserted mid-burst: deferred, applied by the end processing of the failed range.
        late = new MmuIntervalNotifier(probeOps('Late', log));
        expect(mmuIntervalNotifierInsert(late, mm, V + 500, 1, late.ops)).toBe(0);
      },
    });
    probe('B', log, 10, 10, { answer: (r) => r.blockable });
    probe('C', log, 20, 10);
    const k = new MmuNotifier({
      invalidateRangeStart: (_s, r) => {
        log.push(`K.start ${desc(r)}`);
        return 0;
      },
      invalidateRangeEnd: (_s, r) => {
        log.push(`K.end ${desc(r)}`);
      },
    });
    expect(mmuNotifierRegister(k, mm)).toBe(0);
    mmuIntervalWaitEven(probe('W', [], 1000, 1), () => woken++);
    const { range, rc } = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 100);
    expect(rc).toBe(-EAGAIN);
    expect(range.blockable).toBe(false);
    expect(log).toEqual(['A unmap 0 100 seq=3', 'B unmap 0 100 seq=3']);
    expect(rec().activeInvalidateRanges).toBe(0);
    expect(rec().invalidateSeq).toBe(4);
    expect(rec().deferredList).toEqual([]);
    expect(rec().itree.has(late!)).toBe(true);
    expect(woken).toBe(1);
    expect(mm.invalidateDepth).toBe(0);
    expect(kernel.warnings).toEqual([]);
  });

  it('R-NOTIF-37, R-NOTIF-46: a failed non-blockable range inside another invalidation leaves the burst open (seq odd) until that one ends', () => {
    probe('A', [], 0, 10, { answer: (r) => r.blockable });
    probe('E', [], 200, 1);
    const r0 = start(200, 201);
    expect(rec().invalidateSeq).toBe(3);
    const { rc } = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 10);
    expect(rc).toBe(-EAGAIN);
    expect(rec().activeInvalidateRanges).toBe(1);
    expect(rec().invalidateSeq).toBe(3);
    invalidateRangeEnd(r0);
    expect(rec().invalidateSeq).toBe(4);
    expect(rec().activeInvalidateRanges).toBe(0);
  });

  it('R-NOTIF-38, R-NOTIF-46: nested invalidations keep the seq odd until the last active range ends', () => {
    const log: string[] = [];
    const a = probe('A', log, 0, 10);
    const b = probe('B', log, 100, 10);
    const r1 = start(0, 1);
    const r2 = start(100, 101);
    expect(log).toEqual(['A clear 0 1 seq=3', 'B clear 100 101 seq=3']);
    expect(rec().activeInvalidateRanges).toBe(2);
    invalidateRangeEnd(r1);
    expect(rec().invalidateSeq).toBe(3);
    expect(rec().activeInvalidateRanges).toBe(1);
    // A's own invalidation is over, but the burst is not: A's readers still wait.
    expect(mmuIntervalReadBeginTry(a)).toBe(-EAGAIN);
    invalidateRangeEnd(r2);
    expect(rec().invalidateSeq).toBe(4);
    expect(mmuIntervalReadBegin(a)).toBe(3);
    expect(mmuIntervalReadBegin(b)).toBe(3);
  });

  it('R-NOTIF-38: the end of a burst that hit nothing changes nothing (seq stays even)', () => {
    probe('A', [], 0, 4);
    const w = probe('W', [], 1000, 1);
    let woken = 0;
    const r = start(50, 60);
    mmuIntervalWaitEven(w, () => woken++);
    invalidateRangeEnd(r);
    expect(rec().invalidateSeq).toBe(2);
    expect(rec().activeInvalidateRanges).toBe(0);
    // The waiter is still waiting for the next even transition.
    expect(woken).toBe(0);
    inval(0, 1);
    expect(woken).toBe(1);
  });

  it('R-NOTIF-38, R-NOTIF-39: at the final end the deferred list is applied in order (insertions and removals) and every waiter is woken once', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    const gone = probe('Gone', log, 300, 4);
    const r = start(0, 1);
    const n1 = new MmuIntervalNotifier(probeOps('N1', log));
    const n2 = new MmuIntervalNotifier(probeOps('N2', log));
    expect(mmuIntervalNotifierInsert(n1, mm, V + 100, 4, n1.ops)).toBe(0);
    expect(mmuIntervalNotifierRemoveTry(gone)).toBe(-EAGAIN);
    expect(mmuIntervalNotifierInsert(n2, mm, V + 200, 4, n2.ops)).toBe(0);
    expect(rec().deferredList).toEqual([n1, gone, n2]);
    const order: string[] = [];
    mmuIntervalWaitEven(n1, () => order.push('reader1'));
    mmuIntervalWaitEven(gone, () => {
      order.push('remover');
      mmuIntervalRemoveFinish(gone);
    });
    mmuIntervalWaitEven(n2, () => order.push('reader2'));
    const tree = rec().itree;
    expect([tree.has(n1), tree.has(gone), tree.has(n2)]).toEqual([false, true, false]);
    invalidateRangeEnd(r);
    expect([tree.has(n1), tree.has(gone), tree.has(n2)]).toEqual([true, false, true]);
    expect(order).toEqual(['reader1', 'remover', 'reader2']);
    expect(rec().deferredList).toEqual([]);
    inval(0, 1000);
    expect(log.slice(1)).toEqual(['A clear 0 1000 seq=5', 'N1 clear 0 1000 seq=5', 'N2 clear 0 1000 seq=5']);
  });

  it('R-NOTIF-39: interval subscriptions have no end callback: one call per hitting start, none at the end', () => {
    const log: string[] = [];
    probe('A', log, 0, 4);
    const r1 = start(0, 2);
    const r2 = start(1, 3);
    expect(log).toHaveLength(2);
    invalidateRangeEnd(r2);
    invalidateRangeEnd(r1);
    expect(log).toEqual(['A clear 0 2 seq=3', 'A clear 1 3 seq=3']);
  });
});
