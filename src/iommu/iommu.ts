// Models one IOMMU instance (a VT-d remapping unit, an SMMUv3, an AMD IOMMU): its IOTLB, its
// hardware page-request queue and the driver thread that consumes it (VT-d prq_event_thread and
// its AMD/SMMU-PRI equivalents), the SMMU's stall events and RESUME commands, its I/O page-fault
// work queue, its SMMU ASID space, and the logs a user inspects: non-recoverable faults,
// responses sent and (optionally) every command written to the invalidation queue.

import { TASK_SIZE_VPN } from '../mm/constants.js';
import { Log2Histogram } from '../sim/histogram.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
  IOMMU_FAULT_PERM_EXEC,
  IOMMU_FAULT_PERM_PRIV,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  type PageResponseCode,
} from './constants.js';
import type { IommuCore } from './core.js';
import type { Device, DeviceOptions, PageRequestMessage, PageResponseMessage } from './device.js';
import { type IopfFault, IopfQueue, iopfQueueDiscardPartial, iommuReportDeviceFault } from './iopf.js';
import { TranslationCache } from './translationCache.js';

export type IommuFlavour = 'vtd' | 'smmu' | 'amd';

export interface IommuOptions {
  readonly name?: string;
  /** Default `vtd`. */
  readonly flavour?: IommuFlavour;
  /** First-stage tables can walk the CPU's page tables (R-SVA-3; default true). */
  readonly svaCapable?: boolean;
  /** Entries of the hardware page-request (or event) queue (default 512). */
  readonly prqDepth?: number;
  /** On overflow the hardware answers a dropped last request Success (default: VT-d only). */
  readonly prqOverflowAutoSuccess?: boolean;
  /** Walks set accessed/dirty bits (R-SVA-52; default true). */
  readonly hwAccessDirty?: boolean;
  /** SMMU ASID width (default 16). */
  readonly asidBits?: number;
  /** IOTLB entries (default 4096). */
  readonly iotlbEntries?: number;
  /** SMMU range invalidation; without it large ranges become a flush of the ASID (default true). */
  readonly rangeInvalidation?: boolean;
  /** SMMU forces stalling: even quiet descriptors stall (default false). */
  readonly forceStall?: boolean;
  /** [OPT:smmuPri]: the SMMU accepts PCIe PRI like VT-d (default false). */
  readonly smmuPri?: boolean;
  /** [OPT:smmuSharedCpuAsid]: SMMU domains use the CPU's pinned ASID (default false). */
  readonly smmuSharedCpuAsid?: boolean;
  /** CPUs of the machine (pinned-ASID limit under smmuSharedCpuAsid; default 2). */
  readonly cpus?: number;
  /** Keep every invalidation-queue command in `commands` (default false). */
  readonly recordCommands?: boolean;
}

/** A command written to the IOMMU's invalidation queue, or a hardware-side action, for tests and traces. */
export interface IommuCommand {
  readonly op:
    'pasid-entry' | 'pasid-cache-inv' | 'iotlb-inv' | 'devtlb-inv' | 'drain-prq' | 'page-response' | 'resume';
  readonly dev?: string;
  readonly pasid?: number;
  readonly tag?: number;
  readonly startVpn?: number;
  readonly endVpn?: number;
  readonly detail?: string;
}

/** A non-recoverable fault the IOMMU recorded (R-SVA-53). */
export interface IommuFaultRecord {
  readonly tNs: number;
  readonly dev: string;
  readonly pasid: number;
  readonly vpn: number;
  readonly access: number;
  readonly reason: string;
}

/** A page response (or RESUME) the IOMMU sent, by software or by the hardware itself. */
export interface SentResponse {
  readonly tNs: number;
  readonly dev: string;
  readonly pasid: number | undefined;
  readonly index: number;
  readonly code: PageResponseCode;
  readonly by: 'software' | 'hardware';
}

/** Model-internal fault flag: the fault is a stalled transaction (answer with RESUME). */
export const IOPF_FAULT_STALL = 1 << 16;

/** Page requests whose address is not canonical (beyond the user half) are rejected by VT-d. */
function isCanonicalUserVpn(vpn: number): boolean {
  return vpn >= 0 && vpn <= TASK_SIZE_VPN;
}

