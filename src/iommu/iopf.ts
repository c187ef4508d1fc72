// Models drivers/iommu/io-pgfault.c: the core's handling of recoverable device faults. An IOMMU
// driver reports each page request (or stall event) with `iommuReportDeviceFault`; requests that
// are not the last of their group wait as partials, a last one completes a group that is routed by
// the group's PASID slot to the attached domain's handler; every group is answered exactly once
// (R-SVA-75) by `iopfGroupResponse`, or by the teardown paths that remove a device from its queue.
// The IOPF queue is a work queue shared by an IOMMU instance's devices (R-SVA-70).

import { EBUSY, EINVAL, ENODEV } from '../sim/errno.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_NO_PASID,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_INVALID,
  type PageResponseCode,
} from './constants.js';
import type { Device } from './device.js';
import type { AttachHandle } from './domain.js';
import type { Iommu } from './iommu.js';

/** One page request or stall event as the core sees it (struct iommu_fault, page-request form). */
export interface IopfFault {
  /** The PASID when IOMMU_FAULT_PAGE_REQUEST_PASID_VALID is set. */
  readonly pasid: number;
  readonly vpn: number;
  /** IOMMU_FAULT_PERM_* bits. */
  readonly perm: number;
  /** Group index (PRG index, or the stall tag). */
  readonly grpid: number;
  /** IOMMU_FAULT_PAGE_REQUEST_* and IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID bits. */
  readonly flags: number;
  /** When the request reached the IOMMU (for latency figures). */
  readonly atNs?: number;
}

/** A complete fault group (struct iopf_group): owned by the fault layer until answered. */
export class IopfGroup {
  readonly id: number;
  readonly dev: Device;
  /** The requests of the group in arrival order, the last one last. */
  readonly faults: IopfFault[];
  readonly handle: AttachHandle | null;
  /** Waiting for its response (on the device's pending list). */
  pending = true;

  constructor(id: number, dev: Device, faults: IopfFault[], handle: AttachHandle | null) {
    this.id = id;
    this.dev = dev;
    this.faults = faults;
    this.handle = handle;
  }

  get lastFault(): IopfFault {
    return this.faults[this.faults.length - 1];
  }
}

/** A device's registration with an IOPF queue (struct iommu_fault_param). */
export class IopfParam {
  readonly partial: IopfFault[] = [];
  /** Groups pending a response. */
  readonly faults = new Set<IopfGroup>();

  constructor(
    readonly dev: Device,
    readonly queue: IopfQueue,
  ) {}
}

interface IopfWork {
  readonly dev: Device;
  readonly run: (group: IopfGroup) => void;
  readonly group: IopfGroup;
}

/** The IOPF work queue of one IOMMU instance. Items run in queue order (one worker). */
export class IopfQueue {
  readonly devices = new Set<Device>();
  private readonly work: IopfWork[] = [];
  private head = 0;
  /** Tests and the explorer hold the worker back; a flush still runs everything. */
  paused = false;
  private scheduled = false;

  constructor(readonly iommu: Iommu) {
    this.actor = `${iommu.name}/iopf`;
  }

  get queued(): number {
    return this.work.length - this.head;
  }

  /** queue_work: `run(group)` happens later, on the queue's worker. */
  queueWork(dev: Device, run: (group: IopfGroup) => void, group: IopfGroup): void {
    this.work.push({ dev, run, group });
    this.kick();
  }

  /** Runs the next queued item; false if none. */
  runOne(): boolean {
    if (this.head >= this.work.length) return false;
    const item = this.work[this.head++];
    if (this.head === this.work.length) {
      this.work.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.work.length) {
      this.work.splice(0, this.head);
      this.head = 0;
    }
    item.run(item.group);
    return true;
  }

  /** flush_workqueue: every item queued so far (and any they queue) has run when this returns. */
  flush(): void {
    while (this.runOne());
  }

  /** Lets a paused worker go again. */
  resume(): void {
    this.paused = false;
    this.kick();
  }

  private kick(): void {
    if (this.scheduled || this.paused || this.queued === 0) return;
    this.scheduled = true;
    const core = this.iommu.core;
    core.kernel.events.schedule(core.costs.iopfWorkNs, this.actor, this.onWorker);
  }

  private readonly actor: string;
  /** The worker's turn (one bound function for every event). */
  private readonly onWorker = (): void => {
    this.scheduled = false;
    if (this.paused) return;
    this.runOne();
    this.kick();
  };
}

/** iopf_queue_add_device: 0, -EBUSY (already on a queue) or -ENODEV (driver cannot respond). */
export function iopfQueueAddDevice(queue: IopfQueue, dev: Device): number {
  if (dev.iopf !== null) return -EBUSY;
  if (dev.iommu === null) return -ENODEV;
  dev.iopf = new IopfParam(dev, queue);
  queue.devices.add(dev);
  return 0;
}

