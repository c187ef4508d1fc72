// Dispatch of invalidations through the notifier layer against mmu-notifiers.md sections 2, 5 and 7:
// the range descriptor and event types, the order of interval and classic callbacks, blockable and
// non-blockable starts, the secondary-TLB hook, nesting, and which core-mm operations announce what.
// Every test is named after the rule(s) it checks.

import { beforeEach, describe, expect, it } from 'vitest';
import { EAGAIN } from '../sim/errno.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VPN_END_MAX,
} from '../mm/constants.js';
import { entryFlags } from '../mm/gup.js';
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import {
  invalidateRangeEnd,
  invalidateRangeStart,
  invalidateRangeStartNonblock,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENT_NAMES,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierRange,
  type MmuNotifyEvent,
} from '../mm/mmuNotify.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_WRITE } from '../mm/pte.js';
import type { Task } from '../mm/task.js';
import { MmuNotifier, type MmuNotifierOps, mmuNotifierRegister } from './classic.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBeginTry,
  mmuIntervalSetSeq,
} from './interval.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const ALL_EVENTS: MmuNotifyEvent[] = [
  MMU_NOTIFY_UNMAP,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_EXCLUSIVE,
];

let kernel: Kernel;
let task: Task;
let mm: Mm;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, thp: 'madvise' });
  task = kernel.spawn();
  mm = task.mm!;
});

function map(
  npages: number,
  at = BASE,
  flags = MAP_PRIVATE | MAP_ANONYMOUS,
  prot = RW,
  t: Task = task,
): void {
  expect(t.mmap(at, npages * PAGE_SIZE, prot, flags | MAP_FIXED)).toBe(at);
}

function write(page: number, n = 1, t: Task = task): void {
  expect(t.write(BASE + page * PAGE_SIZE, new Uint8Array(n * PAGE_SIZE).fill(3)).signal).toBe(0);
}

function read(page: number, n = 1, t: Task = task): void {
  expect(t.read(BASE + page * PAGE_SIZE, n * PAGE_SIZE).signal).toBe(0);
}

function desc(r: MmuNotifierRange): string {
  const where = r.startVpn === 0 && r.endVpn === VPN_END_MAX ? 'all' : `${r.startVpn - V} ${r.endVpn - V}`;
  return `${MMU_NOTIFY_EVENT_NAMES[r.event]} ${where}`;
}

function classic(name: string, log: string[], extra: MmuNotifierOps = {}, on: Mm = mm): MmuNotifier {
  const sub = new MmuNotifier({
    invalidateRangeStart: (_s, r) => {
      log.push(`${name}.start ${desc(r)}`);
      return 0;
    },
    invalidateRangeEnd: (_s, r) => {
      log.push(`${name}.end ${desc(r)}`);
    },
    ...extra,
  });
  expect(mmuNotifierRegister(sub, on)).toBe(0);
  return sub;
}

function interval(
  name: string,
  log: string[],
  first: number,
  npages: number,
  inside?: (isub: MmuIntervalNotifier, r: MmuNotifierRange, seq: number) => boolean | void,
): MmuIntervalNotifier {
  const isub = new MmuIntervalNotifier({
    invalidate: (s, r, seq) => {
      log.push(`${name} ${desc(r)} seq=${seq}`);
      mmuIntervalSetSeq(s, seq);
      return inside?.(s, r, seq) ?? true;
    },
  });
  expect(mmuIntervalNotifierInsert(isub, mm, V + first, npages, isub.ops)).toBe(0);
  return isub;
}

function present(vpn: number, m: Mm = mm): boolean {
  return (entryFlags(m, vpn) & PTE_KIND_MASK) === PTE_PRESENT;
}

function writable(vpn: number, m: Mm = mm): boolean {
  return present(vpn, m) && (entryFlags(m, vpn) & PTE_WRITE) !== 0;
}