export class Iommu {
  readonly core: IommuCore;
  readonly name: string;
  readonly flavour: IommuFlavour;
  readonly svaCapable: boolean;
  readonly hwAccessDirty: boolean;
  readonly prqDepth: number;
  readonly prqOverflowAutoSuccess: boolean;
  readonly asidBits: number;
  readonly rangeInvalidation: boolean;
  readonly forceStall: boolean;
  readonly smmuPri: boolean;
  readonly smmuSharedCpuAsid: boolean;
  readonly cpus: number;
  readonly iotlb: TranslationCache;
  readonly iopfQueue: IopfQueue;
  readonly devices: Device[] = [];

  /** The hardware page-request queue (or SMMU event queue for stalls). */
  readonly prq: { dev: Device; fault: IopfFault }[] = [];
  prqOverflow = false;
  /** Tests hold the consuming thread back (the queue then fills, S-21). */
  prqPaused = false;
  private prqScheduled = false;

  /** SMMU ASIDs in use (index = ASID). */
  private readonly asidsUsed: Uint8Array;
  asidsInUse = 0;

  readonly faultLog: IommuFaultRecord[] = [];
  readonly responsesSent: SentResponse[] = [];
  commands: IommuCommand[] | null;
  /** Page-table walks done (IOTLB misses and ATS translations that walked). */
  walks = 0;
  /** Request-to-response latency of page requests and stalls. */
  readonly iopfLatency: Log2Histogram;
  /** Reports the core refused with -EINVAL (no handler for the PASID, R-SVA-63). */
  faultReportErrors = 0;

  constructor(core: IommuCore, options: IommuOptions) {
    this.core = core;
    this.flavour = options.flavour ?? 'vtd';
    if (!['vtd', 'smmu', 'amd'].includes(this.flavour)) {
      throw new RangeError(`IOMMU flavour must be vtd, smmu or amd, got ${String(this.flavour)}`);
    }
    this.name = options.name ?? `${this.flavour}${core.iommus.length}`;
    this.svaCapable = options.svaCapable ?? true;
    this.hwAccessDirty = options.hwAccessDirty ?? true;
    this.prqDepth = options.prqDepth ?? 512;
    this.prqOverflowAutoSuccess = options.prqOverflowAutoSuccess ?? this.flavour === 'vtd';
    this.asidBits = options.asidBits ?? 16;
    this.rangeInvalidation = options.rangeInvalidation ?? true;
    this.forceStall = options.forceStall ?? false;
    this.smmuPri = options.smmuPri ?? false;
    this.smmuSharedCpuAsid = options.smmuSharedCpuAsid ?? false;
    this.cpus = options.cpus ?? 2;
    if (!Number.isInteger(this.prqDepth) || this.prqDepth < 1) {
      throw new RangeError(`IOMMU ${this.name}: prqDepth must be a whole number >= 1, got ${this.prqDepth}`);
    }
    if (!Number.isInteger(this.asidBits) || this.asidBits < 1 || this.asidBits > 16) {
      throw new RangeError(`IOMMU ${this.name}: asidBits must be in [1, 16], got ${this.asidBits}`);
    }
    this.iotlb = new TranslationCache({ entries: options.iotlbEntries ?? 4096 });
    this.iopfQueue = new IopfQueue(this);
    this.asidsUsed = new Uint8Array(1 << this.asidBits);
    this.asidsUsed[0] = 1;
    this.commands = options.recordCommands ? [] : null;
    this.prqActor = `${this.name}/prq`;
    this.iopfLatency = new Log2Histogram(`latency.${this.name}.iopf`);
  }

  private readonly prqActor: string;

  /** A device behind this IOMMU, in a group of its own unless `options.group` says otherwise. */
  addDevice(options: DeviceOptions): Device {
    return this.core.addDevice({ ...options, iommu: this });
  }

  /** Whether recoverable faults of `dev` go through the core fault path (R-SVA-5, R-SVA-6). */
  usesCoreFaultPath(dev: Device): boolean {
    if (this.flavour === 'smmu') return (dev.stall && dev.streamIds === 1) || (this.smmuPri && dev.pri);
    return dev.pri;
  }

  /** Whether this instance accepts PCIe page requests. */
  get acceptsPri(): boolean {
    return this.flavour !== 'smmu' || this.smmuPri;
  }

  command(cmd: IommuCommand): void {
    if (this.commands !== null) this.core.log(this.commands, cmd);
  }

  recordFault(dev: Device, pasid: number, vpn: number, access: number, reason: string): void {
    this.core.stats.add(this.core.ctr.faultsReported);
    this.core.log(this.faultLog, {
      tNs: this.core.kernel.engine.nowNs,
      dev: dev.name,
      pasid,
      vpn,
      access,
      reason,
    });
  }

  private stallTag = 0;

