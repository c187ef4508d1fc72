// One process's address space as a GPU sees it (an SVM "VA space", like nouveau's svmm or UVM's
// va_space): an interval notifier over the whole address space, the GPU's own page table (a
// DeviceTable of pfn and attributes), and the 2 MiB VA blocks the driver tracks residency in.
// Every change to the table goes through here so the GPU's TLB is invalidated with it. The
// notifier erases entries on every invalidation except the GPU's own migrations and exclusive
// grants, which update the table themselves (the owner cookie, R-NOTIF-6).

import { VPN_END_MAX } from '../../mm/constants.js';
import type { Mm } from '../../mm/mm.js';
import { MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../mm/mmuNotify.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
} from '../../notifier/interval.js';
import { DriverLock } from '../../sim/steps.js';
import { DeviceTable } from '../deviceTable.js';
import type { GpuTlb } from './tlb.js';
import { VA_BLOCK_PAGES, VaBlock } from './vaBlock.js';

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
  readonly lock: DriverLock;
  /** Invalidations that reached the table. */
  invalidations = 0;
  /** Pages whose faults the driver could not resolve (the faulting kernel stops on them). */
  readonly fatal = new Set<number>();
  /** Pages with a fault in the GPU's fault buffer or being serviced, not yet resolved. */
  readonly pendingFaults = new Set<number>();
  /** VA blocks with residency or history, by block number (vpn / 512). */
  private readonly blocks = new Map<number, VaBlock>();

  constructor(
    mm: Mm,
    readonly owner: unknown,
    /** This space's index on its GPU (tags its TLB entries and its blocks). */
    readonly index: number,
    private readonly tlb: GpuTlb,
    gpuName: string,
  ) {
    this.mm = mm;
    this.lock = new DriverLock(`${gpuName}'s table lock of mm ${mm.id}`);
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
    this.tlb.invalidateSpace(this.index);
  }

  /** The VA block holding `vpn`, created on first use. */
  block(vpn: number): VaBlock {
    const n = Math.floor(vpn / VA_BLOCK_PAGES);
    let b = this.blocks.get(n);
    if (b === undefined) {
      b = new VaBlock(this.index, n * VA_BLOCK_PAGES);
      this.blocks.set(n, b);
    }
    return b;
  }

  /** The VA block holding `vpn` if it exists. */
  findBlock(vpn: number): VaBlock | undefined {
    return this.blocks.get(Math.floor(vpn / VA_BLOCK_PAGES));
  }

  /** Sets one entry; a replaced entry's translation leaves the TLB. */
  setEntry(vpn: number, pfn: number, attr: number): void {
    if (this.table.attr(vpn) !== 0) this.tlb.invalidateRange(this.index, vpn, vpn + 1);
    this.table.set(vpn, pfn, attr);
  }

  /** Removes the entries of [startVpn, endVpn) and their translations. */
  clearRange(startVpn: number, endVpn: number): void {
    this.table.eraseRange(startVpn, endVpn - 1);
    this.tlb.invalidateRange(this.index, startVpn, endVpn);
  }

  private invalidate(isub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
    // Migrations and exclusive grants the GPU itself started update the table on their own.
    if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === this.owner) return true;
    if (range.event === MMU_NOTIFY_MIGRATE && range.owner === this.owner) {
      // The sequence still moves, as nouveau's interval notifier moves it for every event but
      // its own exclusive grants: a CPU fault's migrate_to_ram (owner: this GPU) can land
      // between a mirror snapshot and its commit, which must then see the snapshot stale
      // instead of mapping the device page just freed.
      mmuIntervalSetSeq(isub, curSeq);
      return true;
    }
    if (this.lock.holder !== null) {
      if (!range.blockable) return false;
      throw new Error('GPU invalidate would sleep on the driver lock it already holds');
    }
    mmuIntervalSetSeq(isub, curSeq);
    this.clearRange(range.startVpn, range.endVpn);
    this.invalidations++;
    return true;
  }
}
