// A PASID-capable DMA accelerator (in the manner of Intel DSA or a uacce device): it runs DMA jobs
// (read, write, fill) tagged with a PASID. With ATS it translates through its own ATC, asks the
// IOMMU for translations on a miss and, when a translation is not granted, sends page requests
// (PRI) and waits for the group's response before translating again; without ATS it issues
// untranslated requests, which a stall-capable platform device holds until RESUME. Each job
// advances as simulator events, so jobs of different PASIDs interleave and one waiting for a page
// response does not hold up the others.

import { EBUSY, EINVAL, ENODEV } from '../../sim/errno.js';
import { Log2Histogram } from '../../sim/histogram.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { Kernel } from '../../mm/kernel.js';
import {
  ACCESS_EXEC,
  ACCESS_PRIV,
  ACCESS_READ,
  ACCESS_WRITE,
  IOMMU_NO_PASID,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_SUCCESS,
  type PageResponseCode,
} from '../../iommu/constants.js';
import type { IommuCore } from '../../iommu/core.js';
import type { Device, DeviceEndpoint, DeviceOptions } from '../../iommu/device.js';
import {
  accessToFaultPerm,
  ATS_UR,
  grants,
  iommuAtsTranslate,
  iommuDmaTranslate,
  isStalled,
  resultPfn,
  stallTagOf,
  XLATE_ABORT,
  XLATE_DEVICE_FAULT,
} from '../../iommu/translate.js';

export type DmaOp = 'read' | 'write' | 'fill';

/** One unit of device work: an operation on [addr, addr + length) of the address space of `pasid`. */
export interface DmaDescriptor {
  /** PASID of the address space (undefined: requests without a PASID prefix). */
  readonly pasid?: number;
  readonly op: DmaOp;
  readonly addr: number;
  readonly length: number;
  /** `write`: the bytes to store (bytes mode). In tokens mode every page written gets a new token. */
  readonly data?: Uint8Array;
  /** `fill`: the byte value stored. */
  readonly value?: number;
  /** Requests carry the execute bit (instruction fetches). */
  readonly exec?: boolean;
  /** Requests carry the privileged bit (not supported for SVA). */
  readonly priv?: boolean;
  /** Issue untranslated requests even though the device has ATS (default: translate through ATS). */
  readonly untranslated?: boolean;
}

/** Why a job stopped early. */
export type DmaError =
  | 'UR' // the IOMMU cannot translate for the PASID at all (ATS unsupported request)
  | 'ABORT' // an untranslated request was aborted (reported or not)
  | 'INVALID' // a page request was answered Invalid Request
  | 'FAILURE' // a page request was answered Response Failure
  | 'DEVICE_FAULT' // a miss on a device with neither PRI nor stall: its driver's business
  | 'PRI_UNAVAILABLE' // PRI disabled or stopped by a Response Failure
  | 'STOPPED' // the driver stopped the PASID
  | 'DEVICE_FAILED'; // an ATS invalidation timed out: translated requests are no longer honoured

export class DmaJob {
  readonly id: number;
  readonly desc: DmaDescriptor;
  status: 'running' | 'waiting-pri' | 'stalled' | 'done' | 'error' = 'running';
  error: DmaError | null = null;
  /** Bytes transferred so far. */
  bytesDone = 0;
  /** `read` in bytes mode: the bytes read (bytesDone of them are valid). */
  readonly data: Uint8Array | null;
  /** `read` in tokens mode: one content token per page. */
  readonly tokens: Uint32Array | null;
  /** Page requests the job sent and stalls it waited through. */
  pageRequests = 0;
  stalls = 0;
  /** What the job waits for: PRG index or stall tag. */
  waitKey = -1;
  readonly startNs: number;
  endNs = -1;
  /** `fill`: one page of the fill value, made on first use. */
  fillPage: Uint8Array | null = null;
  /** Called once when the job finishes (done or error). */
  onDone: ((job: DmaJob) => void) | null = null;

