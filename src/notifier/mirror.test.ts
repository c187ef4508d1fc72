// The canonical safe-mirroring pattern of mmu-notifiers.md section 8, with a small mirror driver
// written here: a driver lock, an interval subscription, a device page table (DPT) of vpn -> (pfn,
// write), an invalidate callback that locks, sets the seq and drops entries, and a populate loop over
// read_begin / a model of hmm_range_fault / read_retry. Deterministic tests pin the driver rules;
// fast-check then drives random CPU and device activity and checks the safety invariant R-NOTIF-55
// (and, directly on the page table, that no translation is removed, reduced or replaced without a
// covering invalidation, R-NOTIF-8). Every test is named after the rule(s) it checks.

import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { EAGAIN, EBUSY, EFAULT } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import {
  HPAGE_PMD_NR,
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
} from '../mm/constants.js';
import { checkVmaFlags, entryAllows, entryFlags, faultinPage } from '../mm/gup.js';
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import {
  invalidateRangeEnd,
  invalidateRangeStart,
  invalidateRangeStartNonblock,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierRange,
} from '../mm/mmuNotify.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from '../mm/pte.js';
import type { Task } from '../mm/task.js';
import {
  MmuIntervalNotifier,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from './interval.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

interface Translation {
  readonly pfn: number;
  readonly write: boolean;
}

/** What the CPU page table maps at `vpn` (present and accessible), or null. */
function cpuTranslation(mm: Mm, vpn: number): Translation | null {
  const pt = mm.pt;
  const table = pt.pteTable(vpn);
  let flags: number;
  let pfn: number;
  if (table !== null) {
    flags = table.e[(vpn & 511) * 2];
    pfn = table.e[(vpn & 511) * 2 + 1];
  } else {
    flags = pt.hugeFlags(vpn);
    if (flags === 0) return null;
    pfn = pt.hugePfn(vpn) + (vpn % HPAGE_PMD_NR);
  }
  if ((flags & (PTE_KIND_MASK | PTE_PROTNONE)) !== PTE_PRESENT) return null;
  return { pfn, write: (flags & PTE_WRITE) !== 0 };
}

interface Snapshot {
  readonly seq: number;
  readonly entries: readonly (Translation & { readonly vpn: number })[];
}

/** A mirror driver following R-NOTIF-54. */
class Mirror {
  readonly dpt = new Map<number, Translation>();
  /** driver_lock (a sleeping mutex in the kernel). */
  locked = false;
  readonly cookie = { owner: 'test-mirror' };
  readonly isub: MmuIntervalNotifier;
  retries = 0;
  rejectedCommits = 0;
  /** Negative control: a broken driver that commits without read_retry. */
  skipReadRetry = false;
  /** Transient mm_users reference held by a split populate between begin and commit. */
  private pending: { snap: Snapshot; holdsMm: boolean } | null = null;

  constructor(
    readonly mm: Mm,
    startVpn: number,
    npages: number,
  ) {
    this.isub = new MmuIntervalNotifier({ invalidate: (isub, r, seq) => this.invalidate(isub, r, seq) });
    expect(mmuIntervalNotifierInsert(this.isub, mm, startVpn, npages, this.isub.ops)).toBe(0);
  }

  invalidate(isub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
    // 1. Our own migration / exclusive grant: we update the DPT ourselves (R-NOTIF-7).
    if (
      (range.event === MMU_NOTIFY_MIGRATE || range.event === MMU_NOTIFY_EXCLUSIVE) &&
      range.owner === this.cookie
    ) {
      return true;
    }
    // 2. lock, or trylock when not blockable.
    if (this.locked) {
      if (!range.blockable) return false;
      throw new KernelBug('blockable invalidate while the driver lock is held: would sleep forever here');
    }
    this.locked = true;
    // 3. set_seq under the lock.
    mmuIntervalSetSeq(isub, curSeq);
    // 4. drop every DPT entry in the range.
    for (const vpn of [...this.dpt.keys()])
      if (vpn >= range.startVpn && vpn < range.endVpn) this.dpt.delete(vpn);
    // 5. unlock.
    this.locked = false;
    return true;
  }

  /** hmm_range_fault over [startVpn, endVpn): -EBUSY on a collision, -EFAULT on a bad range, else the snapshot. */
  private rangeFault(startVpn: number, endVpn: number, write: boolean, seq: number): Snapshot | number {
    const mm = this.mm;
    walk: for (;;) {
      if (mmuIntervalCheckRetry(this.isub, seq)) return -EBUSY;
      const entries: (Translation & { vpn: number })[] = [];
      for (let vpn = startVpn; vpn < endVpn; vpn++) {
        if (!entryAllows(entryFlags(mm, vpn), write)) {
          const vma = mm.vmas.find(vpn);
          if (vma === null || checkVmaFlags(vma, write) !== 0) return -EFAULT;
          const rc = faultinPage(vma, vpn, write, true);
          if (rc < 0) return rc;
          continue walk;
        }
        entries.push({ vpn, ...cpuTranslation(mm, vpn)! });
      }
      return { seq, entries };
    }
  }

  /** Populate step 2: mmget, read_begin, hmm_range_fault (retrying its -EBUSY). Holds mm_users until commit. */
  begin(startVpn: number, endVpn: number, write: boolean): number {
    if (this.pending !== null) throw new Error('one populate at a time');
    if (!this.mm.mmgetNotZero()) return -EFAULT;
    for (let tries = 0; tries < 8; tries++) {
      const seq = mmuIntervalReadBegin(this.isub);
      const snap = this.rangeFault(startVpn, endVpn, write, seq);
      if (snap === -EBUSY) {
        this.retries++;
        continue;
      }
      if (typeof snap === 'number') {
        this.mm.mmput();
        return snap;
      }
      this.pending = { snap, holdsMm: true };
      return 0;
    }
    this.mm.mmput();
    return -EBUSY;
  }

  /** Populate steps 3-4: lock, read_retry, program the DPT, unlock, mmput. -EBUSY when it collided. */
  commit(): number {
    const p = this.pending;
    if (p === null) throw new Error('nothing to commit');
    this.pending = null;
    this.locked = true;
    let rc = 0;
    if (!this.skipReadRetry && mmuIntervalReadRetry(this.isub, p.snap.seq)) {
      this.rejectedCommits++;
      rc = -EBUSY;
    } else {
      for (const e of p.snap.entries) this.dpt.set(e.vpn, { pfn: e.pfn, write: e.write });
    }
    this.locked = false;
    if (p.holdsMm) this.mm.mmput();
    return rc;
  }

  get hasPending(): boolean {
    return this.pending !== null;
  }

  /** The whole populate loop: retried until a snapshot commits. */
  populate(startVpn: number, endVpn: number, write: boolean): number {
    for (let tries = 0; tries < 8; tries++) {
      const rc = this.begin(startVpn, endVpn, write);
      if (rc !== 0) return rc;
      if (this.commit() === 0) return 0;
      this.retries++;
    }
    return -EBUSY;
  }

  /** R-NOTIF-55 for entries outside `active` ranges: the CPU maps the same page with at least the DPT's permission. */
  violations(active: readonly MmuNotifierRange[] = []): string[] {
    const out: string[] = [];
    for (const [vpn, e] of this.dpt) {
      if (active.some((r) => r.mm === this.mm && vpn >= r.startVpn && vpn < r.endVpn)) continue;
      const cpu = this.mm.torndown ? null : cpuTranslation(this.mm, vpn);
      if (cpu === null) out.push(`page ${vpn - V}: DPT maps pfn ${e.pfn}, CPU maps nothing`);
      else if (cpu.pfn !== e.pfn) out.push(`page ${vpn - V}: DPT pfn ${e.pfn}, CPU pfn ${cpu.pfn}`);
      else if (e.write && !cpu.write) out.push(`page ${vpn - V}: DPT writable, CPU read-only`);
    }
    return out;
  }
}

let kernel: Kernel;
let task: Task;
let mm: Mm;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  task = kernel.spawn();
  mm = task.mm!;
});

