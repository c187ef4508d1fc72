// The simulated durations the IOMMU layer charges, by name. No rule of the model depends on them;
// they only move the clock. Defaults are order-of-magnitude figures for a PCIe 4 system and are
// parameters to calibrate (the engine's cost model, issue 6, will own the profiles).

export interface SvaCosts {
  /** One IOMMU page-table walk on an IOTLB miss (four levels, mostly cache hits). */
  readonly iommuWalkNs: number;
  /** An ATS translation request and its completion over the link. */
  readonly atsTranslationNs: number;
  /** One ATS invalidation request and its completion (the device drains translated requests). */
  readonly atsInvalidationNs: number;
  /** An IOTLB or PASID-cache invalidation command with its wait descriptor. */
  readonly iotlbInvalidationNs: number;
  /** A page request travelling from the device into the IOMMU's queue. */
  readonly priRequestNs: number;
  /** Interrupt to page-request thread (the IOMMU driver consuming its queue). */
  readonly prqIrqNs: number;
  /** Queueing a fault group to the I/O page-fault work queue until the work runs. */
  readonly iopfWorkNs: number;
  /** A page-group response travelling back to the device (or a stall RESUME command). */
  readonly priResponseNs: number;
  /** A device memory access through a valid translation, per page. */
  readonly dmaPageNs: number;
}

export const DEFAULT_SVA_COSTS: SvaCosts = {
  iommuWalkNs: 400,
  atsTranslationNs: 800,
  atsInvalidationNs: 2_000,
  iotlbInvalidationNs: 300,
  priRequestNs: 500,
  prqIrqNs: 3_000,
  iopfWorkNs: 2_000,
  priResponseNs: 500,
  dmaPageNs: 100,
};
