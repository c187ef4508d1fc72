// The IOMMU subsystem of one modeled machine: the system-wide PASID allocator, the IOMMU
// instances and their devices and groups, the global list of address spaces with SVA domains,
// the configuration (upstream behaviour plus the seed options), fault injection, counters and the
// diagnostics a checker or a user reads (driver bugs, device undefined behaviour, invalidation
// time-outs). One per Kernel: `IommuCore.of(kernel)` finds it.

import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import type { CounterId } from '../sim/stats.js';
import { InvariantError } from '../sim/errors.js';
import { type SvaCosts, svaCostsOf } from './costs.js';
import { Device, type DeviceOptions } from './device.js';
import { IommuGroup } from './group.js';
import { Iommu, type IommuOptions } from './iommu.js';
import type { IommuMmData } from './mmData.js';
import { type ResolvedSvaOptions, resolveSvaOptions, type SvaOptions } from './options.js';
import { PasidAllocator } from './pasidAllocator.js';

/** The lifetime state of one PASID value (sva.md section 4). */
export type PasidState =
  'FREE' | 'OWNED_IDLE' | 'BOUND' | 'DEFUNCT' | 'RELEASING' | 'QUARANTINED' | 'OWNED_GLOBAL' | 'OWNED_PLAIN';

/** A diagnostic the model records instead of failing the run. */
export interface Diagnostic {
  readonly tNs: number;
  readonly kind: 'driver-bug' | 'device-ub' | 'invalidation-timeout';
  readonly dev: string;
  readonly message: string;
}

/** One-shot fault injection, for the failure scenarios (S-6, S-19). */
export class FaultInjection {
  /** The next SVA domain creations fail with this errno (as many as `domainAllocFailures`). */
  domainAllocErrno = 0;
  domainAllocFailures = 0;
  /** The next complete fault groups cannot be allocated (answered FAILURE). */
  groupAllocFailures = 0;

  /** Consumes one injected domain-allocation failure: its errno (positive), or 0. */
  takeDomainAllocFailure(): number {
    if (this.domainAllocFailures <= 0) return 0;
    this.domainAllocFailures--;
    return this.domainAllocErrno;
  }

  takeGroupAllocFailure(): boolean {
    if (this.groupAllocFailures <= 0) return false;
    this.groupAllocFailures--;
    return true;
  }
}

export interface IommuCounterIds {
  readonly binds: CounterId;
  readonly unbinds: CounterId;
  readonly pasidAllocs: CounterId;
  readonly pasidFrees: CounterId;
  readonly iotlbInvalidations: CounterId;
  readonly atsInvalidations: CounterId;
  readonly pasidCacheInvalidations: CounterId;
  readonly translations: CounterId;
  readonly atsTranslations: CounterId;
  readonly pageRequests: CounterId;
  readonly prqOverflows: CounterId;
  readonly stopMarkers: CounterId;
  readonly faultGroups: CounterId;
  readonly faultsReported: CounterId;
  readonly responses: readonly CounterId[];
}

const cores = new WeakMap<Kernel, IommuCore>();

export class IommuCore {
  readonly kernel: Kernel;
  readonly options: ResolvedSvaOptions;
  readonly costs: SvaCosts;
  readonly pasids: PasidAllocator;
  readonly iommus: Iommu[] = [];
  readonly devices: Device[] = [];
  readonly groups: IommuGroup[] = [];
  /** iommu_sva_mms: address spaces with at least one SVA domain (R-SVA-30.6, R-SVA-99). */
  readonly svaMms = new Set<IommuMmData>();
  /** Per-mm SVA data (mm->iommu_mm). */
  readonly mmData = new WeakMap<Mm, IommuMmData>();
  readonly inject = new FaultInjection();
  readonly diagnostics: Diagnostic[] = [];
  readonly ctr: IommuCounterIds;
  /** Entries dropped from bounded logs because they were full. */
  droppedLogEntries = 0;
  private nextId = 1;
  /** strictUnbind: (device, PASID) pairs unbound while their mm still owns the PASID. */
  private readonly unboundUse = new Map<Device, Map<number, Mm>>();

  readonly diag = {
    driverBug: (dev: Device, message: string) => this.diagnose('driver-bug', dev, message),
    deviceUb: (dev: Device, message: string) => this.diagnose('device-ub', dev, message),
    invalidationTimeout: (dev: Device, pasid: number) =>
      this.diagnose(
        'invalidation-timeout',
        dev,
        `ATS invalidation for PASID ${pasid} timed out; device marked failed`,
      ),
  };