  /** The SMMU's tag for the next stalled transaction (16 bits, never 0). */
  nextStallTag(): number {
    this.stallTag = (this.stallTag % 0xffff) + 1;
    return this.stallTag;
  }

  // ---- SMMU ASIDs (R-SVA-123) ---------------------------------------------------------------

  /** The smallest free ASID, or 0 when the space is exhausted. */
  allocAsid(): number {
    const limit = this.smmuSharedCpuAsid ? (1 << this.asidBits) - this.cpus - 2 : 1 << this.asidBits;
    if (this.asidsInUse >= limit - 1) return 0;
    for (let a = 1; a < this.asidsUsed.length; a++) {
      if (this.asidsUsed[a] === 0) {
        this.asidsUsed[a] = 1;
        this.asidsInUse++;
        return a;
      }
    }
    return 0;
  }

  freeAsid(asid: number): void {
    if (asid > 0 && this.asidsUsed[asid] === 1) {
      this.asidsUsed[asid] = 0;
      this.asidsInUse--;
    }
  }

  // ---- page requests (hardware queue and the driver's consuming thread) -----------------------

  /** A page request arrives from `dev` (R-SVA-60, R-SVA-67). */
  receivePageRequest(dev: Device, msg: PageRequestMessage): void {
    if (!this.acceptsPri) return;
    // The posted message's trip over the link is the sender's time.
    this.core.kernel.charge(this.core.costs.priRequestNs);
    const hasPasid = msg.pasid !== undefined;
    let flags = 0;
    if (hasPasid) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
    if (msg.last) flags |= IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
    // VT-d and AMD ask for the PASID in every response to a request that had one (R-SVA-78).
    if (hasPasid && (this.flavour !== 'smmu' || dev.prgRespPasidRequired))
      flags |= IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
    const fault: IopfFault = {
      pasid: msg.pasid ?? 0,
      vpn: msg.vpn,
      perm: msg.perm,
      grpid: msg.index,
      flags,
      atNs: this.core.kernel.engine.nowNs,
    };
    this.enqueueFault(dev, fault);
  }

  /** A stalled transaction's event (SMMU, R-SVA-85, R-SVA-86): a group of one. */
  reportStall(dev: Device, pasid: number | undefined, vpn: number, perm: number, tag: number): void {
    let flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | IOPF_FAULT_STALL;
    if (pasid !== undefined) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
    this.enqueueFault(dev, {
      pasid: pasid ?? 0,
      vpn,
      perm,
      grpid: tag,
      flags,
      atNs: this.core.kernel.engine.nowNs,
    });
  }

  private enqueueFault(dev: Device, fault: IopfFault): void {
    this.core.stats.add(this.core.ctr.pageRequests);
    // A consuming thread keeps pace with the link (it handles an entry faster than the next one
    // arrives): the queue fills only while software is not consuming it (a paused thread).
    if (this.prq.length >= this.prqDepth && !this.prqPaused) this.handlePrq();
    if (this.prq.length >= this.prqDepth) {
      this.prqOverflow = true;
      this.core.stats.add(this.core.ctr.prqOverflows);
      const marker = !(fault.perm & (IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_WRITE));
      if (fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE && !marker && this.prqOverflowAutoSuccess) {
        this.deliverResponse(dev, fault, IOMMU_PAGE_RESP_SUCCESS, 'hardware');
      }
      return;
    }
    this.prq.push({ dev, fault });
    this.kickPrq();
  }

  /** Lets a paused page-request thread go again. */
  resumePrq(): void {
    this.prqPaused = false;
    this.kickPrq();
  }

  private kickPrq(): void {
    if (this.prqScheduled || this.prqPaused || this.prq.length === 0) return;
    this.prqScheduled = true;
    this.core.kernel.events.schedule(this.core.costs.prqIrqNs, this.prqActor, this.onPrqIrq);
  }

  /** The page-request interrupt's thread (one bound function for every event). */
  private readonly onPrqIrq = (): void => {
    this.prqScheduled = false;
    if (!this.prqPaused) this.handlePrq();
  };

  /**
   * The driver's page-request thread: consumes every queued request in order, screens it (R-SVA-61,
   * R-SVA-79), reports the rest to the core; then, if the queue overflowed, discards every partial
   * of the IOPF queue and clears the overflow (R-SVA-67).
   */
  handlePrq(): void {
    while (this.prq.length > 0) {
      const { dev, fault } = this.prq.shift()!;
      this.screenAndReport(dev, fault);
    }
    if (this.prqOverflow) {
      iopfQueueDiscardPartial(this.iopfQueue);
      this.prqOverflow = false;
    }
  }

