// Models a DMA-capable endpoint as the IOMMU sees it (struct device with its PCIe capabilities,
// sva.md section 11): PASID width, ATS with the device's translation cache (ATC), PRI with its
// outstanding-request budget and status bits, the PRG-response-PASID-required bit, stall for
// platform devices, and the device's side of ATS invalidation and of stopping a PASID. A device
// model (devices/accel) drives DMA through it and hears about responses through `endpoint`.

import { EBUSY, EINVAL, EIO } from '../sim/errno.js';
import { LimitError } from '../sim/errors.js';
import {
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_FAILURE,
  type PageResponseCode,
  PRG_INDEX_MASK,
} from './constants.js';
import type { IommuCore } from './core.js';
import type { IopfParam } from './iopf.js';
import type { IommuGroup } from './group.js';
import type { Iommu } from './iommu.js';
import { PasidTable } from './pasidTable.js';
import { TC_ALL_TAGS, TranslationCache } from './translationCache.js';

export interface DeviceOptions {
  readonly name: string;
  /** `pci` (default) or `platform` (stall-capable devices are platform devices). */
  readonly bus?: 'pci' | 'platform';
  /** PASID capability width as a count of values (0: no PASID capability; default 2^20 on PCI). */
  readonly maxPasids?: number;
  /** ATS enabled (default true on PCI). */
  readonly ats?: boolean;
  /** PRI capable and enabled (default true on PCI). */
  readonly pri?: boolean;
  /** PRI status bit "PRG Response PASID Required" (default true). */
  readonly prgRespPasidRequired?: boolean;
  /** Outstanding page requests the device can have (default 256). */
  readonly priCapacity?: number;
  /** Outstanding page-request allocation software wrote (default: the capacity). */
  readonly priAllocation?: number;
  /** Stall-capable platform device (default false). */
  readonly stall?: boolean;
  /** Stream IDs of the device (SMMU; default 1). */
  readonly streamIds?: number;
  /** ATS invalidation requests the device accepts at once (default 32). */
  readonly invalidateQueueDepth?: number;
  /** ATC size in entries (default 512). */
  readonly atcEntries?: number;
  /** The group to join (default: a group of its own when behind an IOMMU). */
  readonly group?: IommuGroup;
}

/** A page request as the device sends it (R-SVA-114). */
export interface PageRequestMessage {
  /** PASID prefix; undefined: no prefix. */
  readonly pasid?: number;
  /** Page number of the address (the model keeps addresses page-aligned). */
  readonly vpn: number;
  /** IOMMU_FAULT_PERM_* bits (read, write, exec, priv). */
  readonly perm: number;
  /** PRG index (9 bits). */
  readonly index: number;
  readonly last: boolean;
}

/** A PRG response as the device receives it. */
export interface PageResponseMessage {
  /** PASID prefix on the response; undefined when the IOMMU sent none. */
  readonly pasid?: number;
  readonly index: number;
  readonly code: PageResponseCode;
}

/** What the device model (the DMA engine) hears from the link. Every member is optional. */
export interface DeviceEndpoint {
  /** A PRG response matched an outstanding group of the device. */
  pageResponse?(pasid: number | undefined, index: number, code: PageResponseCode): void;
  /** RESUME for a stalled transaction: retry (SUCCESS) or abort. */
  stallResume?(tag: number, retry: boolean): void;
  /** The driver asked the device to stop using `pasid` (before unbind). */
  pasidStopped?(pasid: number): void;
}

interface OutstandingGroup {
  readonly pasid: number;
  readonly index: number;
  requests: number;
  closed: boolean;
}

export class Device {
  readonly core: IommuCore;
  readonly name: string;
  readonly requesterId: number;
  readonly bus: 'pci' | 'platform';
  readonly iommu: Iommu | null;
  readonly group: IommuGroup | null;
  readonly maxPasids: number;
  readonly ats: boolean;
  readonly pri: boolean;
  readonly prgRespPasidRequired: boolean;
  readonly priCapacity: number;
  priAllocation: number;
  readonly stall: boolean;
  readonly streamIds: number;
  readonly invalidateQueueDepth: number;
  /** The device's ATS translation cache (null without ATS). */
  readonly atc: TranslationCache | null;
  /** The IOMMU's tables for this device (null without an IOMMU). */
  readonly pasidTable: PasidTable | null;
  endpoint: DeviceEndpoint | null = null;
  /** Actor name of the device's link (events delivering its responses). */
  readonly linkActor: string;

  /** Still on the bus (surprise removal clears it: invalidations to it are skipped). */
  present = true;
  /** An ATS invalidation timed out: the device's translated requests are no longer honoured. */
  failed = false;
  /** Fault injection: the device never completes ATS invalidations. */
  respondsToInvalidation = true;