  constructor(kernel: Kernel, options: SvaOptions = {}, costs: Partial<SvaCosts> = {}) {
    if (cores.has(kernel)) throw new InvariantError('this kernel already has an IOMMU subsystem');
    cores.set(kernel, this);
    this.kernel = kernel;
    this.options = resolveSvaOptions(options);
    this.costs = { ...svaCostsOf(kernel.costs), ...costs };
    this.pasids = new PasidAllocator(kernel.clock, {
      spaceSize: this.options.pasidSpace,
      policy: this.options.pasidReuse,
      quarantineNs: this.options.pasidQuarantineNs,
      quarantineNeedsAck: this.options.pasidQuarantineNeedsAck,
    });
    const s = kernel.stats;
    this.ctr = {
      binds: s.counter('sva.binds'),
      unbinds: s.counter('sva.unbinds'),
      pasidAllocs: s.counter('sva.pasid_allocs'),
      pasidFrees: s.counter('sva.pasid_frees'),
      iotlbInvalidations: s.counter('iommu.iotlb_invalidations'),
      atsInvalidations: s.counter('iommu.ats_invalidations'),
      pasidCacheInvalidations: s.counter('iommu.pasid_cache_invalidations'),
      translations: s.counter('iommu.translations'),
      atsTranslations: s.counter('iommu.ats_translations'),
      pageRequests: s.counter('iommu.page_requests'),
      prqOverflows: s.counter('iommu.prq_overflows'),
      stopMarkers: s.counter('iommu.stop_markers'),
      faultGroups: s.counter('iommu.fault_groups'),
      faultsReported: s.counter('iommu.faults_reported'),
      responses: ['success', 'invalid', 'failure'].map((c) => s.counter(`iommu.responses.${c}`)),
    };
  }

  /** The IOMMU subsystem of `kernel`, created with default options on first use. */
  static of(kernel: Kernel): IommuCore {
    return cores.get(kernel) ?? new IommuCore(kernel);
  }

  get stats() {
    return this.kernel.stats;
  }

  nextObjectId(): number {
    return this.nextId++;
  }

  /** A new IOMMU instance (default flavour `vtd`). */
  addIommu(options: IommuOptions = {}): Iommu {
    const iommu = new Iommu(this, options);
    this.iommus.push(iommu);
    return iommu;
  }

  /** A new, empty IOMMU group. */
  newGroup(): IommuGroup {
    const group = new IommuGroup(this.nextObjectId());
    this.groups.push(group);
    return group;
  }

  /**
   * A new device. Behind `options.iommu` it joins `options.group` or a new group of its own;
   * without an IOMMU it has no group (binding it fails with ENODEV).
   */
  addDevice(options: DeviceOptions & { readonly iommu?: Iommu | null }): Device {
    const iommu = options.iommu ?? null;
    if (options.group !== undefined && iommu === null) {
      throw new RangeError(`device ${options.name}: a group needs an IOMMU`);
    }
    if (this.devices.some((d) => d.name === options.name)) {
      throw new RangeError(`a device named ${options.name} already exists`);
    }
    const group = iommu === null ? null : (options.group ?? this.newGroup());
    const dev = new Device(this, iommu, group, options);
    group?.devices.push(dev);
    iommu?.devices.push(dev);
    this.devices.push(dev);
    return dev;
  }

  /** Whether a bounded log may take one more entry. */
  hasLogRoom(list: readonly unknown[]): boolean {
    return list.length < this.options.maxLogEntries;
  }

  /** Appends to a bounded log: past the limit entries are only counted. */
  log<T>(list: T[], entry: T): void {
    if (list.length < this.options.maxLogEntries) list.push(entry);
    else this.droppedLogEntries++;
  }

  private diagnose(kind: Diagnostic['kind'], dev: Device, message: string): void {
    this.log(this.diagnostics, { tNs: this.kernel.engine.nowNs, kind, dev: dev.name, message });
  }

  // ---- strictUnbind (R-SVA-40) --------------------------------------------------------------

  /** @internal Unbind finished: later use of (dev, pasid) while `mm` owns it is a driver bug. */
  noteUnbound(dev: Device, pasid: number, mm: Mm): void {
    if (!this.options.strictUnbind) return;
    let m = this.unboundUse.get(dev);
    if (m === undefined) {
      m = new Map();
      this.unboundUse.set(dev, m);
    }
    m.set(pasid, mm);
  }

  /** @internal (dev, pasid) is bound again: its use is legitimate once more. */
  noteBound(dev: Device, pasid: number): void {
    this.unboundUse.get(dev)?.delete(pasid);
  }

  /** @internal A transaction or page request from `dev` with `pasid`. */
  noteDeviceUse(dev: Device, pasid: number, what: string): void {
    const m = this.unboundUse.get(dev);
    if (m === undefined || m.size === 0) return;
    const mm = m.get(pasid);
    if (mm === undefined) return;
    const owner = this.pasids.owner(pasid);
    if (owner !== undefined && owner.kind !== 'global' && owner.kind !== 'plain' && owner.mm === mm) {
      this.diag.driverBug(dev, `${what} with PASID ${pasid} after the driver unbound it (R-SVA-40)`);
    } else {
      m.delete(pasid);
    }
  }

  // ---- PASID lifetime -------------------------------------------------------------------------

  /** The lifetime state of `pasid` (sva.md section 4). */
  pasidState(pasid: number): PasidState {
    const owner = this.pasids.owner(pasid);
    if (owner === undefined) return this.pasids.isQuarantined(pasid) ? 'QUARANTINED' : 'FREE';
    if (owner.kind === 'global') return 'OWNED_GLOBAL';
    if (owner.kind === 'plain') return 'OWNED_PLAIN';
    const attached = this.devices.some((d) => d.group?.handle(pasid)?.domain.type === 'sva');
    if (owner.mm.users > 0) return attached ? 'BOUND' : 'OWNED_IDLE';
    return attached ? 'DEFUNCT' : 'RELEASING';
  }

  /** Runs the simulator until idle (deferred work, responses in flight, grace periods). */
  runUntilIdle(): number {
    return this.kernel.runUntilIdle();
  }
}