function map(npages: number, at = 0, flags = MAP_PRIVATE | MAP_ANONYMOUS, prot = RW): void {
  expect(task.mmap(BASE + at * PAGE_SIZE, npages * PAGE_SIZE, prot, flags | MAP_FIXED)).toBe(
    BASE + at * PAGE_SIZE,
  );
}

describe('8: the mirror driver', () => {
  it('R-NOTIF-54: populate programs the DPT from the CPU page table; the callback sets the seq under the lock and drops exactly the entries in the range', () => {
    const m = new Mirror(mm, V, 64);
    map(8);
    expect(m.populate(V, V + 8, true)).toBe(0);
    expect(m.retries).toBe(0);
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const [vpn, e] of m.dpt) expect(e).toEqual(cpuTranslation(mm, vpn));
    expect(m.violations()).toEqual([]);
    expect(m.isub.invalidateSeq).toBe(1);
    let lockedInside: boolean | null = null;
    const realInvalidate = m.isub.ops.invalidate;
    m.isub.ops = {
      invalidate: (isub, r, seq) => {
        const ok = realInvalidate(isub, r, seq);
        lockedInside = m.locked;
        return ok;
      },
    };
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(lockedInside).toBe(false);
    expect(m.isub.invalidateSeq).toBe(3);
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([0, 1, 4, 5, 6, 7]);
    expect(m.violations()).toEqual([]);
  });

  it('R-NOTIF-54: populate retries when its own fault collides (write to a zero-page mapping breaks COW and invalidates the snapshot)', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(task.read(BASE, PAGE_SIZE).signal).toBe(0);
    expect(cpuTranslation(mm, V)!.pfn).toBe(kernel.mem.zeroPfn);
    expect(m.populate(V, V + 1, true)).toBe(0);
    expect(m.retries).toBe(1);
    const e = m.dpt.get(V)!;
    expect(e.write).toBe(true);
    expect(e.pfn).not.toBe(kernel.mem.zeroPfn);
    expect(e).toEqual(cpuTranslation(mm, V));
  });

  it('R-NOTIF-54, R-NOTIF-55: a collision between snapshot and commit is caught by read_retry under the lock and nothing is programmed', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(task.write(BASE, new Uint8Array(4 * PAGE_SIZE)).signal).toBe(0);
    expect(m.begin(V, V + 4, false)).toBe(0);
    expect(task.munmap(BASE + PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(m.commit()).toBe(-EBUSY);
    expect(m.rejectedCommits).toBe(1);
    expect(m.dpt.size).toBe(0);
    // A snapshot that did not collide (the invalidation missed the subscription) commits.
    expect(m.begin(V + 2, V + 4, false)).toBe(0);
    expect(task.munmap(BASE + 100 * PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(m.commit()).toBe(0);
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([2, 3]);
    expect(m.violations()).toEqual([]);
  });

  it('R-NOTIF-55: the check has teeth: a driver that skips read_retry keeps a stale entry after a collision', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(task.write(BASE, new Uint8Array(2 * PAGE_SIZE)).signal).toBe(0);
    m.skipReadRetry = true;
    expect(m.begin(V, V + 2, true)).toBe(0);
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(m.commit()).toBe(0);
    expect(m.violations()).toEqual([`page 0: DPT maps pfn ${m.dpt.get(V)!.pfn}, CPU maps nothing`]);
  });

  it('R-NOTIF-54, R-NOTIF-14: populate fails with -EFAULT once the process is gone (mmget_not_zero fails)', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(m.populate(V, V + 8, true)).toBe(0);
    task.exit();
    expect(m.dpt.size).toBe(0);
    expect(m.populate(V, V + 8, false)).toBe(-EFAULT);
    expect(m.dpt.size).toBe(0);
    expect(mm.users).toBe(0);
  });

  it('R-NOTIF-47, R-NOTIF-54: a populate in flight holds mm_users: exit waits for its mmput, then RELEASE empties the DPT', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(m.begin(V, V + 8, true)).toBe(0);
    task.exit();
    expect(mm.users).toBe(1);
    expect(mm.torndown).toBe(false);
    expect(m.commit()).toBe(0);
    expect(mm.torndown).toBe(true);
    expect(m.dpt.size).toBe(0);
    expect(m.isub.invalidateSeq).toBe(5);
  });

  it('R-NOTIF-54, R-NOTIF-37: with the driver lock held, a non-blockable invalidation fails its trylock: -EAGAIN, DPT and seq untouched', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(m.populate(V, V + 8, true)).toBe(0);
    m.locked = true;
    const { rc } = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 8);
    expect(rc).toBe(-EAGAIN);
    expect(m.dpt.size).toBe(8);
    expect(m.isub.invalidateSeq).toBe(1);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec.invalidateSeq).toBe(4);
    expect(rec.activeInvalidateRanges).toBe(0);
    m.locked = false;
    const ok = invalidateRangeStartNonblock(mm, MMU_NOTIFY_UNMAP, V, V + 4);
    expect(ok.rc).toBe(0);
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([4, 5, 6, 7]);
    expect(m.isub.invalidateSeq).toBe(5);
    invalidateRangeEnd(ok.range);
    expect(rec.invalidateSeq).toBe(6);
  });

  it("R-NOTIF-7, R-NOTIF-54: MIGRATE/EXCLUSIVE carrying the mirror's own cookie are ignored; another owner, or another event, invalidates", () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(m.populate(V, V + 8, false)).toBe(0);
    const seq0 = m.isub.invalidateSeq;
    for (const event of [MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE] as const) {
      invalidateRangeEnd(invalidateRangeStart(mm, event, V, V + 8, m.cookie));
    }
    expect(m.dpt.size).toBe(8);
    expect(m.isub.invalidateSeq).toBe(seq0);
    invalidateRangeEnd(invalidateRangeStart(mm, MMU_NOTIFY_MIGRATE, V, V + 2, { owner: 'other' }));
    invalidateRangeEnd(invalidateRangeStart(mm, MMU_NOTIFY_EXCLUSIVE, V + 2, V + 4, null));
    // Owner is meaningless for CLEAR (null per R-NOTIF-6): never ignored.
    invalidateRangeEnd(invalidateRangeStart(mm, MMU_NOTIFY_CLEAR, V + 4, V + 6, m.cookie));
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([6, 7]);
    expect(m.isub.invalidateSeq).not.toBe(seq0);
  });

  it('R-NOTIF-56: the mirror holds no page references: unmapping frees mirrored pages at once', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    const before = kernel.mem.usedPages();
    expect(m.populate(V, V + 8, true)).toBe(0);
    const populated = kernel.mem.usedPages();
    expect(populated - before).toBe(8);
    expect(task.munmap(BASE, 8 * PAGE_SIZE)).toBe(0);
    expect(kernel.mem.usedPages()).toBe(before);
    expect(m.dpt.size).toBe(0);
  });

  it('R-NOTIF-55: fork write-protects the parent: writable DPT entries go, and the read-only re-populate stays valid until the COW break', () => {
    const m = new Mirror(mm, V, 8);
    map(8);
    expect(m.populate(V, V + 4, true)).toBe(0);
    const child = task.fork();
    expect(m.dpt.size).toBe(0);
    expect(m.populate(V, V + 4, false)).toBe(0);
    expect([...m.dpt.values()].every((e) => !e.write)).toBe(true);
    expect(child.write(BASE, new Uint8Array([1])).signal).toBe(0);
    expect(m.dpt.size).toBe(4);
    expect(m.violations()).toEqual([]);
    expect(task.write(BASE + PAGE_SIZE, new Uint8Array([1])).signal).toBe(0);
    expect([...m.dpt.keys()].map((v) => v - V)).toEqual([0, 2, 3]);
    expect(m.violations()).toEqual([]);
  });
});

