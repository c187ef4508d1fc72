// The choke point between page-table changes and secondary MMUs. Every mm operation that removes a
// translation, lowers a permission or changes the page behind an address brackets the change with
// invalidateRangeStart/End here, with the event type of mmu-notifiers.md section 7, and reports CPU
// TLB flushes here. The notifier layer plugs in through `Mm.notifier`; without it these calls only
// count (R-NOTIF-3: an mm without a subscriptions record gets no callbacks).

import type { Mm } from './mm.js';

// Event types (enum mmu_notifier_event), numeric values as in the kernel.
export const MMU_NOTIFY_UNMAP = 0;
export const MMU_NOTIFY_CLEAR = 1;
export const MMU_NOTIFY_PROTECTION_VMA = 2;
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
export const MMU_NOTIFY_SOFT_DIRTY = 4;
export const MMU_NOTIFY_RELEASE = 5;
export const MMU_NOTIFY_MIGRATE = 6;
export const MMU_NOTIFY_EXCLUSIVE = 7;

export type MmuNotifyEvent =
  | typeof MMU_NOTIFY_UNMAP
  | typeof MMU_NOTIFY_CLEAR
  | typeof MMU_NOTIFY_PROTECTION_VMA
  | typeof MMU_NOTIFY_PROTECTION_PAGE
  | typeof MMU_NOTIFY_SOFT_DIRTY
  | typeof MMU_NOTIFY_RELEASE
  | typeof MMU_NOTIFY_MIGRATE
  | typeof MMU_NOTIFY_EXCLUSIVE;

export const MMU_NOTIFY_EVENT_NAMES = [
  'unmap',
  'clear',
  'protection_vma',
  'protection_page',
  'soft_dirty',
  'release',
  'migrate',
  'exclusive',
] as const;

/** Range descriptor (struct mmu_notifier_range), in pages: [startVpn, endVpn). */
export interface MmuNotifierRange {
  readonly mm: Mm;
  readonly startVpn: number;
  readonly endVpn: number;
  readonly event: MmuNotifyEvent;
  /** Cookie of the initiator; meaningful only for MIGRATE and EXCLUSIVE (R-NOTIF-6), else null. */
  readonly owner: unknown;
  readonly blockable: boolean;
}

/** What the notifier layer provides to the mm (the per-mm subscriptions record implements it). */
export interface MmuNotifierHooks {
  /** Returns 0, or -EAGAIN for a non-blockable range a subscriber could not handle. */
  invalidateRangeStart(range: MmuNotifierRange): number;
  invalidateRangeEnd(range: MmuNotifierRange): void;
  /** exit_mmap: interval RELEASE and classic release callbacks, before the final unmap. */
  release(mm: Mm): void;
  /** The CPU TLB was flushed for [startVpn, endVpn): secondary TLBs sharing the page table follow. */
  invalidateSecondaryTlbs(mm: Mm, startVpn: number, endVpn: number): void;
}

/** Counts an invalidation and shows it to observers (also used for RELEASE, which has no start call). */
export function noteInvalidation(range: MmuNotifierRange, phase: 'start' | 'end'): void {
  const kernel = range.mm.kernel;
  if (phase === 'start') {
    kernel.stats.add(kernel.ctr.invalidations[range.event]);
    kernel.observer?.invalidateStart?.(range);
  } else {
    kernel.observer?.invalidateEnd?.(range);
  }
}

/** Starts an invalidation; the returned range must be passed to `invalidateRangeEnd`. */
export function invalidateRangeStart(
  mm: Mm,
  event: MmuNotifyEvent,
  startVpn: number,
  endVpn: number,
  owner: unknown = null,
): MmuNotifierRange {
  const range: MmuNotifierRange = {
    mm,
    startVpn,
    endVpn,
    event,
    owner: event === MMU_NOTIFY_MIGRATE || event === MMU_NOTIFY_EXCLUSIVE ? owner : null,
    blockable: true,
  };
  mm.invalidateDepth++;
  noteInvalidation(range, 'start');
  if (mm.notifier !== null) mm.notifier.invalidateRangeStart(range);
  return range;
}

/**
 * mmu_notifier_invalidate_range_start_nonblock (the OOM reaper's entry point): subscribers may
 * refuse with -EAGAIN, in which case the caller must neither change entries nor call end.
 */
export function invalidateRangeStartNonblock(
  mm: Mm,
  event: MmuNotifyEvent,
  startVpn: number,
  endVpn: number,
): { range: MmuNotifierRange; rc: number } {
  const range: MmuNotifierRange = { mm, startVpn, endVpn, event, owner: null, blockable: false };
  noteInvalidation(range, 'start');
  const rc = mm.notifier === null ? 0 : mm.notifier.invalidateRangeStart(range);
  if (rc === 0) mm.invalidateDepth++;
  return { range, rc };
}

export function invalidateRangeEnd(range: MmuNotifierRange): void {
  const mm = range.mm;
  const deferred = mm.kernel.deferredEnds;
  if (deferred !== null) {
    // The operation is still in its window: the end comes when it completes (Kernel.withWindow).
    deferred.push(range);
    return;
  }
  finishInvalidation(range);
}

/** @internal The end of an invalidation, now. */
export function finishInvalidation(range: MmuNotifierRange): void {
  const mm = range.mm;
  if (mm.notifier !== null) mm.notifier.invalidateRangeEnd(range);
  mm.invalidateDepth--;
  noteInvalidation(range, 'end');
}

/** flush_tlb_range: the CPU TLB loses [startVpn, endVpn); secondary TLBs are told at the same point. */
export function flushTlbRange(mm: Mm, startVpn: number, endVpn: number): void {
  const kernel = mm.kernel;
  kernel.stats.add(kernel.ctr.tlbFlushes);
  // Other holders of the address space may run on other CPUs: their TLBs are shot down too.
  kernel.charge(
    mm.users > 1 ? kernel.costs.tlbFlushNs + kernel.costs.tlbShootdownNs : kernel.costs.tlbFlushNs,
  );
  if (mm.notifier !== null) mm.notifier.invalidateSecondaryTlbs(mm, startVpn, endVpn);
}
