// Models interval mmu notifiers (struct mmu_interval_notifier, v5.5+): a subscription to a range of
// one mm with one `invalidate` callback, and the collision-retry protocol drivers mirror with:
// read_begin / read_retry / set_seq over the record's invalidate sequence (mmu-notifiers.md 4.1).
// Ranges are in pages: [startVpn, lastVpn] inclusive, as the kernel's interval tree keys them.

import { EAGAIN, EINVAL, EOVERFLOW } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import { VPN_END_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import type { MmuNotifierRange } from '../mm/mmuNotify.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

export interface MmuIntervalNotifierOps {
  /**
   * An invalidation intersecting the subscription started. The callback must call
   * `mmuIntervalSetSeq(isub, curSeq)` under the driver lock (unless it deliberately ignores the
   * event, R-NOTIF-7) and drop its translations before returning. Returns false only for a
   * non-blockable range it could not handle without sleeping.
   */
  invalidate(isub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean;
}

export class MmuIntervalNotifier {
  ops: MmuIntervalNotifierOps;
  mm: Mm | null = null;
  startVpn = 0;
  lastVpn = 0;
  /** The subscription's own sequence (odd; equal to the record's while it is being invalidated). */
  invalidateSeq = 0;
  inTree = false;
  /** Queued on the record's deferred list (for insertion if not in the tree, else for removal). */
  deferred = false;

  constructor(ops: MmuIntervalNotifierOps) {
    this.ops = ops;
  }
}

/**
 * mmu_interval_notifier_insert: subscribes `isub` to [startVpn, startVpn + npages) of `mm`.
 * Returns 0, -EOVERFLOW (empty or overflowing range), -EINVAL (mm has no users) or -ENOMEM.
 */
export function mmuIntervalNotifierInsert(
  isub: MmuIntervalNotifier,
  mm: Mm,
  startVpn: number,
  npages: number,
  ops: MmuIntervalNotifierOps,
): number {
  let rec = MmuNotifierSubscriptions.of(mm);
  if (rec === null || !rec.hasItree) {
    if (mm.users <= 0) throw new KernelBug(`interval notifier registration on mm ${mm.id} with no users`);
    if (mm.invalidateDepth > 0)
      throw new KernelBug('interval registration would wait for an invalidation in flight');
    const created = MmuNotifierSubscriptions.getOrCreate(mm);
    if (typeof created === 'number') return created;
    created.hasItree = true;
    rec = created;
  }
  if (npages <= 0 || startVpn + npages > VPN_END_MAX) return -EOVERFLOW;
  if (mm.users <= 0) {
    mm.kernel.warn('mmu_interval_notifier_insert on an mm with no users');
    return -EINVAL;
  }
  mm.mmgrab();
  isub.ops = ops;
  isub.mm = mm;
  isub.startVpn = startVpn;
  isub.lastVpn = startVpn + npages - 1;
  if (rec.activeInvalidateRanges > 0) {
    if (rec.invalidating) {
      isub.deferred = true;
      rec.deferredList.push(isub);
      isub.invalidateSeq = rec.invalidateSeq;
      return 0;
    }
    rec.invalidateSeq |= 1;
    isub.invalidateSeq = rec.invalidateSeq;
  } else {
    isub.invalidateSeq = rec.invalidateSeq - 1;
  }
  rec.itree.insert(isub.startVpn, isub.lastVpn, isub);
  isub.inTree = true;
  return 0;
}

/**
 * mmu_interval_notifier_remove. While an invalidation burst is in flight a subscription in the tree
 * is only queued for removal, and the caller must wait for the burst to end: this returns -EAGAIN
 * then (a step-wise caller waits via `mmuIntervalWaitEven` and calls `mmuIntervalRemoveFinish`).
 */
export function mmuIntervalNotifierRemoveTry(isub: MmuIntervalNotifier): number {
  const mm = isub.mm;
  if (mm === null) throw new KernelBug('removing an interval notifier that is not inserted');
  const rec = MmuNotifierSubscriptions.of(mm)!;
  if (rec.invalidating) {
    if (isub.deferred && !isub.inTree) {
      rec.deferredList.splice(rec.deferredList.indexOf(isub), 1);
      isub.deferred = false;
    } else {
      if (!isub.deferred) {
        isub.deferred = true;
        rec.deferredList.push(isub);
      }
      return -EAGAIN;
    }
  } else {
    rec.itree.remove(isub);
    isub.inTree = false;
  }
  mmuIntervalRemoveFinish(isub);
  return 0;
}

/** The part of remove after any wait: the subscription's mm_count reference goes. */
export function mmuIntervalRemoveFinish(isub: MmuIntervalNotifier): void {
  const mm = isub.mm!;
  if (isub.inTree || isub.deferred)
    throw new KernelBug('finishing the removal of a notifier still in the tree');
  isub.mm = null;
  mm.mmdrop();
}

/** mmu_interval_notifier_remove for sequential callers: waiting would never end, so it is a bug. */
export function mmuIntervalNotifierRemove(isub: MmuIntervalNotifier): void {
  if (mmuIntervalNotifierRemoveTry(isub) === -EAGAIN) {
    throw new KernelBug(
      'mmu_interval_notifier_remove during an invalidation (from a callback?) would deadlock',
    );
  }
}

/**
 * mmu_interval_read_begin without sleeping: the sequence to pass to hmm_range_fault, or -EAGAIN
 * when `isub` is being invalidated right now (the caller must wait for the burst to end).
 */
export function mmuIntervalReadBeginTry(isub: MmuIntervalNotifier): number {
  const rec = MmuNotifierSubscriptions.of(isub.mm!)!;
  const seq = isub.invalidateSeq;
  if (seq === rec.invalidateSeq) return -EAGAIN;
  return seq;
}

/** mmu_interval_read_begin for sequential callers (where a wait could never end). */
export function mmuIntervalReadBegin(isub: MmuIntervalNotifier): number {
  const seq = mmuIntervalReadBeginTry(isub);
  if (seq === -EAGAIN) {
    throw new KernelBug('mmu_interval_read_begin while its range is being invalidated would never return');
  }
  return seq;
}

/** Registers `wake` to run when the invalidation burst in flight on `isub`'s mm ends. */
export function mmuIntervalWaitEven(isub: MmuIntervalNotifier, wake: () => void): void {
  MmuNotifierSubscriptions.of(isub.mm!)!.onSeqEven.push(wake);
}

/** mmu_interval_set_seq: called by `invalidate` under the driver lock. */
export function mmuIntervalSetSeq(isub: MmuIntervalNotifier, curSeq: number): void {
  isub.invalidateSeq = curSeq;
}

/** mmu_interval_read_retry: under the driver lock, true if an invalidation started since `seq`. */
export function mmuIntervalReadRetry(isub: MmuIntervalNotifier, seq: number): boolean {
  return isub.invalidateSeq !== seq;
}

/** mmu_interval_check_retry: the same test without the lock (true is definitive). */
export function mmuIntervalCheckRetry(isub: MmuIntervalNotifier, seq: number): boolean {
  return isub.invalidateSeq !== seq;
}