  /**
   * Drains page requests for (dev, pasid) at detach: the queue is consumed up to its end (so every
   * request the device already sent has been reported) before the IOPF queue is flushed.
   */
  drainPrq(dev: Device, pasid: number): void {
    this.command({ op: 'drain-prq', dev: dev.name, pasid });
    this.handlePrq();
  }

  private screenAndReport(dev: Device, fault: IopfFault): void {
    const last = (fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE) !== 0;
    const read = (fault.perm & IOMMU_FAULT_PERM_READ) !== 0;
    const write = (fault.perm & IOMMU_FAULT_PERM_WRITE) !== 0;
    if (!(fault.flags & IOPF_FAULT_STALL)) {
      if (this.flavour === 'amd') {
        const pasidOk =
          fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID &&
          fault.pasid !== 0 &&
          fault.pasid < dev.maxPasids;
        if (!pasidOk) {
          this.deliverResponse(dev, fault, IOMMU_PAGE_RESP_FAILURE, 'software');
          return;
        }
      } else {
        const bad =
          !isCanonicalUserVpn(fault.vpn) ||
          (fault.perm & IOMMU_FAULT_PERM_PRIV && (read || write)) ||
          (fault.perm & IOMMU_FAULT_PERM_EXEC && read) ||
          !dev.present ||
          !this.devices.includes(dev);
        if (bad) {
          if (last) this.deliverResponse(dev, fault, IOMMU_PAGE_RESP_INVALID, 'software');
          return;
        }
      }
      // A stop marker: the device is done with the PASID; no response is expected (R-SVA-117).
      if (last && !read && !write) {
        this.core.stats.add(this.core.ctr.stopMarkers);
        return;
      }
      if (fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID)
        this.core.noteDeviceUse(dev, fault.pasid, 'page request');
    }
    if (iommuReportDeviceFault(dev, fault) < 0) this.faultReportErrors++;
  }

  /** The driver's page_response op (R-SVA-75, R-SVA-78, R-SVA-87): to the device after the link delay. */
  sendPageResponse(dev: Device, lastFault: IopfFault, code: PageResponseCode): void {
    this.deliverResponse(dev, lastFault, code, 'software');
  }

  private deliverResponse(
    dev: Device,
    fault: IopfFault,
    code: PageResponseCode,
    by: 'software' | 'hardware',
  ): void {
    const core = this.core;
    core.stats.add(core.ctr.responses[code]);
    if (fault.atNs !== undefined) this.iopfLatency.add(core.kernel.engine.nowNs - fault.atNs);
    const stall = (fault.flags & IOPF_FAULT_STALL) !== 0;
    const withPasid =
      !stall &&
      (fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) !== 0 &&
      (fault.flags & IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID) !== 0;
    const pasid = withPasid ? fault.pasid : undefined;
    core.log(this.responsesSent, {
      tNs: core.kernel.engine.nowNs,
      dev: dev.name,
      pasid,
      index: fault.grpid,
      code,
      by,
    });
    const msg: InFlightResponse = { dev, pasid, index: fault.grpid, code, delivered: false };
    if (stall) {
      this.command({
        op: 'resume',
        dev: dev.name,
        tag: fault.grpid,
        detail: code === IOMMU_PAGE_RESP_SUCCESS ? 'retry' : 'abort',
      });
      core.kernel.events.schedule(core.costs.priResponseNs, dev.linkActor, deliverResume, msg);
      return;
    }
    if (this.commands !== null) {
      this.command({ op: 'page-response', dev: dev.name, pasid, tag: fault.grpid, detail: String(code) });
    }
    dev.linkQueue.push(msg);
    core.kernel.events.schedule(core.costs.priResponseNs, dev.linkActor, deliverPageResponse, msg);
  }
}

/** A response on its way to the device. */
interface InFlightResponse extends PageResponseMessage {
  readonly dev: Device;
  delivered: boolean;
}

function deliverPageResponse(msg: InFlightResponse): void {
  if (msg.delivered) return;
  msg.delivered = true;
  const q = msg.dev.linkQueue;
  const i = q.indexOf(msg);
  if (i >= 0) q.splice(i, 1);
  msg.dev.receivePageResponse(msg);
}

function deliverResume(msg: InFlightResponse): void {
  if (msg.dev.present) msg.dev.endpoint?.stallResume?.(msg.index, msg.code === IOMMU_PAGE_RESP_SUCCESS);
}
