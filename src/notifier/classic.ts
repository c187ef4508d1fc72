// Models classic mmu notifier subscriptions (struct mmu_notifier): register and unregister, the
// refcounted get/put interface of 2019 with its deferred free, and the access-bit ("young")
// callbacks. A subscription holds mm_count, never mm_users (R-NOTIF-14), so a device binding
// cannot keep an exiting process's memory alive.

import { EINVAL, EOVERFLOW } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import type { MmuNotifierRange } from '../mm/mmuNotify.js';
import { notifierSrcu } from './srcu.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

/** The callbacks of a classic subscription; every member is optional. Ranges are in pages. */
export interface MmuNotifierOps {
  /** The address space is going away (exit) or the subscription is being unregistered. */
  release?(sub: MmuNotifier, mm: Mm): void;
  /** Returns 0, or -EAGAIN (only allowed when `range.blockable` is false). */
  invalidateRangeStart?(sub: MmuNotifier, range: MmuNotifierRange): number;
  invalidateRangeEnd?(sub: MmuNotifier, range: MmuNotifierRange): void;
  /** For secondary MMUs that walk the CPU page table (SVA): the CPU TLB was flushed. */
  archInvalidateSecondaryTlbs?(sub: MmuNotifier, mm: Mm, startVpn: number, endVpn: number): void;
  clearFlushYoung?(sub: MmuNotifier, mm: Mm, startVpn: number, endVpn: number): number;
  clearYoung?(sub: MmuNotifier, mm: Mm, startVpn: number, endVpn: number): number;
  testYoung?(sub: MmuNotifier, mm: Mm, vpn: number): number;
  /** get/put only: allocates the subscription (or returns -errno). */
  allocNotifier?(mm: Mm): MmuNotifier | number;
  /** get/put only: frees it, after a grace period once the last user put it. */
  freeNotifier?(sub: MmuNotifier): void;
}

const UINT_MAX = 0xffffffff;

export class MmuNotifier {
  ops: MmuNotifierOps;
  mm: Mm | null = null;
  /** get/put users. */
  users = 0;
  /** Still on its mm's list (teardown and put take it off). */
  onList = false;

  constructor(ops: MmuNotifierOps) {
    this.ops = ops;
  }
}

/**
 * mmu_notifier_register: 0, -EINVAL (secondary-TLB op together with start/end) or -ENOMEM. The mm
 * must have users (the kernel BUGs otherwise) and no invalidation may be in flight on it.
 */
export function mmuNotifierRegister(sub: MmuNotifier, mm: Mm): number {
  if (mm.users <= 0) throw new KernelBug(`mmu_notifier_register on mm ${mm.id} with no users`);
  const ops = sub.ops;
  if (ops.archInvalidateSecondaryTlbs && (ops.invalidateRangeStart || ops.invalidateRangeEnd)) return -EINVAL;
  if (mm.invalidateDepth > 0) {
    throw new KernelBug('mmu_notifier_register would wait for an invalidation in flight on this mm');
  }
  const rec = MmuNotifierSubscriptions.getOrCreate(mm);
  if (typeof rec === 'number') return rec;
  mm.mmgrab();
  sub.mm = mm;
  sub.users = 1;
  sub.onList = true;
  rec.list.unshift(sub);
  return 0;
}

/** mmu_notifier_unregister: release (if still listed), off the list, grace period, mmdrop. */
export function mmuNotifierUnregister(sub: MmuNotifier, mm: Mm): void {
  const srcu = notifierSrcu(mm.kernel);
  if (srcu.readersActive) throw new KernelBug('mmu_notifier_unregister from inside a notifier callback');
  const rec = MmuNotifierSubscriptions.of(mm);
  if (sub.onList && rec !== null) {
    srcu.read(() => sub.ops.release?.(sub, mm));
    rec.list.splice(rec.list.indexOf(sub), 1);
    sub.onList = false;
  }
  srcu.synchronize();
  sub.mm = null;
  mm.mmdrop();
}

/**
 * mmu_notifier_get: the one subscription of `ops` (by identity) on `mm`, with one more user, or a
 * new one from `ops.allocNotifier`. Returns it, or -errno.
 */
export function mmuNotifierGet(ops: MmuNotifierOps, mm: Mm): MmuNotifier | number {
  const rec = MmuNotifierSubscriptions.of(mm);
  if (rec !== null) {
    const found = rec.list.find((s) => s.ops === ops);
    if (found !== undefined) {
      if (found.users >= UINT_MAX) return -EOVERFLOW;
      found.users++;
      return found;
    }
  }
  if (!ops.allocNotifier) throw new KernelBug('mmu_notifier_get needs ops.allocNotifier');
  const sub = ops.allocNotifier(mm);
  if (typeof sub === 'number') return sub;
  sub.ops = ops;
  const rc = mmuNotifierRegister(sub, mm);
  if (rc < 0) {
    ops.freeNotifier?.(sub);
    return rc;
  }
  return sub;
}

/**
 * mmu_notifier_put: drops a user. The last put takes the subscription off the list at once (no
 * callback starts after it) and frees it after a grace period (free_notifier, then mmdrop).
 * `release` is not called.
 */
export function mmuNotifierPut(sub: MmuNotifier): void {
  const mm = sub.mm;
  if (mm === null) throw new KernelBug('mmu_notifier_put on a subscription that was never registered');
  if (sub.users === 0) {
    mm.kernel.warn('mmu_notifier_put on a subscription with no users');
    return;
  }
  sub.users--;
  if (sub.users > 0) return;
  const rec = MmuNotifierSubscriptions.of(mm);
  if (sub.onList && rec !== null) {
    rec.list.splice(rec.list.indexOf(sub), 1);
    sub.onList = false;
  }
  notifierSrcu(mm.kernel).callSrcu(() => {
    sub.ops.freeNotifier?.(sub);
    sub.mm = null;
    mm.mmdrop();
  });
}

/** mmu_notifier_synchronize: every deferred free scheduled so far has run when this returns. */
export function mmuNotifierSynchronize(kernel: Kernel): void {
  notifierSrcu(kernel).synchronize();
}

/** mmu_notifier_clear_flush_young: OR of every subscription's answer (0 without subscriptions). */
export function mmuNotifierClearFlushYoung(mm: Mm, startVpn: number, endVpn: number): number {
  return youngOr(mm, (sub) => sub.ops.clearFlushYoung?.(sub, mm, startVpn, endVpn) ?? 0);
}

export function mmuNotifierClearYoung(mm: Mm, startVpn: number, endVpn: number): number {
  return youngOr(mm, (sub) => sub.ops.clearYoung?.(sub, mm, startVpn, endVpn) ?? 0);
}

/** mmu_notifier_test_young: the first non-zero answer in list order. */
export function mmuNotifierTestYoung(mm: Mm, vpn: number): number {
  const rec = MmuNotifierSubscriptions.of(mm);
  if (rec === null) return 0;
  return rec.srcu.read(() => {
    for (const sub of rec.list.slice()) {
      const r = sub.ops.testYoung?.(sub, mm, vpn) ?? 0;
      if (r !== 0) return r;
    }
    return 0;
  });
}

function youngOr(mm: Mm, ask: (sub: MmuNotifier) => number): number {
  const rec = MmuNotifierSubscriptions.of(mm);
  if (rec === null) return 0;
  return rec.srcu.read(() => {
    let young = 0;
    for (const sub of rec.list.slice()) young |= ask(sub);
    return young;
  });
}