// ---- property: random CPU and device activity --------------------------------------------------

type Op =
  | { kind: 'write' | 'read' | 'childWrite'; page: number }
  | { kind: 'munmap' | 'dontneed' | 'remap'; page: number; n: number }
  | { kind: 'mprotect'; page: number; n: number; prot: number }
  | { kind: 'fork' | 'childExit' | 'commit' | 'exit' }
  | { kind: 'populate' | 'begin'; page: number; n: number; write: boolean };

/** The address-space layouts the property runs on. */
interface Layout {
  /** Pages [0, region) relative to BASE are mapped at the start and mirrored. */
  readonly region: number;
  /** Transparent huge pages: one private VMA with MADV_HUGEPAGE instead of private + shared halves. */
  readonly thp: boolean;
}

const SMALL: Layout = { region: 48, thp: false };
const HUGE: Layout = { region: 1024, thp: true };

function opArb(pageArb: fc.Arbitrary<number>): fc.Arbitrary<Op> {
  const page = pageArb;
  const count = fc.integer({ min: 1, max: 8 });
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('write' as const), page }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('read' as const), page }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('childWrite' as const), page }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('munmap' as const), page, n: count }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('dontneed' as const), page, n: count }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('remap' as const), page, n: count }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('mprotect' as const),
        page,
        n: count,
        prot: fc.constantFrom(PROT_NONE, PROT_READ, RW),
      }),
      weight: 2,
    },
    { arbitrary: fc.record({ kind: fc.constant('fork' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('childExit' as const) }), weight: 1 },
    {
      arbitrary: fc.record({ kind: fc.constant('populate' as const), page, n: count, write: fc.boolean() }),
      weight: 4,
    },
    {
      arbitrary: fc.record({ kind: fc.constant('begin' as const), page, n: count, write: fc.boolean() }),
      weight: 3,
    },
    { arbitrary: fc.record({ kind: fc.constant('commit' as const) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('exit' as const) }), weight: 1 },
  );
}

