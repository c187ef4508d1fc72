// The cost model: every duration the model charges, by name, in one object, with profiles for the
// host-device link (PCIe 3, 4, 5 and NVLink-C2C). Logic never embeds a latency; it charges one of
// these. docs/COST-MODEL.md gives each parameter's default and the public figure behind it, or
// says that none exists and the value is one to calibrate.

export type CostProfileName = 'pcie3' | 'pcie4' | 'pcie5' | 'nvlink-c2c';

export const COST_PROFILES: readonly CostProfileName[] = ['pcie3', 'pcie4', 'pcie5', 'nvlink-c2c'];

export interface CostModel {
  readonly profile: CostProfileName;

  // ---- CPU and kernel -------------------------------------------------------------------------
  /** Entering and leaving a CPU page fault plus the handler's own work (not zeroing or copying). */
  readonly cpuFaultNs: number;
  /** Clearing one 4 KiB page. */
  readonly pageZeroNs: number;
  /** Copying one 4 KiB page within RAM. */
  readonly pageCopyNs: number;
  /** A CPU load or store to a resident page (the work of a program between faults). */
  readonly cpuAccessNs: number;
  /** Flushing a range from the local CPU's TLB. */
  readonly tlbFlushNs: number;
  /** A TLB shootdown: IPIs to the other CPUs running the mm and their acknowledgements. */
  readonly tlbShootdownNs: number;
  /** Walking or updating one page-table entry in software (zap, fork, hmm_range_fault). */
  readonly ptePageNs: number;
  /** Fixed cost of a system call that changes the address space (mmap, munmap, mprotect). */
  readonly syscallNs: number;

  // ---- host-device link -----------------------------------------------------------------------
  /** Fixed latency of one DMA transfer over the link (descriptor, doorbell, completion). */
  readonly linkLatencyNs: number;
  /** Peak link bandwidth one way, in bytes per ns (1 byte/ns = 1 GB/s). */
  readonly linkBytesPerNs: number;
  /**
   * 0: a transfer reaches peak bandwidth at once (fixed latency plus bytes at peak). Otherwise the
   * transfer size at which the link reaches half its peak: bandwidth grows with size as
   * peak * (2/pi) * atan(bytes / this), the curve Ganguly et al. fitted to PCIe 3 measurements.
   */
  readonly linkHalfBandwidthBytes: number;

  // ---- GPU / unified memory -------------------------------------------------------------------
  /** From a GPU far fault to the driver starting to service its batch (interrupt, fetch, sort). */
  readonly gpuFarFaultNs: number;
  /** Faults the driver fetches per batch (NVIDIA UVM: 256). */
  readonly gpuFaultBatchSize: number;
  /** Batches serviced per pass before replaying (NVIDIA UVM: 20). */
  readonly gpuFaultBatchesPerPass: number;
  /** Replaying faulted accesses after a service pass. */
  readonly gpuReplayNs: number;
  /** Launching a compute kernel, until its first thread block runs. */
  readonly gpuKernelLaunchNs: number;
  /** A GPU access to system memory over the link (a mirrored, not migrated, page). */
  readonly gpuRemoteAccessNs: number;
  /** migrate_vma bookkeeping per page (collect, unmap, migration entries, finalize). */
  readonly migratePageNs: number;
  /** migrate_vma fixed cost per call (setup and finalize). */
  readonly migrateCallNs: number;

  // ---- IOMMU / SVA ----------------------------------------------------------------------------
  /** One IOMMU page-table walk on an IOTLB miss. */
  readonly iommuWalkNs: number;
  /** An ATS translation request and its completion. */
  readonly atsTranslationNs: number;
  /** One ATS invalidation request and its completion. */
  readonly atsInvalidationNs: number;
  /** An IOTLB or PASID-cache invalidation command with its wait descriptor. */
  readonly iotlbInvalidationNs: number;
  /** A page request travelling from the device into the IOMMU's queue. */
  readonly priRequestNs: number;
  /** Interrupt to page-request thread. */
  readonly prqIrqNs: number;
  /** Queueing a fault group until the I/O page-fault work runs. */
  readonly iopfWorkNs: number;
  /** A page-group response (or stall RESUME) travelling back to the device. */
  readonly priResponseNs: number;
  /** A device memory access through a valid translation, per page. */
  readonly dmaPageNs: number;
}