describe('2: ranges and events', () => {
  it('R-NOTIF-4: the range descriptor carries mm, start, exclusive end, blockable flag, event and owner; classic and interval callbacks see the same one', () => {
    const seen: MmuNotifierRange[] = [];
    classic('K', [], {
      invalidateRangeStart: (_s, r) => {
        seen.push(r);
        return 0;
      },
      invalidateRangeEnd: (_s, r) => {
        seen.push(r);
      },
    });
    const isub = new MmuIntervalNotifier({
      invalidate: (_s, r) => {
        seen.push(r);
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, mm, V, 16, isub.ops)).toBe(0);
    map(8);
    write(0, 8);
    expect(task.munmap(BASE + 2 * PAGE_SIZE, 3 * PAGE_SIZE)).toBe(0);
    expect(seen).toHaveLength(3);
    const r = seen[0];
    expect(r.mm).toBe(mm);
    expect(r.startVpn).toBe(V + 2);
    expect(r.endVpn).toBe(V + 5);
    expect(r.event).toBe(MMU_NOTIFY_UNMAP);
    expect(r.owner).toBeNull();
    expect(r.blockable).toBe(true);
    expect(seen[1]).toBe(r);
    expect(seen[2]).toBe(r);
  });

  it('R-NOTIF-5: event values are the kernel ABI numbers 0..7', () => {
    expect(ALL_EVENTS).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...MMU_NOTIFY_EVENT_NAMES]).toEqual([
      'unmap',
      'clear',
      'protection_vma',
      'protection_page',
      'soft_dirty',
      'release',
      'migrate',
      'exclusive',
    ]);
  });

  it('R-NOTIF-6: owner is passed through only for MIGRATE and EXCLUSIVE; every other event carries null', () => {
    const cookie = { driver: 'dmirror' };
    const owners: unknown[] = [];
    classic('K', [], {
      invalidateRangeStart: (_s, r) => {
        owners.push(r.owner);
        return 0;
      },
    });
    const isubOwners: unknown[] = [];
    const isub = new MmuIntervalNotifier({
      invalidate: (_s, r) => {
        isubOwners.push(r.owner);
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, mm, V, 1, isub.ops)).toBe(0);
    for (const event of ALL_EVENTS) invalidateRangeEnd(invalidateRangeStart(mm, event, V, V + 1, cookie));
    const want = [null, null, null, null, null, null, cookie, cookie];
    expect(owners).toEqual(want);
    expect(owners[6]).toBe(cookie);
    expect(isubOwners).toEqual(want);
  });

  it('R-NOTIF-9: ranges are never empty and end gets the very descriptor its start got, for every operation', () => {
    const open: MmuNotifierRange[] = [];
    const problems: string[] = [];
    let pairs = 0;
    classic('K', [], {
      invalidateRangeStart: (_s, r) => {
        if (!(r.endVpn > r.startVpn)) problems.push(`empty ${desc(r)}`);
        open.push(r);
        return 0;
      },
      invalidateRangeEnd: (_s, r) => {
        const i = open.lastIndexOf(r);
        if (i < 0) problems.push(`end without start ${desc(r)}`);
        else open.splice(i, 1);
        pairs++;
      },
    });
    map(1024);
    expect(task.madvise(BASE, 1024 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    write(0);
    read(600);
    write(600);
    write(601, 3);
    expect(task.madvise(BASE + 8 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(task.mprotect(BASE + 600 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    const child = task.fork();
    write(602);
    child.exit();
    expect(task.munmap(BASE + 100 * PAGE_SIZE, 700 * PAGE_SIZE)).toBe(0);
    expect(problems).toEqual([]);
    expect(open).toEqual([]);
    expect(pairs).toBeGreaterThanOrEqual(7);
  });
});

describe('5: start/end ordering', () => {
  it('R-NOTIF-40, R-NOTIF-43: start goes to interval subscriptions first (ascending start), then classic ones newest first; end only to classic ones, in list order', () => {
    const log: string[] = [];
    classic('C1', log);
    interval('I20', log, 20, 4);
    classic('C2', log);
    interval('I0', log, 0, 4);
    map(32);
    write(0, 32);
    expect(task.munmap(BASE, 32 * PAGE_SIZE)).toBe(0);
    expect(log).toEqual([
      'I0 unmap 0 32 seq=3',
      'I20 unmap 0 32 seq=3',
      'C2.start unmap 0 32',
      'C1.start unmap 0 32',
      'C2.end unmap 0 32',
      'C1.end unmap 0 32',
    ]);
  });

  it('R-NOTIF-43: interval end processing (seq even, deferred list applied) happens before the classic end callbacks', () => {
    const states: string[] = [];
    let late: MmuIntervalNotifier | null = null;
    interval('A', [], 0, 4, () => {
      late = new MmuIntervalNotifier({ invalidate: () => true });
      expect(mmuIntervalNotifierInsert(late, mm, V + 50, 1, late.ops)).toBe(0);
    });
    classic('K', [], {
      invalidateRangeStart: () => {
        const rec = MmuNotifierSubscriptions.of(mm)!;
        states.push(
          `start seq=${rec.invalidateSeq} active=${rec.activeInvalidateRanges} late=${rec.itree.has(late!)}`,
        );
        return 0;
      },
      invalidateRangeEnd: () => {
        const rec = MmuNotifierSubscriptions.of(mm)!;
        states.push(
          `end seq=${rec.invalidateSeq} active=${rec.activeInvalidateRanges} late=${rec.itree.has(late!)}`,
        );
      },
    });
    invalidateRangeEnd(invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, V, V + 1));
    expect(states).toEqual(['start seq=3 active=1 late=false', 'end seq=4 active=0 late=true']);
  });

  it('R-NOTIF-42, R-NOTIF-41: a classic -EAGAIN in a non-blockable start: the remaining starts still run, then every end op runs, and -EAGAIN is returned', () => {
    const log: string[] = [];
    classic('A', log);
    classic('B', log, {
      invalidateRangeStart: (_s, r) => {
        log.push(`B.start ${desc(r)} blockable=${r.blockable}`);
        return r.blockable ? 0 : -EAGAIN;
      },
      invalidateRangeEnd: undefined,
    });
    classic('C', log);
    const { range, rc } = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 8);
    expect(rc).toBe(-EAGAIN);
    expect(range.blockable).toBe(false);
    expect(log).toEqual([
      'C.start unmap 0 8',
      'B.start unmap 0 8 blockable=false',
      'A.start unmap 0 8',
      'C.end unmap 0 8',
      'A.end unmap 0 8',
    ]);
    expect(mm.invalidateDepth).toBe(0);
    expect(kernel.warnings).toEqual([]);
  });

  it('R-NOTIF-42: a non-zero classic start in blockable mode is warned about and propagated the same way (all ends called, error returned)', () => {
    const log: string[] = [];
    classic('A', log);
    classic('B', log, {
      invalidateRangeStart: (_s, r) => {
        log.push(`B.start ${desc(r)}`);
        return -EAGAIN;
      },
      invalidateRangeEnd: undefined,
    });
    const rec = MmuNotifierSubscriptions.of(mm)!;
    const range: MmuNotifierRange = {
      mm,
      startVpn: V,
      endVpn: V + 2,
      event: MMU_NOTIFY_CLEAR,
      owner: null,
      blockable: true,
    };
    expect(rec.invalidateRangeStart(range)).toBe(-EAGAIN);
    expect(log).toEqual(['B.start clear 0 2', 'A.start clear 0 2', 'A.end clear 0 2']);
    expect(kernel.warnings).toHaveLength(1);
  });

  it('R-NOTIF-42: 6.12 quirk: interval dispatch succeeded, then a classic start fails non-blockably: no interval end processing, the active range stays counted', () => {
    const log: string[] = [];
    const a = interval('I', log, 0, 8);
    classic('K', log, {
      invalidateRangeStart: (_s, r) => {
        log.push(`K.start ${desc(r)}`);
        return -EAGAIN;
      },
      invalidateRangeEnd: undefined,
    });
    const { rc } = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 8);
    expect(rc).toBe(-EAGAIN);
    expect(log).toEqual(['I unmap 0 8 seq=3', 'K.start unmap 0 8']);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec.activeInvalidateRanges).toBe(1);
    expect(rec.invalidateSeq).toBe(3);
    expect(mmuIntervalReadBeginTry(a)).toBe(-EAGAIN);
    expect(mm.invalidateDepth).toBe(0);
  });

  it('R-NOTIF-44: between start and end the core mm changes the PTEs: present at start, gone (or reduced) by end', () => {
    const seen: string[] = [];
    classic('K', [], {
      invalidateRangeStart: (_s, r) => {
        seen.push(`start ${desc(r)} present=${present(r.startVpn)} writable=${writable(r.startVpn)}`);
        return 0;
      },
      invalidateRangeEnd: (_s, r) => {
        seen.push(`end ${desc(r)} present=${present(r.startVpn)} writable=${writable(r.startVpn)}`);
      },
    });
    map(4);
    write(0, 4);
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(task.munmap(BASE + 2 * PAGE_SIZE, 2 * PAGE_SIZE)).toBe(0);
    expect(seen).toEqual([
      'start protection_vma 0 2 present=true writable=true',
      'end protection_vma 0 2 present=true writable=false',
      'start unmap 2 4 present=true writable=true',
      'end unmap 2 4 present=false writable=false',
    ]);
  });

  it('R-NOTIF-44: a classic driver counting active ranges (++ in start, -- in end) never goes negative and is back to 0 after every operation', () => {
    let active = 0;
    let min = 0;
    let max = 0;
    classic('K', [], {
      invalidateRangeStart: () => {
        active++;
        max = Math.max(max, active);
        return 0;
      },
      invalidateRangeEnd: () => {
        active--;
        min = Math.min(min, active);
      },
    });
    map(1024);
    expect(task.madvise(BASE, 1024 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    write(0);
    expect(task.madvise(BASE + 8 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(active).toBe(0);
    expect(max).toBe(2);
    const child = task.fork();
    expect(active).toBe(0);
    write(1);
    child.exit();
    expect(task.munmap(BASE, 1024 * PAGE_SIZE)).toBe(0);
    expect(active).toBe(0);
    expect(min).toBe(0);
  });
});

describe('5: the secondary-TLB hook', () => {
  function tlbPair(log: string[]): void {
    classic('S', log);
    expect(
      mmuNotifierRegister(
        new MmuNotifier({
          archInvalidateSecondaryTlbs: (_s, m, start, end) => {
            const where = start === 0 && end === VPN_END_MAX ? 'all' : `${start - V} ${end - V}`;
            log.push(`T.tlb ${where}${m === mm ? '' : ' wrong mm'}`);
          },
        }),
        mm,
      ),
    ).toBe(0);
  }

  it('R-NOTIF-45, R-NOTIF-10: munmap flushes the secondary TLB for the unmapped range after the PTEs are cleared and before the pages are freed', () => {
    const seen: string[] = [];
    map(4);
    write(0, 4);
    const used = kernel.mem.usedPages();
    expect(
      mmuNotifierRegister(
        new MmuNotifier({
          archInvalidateSecondaryTlbs: (_s, _m, start, end) => {
            seen.push(
              `${start - V} ${end - V} present=${present(V)},${present(V + 3)} freed=${used - kernel.mem.usedPages()}`,
            );
          },
        }),
        mm,
      ),
    ).toBe(0);
    expect(task.munmap(BASE, 4 * PAGE_SIZE)).toBe(0);
    expect(seen).toEqual(['0 4 present=false,false freed=0']);
    expect(used - kernel.mem.usedPages()).toBeGreaterThanOrEqual(4);
  });

  it('R-NOTIF-45: a COW break flushes the secondary TLB for its one page inside its start/end bracket', () => {
    const log: string[] = [];
    map(4);
    read(3);
    tlbPair(log);
    write(3);
    expect(log).toEqual(['S.start clear 3 4', 'T.tlb 3 4', 'S.end clear 3 4']);
  });

  it('R-NOTIF-45: mprotect that removes write flushes the secondary TLB for the changed range, after the PTEs lost the write bit', () => {
    const seen: string[] = [];
    map(4);
    write(0, 4);
    expect(
      mmuNotifierRegister(
        new MmuNotifier({
          archInvalidateSecondaryTlbs: (_s, _m, start, end) => {
            seen.push(
              `${start - V} ${end - V} writable=${writable(V)},${writable(V + 1)} next=${writable(V + 2)}`,
            );
          },
        }),
        mm,
      ),
    ).toBe(0);
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(seen).toEqual(['0 2 writable=false,false next=true']);
  });

  it.each([
    {
      op: 'munmap',
      run: () => expect(task.munmap(BASE, 4 * PAGE_SIZE)).toBe(0),
      want: ['S.start unmap 0 4', 'S.end unmap 0 4', 'T.tlb 0 4'],
    },
    {
      op: 'MADV_DONTNEED',
      run: () => expect(task.madvise(BASE, 4 * PAGE_SIZE, MADV_DONTNEED)).toBe(0),
      want: ['S.start clear 0 4', 'S.end clear 0 4', 'T.tlb 0 4'],
    },
    {
      op: 'mprotect(PROT_READ)',
      run: () => expect(task.mprotect(BASE, 4 * PAGE_SIZE, PROT_READ)).toBe(0),
      want: ['S.start protection_vma 0 4', 'S.end protection_vma 0 4', 'T.tlb 0 4'],
    },
  ])(
    // 6.12 flushes batched zaps and mprotect at tlb_finish_mmu, after invalidate_range_end; the spec's
    // "inside the bracket" holds for COW and PMD splits only (docs/CONFORMANCE.md). What matters,
    // flush after the entries change and before pages are freed, is checked by the munmap test above.
    'R-NOTIF-45: the secondary-TLB flush of $op comes at the mmu_gather flush, after its invalidate end',
    ({ run, want }) => {
      const log: string[] = [];
      map(4);
      write(0, 4);
      tlbPair(log);
      run();
      expect(log).toEqual(want);
    },
  );

  it('R-NOTIF-45: upgrades that need no flush (none -> present, read-only -> writable reuse, mprotect adding write) do not call the secondary-TLB hook', () => {
    const log: string[] = [];
    map(8);
    write(0);
    // After fork and the child's exit the parent's page is read-only but no longer shared.
    task.fork().exit();
    tlbPair(log);
    read(1);
    write(2, 3);
    expect(writable(V)).toBe(false);
    write(0);
    expect(writable(V)).toBe(true);
    expect(log).toEqual([]);
    // mprotect that only adds permissions still notifies (R-NOTIF-53) but needs no TLB flush.
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    log.length = 0;
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, PAGE_SIZE, RW)).toBe(0);
    expect(writable(V + 2)).toBe(true);
    expect(log).toEqual(['S.start protection_vma 2 3', 'S.end protection_vma 2 3']);
  });

  it('R-NOTIF-45: a subscription without the hook is not affected, and the hook gets no start/end (it is exclusive with them)', () => {
    const log: string[] = [];
    map(2);
    write(0, 2);
    tlbPair(log);
    expect(task.munmap(BASE, 2 * PAGE_SIZE)).toBe(0);
    expect(log.filter((l) => l.startsWith('T.'))).toEqual(['T.tlb 0 2']);
    expect(log.filter((l) => l.startsWith('S.'))).toEqual(['S.start unmap 0 2', 'S.end unmap 0 2']);
  });
});

describe('5: nesting', () => {
  it('R-NOTIF-46: a callback that itself unmaps (a device racing with munmap) nests an invalidation; the seq stays odd until both ended', () => {
    const log: string[] = [];
    const states: string[] = [];
    const other = BASE + 64 * PAGE_SIZE;
    map(4);
    map(4, other);
    write(0, 4);
    expect(task.write(other, new Uint8Array(4 * PAGE_SIZE)).signal).toBe(0);
    let nested = false;
    const a = interval('A', log, 0, 4, () => {
      if (nested) return;
      nested = true;
      expect(task.munmap(other, 4 * PAGE_SIZE)).toBe(0);
      const rec = MmuNotifierSubscriptions.of(mm)!;
      states.push(`after nested munmap seq=${rec.invalidateSeq} active=${rec.activeInvalidateRanges}`);
    });
    const b = interval('B', log, 64, 4, () => {
      const rec = MmuNotifierSubscriptions.of(mm)!;
      states.push(`B sees seq=${rec.invalidateSeq} active=${rec.activeInvalidateRanges}`);
    });
    expect(task.mprotect(BASE, 4 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(log).toEqual(['A protection_vma 0 4 seq=3', 'B unmap 64 68 seq=3']);
    expect(states).toEqual(['B sees seq=3 active=2', 'after nested munmap seq=3 active=1']);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec.invalidateSeq).toBe(4);
    expect(rec.activeInvalidateRanges).toBe(0);
    expect(mmuIntervalReadBeginTry(a)).toBe(3);
    expect(mmuIntervalReadBeginTry(b)).toBe(3);
    expect(mm.vmas.find(V + 64)).toBeNull();
  });
});

describe('7: what core-mm operations announce (through the notifier layer)', () => {
  let log: string[];
  beforeEach(() => {
    log = [];
    classic('K', log);
  });
  const starts = () => log.filter((l) => l.startsWith('K.start')).map((l) => l.slice(8));

  it('R-NOTIF-53: setting up mappings (mmap, even MAP_FIXED over nothing) announces nothing', () => {
    map(8);
    map(8, BASE + 16 * PAGE_SIZE, MAP_SHARED | MAP_ANONYMOUS);
    expect(log).toEqual([]);
  });

  it('R-NOTIF-8: munmap covering VMAs sends one UNMAP pair for the requested range, across VMAs; an empty range sends nothing', () => {
    map(8);
    write(0, 8);
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    log.length = 0;
    expect(task.munmap(BASE + PAGE_SIZE, 6 * PAGE_SIZE)).toBe(0);
    expect(log).toEqual(['K.start unmap 1 7', 'K.end unmap 1 7']);
    log.length = 0;
    expect(task.munmap(BASE + 100 * PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(log).toEqual([]);
  });

  it('R-NOTIF-8, R-NOTIF-53: mprotect announces PROTECTION_VMA per changed piece when page tables exist, also when only adding permissions', () => {
    map(8);
    write(0);
    log.length = 0;
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, 3 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(starts()).toEqual(['protection_vma 2 5']);
    log.length = 0;
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, 3 * PAGE_SIZE, RW)).toBe(0);
    expect(starts()).toEqual(['protection_vma 2 5']);
    log.length = 0;
    // Flags unchanged: skipped entirely.
    expect(task.mprotect(BASE, 8 * PAGE_SIZE, RW)).toBe(0);
    expect(starts()).toEqual([]);
    // No page table in the piece: nothing.
    map(8, BASE + 1024 * 1024 * PAGE_SIZE);
    expect(task.mprotect(BASE + 1024 * 1024 * PAGE_SIZE, 8 * PAGE_SIZE, PROT_NONE)).toBe(0);
    expect(starts()).toEqual([]);
  });

  it('R-NOTIF-8: fork announces PROTECTION_PAGE on the parent over each whole private VMA holding anonymous pages, nothing for shared or zero-page-only VMAs', () => {
    map(8);
    write(3);
    map(8, BASE + 16 * PAGE_SIZE);
    read(16, 8);
    map(8, BASE + 32 * PAGE_SIZE, MAP_SHARED | MAP_ANONYMOUS);
    write(32);
    log.length = 0;
    const child = task.fork();
    expect(log).toEqual(['K.start protection_page 0 8', 'K.end protection_page 0 8']);
    expect(writable(V + 3)).toBe(false);
    expect(writable(V + 32)).toBe(true);
    log.length = 0;
    // The child's own faults do not reach the parent's subscriptions.
    write(3, 1, child);
    expect(log).toEqual([]);
  });

  it('R-NOTIF-8: a COW break announces CLEAR of the one page (zero page or shared page); reuse and populating faults announce nothing', () => {
    map(8);
    read(0);
    write(1);
    expect(log).toEqual([]);
    write(0);
    expect(starts()).toEqual(['clear 0 1']);
    const child = task.fork();
    log.length = 0;
    write(1);
    expect(starts()).toEqual(['clear 1 2']);
    log.length = 0;
    // Now exclusive again: the next write reuses it.
    expect(task.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(task.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, RW)).toBe(0);
    log.length = 0;
    write(1);
    write(5);
    expect(log).toEqual([]);
    child.exit();
  });

  it('R-NOTIF-8: MADV_DONTNEED announces CLEAR over the range, per VMA', () => {
    map(8);
    write(0, 8);
    expect(task.mprotect(BASE + 4 * PAGE_SIZE, 4 * PAGE_SIZE, PROT_READ)).toBe(0);
    log.length = 0;
    expect(task.madvise(BASE + 2 * PAGE_SIZE, 4 * PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(starts()).toEqual(['clear 2 4', 'clear 4 6']);
    expect(present(V + 3)).toBe(false);
    expect(present(V + 6)).toBe(true);
  });

  it('R-NOTIF-8: splitting a THP PMD mapping announces CLEAR of its 2 MiB block', () => {
    map(1024);
    expect(task.madvise(BASE, 1024 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    write(0);
    expect(mm.pt.hugeFlags(V)).not.toBe(0);
    log.length = 0;
    expect(task.madvise(BASE + 8 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(starts()).toContain('clear 0 512');
    expect(starts()).toContain('clear 8 9');
    expect(mm.pt.hugeFlags(V)).toBe(0);
  });
});