/** Pages [0, region) relative to BASE as the CPU sees them. */
function cpuView(m: Mm, region: number): (Translation | null)[] {
  const out: (Translation | null)[] = [];
  for (let i = 0; i < region; i++) out.push(m.torndown ? null : cpuTranslation(m, V + i));
  return out;
}

interface RunStats {
  populated: number;
  /** PMD splits (THP layout). */
  splits: number;
  rejected: number;
  retries: number;
  invalidations: number;
}

function runScenario(ops: readonly Op[], stats: RunStats, layout: Layout): void {
  const REGION = layout.region;
  const k = new Kernel({ ramBytes: 64 * 1024 * 1024, thp: 'madvise' });
  const t = k.spawn();
  const m = t.mm!;
  const mirror = new Mirror(m, V, REGION);
  const failures: string[] = [];
  const active: MmuNotifierRange[] = [];
  let started: MmuNotifierRange[] = [];
  k.observer = {
    invalidateStart: (r) => {
      // R-NOTIF-9 / R-NOTIF-41: non-empty, and blockable for every user-visible operation.
      if (!(r.endVpn > r.startVpn)) failures.push('empty range');
      if (!r.blockable) failures.push('non-blockable range from a syscall/fault/fork/exit');
      if (r.mm === m) {
        // Nothing of this operation has changed PTEs outside the ranges already started.
        for (const v of mirror.violations(active)) failures.push(`at start: ${v}`);
        active.push(r);
        started.push(r);
        stats.invalidations++;
      }
    },
    invalidateEnd: (r) => {
      if (r.mm !== m) return;
      const i = active.lastIndexOf(r);
      if (i < 0) failures.push('end without a matching start');
      else active.splice(i, 1);
      for (const v of mirror.violations(active)) failures.push(`at end: ${v}`);
    },
  };
  if (layout.thp) {
    expect(t.mmap(BASE, REGION * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    expect(t.madvise(BASE, REGION * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
  } else {
    const half = REGION / 2;
    expect(t.mmap(BASE, half * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    expect(
      t.mmap(BASE + half * PAGE_SIZE, half * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED),
    ).toBe(BASE + half * PAGE_SIZE);
  }
  let child: Task | null = null;
  const addr = (p: number) => BASE + p * PAGE_SIZE;
  const len = (p: number, n: number) => Math.min(n, REGION - p) * PAGE_SIZE;
  for (const op of ops) {
    if (!t.alive && op.kind !== 'commit' && op.kind !== 'childWrite' && op.kind !== 'childExit') continue;
    const before = cpuView(m, REGION);
    started = [];
    switch (op.kind) {
      case 'write':
        t.write(addr(op.page), new Uint8Array([op.page]));
        break;
      case 'read':
        t.read(addr(op.page), 1);
        break;
      case 'childWrite':
        child?.write(addr(op.page), new Uint8Array([0xcc]));
        break;
      case 'munmap':
        expect(t.munmap(addr(op.page), len(op.page, op.n))).toBe(0);
        break;
      case 'dontneed':
        t.madvise(addr(op.page), len(op.page, op.n), MADV_DONTNEED);
        break;
      case 'remap':
        expect(t.mmap(addr(op.page), len(op.page, op.n), RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(
          addr(op.page),
        );
        break;
      case 'mprotect':
        t.mprotect(addr(op.page), len(op.page, op.n), op.prot);
        break;
      case 'fork':
        if (child === null) child = t.fork();
        break;
      case 'childExit':
        child?.exit();
        child = null;
        break;
      case 'populate':
        if (!mirror.hasPending) {
          const end = Math.min(V + op.page + op.n, V + REGION);
          if (mirror.populate(V + op.page, end, op.write) === 0) stats.populated++;
        }
        break;
      case 'begin':
        if (!mirror.hasPending) mirror.begin(V + op.page, Math.min(V + op.page + op.n, V + REGION), op.write);
        break;
      case 'commit':
        if (mirror.hasPending) {
          if (mirror.commit() === 0) stats.populated++;
        }
        break;
      case 'exit':
        // A populate in flight keeps the address space alive until its commit (R-NOTIF-47).
        t.exit();
        break;
    }
    // R-NOTIF-8: every translation removed, reduced or replaced was covered by a started range.
    const after = cpuView(m, REGION);
    for (let i = 0; i < REGION; i++) {
      const b = before[i];
      if (b === null) continue;
      const a = after[i];
      const changed = a === null || a.pfn !== b.pfn || (b.write && !a.write);
      if (changed && !started.some((r) => V + i >= r.startVpn && V + i < r.endVpn)) {
        failures.push(`${op.kind}: page ${i} changed without an invalidation`);
      }
    }
    // R-NOTIF-55 at rest.
    if (active.length > 0) failures.push(`${op.kind}: invalidation left open`);
    for (const v of mirror.violations()) failures.push(`after ${op.kind}: ${v}`);
    if (failures.length > 0) break;
  }
  if (mirror.hasPending) mirror.commit();
  if (t.alive) t.exit();
  child?.exit();
  expect(mirror.dpt.size).toBe(0);
  expect(failures).toEqual([]);
  stats.rejected += mirror.rejectedCommits;
  stats.splits += k.stats.get('mm.thp.pmd_splits');
  stats.retries += mirror.retries;
}

describe('8: the safety invariant under random activity', () => {
  it('R-NOTIF-55, R-NOTIF-8, R-NOTIF-9, R-NOTIF-41: random CPU writes, munmaps, mprotects, forks and device populates never leave a stale DPT entry', () => {
    const stats: RunStats = { populated: 0, splits: 0, rejected: 0, retries: 0, invalidations: 0 };
    fc.assert(
      fc.property(fc.array(opArb(fc.nat(SMALL.region - 1)), { minLength: 1, maxLength: 40 }), (ops) =>
        runScenario(ops, stats, SMALL),
      ),
      { numRuns: 300, seed: 20251109 },
    );
    // The runs exercised what they claim to: DPT entries, collisions caught both ways, invalidations.
    expect(stats.populated).toBeGreaterThan(150);
    expect(stats.rejected).toBeGreaterThan(20);
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.invalidations).toBeGreaterThan(500);
  });

  it('R-NOTIF-55, R-NOTIF-8: the same with transparent huge pages (PMD splits on partial munmap, mprotect and DONTNEED)', () => {
    const stats: RunStats = { populated: 0, splits: 0, rejected: 0, retries: 0, invalidations: 0 };
    // Pages near the start, the middle and the end of the two 2 MiB blocks.
    const pageArb = fc.oneof(
      fc.nat(11),
      fc.integer({ min: 506, max: 517 }),
      fc.integer({ min: 1012, max: 1023 }),
    );
    fc.assert(
      fc.property(fc.array(opArb(pageArb), { minLength: 1, maxLength: 30 }), (ops) =>
        runScenario(ops, stats, HUGE),
      ),
      { numRuns: 100, seed: 7 },
    );
    expect(stats.populated).toBeGreaterThan(50);
    expect(stats.splits).toBeGreaterThan(30);
    expect(stats.invalidations).toBeGreaterThan(300);
  });
});