  constructor(id: number, desc: DmaDescriptor, kernel: Kernel) {
    this.id = id;
    this.desc = desc;
    this.startNs = kernel.engine.nowNs;
    const pages = pagesOf(desc.addr, desc.length);
    const tokens = kernel.contentMode === 'tokens';
    this.data = desc.op === 'read' && !tokens ? new Uint8Array(desc.length) : null;
    this.tokens = desc.op === 'read' && tokens ? new Uint32Array(pages) : null;
  }

  get finished(): boolean {
    return this.status === 'done' || this.status === 'error';
  }
}

function pagesOf(addr: number, length: number): number {
  return Math.ceil((addr + length) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE);
}

/**
 * Watches the device's work from outside, as the race finder does (its pasid-reuse check). The
 * device behaves the same with or without one; with none, watching costs one null test.
 */
export interface DmaObserver {
  /** `job` was accepted, before any of its work runs. */
  submitted(job: DmaJob): void;
  /** `job` is about to translate page `vpn` of the address space its PASID names now. */
  translating(job: DmaJob, vpn: number): void;
}

export interface AcceleratorOptions extends DeviceOptions {
  /** Pages a job asks for in one page-request group when a translation is not granted (default 1). */
  readonly pagesPerGroup?: number;
  /** Pages a job transfers per engine step before letting others run (default 64). */
  readonly pagesPerStep?: number;
}

export class DmaAccelerator implements DeviceEndpoint {
  readonly dev: Device;
  readonly kernel: Kernel;
  readonly core: IommuCore;
  readonly pagesPerGroup: number;
  private readonly jobs = new Set<DmaJob>();
  private nextJobId = 1;
  private nextIndex = 0;
  /** Finished jobs that failed, per PASID: the device's error log the driver drains. */
  readonly errorLog: DmaJob[] = [];
  jobsCompleted = 0;

  /** Pages a job transfers per engine step. */
  readonly pagesPerStep: number;
  /** Told of every job and every translation (null: nobody watches). */
  observer: DmaObserver | null = null;

  constructor(dev: Device, options: { pagesPerGroup?: number; pagesPerStep?: number } = {}) {
    this.dev = dev;
    this.core = dev.core;
    this.kernel = dev.core.kernel;
    this.pagesPerGroup = options.pagesPerGroup ?? 1;
    this.pagesPerStep = options.pagesPerStep ?? 64;
    if (!Number.isInteger(this.pagesPerGroup) || this.pagesPerGroup < 1) {
      throw new RangeError(`pagesPerGroup must be a whole number >= 1, got ${this.pagesPerGroup}`);
    }
    dev.endpoint = this;
    this.dmaActor = `${dev.name}/dma`;
  }

  private readonly dmaActor: string;

  get name(): string {
    return this.dev.name;
  }

  /** Jobs not finished yet. */
  get activeJobs(): number {
    return this.jobs.size;
  }

  /**
   * Starts a job; it runs as the simulator runs. Returns the job, or -EINVAL (a PASID the device
   * cannot emit, a bad range) or -ENODEV (the device is gone).
   */
  submit(desc: DmaDescriptor, onDone: ((job: DmaJob) => void) | null = null): DmaJob | number {
    const dev = this.dev;
    if (!dev.present) return -ENODEV;
    if (
      desc.pasid !== undefined &&
      (!Number.isInteger(desc.pasid) || desc.pasid < 0 || desc.pasid >= dev.maxPasids)
    )
      return -EINVAL;
    if (!Number.isInteger(desc.addr) || desc.addr < 0 || !Number.isInteger(desc.length) || desc.length <= 0)
      return -EINVAL;
    if (desc.op === 'write' && desc.data !== undefined && desc.data.length !== desc.length) return -EINVAL;
    const job = new DmaJob(this.nextJobId++, desc, this.kernel);
    job.onDone = onDone;
    this.jobs.add(job);
    this.observer?.submitted(job);
    const trace = this.kernel.trace;
    if (trace.enabled)
      trace.asyncBegin(this.kernel.engine.nowNs, this.dmaActor, 'dma', `dma ${desc.op}`, job.id, {
        pasid: desc.pasid ?? -1,
        bytes: desc.length,
      });
    this.jobLatency ??= new Log2Histogram(`latency.${this.dev.name}.dma_job`);
    this.schedule(job, 0);
    return job;
  }