/** The parameters that do not depend on the link. */
const COMMON: Omit<
  CostModel,
  | 'profile'
  | 'linkLatencyNs'
  | 'linkBytesPerNs'
  | 'atsTranslationNs'
  | 'atsInvalidationNs'
  | 'priRequestNs'
  | 'priResponseNs'
  | 'gpuRemoteAccessNs'
> = {
  cpuFaultNs: 700,
  pageZeroNs: 300,
  pageCopyNs: 400,
  cpuAccessNs: 5,
  tlbFlushNs: 150,
  tlbShootdownNs: 3_000,
  ptePageNs: 3,
  syscallNs: 500,
  gpuFarFaultNs: 25_000,
  gpuFaultBatchSize: 256,
  gpuFaultBatchesPerPass: 20,
  gpuReplayNs: 5_000,
  gpuKernelLaunchNs: 5_000,
  linkHalfBandwidthBytes: 0,
  migratePageNs: 150,
  migrateCallNs: 2_000,
  iommuWalkNs: 400,
  iotlbInvalidationNs: 300,
  prqIrqNs: 3_000,
  iopfWorkNs: 2_000,
  dmaPageNs: 100,
};

export const PROFILES: Readonly<Record<CostProfileName, CostModel>> = {
  pcie3: {
    ...COMMON,
    profile: 'pcie3',
    linkLatencyNs: 10_000,
    linkBytesPerNs: 12.0,
    atsTranslationNs: 1_000,
    atsInvalidationNs: 2_500,
    priRequestNs: 600,
    priResponseNs: 600,
    gpuRemoteAccessNs: 1_200,
  },
  pcie4: {
    ...COMMON,
    profile: 'pcie4',
    linkLatencyNs: 8_000,
    linkBytesPerNs: 24.0,
    atsTranslationNs: 800,
    atsInvalidationNs: 2_000,
    priRequestNs: 500,
    priResponseNs: 500,
    gpuRemoteAccessNs: 1_000,
  },
  pcie5: {
    ...COMMON,
    profile: 'pcie5',
    linkLatencyNs: 7_000,
    linkBytesPerNs: 48.0,
    atsTranslationNs: 700,
    atsInvalidationNs: 1_800,
    priRequestNs: 450,
    priResponseNs: 450,
    gpuRemoteAccessNs: 900,
  },
  'nvlink-c2c': {
    ...COMMON,
    profile: 'nvlink-c2c',
    linkLatencyNs: 2_000,
    linkBytesPerNs: 450.0,
    atsTranslationNs: 400,
    atsInvalidationNs: 1_000,
    priRequestNs: 200,
    priResponseNs: 200,
    gpuRemoteAccessNs: 400,
  },
};

/** A profile with some parameters replaced; every value must be a finite number >= 0. */
export function costModel(
  profile: CostProfileName = 'pcie4',
  overrides: Partial<Omit<CostModel, 'profile'>> = {},
): CostModel {
  const base = PROFILES[profile];
  if (base === undefined) {
    throw new RangeError(
      `unknown cost profile ${String(profile)}; choose one of ${COST_PROFILES.join(', ')}`,
    );
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in base) || k === 'profile') throw new RangeError(`unknown cost parameter ${k}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new RangeError(`cost parameter ${k} must be a number >= 0, got ${String(v)}`);
  }
  return { ...base, ...overrides };
}

/**
 * Time to move `bytes` over the link in one transfer: the fixed latency plus the bytes at the
 * bandwidth a transfer of that size reaches (the peak, or the size-dependent curve).
 */
export function linkTransferNs(costs: CostModel, bytes: number): number {
  const half = costs.linkHalfBandwidthBytes;
  const rate =
    half > 0 ? costs.linkBytesPerNs * (2 / Math.PI) * Math.atan(bytes / half) : costs.linkBytesPerNs;
  return Math.round(costs.linkLatencyNs + bytes / rate);
}

/** The bandwidth one transfer of `bytes` achieves, in bytes per ns (GB/s): it grows with size. */
export function linkEffectiveBytesPerNs(costs: CostModel, bytes: number): number {
  return bytes / linkTransferNs(costs, bytes);
}