  // PRI control and status (R-SVA-115, R-SVA-116).
  priEnabled = false;
  priResponseFailure = false;
  priUnexpectedIndex = false;
  /** Page requests sent and not yet answered. */
  priOutstanding = 0;
  private readonly openGroups: OutstandingGroup[] = [];
  /** PASIDs the driver stopped on the device (R-SVA-118); restarted when a context is programmed. */
  readonly stoppedPasids = new Set<number>();

  /** Fault-handling attachments (R-SVA-7): the first registers with the IOPF queue. */
  iopfRefcount = 0;
  /** The registration with an IOPF queue (iommu_fault_param), null when not registered. */
  iopf: IopfParam | null = null;

  /** Responses the device received, in order (bounded by the core's log limit). */
  readonly responsesReceived: PageResponseMessage[] = [];
  atsInvalidationsReceived = 0;
  atsTranslationRequests = 0;
  pageRequestsSent = 0;

  constructor(core: IommuCore, iommu: Iommu | null, group: IommuGroup | null, options: DeviceOptions) {
    this.core = core;
    this.name = options.name;
    this.requesterId = core.nextObjectId();
    this.bus = options.bus ?? 'pci';
    this.iommu = iommu;
    this.group = group;
    const pci = this.bus === 'pci';
    this.maxPasids = options.maxPasids ?? (pci ? 1 << 20 : 0);
    this.ats = pci && (options.ats ?? true);
    this.pri = pci && (options.pri ?? true);
    this.prgRespPasidRequired = options.prgRespPasidRequired ?? true;
    this.priCapacity = options.priCapacity ?? 256;
    this.priAllocation = Math.min(options.priAllocation ?? this.priCapacity, this.priCapacity);
    this.stall = !pci && (options.stall ?? false);
    this.streamIds = options.streamIds ?? 1;
    this.invalidateQueueDepth = options.invalidateQueueDepth ?? 32;
    for (const [k, v] of [
      ['maxPasids', this.maxPasids],
      ['priCapacity', this.priCapacity],
      ['priAllocation', this.priAllocation],
      ['streamIds', this.streamIds],
      ['invalidateQueueDepth', this.invalidateQueueDepth],
    ] as const) {
      if (!Number.isInteger(v) || v < 0)
        throw new RangeError(`device ${this.name}: ${k} must be a whole number >= 0, got ${v}`);
    }
    if (this.maxPasids > 1 << 20)
      throw new RangeError(`device ${this.name}: maxPasids is at most 2^20, got ${this.maxPasids}`);
    this.atc = this.ats ? new TranslationCache({ entries: options.atcEntries ?? 512 }) : null;
    this.pasidTable = iommu === null ? null : new PasidTable(iommu.flavour, this.maxPasids);
    this.linkActor = `${this.name}/link`;
  }

  // ---- PRI (device side) ------------------------------------------------------------------------

  /**
   * Sends one page request. Returns 0, -EINVAL (PASID beyond the capability, or an index out of
   * range), -EIO (PRI disabled, Response Failure set, or the PASID was stopped) or -EBUSY (the
   * outstanding budget is used up). A stop marker (last, neither read nor write) takes no budget.
   */
  sendPageRequest(req: PageRequestMessage): number {
    if (req.pasid !== undefined && (req.pasid < 0 || req.pasid >= this.maxPasids)) return -EINVAL;
    if (!Number.isInteger(req.index) || req.index < 0 || req.index > PRG_INDEX_MASK) return -EINVAL;
    if (!this.pri || !this.priEnabled || this.priResponseFailure) return -EIO;
    const marker = req.last && !(req.perm & (IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_WRITE));
    if (!marker) {
      if (req.pasid !== undefined && this.stoppedPasids.has(req.pasid)) return -EIO;
      if (this.priOutstanding >= this.priAllocation) return -EBUSY;
      this.priOutstanding++;
      const pasid = req.pasid ?? -1;
      let g: OutstandingGroup | undefined;
      for (const o of this.openGroups) if (!o.closed && o.index === req.index && o.pasid === pasid) g = o;
      if (g === undefined) {
        g = { pasid, index: req.index, requests: 0, closed: false };
        this.openGroups.push(g);
      }
      g.requests++;
      if (req.last) g.closed = true;
    }
    this.pageRequestsSent++;
    if (req.pasid !== undefined) this.core.noteDeviceUse(this, req.pasid, 'page request');
    this.iommu?.receivePageRequest(this, req);
    return 0;
  }

  /** Page requests of `pasid` still waiting for their response. */
  outstandingFor(pasid: number): number {
    let n = 0;
    for (const g of this.openGroups) if (g.pasid === pasid) n += g.requests;
    return n;
  }

