// Classic mmu notifier subscriptions against mmu-notifiers.md sections 1 and 3: the per-mm record,
// register/unregister, the refcounted get/put interface with its deferred free, and the young
// (access-bit) callbacks. Every test is named after the rule(s) it checks.

import { beforeEach, describe, expect, it } from 'vitest';
import { EINVAL, ENOMEM, EOVERFLOW } from '../sim/errno.js';
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
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENT_NAMES,
  type MmuNotifierRange,
} from '../mm/mmuNotify.js';
import type { Task } from '../mm/task.js';
import {
  MmuNotifier,
  mmuNotifierClearFlushYoung,
  mmuNotifierClearYoung,
  mmuNotifierGet,
  type MmuNotifierOps,
  mmuNotifierPut,
  mmuNotifierRegister,
  mmuNotifierSynchronize,
  mmuNotifierTestYoung,
  mmuNotifierUnregister,
} from './classic.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalSetSeq } from './interval.js';
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

function map(t: Task, npages: number, at = BASE): void {
  expect(t.mmap(at, npages * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(at);
}

function write(t: Task, page: number, n = 1): void {
  expect(t.write(BASE + page * PAGE_SIZE, new Uint8Array(n * PAGE_SIZE).fill(5)).signal).toBe(0);
}

/** `event start end` with pages relative to BASE, `all` for the whole space. */
function desc(r: MmuNotifierRange): string {
  const where = r.startVpn === 0 && r.endVpn === VPN_END_MAX ? 'all' : `${r.startVpn - V} ${r.endVpn - V}`;
  return `${MMU_NOTIFY_EVENT_NAMES[r.event]} ${where}`;
}

/** Ops that log start/end/release as `name.kind event start end`. */
function logOps(name: string, log: string[], extra: MmuNotifierOps = {}): MmuNotifierOps {
  return {
    invalidateRangeStart: (_s, r) => {
      log.push(`${name}.start ${desc(r)}`);
      return 0;
    },
    invalidateRangeEnd: (_s, r) => {
      log.push(`${name}.end ${desc(r)}`);
    },
    release: () => {
      log.push(`${name}.release`);
    },
    ...extra,
  };
}

function registered(name: string, log: string[], extra: MmuNotifierOps = {}, on: Mm = mm): MmuNotifier {
  const sub = new MmuNotifier(logOps(name, log, extra));
  expect(mmuNotifierRegister(sub, on)).toBe(0);
  return sub;
}

/** get/put ops whose alloc/free are logged; `freed` lists the subscriptions freed. */
function getPutOps(name: string, log: string[], freed: MmuNotifier[] = []): MmuNotifierOps {
  const ops: MmuNotifierOps = logOps(name, log, {
    allocNotifier: () => {
      log.push(`${name}.alloc`);
      return new MmuNotifier(ops);
    },
    freeNotifier: (sub) => {
      log.push(`${name}.free`);
      freed.push(sub);
    },
  });
  return ops;
}

function getSub(ops: MmuNotifierOps, on: Mm = mm): MmuNotifier {
  const sub = mmuNotifierGet(ops, on);
  if (typeof sub === 'number') throw new Error(`mmuNotifierGet failed with ${sub}`);
  return sub;
}

describe('section 1: the subscriptions record', () => {
  it('R-NOTIF-1: the record is created lazily by the first registration, with seq 2, no active ranges, empty tree and deferred list', () => {
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(mm.notifier).toBeNull();
    const sub = new MmuNotifier({});
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec).not.toBeNull();
    expect(mm.notifier).toBe(rec);
    expect(rec.list).toEqual([sub]);
    expect(rec.hasItree).toBe(false);
    expect(rec.invalidateSeq).toBe(2);
    expect(rec.activeInvalidateRanges).toBe(0);
    expect(rec.itree.size).toBe(0);
    expect(rec.deferredList).toEqual([]);
    // A second registration reuses the same record.
    expect(mmuNotifierRegister(new MmuNotifier({}), mm)).toBe(0);
    expect(MmuNotifierSubscriptions.of(mm)).toBe(rec);
  });

  it('R-NOTIF-1, R-NOTIF-40, R-NOTIF-43: the list is newest first and start/end callbacks visit it in that order', () => {
    const log: string[] = [];
    const a = registered('A', log);
    const b = registered('B', log);
    const c = registered('C', log);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([c, b, a]);
    map(task, 4);
    write(task, 0, 4);
    expect(log).toEqual([]);
    expect(task.munmap(BASE + PAGE_SIZE, 2 * PAGE_SIZE)).toBe(0);
    expect(log).toEqual([
      'C.start unmap 1 3',
      'B.start unmap 1 3',
      'A.start unmap 1 3',
      'C.end unmap 1 3',
      'B.end unmap 1 3',
      'A.end unmap 1 3',
    ]);
  });

  it('R-NOTIF-1, R-NOTIF-51: the record survives unregister and teardown, and is freed only when mm_count reaches 0', () => {
    const log: string[] = [];
    const a = registered('A', log);
    const b = registered('B', log);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    mmuNotifierUnregister(a, mm);
    expect(MmuNotifierSubscriptions.of(mm)).toBe(rec);
    task.exit();
    expect(mm.users).toBe(0);
    expect(mm.count).toBe(1);
    expect(mm.freed).toBe(false);
    expect(MmuNotifierSubscriptions.of(mm)).toBe(rec);
    expect(rec.list).toEqual([]);
    mmuNotifierUnregister(b, mm);
    expect(mm.count).toBe(0);
    expect(mm.freed).toBe(true);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(kernel.mms.has(mm)).toBe(false);
    expect(kernel.warnings).toEqual([]);
  });

  it('R-NOTIF-2: a fork child starts with no record and gets none of the parent subscriptions', () => {
    const log: string[] = [];
    registered('P', log);
    const isubCalls: string[] = [];
    const isub = new MmuIntervalNotifier({
      invalidate: (s, r, seq) => {
        isubCalls.push(desc(r));
        mmuIntervalSetSeq(s, seq);
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, mm, V, 8, isub.ops)).toBe(0);
    map(task, 8);
    write(task, 0, 8);
    log.length = 0;
    isubCalls.length = 0;
    const child = task.fork();
    expect(child.mm!.notifier).toBeNull();
    expect(MmuNotifierSubscriptions.of(child.mm!)).toBeNull();
    expect(log).toEqual(['P.start protection_page 0 8', 'P.end protection_page 0 8']);
    expect(isubCalls).toEqual(['protection_page 0 8']);
    log.length = 0;
    isubCalls.length = 0;
    // The child's COW break, DONTNEED and munmap are its own business.
    write(child, 2);
    expect(child.madvise(BASE + 3 * PAGE_SIZE, PAGE_SIZE, 4)).toBe(0);
    expect(child.munmap(BASE, 8 * PAGE_SIZE)).toBe(0);
    child.exit();
    expect(log).toEqual([]);
    expect(isubCalls).toEqual([]);
    expect(MmuNotifierSubscriptions.of(mm)!.invalidateSeq).toBe(4);
  });

  it('R-NOTIF-3: an mm without a record gets no callbacks and no sequence changes, and no record is created', () => {
    const other = kernel.spawn();
    const log: string[] = [];
    registered('O', log, {}, other.mm!);
    const isub = new MmuIntervalNotifier({
      invalidate: () => {
        log.push('interval');
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, other.mm!, V, 16, isub.ops)).toBe(0);
    const otherRec = MmuNotifierSubscriptions.of(other.mm!)!;
    // Same addresses, different mm: nothing of `other` may be touched.
    map(task, 8);
    write(task, 0, 8);
    task.read(BASE, PAGE_SIZE);
    expect(task.mprotect(BASE, 8 * PAGE_SIZE, PROT_READ)).toBe(0);
    task.fork().exit();
    expect(task.munmap(BASE, 8 * PAGE_SIZE)).toBe(0);
    const r = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, V, V + 4);
    invalidateRangeEnd(r);
    expect(mm.notifier).toBeNull();
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(mmuNotifierClearFlushYoung(mm, V, V + 4)).toBe(0);
    expect(mmuNotifierTestYoung(mm, V)).toBe(0);
    expect(log).toEqual([]);
    expect(otherRec.invalidateSeq).toBe(2);
    expect(otherRec.activeInvalidateRanges).toBe(0);
    expect(isub.invalidateSeq).toBe(1);
  });
});

describe('section 3.1-3.3: register and unregister', () => {
  it('R-NOTIF-10: release receives (sub, mm) and the start/end ops receive the subscription itself', () => {
    const seen: unknown[][] = [];
    const sub = new MmuNotifier({
      release: (s, m) => {
        seen.push(['release', s, m]);
      },
      invalidateRangeStart: (s, r) => {
        seen.push(['start', s, r.mm]);
        return 0;
      },
      invalidateRangeEnd: (s, r) => {
        seen.push(['end', s, r.mm]);
      },
    });
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    map(task, 1);
    write(task, 0);
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    mmuNotifierUnregister(sub, mm);
    expect(seen).toEqual([
      ['start', sub, mm],
      ['end', sub, mm],
      ['release', sub, mm],
    ]);
  });

  it('R-NOTIF-11: ops with the secondary-TLB op and invalidate_range_start or _end are refused with -EINVAL, nothing registered', () => {
    const tlb = () => {};
    for (const ops of [
      { archInvalidateSecondaryTlbs: tlb, invalidateRangeStart: () => 0 },
      { archInvalidateSecondaryTlbs: tlb, invalidateRangeEnd: () => {} },
      { archInvalidateSecondaryTlbs: tlb, invalidateRangeStart: () => 0, invalidateRangeEnd: () => {} },
    ] satisfies MmuNotifierOps[]) {
      const sub = new MmuNotifier(ops);
      expect(mmuNotifierRegister(sub, mm)).toBe(-EINVAL);
      expect(sub.mm).toBeNull();
      expect(sub.users).toBe(0);
      expect(mm.count).toBe(1);
      expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    }
    // Either kind alone is fine.
    expect(mmuNotifierRegister(new MmuNotifier({ archInvalidateSecondaryTlbs: tlb }), mm)).toBe(0);
    expect(mmuNotifierRegister(new MmuNotifier({ invalidateRangeStart: () => 0 }), mm)).toBe(0);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toHaveLength(2);
    expect(mm.count).toBe(3);
  });

  it('R-NOTIF-11, R-NOTIF-18: get with such ops returns -EINVAL and hands the allocated subscription to free_notifier', () => {
    const log: string[] = [];
    const freed: MmuNotifier[] = [];
    const ops: MmuNotifierOps = {
      ...getPutOps('G', log, freed),
      archInvalidateSecondaryTlbs: () => {},
    };
    ops.allocNotifier = () => {
      log.push('G.alloc');
      return new MmuNotifier(ops);
    };
    expect(mmuNotifierGet(ops, mm)).toBe(-EINVAL);
    expect(log).toEqual(['G.alloc', 'G.free']);
    expect(freed).toHaveLength(1);
    expect(freed[0].ops).toBe(ops);
    expect(mm.count).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
  });

  it('R-NOTIF-12: register returns 0, takes one mm_count and no mm_users, sets mm and users = 1, pushes at the head', () => {
    const first = new MmuNotifier({});
    expect(mmuNotifierRegister(first, mm)).toBe(0);
    const sub = new MmuNotifier({});
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    expect(sub.mm).toBe(mm);
    expect(sub.users).toBe(1);
    expect(mm.users).toBe(1);
    expect(mm.count).toBe(3);
    expect(MmuNotifierSubscriptions.of(mm)!.list[0]).toBe(sub);
    expect(MmuNotifierSubscriptions.of(mm)!.list[1]).toBe(first);
  });

  it('R-NOTIF-12: registering on an mm with no users is a programming error (KernelBug), not an errno', () => {
    mm.mmgrab();
    task.exit();
    expect(mm.users).toBe(0);
    const sub = new MmuNotifier({});
    expect(() => mmuNotifierRegister(sub, mm)).toThrow(KernelBug);
    expect(sub.mm).toBeNull();
    expect(mm.count).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
  });

  it('R-NOTIF-12: a failed record allocation returns -ENOMEM and registers nothing; the next attempt succeeds', () => {
    failNextRecordAlloc.add(mm);
    const sub = new MmuNotifier({});
    expect(mmuNotifierRegister(sub, mm)).toBe(-ENOMEM);
    expect(sub.mm).toBeNull();
    expect(sub.users).toBe(0);
    expect(mm.count).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    expect(mm.count).toBe(2);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([sub]);
  });

  it('R-NOTIF-12: register never lands inside an invalidation: it waits (model: KernelBug) and the subscription never sees an end without its start', () => {
    const log: string[] = [];
    registered('A', log);
    const r = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, V, V + 2);
    const b = new MmuNotifier(logOps('B', log));
    expect(() => mmuNotifierRegister(b, mm)).toThrow(KernelBug);
    expect(b.mm).toBeNull();
    expect(MmuNotifierSubscriptions.of(mm)!.list).toHaveLength(1);
    expect(mm.count).toBe(2);
    invalidateRangeEnd(r);
    expect(mmuNotifierRegister(b, mm)).toBe(0);
    const r2 = invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, V + 4, V + 5);
    invalidateRangeEnd(r2);
    expect(log).toEqual([
      'A.start clear 0 2',
      'A.end clear 0 2',
      'B.start clear 4 5',
      'A.start clear 4 5',
      'B.end clear 4 5',
      'A.end clear 4 5',
    ]);
  });

  it('R-NOTIF-14: a registration holds mm_count only: exit tears the address space down anyway, and mmgetNotZero then fails', () => {
    const log: string[] = [];
    registered('A', log);
    map(task, 16);
    const baseline = kernel.mem.usedPages();
    write(task, 0, 16);
    expect(kernel.mem.usedPages()).toBe(baseline + 16);
    expect(mm.users).toBe(1);
    expect(mm.count).toBe(2);
    task.exit();
    expect(mm.users).toBe(0);
    expect(mm.torndown).toBe(true);
    expect(mm.count).toBe(1);
    expect(mm.freed).toBe(false);
    expect(mm.vmas.toArray()).toEqual([]);
    expect(kernel.mem.usedPages()).toBeLessThanOrEqual(baseline);
    expect(mm.mmgetNotZero()).toBe(false);
    expect(mm.users).toBe(0);
    expect(log).toEqual(['A.release']);
  });

  it('R-NOTIF-15: unregister calls release while the subscription is still listed, then removes it, then drops mm_count', () => {
    const events: string[] = [];
    const sub = new MmuNotifier({
      release: (s, m) => {
        const rec = MmuNotifierSubscriptions.of(m)!;
        events.push(`release listed=${rec.list.includes(s)} count=${m.count}`);
      },
      invalidateRangeStart: () => {
        events.push('start');
        return 0;
      },
    });
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    mmuNotifierUnregister(sub, mm);
    expect(events).toEqual(['release listed=true count=2']);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([]);
    expect(mm.count).toBe(1);
    expect(sub.mm).toBeNull();
    // No callback of sub runs afterwards.
    map(task, 2);
    write(task, 0, 2);
    expect(task.munmap(BASE, 2 * PAGE_SIZE)).toBe(0);
    expect(events).toEqual(['release listed=true count=2']);
  });

  it('R-NOTIF-15, R-NOTIF-16: after teardown released it, unregister does not call release again: exactly one release', () => {
    let releases = 0;
    const sub = new MmuNotifier({
      release: () => {
        releases++;
      },
    });
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    task.exit();
    expect(releases).toBe(1);
    expect(sub.onList).toBe(false);
    expect(sub.mm).toBe(mm);
    expect(mm.count).toBe(1);
    mmuNotifierUnregister(sub, mm);
    expect(releases).toBe(1);
    expect(mm.count).toBe(0);
    expect(mm.freed).toBe(true);
  });

  it('R-NOTIF-17: unregistering a subscription from inside its own callback is refused (KernelBug) and leaves it registered', () => {
    let caught: unknown = null;
    const sub: MmuNotifier = new MmuNotifier({
      invalidateRangeStart: (s, r) => {
        try {
          mmuNotifierUnregister(s, r.mm);
        } catch (e) {
          caught = e;
        }
        return 0;
      },
    });
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    map(task, 1);
    write(task, 0);
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(caught).toBeInstanceOf(KernelBug);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([sub]);
    expect(sub.mm).toBe(mm);
    expect(mm.count).toBe(2);
  });
});

