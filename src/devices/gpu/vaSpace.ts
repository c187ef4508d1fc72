// One process's address space as a GPU sees it (an SVM "VA space", like nouveau's svmm or UVM's
// va_space): an interval notifier over the whole address space and the GPU's own page table, a
// DeviceTable of (pfn, attributes). The notifier erases entries on every invalidation except the
// GPU's own migrations, which update the table themselves (the owner cookie, R-NOTIF-6).

import { VPN_END_MAX } from '../../mm/constants.js';
import type { Mm } from '../../mm/mm.js';
import { MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../mm/mmuNotify.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
} from '../../notifier/interval.js';
import { DeviceTable } from '../deviceTable.js';

/** The entry allows reads (every entry does) and writes; LOCAL: the page is in GPU memory. */
export const GPU_ATTR_VALID = 1 << 31;
export const GPU_ATTR_WRITE = 1 << 30;
export const GPU_ATTR_LOCAL = 1 << 0;
/** The page is exclusive to the GPU (make_device_exclusive): atomics are allowed. */
export const GPU_ATTR_ATOMIC = 1 << 1;

export class GpuVaSpace {
  readonly mm: Mm;
  readonly table = new DeviceTable();
  readonly notifier: MmuIntervalNotifier;
  /** The driver's lock around its page table (the invalidate callback takes it too). */
  locked = false;
  /** Invalidations that reached the table. */
  invalidations = 0;
  /** Pages whose faults the driver could not resolve (the faulting kernel stops on them). */
  readonly fatal = new Set<number>();
  /** Pages with a fault in the GPU's fault buffer, not yet taken by a service pass. */
  readonly pendingFaults = new Set<number>();

  constructor(
    mm: Mm,
    readonly owner: unknown,
  ) {
    this.mm = mm;
    this.notifier = new MmuIntervalNotifier({
      invalidate: (isub, range, seq) => this.invalidate(isub, range, seq),
    });
  }

  /** Starts mirroring: the notifier over the whole address space. Returns 0 or -errno. */
  attach(): number {
    return mmuIntervalNotifierInsert(this.notifier, this.mm, 0, VPN_END_MAX - 1, this.notifier.ops);
  }

  detach(): void {
    mmuIntervalNotifierRemove(this.notifier);
    this.table.clear();
  }

  private invalidate(isub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
    // Migrations and exclusive grants the GPU itself started update the table on their own.
    if (
      (range.event === MMU_NOTIFY_MIGRATE || range.event === MMU_NOTIFY_EXCLUSIVE) &&
      range.owner === this.owner
    )
      return true;
    if (this.locked) {
      if (!range.blockable) return false;
      throw new Error('GPU invalidate would sleep on the driver lock it already holds');
    }
    mmuIntervalSetSeq(isub, curSeq);
    this.table.eraseRange(range.startVpn, range.endVpn - 1);
    this.invalidations++;
    return true;
  }
}