  /** A PRG response arrives from the IOMMU (R-SVA-114, R-SVA-115). */
  receivePageResponse(resp: PageResponseMessage): void {
    if (!this.present) return;
    // The log keeps the message as the device saw it (not the IOMMU's in-flight record).
    if (this.core.hasLogRoom(this.responsesReceived)) {
      this.responsesReceived.push({ pasid: resp.pasid, index: resp.index, code: resp.code });
    } else {
      this.core.droppedLogEntries++;
    }
    if (resp.pasid !== undefined && !this.prgRespPasidRequired) {
      this.core.diag.deviceUb(
        this,
        `PRG response for index ${resp.index} carries PASID ${resp.pasid}, which the device does not expect`,
      );
    }
    const i = this.openGroups.findIndex(
      (g) =>
        g.closed && g.index === resp.index && (!this.prgRespPasidRequired || g.pasid === (resp.pasid ?? -1)),
    );
    if (i < 0) {
      this.priUnexpectedIndex = true;
      return;
    }
    const g = this.openGroups[i];
    this.openGroups.splice(i, 1);
    this.priOutstanding -= g.requests;
    if (resp.code === IOMMU_PAGE_RESP_FAILURE) this.priResponseFailure = true;
    this.endpoint?.pageResponse?.(g.pasid < 0 ? undefined : g.pasid, g.index, resp.code);
  }

  /** Software resets PRI after a Response Failure: status cleared, nothing outstanding (R-SVA-115). */
  priReset(): void {
    this.priResponseFailure = false;
    this.priUnexpectedIndex = false;
    this.openGroups.length = 0;
    this.priOutstanding = 0;
  }

  /** Enables PRI: allowed only when stopped (nothing outstanding) and disabled (R-SVA-116). */
  priEnable(): boolean {
    if (!this.pri || this.priEnabled || this.priOutstanding > 0) return false;
    this.priEnabled = true;
    return true;
  }

  priDisable(): void {
    this.priEnabled = false;
  }

  // ---- stopping a PASID (R-SVA-118) -------------------------------------------------------------

  /**
   * The driver's "drain/disable PASID" command: the device issues nothing more with `pasid`, and
   * for PRI either waits until every outstanding page request for it is answered (`wait`, the
   * simulator runs meanwhile) or sends a stop marker (`marker`). The driver may unbind afterwards.
   */
  stopPasid(pasid: number, mode: 'wait' | 'marker' = 'wait'): void {
    this.stoppedPasids.add(pasid);
    this.endpoint?.pasidStopped?.(pasid);
    // A group the device never finished (no last request) will get no response: it is abandoned.
    for (let i = this.openGroups.length - 1; i >= 0; i--) {
      const g = this.openGroups[i];
      if (g.pasid === pasid && !g.closed) {
        this.openGroups.splice(i, 1);
        this.priOutstanding -= g.requests;
      }
    }
    if (!this.pri || !this.priEnabled || this.priResponseFailure) return;
    if (mode === 'marker') {
      this.sendPageRequest({ pasid, vpn: 0, perm: 0, index: 0, last: true });
      return;
    }
    // Waiting is the host's work running to completion: the IOMMU consumes its queue, the fault
    // work runs, and the responses already on the link arrive (their delay is charged).
    const iommu = this.iommu;
    for (let rounds = 0; this.outstandingFor(pasid) > 0; rounds++) {
      if (rounds >= 16 || iommu === null) {
        throw new LimitError(
          'device.stopPasid',
          rounds,
          `device ${this.name} waited for ${this.outstandingFor(pasid)} page responses on PASID ${pasid} that never came`,
        );
      }
      iommu.handlePrq();
      iommu.iopfQueue.flush();
      this.flushLink();
    }
  }

  /** Responses on their way to the device (delivered by an event, or at once by `flushLink`). */
  readonly linkQueue: (PageResponseMessage & { delivered: boolean })[] = [];

  /** Delivers every response already on the link now (the waiting device sees them arrive). */
  flushLink(): void {
    while (this.linkQueue.length > 0) {
      const msg = this.linkQueue.shift()!;
      if (msg.delivered) continue;
      msg.delivered = true;
      this.core.kernel.charge(this.core.costs.priResponseNs);
      this.receivePageResponse(msg);
    }
  }

  /** The driver programs `pasid` into a context again (after a new bind). */
  startPasid(pasid: number): void {
    this.stoppedPasids.delete(pasid);
  }

  // ---- ATS invalidation (device side, R-SVA-113) ------------------------------------------------

  /**
   * An ATS invalidation request for [startVpn, endVpn) of `pasid` (TC_ALL_TAGS: no PASID prefix,
   * every PASID). Returns whether a completion came back (false: absent device or time-out).
   */
  atsInvalidate(pasid: number, startVpn: number, endVpn: number): boolean {
    if (!this.present) return false;
    this.atsInvalidationsReceived++;
    if (!this.respondsToInvalidation) {
      this.failed = true;
      this.atc?.invalidateTag(TC_ALL_TAGS);
      this.core.diag.invalidationTimeout(this, pasid);
      return false;
    }
    this.atc?.invalidateRange(pasid, startVpn, endVpn);
    return true;
  }
}