/**
 * iopf_queue_remove_device: partials are discarded unanswered; every pending group is answered
 * INVALID now (R-SVA-76). Work still queued for those groups later finds them answered.
 */
export function iopfQueueRemoveDevice(queue: IopfQueue, dev: Device): void {
  const param = dev.iopf;
  if (param === null || param.queue !== queue) return;
  param.partial.length = 0;
  for (const group of [...param.faults]) {
    group.pending = false;
    endGroupSpan(group, IOMMU_PAGE_RESP_INVALID);
    param.faults.delete(group);
    queue.iommu.sendPageResponse(dev, group.lastFault, IOMMU_PAGE_RESP_INVALID);
  }
  queue.devices.delete(dev);
  dev.iopf = null;
}

/** iopf_queue_flush_dev: every queued item of the device's queue has finished. -ENODEV if unregistered. */
export function iopfQueueFlushDev(dev: Device): number {
  if (dev.iopf === null) return -ENODEV;
  dev.iopf.queue.flush();
  return 0;
}

/** iopf_queue_discard_partial: after a page-request queue overflow, partials of every device go. */
export function iopfQueueDiscardPartial(queue: IopfQueue): void {
  for (const dev of queue.devices) if (dev.iopf !== null) dev.iopf.partial.length = 0;
}

/**
 * iopf_group_response: answers the group unless a teardown path already did (R-SVA-75), and
 * frees it.
 */
export function iopfGroupResponse(group: IopfGroup, code: PageResponseCode): void {
  if (!group.pending) return;
  group.pending = false;
  endGroupSpan(group, code);
  group.dev.iopf?.faults.delete(group);
  group.dev.iommu!.sendPageResponse(group.dev, group.lastFault, code);
}

function endGroupSpan(group: IopfGroup, code: PageResponseCode): void {
  const k = group.dev.core.kernel;
  if (k.trace.enabled)
    k.trace.asyncEnd(k.engine.nowNs, `${group.dev.iommu!.name}/iopf`, 'iopf', 'fault group', group.id, {
      code,
    });
}

/** find_fault_handler: the handle on the fault's PASID (or PASID 0) whose domain has a handler. */
function findFaultHandler(dev: Device, fault: IopfFault): AttachHandle | null {
  const group = dev.group;
  if (group === null) return null;
  const pasid = fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID ? fault.pasid : IOMMU_NO_PASID;
  const handle = group.handle(pasid);
  if (handle === null || handle.domain.iopfHandler === null) return null;
  return handle;
}

/**
 * iommu_report_device_fault: the entry for every recoverable fault. Returns 0, or -EINVAL when no
 * handler exists (the request is then answered INVALID at once, last or not, R-SVA-63).
 */
export function iommuReportDeviceFault(dev: Device, fault: IopfFault): number {
  const core = dev.core;
  const handle = findFaultHandler(dev, fault);
  const param = dev.iopf;
  if (handle === null || param === null) {
    // A handler without a queue registration is a driver bug the kernel warns about (R-SVA-64).
    if (handle !== null) core.kernel.warn(`iopf: device ${dev.name} has a fault handler but no IOPF queue`);
    dev.iommu!.sendPageResponse(dev, fault, IOMMU_PAGE_RESP_INVALID);
    return -EINVAL;
  }
  if (!(fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE)) {
    // Partials are bounded by the device's outstanding budget and the page-request queue.
    param.partial.push(fault);
    return 0;
  }
  // The group takes every partial with the same index (whatever its PASID), in arrival order.
  const faults: IopfFault[] = [];
  for (let i = 0; i < param.partial.length;) {
    if (param.partial[i].grpid === fault.grpid) faults.push(param.partial.splice(i, 1)[0]);
    else i++;
  }
  faults.push(fault);
  const group = new IopfGroup(core.nextObjectId(), dev, faults, handle);
  param.faults.add(group);
  const trace = core.kernel.trace;
  if (trace.enabled) {
    trace.asyncBegin(core.kernel.engine.nowNs, `${dev.iommu!.name}/iopf`, 'iopf', 'fault group', group.id, {
      dev: dev.name,
      pasid: fault.pasid,
      requests: faults.length,
    });
  }
  core.stats.add(core.ctr.faultGroups);
  // A group that cannot be allocated, or that the handler refuses, is answered FAILURE (R-SVA-66).
  if (core.inject.takeGroupAllocFailure()) {
    iopfGroupResponse(group, IOMMU_PAGE_RESP_FAILURE);
    return 0;
  }
  if (handle.domain.iopfHandler!(group) !== 0) iopfGroupResponse(group, IOMMU_PAGE_RESP_FAILURE);
  return 0;
}