  /** Submits and runs the simulator until idle; returns the finished job (or -errno). */
  run(desc: DmaDescriptor): DmaJob | number {
    const job = this.submit(desc);
    if (typeof job === 'number') return job;
    this.kernel.runUntilIdle();
    return job;
  }

  // ---- DeviceEndpoint ---------------------------------------------------------------------------

  pageResponse(pasid: number | undefined, index: number, code: PageResponseCode): void {
    for (const job of this.jobs) {
      if (job.status !== 'waiting-pri' || job.waitKey !== index || job.desc.pasid !== pasid) continue;
      if (code === IOMMU_PAGE_RESP_SUCCESS) {
        job.status = 'running';
        this.schedule(job, 0);
      } else {
        this.fail(job, code === IOMMU_PAGE_RESP_FAILURE ? 'FAILURE' : 'INVALID');
      }
    }
  }

  stallResume(tag: number, retry: boolean): void {
    for (const job of this.jobs) {
      if (job.status !== 'stalled' || job.waitKey !== tag) continue;
      if (retry) {
        job.status = 'running';
        this.schedule(job, 0);
      } else {
        this.fail(job, 'ABORT');
      }
    }
  }

  pasidStopped(pasid: number): void {
    for (const job of [...this.jobs]) if (job.desc.pasid === pasid) this.fail(job, 'STOPPED');
  }

  // ---- the engine -------------------------------------------------------------------------------

  private schedule(job: DmaJob, delayNs: number): void {
    this.kernel.events.schedule(delayNs, this.dmaActor, this.stepFn, job);
  }

  /** One bound step function for every event of every job. */
  private readonly stepFn = (job: DmaJob): void => this.step(job);

  private fail(job: DmaJob, error: DmaError): void {
    job.status = 'error';
    job.error = error;
    this.finish(job);
    this.core.log(this.errorLog, job);
  }

  private finish(job: DmaJob): void {
    job.endNs = this.kernel.engine.nowNs;
    this.jobs.delete(job);
    this.jobsCompleted++;
    this.jobLatency!.add(job.endNs - job.startNs);
    const trace = this.kernel.trace;
    if (trace.enabled)
      trace.asyncEnd(job.endNs, this.dmaActor, 'dma', `dma ${job.desc.op}`, job.id, {
        status: job.status,
        error: job.error ?? '',
      });
    job.onDone?.(job);
  }

  /** Job latencies (submit to finish). */
  jobLatency: Log2Histogram | null = null;

