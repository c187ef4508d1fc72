// The kernel interface a mirroring driver program uses, as steps: its lock, the interval notifier
// and its sequence, hmm_range_fault, its device page table, device-exclusive requests, teardown.
// Every primitive yields before it acts (`yield* dev.lock()`), so the explorer can run anything
// else in between. The device also records what the checker needs to judge the protocol: who holds
// the lock, which sequence was checked under it, whether the device was torn down.

import { DeviceTable } from '../../devices/deviceTable.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../../hmm/hmmRangeFault.js';
import { makeDeviceExclusiveRange } from '../../mm/deviceExclusive.js';
import { EBUSY } from '../../sim/errno.js';
import type { Mm } from '../../mm/mm.js';
import { MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../mm/mmuNotify.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBeginTry,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../notifier/interval.js';
import { DriverLock, type Program, type Step, step } from './program.js';
import { Violation } from './violation.js';

/** The device table's attribute bits (any non-zero word is an entry). */
export const MIRROR_READ = 1;
export const MIRROR_WRITE = 2;

/**
 * What the driver's invalidate callback does. The kernel calls it inside the invalidating step,
 * synchronously; `dev.callbackLock()` and `dev.callbackUnlock()` take and drop the driver lock there.
 * Returns false only for a non-blockable range it could not handle.
 */
export type InvalidateCallback = (dev: MirrorDevice, range: MmuNotifierRange, curSeq: number) => boolean;

/** The upstream callback: skip the device's own migrations and exclusive grants, else take the
 * lock, move the sequence, clear the mirror of the range. */
export const standardInvalidate: InvalidateCallback = (dev, range, curSeq) => {
  if (
    (range.event === MMU_NOTIFY_MIGRATE || range.event === MMU_NOTIFY_EXCLUSIVE) &&
    range.owner === dev.owner
  ) {
    return true;
  }
  return ignoreOwnerInvalidate(dev, range, curSeq);
};

/**
 * The same callback without the owner check (the known bug): the device's own migrations and
 * exclusive requests move its sequence too.
 */
export const ignoreOwnerInvalidate: InvalidateCallback = (dev, range, curSeq) => {
  dev.callbackLock();
  dev.setSeq(curSeq);
  dev.clearMirror(range.startVpn, range.endVpn);
  dev.callbackUnlock();
  return true;
};

export class MirrorDevice {
  readonly lock: DriverLock;
  readonly mirror = new DeviceTable();
  readonly notifier: MmuIntervalNotifier;
  /** The owner cookie of this device's migrations and exclusive requests. */
  readonly owner = {};
  /** Torn down: the notifier is gone, the structure freed (any later use is a use after free). */
  dead = false;
  /** Release has begun: new references are refused (kref_get_unless_zero fails). */
  dying = false;
  /** References held by code running in the driver (a fault in progress holds one). */
  refs = 0;
  /** The actor running now (set by the explorer before each step). */
  current = '';
  /** A sequence number read_retry found current while the lock was held (cleared by unlock). */
  private checkedSeq: number | null = null;
  /** read_retry calls per actor since its last successful commit (livelock detection). */
  readonly retries = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly mm: Mm,
    readonly startVpn: number,
    readonly endVpn: number,
    private readonly onInvalidate: InvalidateCallback = standardInvalidate,
  ) {
    this.lock = new DriverLock(`${name}.lock`);
    this.notifier = new MmuIntervalNotifier({
      invalidate: (_isub, range, seq) => this.onInvalidate(this, range, seq),
    });
    const rc = mmuIntervalNotifierInsert(this.notifier, mm, startVpn, endVpn - startVpn, this.notifier.ops);
    if (rc < 0) throw new Error(`${name}: mmu_interval_notifier_insert failed (${rc})`);
  }

  // ---- steps for driver programs ---------------------------------------------------------------

  /** mutex_lock: waits until the lock is free. */
  *takeLock(): Program {
    this.alive('mutex_lock');
    yield { kind: 'acquire', label: `${this.name}: mutex_lock`, lock: this.lock };
  }

  /** mutex_unlock. */
  *dropLock(): Program {
    yield step(`${this.name}: mutex_unlock`);
    if (this.lock.holder !== this.current) {
      throw new Violation(
        'lock',
        `${this.current} unlocks ${this.lock.name}, held by ${this.lock.holder ?? 'nobody'}`,
      );
    }
    this.lock.holder = null;
    this.checkedSeq = null;
  }

  /** mmu_interval_read_begin: waits while an invalidation of the range is in progress. */
  *readBegin(): Generator<Step, number, undefined> {
    yield step(`${this.name}: mmu_interval_read_begin`, {
      enabled: () => this.dead || mmuIntervalReadBeginTry(this.notifier) >= 0,
      readsOnly: true,
    });
    this.alive('mmu_interval_read_begin');
    return mmuIntervalReadBeginTry(this.notifier);
  }

  /** mmu_interval_read_retry: true when an invalidation ran since `seq` was read. */
  *readRetry(seq: number): Generator<Step, boolean, undefined> {
    yield step(`${this.name}: mmu_interval_read_retry`, { readsOnly: true });
    this.alive('mmu_interval_read_retry');
    const retry = mmuIntervalReadRetry(this.notifier, seq);
    if (!retry && this.lock.holder === this.current) this.checkedSeq = seq;
    if (retry) this.noteRetry();
    return retry;
  }

  private noteRetry(): void {
    const n = (this.retries.get(this.current) ?? 0) + 1;
    this.retries.set(this.current, n);
    if (n > RETRY_LIMIT) {
      throw new Violation(
        'livelock',
        `${this.current} retried ${n} times and never saw a stable sequence: is mmu_interval_read_begin inside the retry loop, and does the invalidate callback skip the device's own requests?`,
      );
    }
  }

  /**
   * hmm_range_fault over [startVpn, endVpn) with `seq` from readBegin. Returns the range with the
   * snapshot (pfns and flags) and the return code.
   */
  *rangeFault(
    startVpn: number,
    endVpn: number,
    seq: number,
    write: boolean,
  ): Generator<Step, { rc: number; range: HmmRange }, undefined> {
    yield step(`${this.name}: hmm_range_fault`, { invalidates: true });
    this.alive('hmm_range_fault');
    const range = new HmmRange(this.notifier, startVpn, endVpn);
    range.notifierSeq = seq;
    range.defaultFlags = HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0);
    range.devPrivateOwner = this.owner;
    const rc = hmmRangeFault(range);
    // -EBUSY: the sequence moved under hmm_range_fault; callers retry (bounded, like read_retry).
    if (rc === -EBUSY) this.noteRetry();
    return { rc, range };
  }

  /** Stores the snapshot of `range` in the device page table. */
  *commit(range: HmmRange): Program {
    yield step(`${this.name}: update device page table`);
    this.alive('update device page table');
    if (this.lock.holder !== this.current) {
      throw new Violation(
        'protocol',
        `${this.current} updates ${this.name}'s page table without holding ${this.lock.name}`,
      );
    }
    if (this.checkedSeq !== range.notifierSeq) {
      throw new Violation(
        'protocol',
        `${this.current} updates ${this.name}'s page table without mmu_interval_read_retry(seq ${range.notifierSeq}) returning false under the lock`,
      );
    }
    for (let vpn = range.startVpn; vpn < range.endVpn; vpn++) {
      const i = vpn - range.startVpn;
      const flags = range.flags[i];
      if (!(flags & HMM_PFN_VALID)) continue;
      this.mirror.set(vpn, range.pfns[i], flags & HMM_PFN_WRITE ? MIRROR_WRITE : MIRROR_READ);
    }
    this.retries.set(this.current, 0);
  }

  /** make_device_exclusive over [startVpn, endVpn) with this device's owner cookie. */
  *makeExclusive(startVpn: number, endVpn: number): Generator<Step, number[], undefined> {
    yield step(`${this.name}: make_device_exclusive`, { invalidates: true });
    this.alive('make_device_exclusive');
    const pages: number[] = [];
    const n = makeDeviceExclusiveRange(this.mm, startVpn, endVpn, pages, this.owner);
    const mem = this.mm.kernel.mem;
    // The grant holds the pages locked and referenced only until the device table has them.
    for (let i = 0; i < Math.max(0, n); i++) {
      if (pages[i] === 0) continue;
      mem.unlock(pages[i]);
      mem.put(pages[i]);
    }
    return pages;
  }

  /** Stores exclusive entries for pages a makeExclusive call returned (under the lock, after read_retry). */
  *commitExclusive(startVpn: number, pages: readonly number[], seq: number): Program {
    yield step(`${this.name}: update device page table`);
    this.alive('update device page table');
    if (this.lock.holder !== this.current || this.checkedSeq !== seq) {
      throw new Violation(
        'protocol',
        `${this.current} stores exclusive entries without a read_retry check under ${this.lock.name}`,
      );
    }
    pages.forEach((pfn, i) => {
      if (pfn !== 0) this.mirror.set(startVpn + i, pfn, MIRROR_WRITE);
    });
    this.retries.set(this.current, 0);
  }

  /** Takes a reference for work in the driver; false once release has begun. */
  *get(): Generator<Step, boolean, undefined> {
    yield step(`${this.name}: get reference`);
    // Work enters the driver through its open file, which keeps the structure allocated until
    // release: refused once release began, never a use after free by itself.
    if (this.dying || this.dead) return false;
    this.refs++;
    return true;
  }

  /** Drops a reference taken by `get`. */
  *put(): Program {
    yield step(`${this.name}: put reference`);
    this.alive('put reference');
    if (this.refs <= 0)
      throw new Violation('protocol', `${this.current} drops a reference of ${this.name} it does not hold`);
    this.refs--;
  }

  /**
   * The driver's release: refuses new references, waits for the ones held (`waitForRefs`; the buggy
   * designs do not), removes the notifier (waiting out invalidations) and frees the mirror.
   */
  *teardown(waitForRefs = true): Program {
    yield step(`${this.name}: release begins`);
    this.alive('release');
    this.dying = true;
    yield step(`${this.name}: mmu_interval_notifier_remove`, {
      enabled: () => (!waitForRefs || this.refs === 0) && mmuIntervalReadBeginTry(this.notifier) >= 0,
    });
    mmuIntervalNotifierRemove(this.notifier);
    this.mirror.clear();
    this.dead = true;
  }

  // ---- for invalidate callbacks (they run inside the kernel's step) ---------------------------------

  callbackLock(): void {
    if (this.lock.holder === this.current) {
      throw new Violation(
        'deadlock',
        `${this.name}'s invalidate callback waits for ${this.lock.name}, which ${this.current} holds while it causes the invalidation`,
      );
    }
    if (this.lock.holder !== null) {
      throw new Violation(
        'deadlock',
        `${this.name}'s invalidate callback found ${this.lock.name} held by ${this.lock.holder}`,
      );
    }
    this.lock.holder = `${this.name}/invalidate`;
  }

  callbackUnlock(): void {
    this.lock.holder = null;
  }

  setSeq(curSeq: number): void {
    mmuIntervalSetSeq(this.notifier, curSeq);
  }

  clearMirror(startVpn: number, endVpn: number): void {
    this.mirror.eraseRange(startVpn, endVpn - 1);
  }

  private alive(what: string): void {
    if (this.dead)
      throw new Violation(
        'use-after-free',
        `${this.current} calls ${what} on ${this.name} after its teardown`,
      );
  }
}

/** Retries of one actor without a commit before the explorer calls it a livelock. */
export const RETRY_LIMIT = 16;