describe('section 3.4: get/put', () => {
  it('R-NOTIF-18: get with the same ops object returns the same subscription with one more user; one alloc, one mm_count', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    const a = getSub(ops);
    expect(a.users).toBe(1);
    expect(a.ops).toBe(ops);
    expect(a.mm).toBe(mm);
    expect(mm.count).toBe(2);
    const b = getSub(ops);
    expect(b).toBe(a);
    expect(a.users).toBe(2);
    expect(mm.count).toBe(2);
    expect(log).toEqual(['G.alloc']);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([a]);
  });

  it('R-NOTIF-18: matching is by ops identity: a structurally equal ops object gets its own subscription', () => {
    const log: string[] = [];
    const ops1 = getPutOps('G', log);
    const ops2 = getPutOps('G', log);
    const a = getSub(ops1);
    const b = getSub(ops2);
    expect(b).not.toBe(a);
    expect(a.users).toBe(1);
    expect(b.users).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([b, a]);
    expect(mm.count).toBe(3);
  });

  it('R-NOTIF-18: with two listed subscriptions of the same ops, get returns the first in list order (the newest)', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    const older = new MmuNotifier(ops);
    const newer = new MmuNotifier(ops);
    expect(mmuNotifierRegister(older, mm)).toBe(0);
    expect(mmuNotifierRegister(newer, mm)).toBe(0);
    expect(getSub(ops)).toBe(newer);
    expect(newer.users).toBe(2);
    expect(older.users).toBe(1);
    expect(log).toEqual([]);
  });

  it('R-NOTIF-18: get returns -EOVERFLOW without incrementing when users is already UINT_MAX', () => {
    const ops = getPutOps('G', []);
    const a = getSub(ops);
    a.users = 0xffffffff;
    expect(mmuNotifierGet(ops, mm)).toBe(-EOVERFLOW);
    expect(a.users).toBe(0xffffffff);
    a.users = 0xfffffffe;
    expect(getSub(ops)).toBe(a);
    expect(a.users).toBe(0xffffffff);
  });

  it('R-NOTIF-18: an alloc_notifier error is returned as is and nothing is registered', () => {
    const ops: MmuNotifierOps = { allocNotifier: () => -ENOMEM, freeNotifier: () => {} };
    expect(mmuNotifierGet(ops, mm)).toBe(-ENOMEM);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
    expect(mm.count).toBe(1);
  });

  it('R-NOTIF-18: get sets sub.ops to the ops passed, whatever alloc_notifier put there', () => {
    const ops: MmuNotifierOps = { allocNotifier: () => new MmuNotifier({}) };
    const sub = getSub(ops);
    expect(sub.ops).toBe(ops);
    expect(getSub(ops)).toBe(sub);
    expect(sub.users).toBe(2);
  });

  it('R-NOTIF-18: when registration fails (-ENOMEM record), get calls free_notifier on the new subscription and returns the error', () => {
    const log: string[] = [];
    const freed: MmuNotifier[] = [];
    const ops = getPutOps('G', log, freed);
    failNextRecordAlloc.add(mm);
    expect(mmuNotifierGet(ops, mm)).toBe(-ENOMEM);
    expect(log).toEqual(['G.alloc', 'G.free']);
    expect(freed[0].ops).toBe(ops);
    expect(mm.count).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)).toBeNull();
  });

  it('R-NOTIF-19: a put that leaves users > 0 changes nothing else', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    const a = getSub(ops);
    getSub(ops);
    mmuNotifierPut(a);
    mmuNotifierSynchronize(kernel);
    expect(a.users).toBe(1);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([a]);
    expect(mm.count).toBe(2);
    expect(log).toEqual(['G.alloc']);
  });

  it('R-NOTIF-19, R-NOTIF-20: the last put unlists at once without release; free_notifier then mmdrop run after the grace period', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    ops.freeNotifier = (sub) => {
      log.push(`G.free count=${mm.count} users=${sub.users}`);
    };
    const a = getSub(ops);
    map(task, 2);
    write(task, 0, 2);
    mmuNotifierPut(a);
    expect(a.users).toBe(0);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([]);
    // No further callbacks start after the put.
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(log.filter((l) => !l.startsWith('G.free'))).toEqual(['G.alloc']);
    mmuNotifierSynchronize(kernel);
    expect(log).toEqual(['G.alloc', 'G.free count=2 users=0']);
    expect(mm.count).toBe(1);
    // synchronize again: nothing left to run.
    mmuNotifierSynchronize(kernel);
    expect(log).toHaveLength(2);
  });

  it('R-NOTIF-19: a put on a subscription whose users is already 0 only warns', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    const a = getSub(ops);
    mmuNotifierPut(a);
    expect(kernel.warnings).toEqual([]);
    mmuNotifierPut(a);
    expect(kernel.warnings).toHaveLength(1);
    expect(a.users).toBe(0);
    mmuNotifierSynchronize(kernel);
    expect(log.filter((l) => l === 'G.free')).toHaveLength(1);
    expect(mm.count).toBe(1);
  });

  it("R-NOTIF-19, R-NOTIF-20: a put from inside the subscription's own callback does not free synchronously; no end follows; the free runs at the grace point", () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    let freedInsideCallback = false;
    ops.invalidateRangeStart = (s, r) => {
      log.push(`G.start ${desc(r)}`);
      mmuNotifierPut(s);
      freedInsideCallback = log.includes('G.free');
      return 0;
    };
    const a = getSub(ops);
    registered('O', log);
    map(task, 2);
    write(task, 0, 2);
    expect(task.munmap(BASE, 2 * PAGE_SIZE)).toBe(0);
    expect(freedInsideCallback).toBe(false);
    expect(log).toContain('G.free');
    expect(log.filter((l) => l.startsWith('G.') && l !== 'G.alloc' && l !== 'G.free')).toEqual([
      'G.start unmap 0 2',
    ]);
    expect(log.filter((l) => l.startsWith('O.'))).toEqual(['O.start unmap 0 2', 'O.end unmap 0 2']);
    expect(a.users).toBe(0);
    expect(mm.count).toBe(2);
  });

  it("R-NOTIF-19: a subscription put from inside another subscription's callback gets no callback started afterwards, even later in the same dispatch", () => {
    const log: string[] = [];
    const bOps = getPutOps('B', log);
    const b = getSub(bOps);
    const a = registered('A', log, {
      invalidateRangeStart: (_s, r) => {
        log.push(`A.start ${desc(r)}`);
        mmuNotifierPut(b);
        return 0;
      },
    });
    // A is newest, so it runs before B in list order.
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([a, b]);
    map(task, 1);
    write(task, 0);
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(log.filter((l) => l !== 'B.alloc' && l !== 'B.free')).toEqual([
      'A.start unmap 0 1',
      'A.end unmap 0 1',
    ]);
  });

  it('R-NOTIF-19, R-NOTIF-21: put may be called from inside release at teardown; the free follows once release callbacks are done', () => {
    const log: string[] = [];
    const ops = getPutOps('G', log);
    ops.release = (s) => {
      log.push('G.release');
      mmuNotifierPut(s);
      log.push(`after put freed=${log.includes('G.free')}`);
    };
    const a = getSub(ops);
    map(task, 1);
    write(task, 0);
    task.exit();
    mmuNotifierSynchronize(kernel);
    expect(log).toEqual(['G.alloc', 'G.release', 'after put freed=false', 'G.free']);
    expect(a.users).toBe(0);
    expect(mm.count).toBe(0);
    expect(mm.freed).toBe(true);
  });

  it('R-NOTIF-20: synchronize runs every deferred free scheduled so far, in order, each followed by its mmdrop', () => {
    const log: string[] = [];
    const a = getSub(getPutOps('A', log));
    const b = getSub(getPutOps('B', log));
    expect(mm.count).toBe(3);
    mmuNotifierPut(b);
    mmuNotifierPut(a);
    mmuNotifierSynchronize(kernel);
    expect(log).toEqual(['A.alloc', 'B.alloc', 'B.free', 'A.free']);
    expect(mm.count).toBe(1);
  });

  it('R-NOTIF-21: a get/put subscription still registered at teardown gets release exactly once; the later put calls no release', () => {
    const log: string[] = [];
    const a = getSub(getPutOps('G', log));
    map(task, 1);
    write(task, 0);
    task.exit();
    expect(log).toEqual(['G.alloc', 'G.release']);
    expect(MmuNotifierSubscriptions.of(mm)!.list).toEqual([]);
    expect(mm.count).toBe(1);
    mmuNotifierPut(a);
    mmuNotifierSynchronize(kernel);
    expect(log).toEqual(['G.alloc', 'G.release', 'G.free']);
    expect(mm.freed).toBe(true);
  });

  it('R-NOTIF-21: a get/put subscription put before teardown never gets release', () => {
    const log: string[] = [];
    const a = getSub(getPutOps('G', log));
    mmuNotifierPut(a);
    mmuNotifierSynchronize(kernel);
    task.exit();
    expect(log).toEqual(['G.alloc', 'G.free']);
    expect(mm.freed).toBe(true);
  });

  it('R-NOTIF-21: at teardown, a subscription put by an earlier release callback is no longer registered and gets no release', () => {
    const log: string[] = [];
    const b = getSub(getPutOps('B', log));
    registered('A', log, {
      release: () => {
        log.push('A.release');
        mmuNotifierPut(b);
      },
    });
    task.exit();
    mmuNotifierSynchronize(kernel);
    expect(log).toEqual(['B.alloc', 'A.release', 'B.free']);
  });

  it('R-NOTIF-22: a get/put subscription is an ordinary list member and receives every classic callback in list order', () => {
    const log: string[] = [];
    registered('P', log);
    const g = getSub(getPutOps('G', log));
    g.ops.clearYoung = () => {
      log.push('G.young');
      return 1;
    };
    map(task, 2);
    write(task, 0, 2);
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(mmuNotifierClearYoung(mm, V, V + 1)).toBe(1);
    expect(log).toEqual([
      'G.alloc',
      'G.start unmap 0 1',
      'P.start unmap 0 1',
      'G.end unmap 0 1',
      'P.end unmap 0 1',
      'G.young',
    ]);
  });
});