  /** Runs the job from where it stopped until it finishes or has to wait. */
  private step(job: DmaJob): void {
    if (job.status !== 'running') return;
    const dev = this.dev;
    const desc = job.desc;
    const access =
      (desc.op === 'read' ? ACCESS_READ : ACCESS_WRITE) |
      (desc.exec ? ACCESS_EXEC : 0) |
      (desc.priv ? ACCESS_PRIV : 0);
    // A slice of pages per step: long jobs interleave with everything else.
    for (let pages = 0; job.bytesDone < desc.length; pages++) {
      if (pages === this.pagesPerStep) {
        this.schedule(job, 0);
        return;
      }
      if (!dev.present) return this.fail(job, 'ABORT');
      if (dev.failed) return this.fail(job, 'DEVICE_FAILED');
      const pos = desc.addr + job.bytesDone;
      const vpn = Math.floor(pos / PAGE_SIZE);
      const pfn = this.translate(job, vpn, access);
      if (pfn < 0) return;
      const inPage = pos % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, desc.length - job.bytesDone);
      this.transfer(job, pfn, inPage, n);
      job.bytesDone += n;
      this.kernel.charge(this.core.costs.dmaPageNs);
    }
    job.status = 'done';
    this.finish(job);
  }

  /** The frame for `vpn`, or -1 when the job now waits or failed. */
  private translate(job: DmaJob, vpn: number, access: number): number {
    const dev = this.dev;
    const pasid = job.desc.pasid;
    this.observer?.translating(job, vpn);
    if (dev.ats && !job.desc.untranslated) {
      const tag = pasid ?? IOMMU_NO_PASID;
      const cached = dev.atc!.lookup(tag, vpn);
      if (grants(cached, access)) return resultPfn(cached);
      // A read asks with the no-write hint; a write asks for write permission.
      const r = iommuAtsTranslate(dev, pasid, vpn, access, (access & ACCESS_WRITE) === 0);
      if (r === ATS_UR) {
        this.fail(job, 'UR');
        return -1;
      }
      if (grants(r, access)) {
        dev.atc!.insert(tag, vpn, r);
        return resultPfn(r);
      }
      this.pageRequest(job, vpn, access);
      return -1;
    }
    const r = iommuDmaTranslate(dev, pasid, vpn, access);
    if (r >= 0) return resultPfn(r);
    if (isStalled(r)) {
      job.status = 'stalled';
      job.waitKey = stallTagOf(r);
      job.stalls++;
      return -1;
    }
    this.fail(job, r === XLATE_ABORT ? 'ABORT' : r === XLATE_DEVICE_FAULT ? 'DEVICE_FAULT' : 'ABORT');
    return -1;
  }

  /** Sends a group of page requests starting at `vpn` and parks the job until its response. */
  private pageRequest(job: DmaJob, vpn: number, access: number): void {
    const dev = this.dev;
    if (!dev.pri || !dev.priEnabled || dev.priResponseFailure) {
      this.fail(job, dev.pri ? 'PRI_UNAVAILABLE' : 'DEVICE_FAULT');
      return;
    }
    const lastVpn = Math.floor((job.desc.addr + job.desc.length - 1) / PAGE_SIZE);
    const count = Math.min(this.pagesPerGroup, lastVpn - vpn + 1, dev.priAllocation);
    if (dev.priAllocation - dev.priOutstanding < count) {
      // Out of page-request credits: try again once responses have come back.
      this.schedule(job, this.core.costs.priResponseNs);
      return;
    }
    const index = this.allocIndex();
    const perm = accessToFaultPerm(access);
    for (let i = 0; i < count; i++) {
      const rc = dev.sendPageRequest({
        pasid: job.desc.pasid,
        vpn: vpn + i,
        perm,
        index,
        last: i === count - 1,
      });
      if (rc === -EBUSY) throw new Error('page-request budget checked above');
      if (rc < 0) {
        this.fail(job, 'PRI_UNAVAILABLE');
        return;
      }
    }
    job.pageRequests++;
    job.status = 'waiting-pri';
    job.waitKey = index;
  }

  private allocIndex(): number {
    const index = this.nextIndex;
    this.nextIndex = (this.nextIndex + 1) & 0x1ff;
    return index;
  }

  private transfer(job: DmaJob, pfn: number, inPage: number, n: number): void {
    const content = this.kernel.mem.content;
    const desc = job.desc;
    const tokens = this.kernel.contentMode === 'tokens';
    if (desc.op === 'read') {
      if (tokens)
        job.tokens![Math.floor((desc.addr + job.bytesDone) / PAGE_SIZE) - Math.floor(desc.addr / PAGE_SIZE)] =
          content.token(pfn);
      else content.read(pfn, inPage, job.data!, job.bytesDone, n);
      return;
    }
    if (tokens) {
      content.setToken(pfn, this.kernel.newToken());
      return;
    }
    if (desc.op === 'write' && desc.data !== undefined) {
      content.write(pfn, inPage, desc.data, job.bytesDone, n);
    } else {
      job.fillPage ??= new Uint8Array(PAGE_SIZE).fill(desc.value ?? 0);
      content.write(pfn, inPage, job.fillPage, 0, n);
    }
  }
}
