// Models the per-mm mmu notifier record (struct mmu_notifier_subscriptions in mm/mmu_notifier.c):
// the list of classic subscriptions (newest first), the interval tree, the invalidate sequence
// (odd while an invalidation that hit an interval subscription is in flight), deferred tree
// updates, and the dispatch of every invalidation, release and secondary-TLB flush the mm layer
// announces. It is created by the first registration of any kind and lives as long as the mm
// object (R-NOTIF-1, R-NOTIF-51).

import { EAGAIN, ENOMEM } from '../sim/errno.js';
import { VPN_END_MAX } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import {
  MMU_NOTIFY_RELEASE,
  type MmuNotifierHooks,
  type MmuNotifierRange,
  noteInvalidation,
} from '../mm/mmuNotify.js';
import type { MmuNotifier } from './classic.js';
import type { MmuIntervalNotifier } from './interval.js';
import { IntervalTree } from './intervalTree.js';
import { notifierSrcu, type SrcuDomain } from './srcu.js';

/** Test hook: makes the next record allocation on this mm fail with -ENOMEM. */
export const failNextRecordAlloc = new WeakSet<Mm>();

export class MmuNotifierSubscriptions implements MmuNotifierHooks {
  readonly mm: Mm;
  /** Classic subscriptions, newest first (R-NOTIF-1). */
  readonly list: MmuNotifier[] = [];
  hasItree = false;
  invalidateSeq = 2;
  activeInvalidateRanges = 0;
  readonly itree = new IntervalTree<MmuIntervalNotifier>();
  /** Interval subscriptions whose insertion or removal waits for the current invalidation burst. */
  readonly deferredList: MmuIntervalNotifier[] = [];
  readonly srcu: SrcuDomain;
  /** Called whenever invalidate_seq becomes even (what a blocked reader or remover waits for). */
  readonly onSeqEven: (() => void)[] = [];

  constructor(mm: Mm) {
    this.mm = mm;
    this.srcu = notifierSrcu(mm.kernel);
  }

  /** The record of `mm`, created if absent; -ENOMEM when the allocation is made to fail. */
  static getOrCreate(mm: Mm): MmuNotifierSubscriptions | number {
    const existing = MmuNotifierSubscriptions.of(mm);
    if (existing !== null) return existing;
    if (failNextRecordAlloc.has(mm)) {
      failNextRecordAlloc.delete(mm);
      return -ENOMEM;
    }
    const rec = new MmuNotifierSubscriptions(mm);
    mm.notifier = rec;
    // R-NOTIF-51: the record goes with the mm object; by then teardown has emptied the list.
    mm.onFree.push(() => {
      if (rec.list.length > 0) mm.kernel.warn(`mm ${mm.id} freed with classic notifiers still listed`);
      mm.notifier = null;
    });
    return rec;
  }

  static of(mm: Mm): MmuNotifierSubscriptions | null {
    return mm.notifier instanceof MmuNotifierSubscriptions ? mm.notifier : null;
  }

  /** Whether an invalidation that hit an interval subscription is in flight (seq odd). */
  get invalidating(): boolean {
    return (this.invalidateSeq & 1) === 1;
  }

  // ---- the hooks the mm layer calls -------------------------------------------------------------

  invalidateRangeStart(range: MmuNotifierRange): number {
    if (this.hasItree) {
      const rc = this.intervalStart(range);
      if (rc !== 0) return rc;
    }
    return this.classicStart(range);
  }

  invalidateRangeEnd(range: MmuNotifierRange): void {
    if (this.hasItree) this.intervalEnd();
    this.srcu.read(() => {
      for (const sub of this.listed()) if (sub.onList) sub.ops.invalidateRangeEnd?.(sub, range);
    });
  }

  /** R-NOTIF-47 steps 1-3: interval RELEASE, classic release callbacks, classic list emptied. */
  release(mm: Mm): void {
    if (this.hasItree) {
      const range: MmuNotifierRange = {
        mm,
        startVpn: 0,
        endVpn: VPN_END_MAX,
        event: MMU_NOTIFY_RELEASE,
        owner: null,
        blockable: true,
      };
      noteInvalidation(range, 'start');
      this.intervalStart(range);
      this.intervalEnd();
      noteInvalidation(range, 'end');
    }
    this.srcu.read(() => {
      for (const sub of this.listed()) if (sub.onList) sub.ops.release?.(sub, mm);
    });
    for (const sub of this.list) sub.onList = false;
    this.list.length = 0;
  }

  invalidateSecondaryTlbs(mm: Mm, startVpn: number, endVpn: number): void {
    if (this.list.length === 0) return;
    this.srcu.read(() => {
      for (const sub of this.listed()) {
        if (sub.onList) sub.ops.archInvalidateSecondaryTlbs?.(sub, mm, startVpn, endVpn);
      }
    });
  }

  /**
   * The subscriptions to visit, in list order. Callers skip any that leaves the list while they
   * walk (put or unregister from a callback): like an RCU list walk, no callback starts on a
   * subscription after it was taken off.
   */
  private listed(): MmuNotifier[] {
    return this.list.slice();
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  /** R-NOTIF-37. Returns 0, or -EAGAIN when a non-blockable callback could not proceed. */
  private intervalStart(range: MmuNotifierRange): number {
    this.activeInvalidateRanges++;
    const hits = this.itree.intersecting(range.startVpn, range.endVpn - 1);
    if (hits.length > 0) this.invalidateSeq |= 1;
    const curSeq = this.invalidateSeq;
    let failed = false;
    this.srcu.read(() => {
      for (const isub of hits) {
        if (isub.ops.invalidate(isub, range, curSeq)) continue;
        if (range.blockable) {
          this.mm.kernel.warn('interval notifier returned false for a blockable range');
          continue;
        }
        failed = true;
        return;
      }
    });
    if (failed) {
      this.intervalEnd();
      return -EAGAIN;
    }
    return 0;
  }

  /** R-NOTIF-38: the last active range ends the burst: seq even, deferred updates applied. */
  private intervalEnd(): void {
    this.activeInvalidateRanges--;
    if (this.activeInvalidateRanges > 0 || !this.invalidating) return;
    this.invalidateSeq++;
    for (const isub of this.deferredList.splice(0)) {
      if (this.itree.has(isub)) {
        this.itree.remove(isub);
        isub.inTree = false;
      } else {
        this.itree.insert(isub.startVpn, isub.lastVpn, isub);
        isub.inTree = true;
      }
      isub.deferred = false;
    }
    for (const wake of this.onSeqEven.splice(0)) wake();
  }

  /** R-NOTIF-40/42: classic starts in list order; any failure still starts the rest, then ends all. */
  private classicStart(range: MmuNotifierRange): number {
    if (this.list.length === 0) return 0;
    let rc = 0;
    this.srcu.read(() => {
      for (const sub of this.listed()) {
        if (!sub.onList) continue;
        const r = sub.ops.invalidateRangeStart?.(sub, range) ?? 0;
        if (r !== 0) {
          if (range.blockable)
            this.mm.kernel.warn('classic notifier failed a blockable invalidate_range_start');
          if (rc === 0) rc = r;
        }
      }
      if (rc !== 0) {
        for (const sub of this.listed()) if (sub.onList) sub.ops.invalidateRangeEnd?.(sub, range);
      }
    });
    return rc;
  }
}