describe('section 3.5: young callbacks', () => {
  function youngSub(name: string, log: string[], answer: number): MmuNotifier {
    const sub = new MmuNotifier({
      clearFlushYoung: (s, m, start, end) => {
        log.push(`${name}.cfy ${s === sub} ${m === mm} ${start - V} ${end - V}`);
        return answer;
      },
      clearYoung: (_s, _m, start, end) => {
        log.push(`${name}.cy ${start - V} ${end - V}`);
        return answer;
      },
      testYoung: (_s, _m, vpn) => {
        log.push(`${name}.ty ${vpn - V}`);
        return answer;
      },
    });
    expect(mmuNotifierRegister(sub, mm)).toBe(0);
    return sub;
  }

  it('R-NOTIF-23: clear_flush_young and clear_young call every defining subscription in list order and OR the results', () => {
    const log: string[] = [];
    youngSub('A', log, 1);
    expect(mmuNotifierRegister(new MmuNotifier({}), mm)).toBe(0);
    youngSub('B', log, 0);
    youngSub('C', log, 4);
    expect(mmuNotifierClearFlushYoung(mm, V + 2, V + 5)).toBe(5);
    expect(log).toEqual(['C.cfy true true 2 5', 'B.cfy true true 2 5', 'A.cfy true true 2 5']);
    log.length = 0;
    expect(mmuNotifierClearYoung(mm, V, V + 1)).toBe(5);
    expect(log).toEqual(['C.cy 0 1', 'B.cy 0 1', 'A.cy 0 1']);
  });

  it('R-NOTIF-23: the young helpers return 0 without subscriptions that define them', () => {
    expect(mmuNotifierClearFlushYoung(mm, V, V + 1)).toBe(0);
    expect(mmuNotifierRegister(new MmuNotifier({ release: () => {} }), mm)).toBe(0);
    expect(mmuNotifierClearFlushYoung(mm, V, V + 1)).toBe(0);
    expect(mmuNotifierClearYoung(mm, V, V + 1)).toBe(0);
    expect(mmuNotifierTestYoung(mm, V)).toBe(0);
  });

  it('R-NOTIF-23: test_young returns the first non-zero answer in list order and stops there', () => {
    const log: string[] = [];
    youngSub('A', log, 7);
    youngSub('B', log, 3);
    youngSub('C', log, 0);
    expect(mmuNotifierTestYoung(mm, V + 9)).toBe(3);
    expect(log).toEqual(['C.ty 9', 'B.ty 9']);
  });

  it('R-NOTIF-23: young callbacks never touch the interval sequence nor call interval subscriptions', () => {
    const log: string[] = [];
    youngSub('A', log, 1);
    const isub = new MmuIntervalNotifier({
      invalidate: () => {
        log.push('interval');
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, mm, V, 16, isub.ops)).toBe(0);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(mmuNotifierClearFlushYoung(mm, V, V + 16)).toBe(1);
    expect(mmuNotifierClearYoung(mm, V, V + 16)).toBe(1);
    expect(mmuNotifierTestYoung(mm, V)).toBe(1);
    expect(rec.invalidateSeq).toBe(2);
    expect(rec.activeInvalidateRanges).toBe(0);
    expect(isub.invalidateSeq).toBe(1);
    expect(log).not.toContain('interval');
  });
});
