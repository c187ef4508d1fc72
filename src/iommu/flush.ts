// Keeping the IOMMU's and the devices' caches coherent with the CPU page table (sva.md section 9):
// PASID-cache, IOTLB and device-TLB (ATS) invalidation, the range conversions the hardware imposes,
// and the SVA domain's secondary-TLB callback that the mm calls at every CPU TLB flush point,
// before any frame or page table is freed (R-SVA-90..R-SVA-96).

import { TASK_SIZE_VPN } from '../mm/constants.js';
import type { Device } from './device.js';
import { type IommuDomain, SvaDomain } from './domain.js';
import type { Iommu } from './iommu.js';

/** SMMU: beyond this many pages without range invalidation, flush the whole ASID (CMDQ_MAX_TLBI_OPS). */
const SMMU_TLBI_MAX_PAGES = 512;

/** A range this wide is "everything" for its tag (R-SVA-92). */
function isWholeSpace(startVpn: number, endVpn: number): boolean {
  return startVpn <= 0 && endVpn >= TASK_SIZE_VPN;
}

/** The IOTLB tag of a domain's translations for `pasid`: the PASID (VT-d, AMD) or the ASID (SMMU). */
export function iotlbTag(domain: IommuDomain, pasid: number): number {
  if (domain.iommu.flavour === 'smmu' && domain instanceof SvaDomain) return domain.asid;
  return pasid;
}

/** Invalidates the PASID-entry cache for (dev, pasid) (VT-d's PASID cache; SMMU's CD cache). */
export function flushPasidCache(iommu: Iommu, dev: Device, pasid: number): void {
  iommu.core.stats.add(iommu.core.ctr.pasidCacheInvalidations);
  iommu.core.kernel.charge(iommu.core.costs.iotlbInvalidationNs);
  iommu.command({ op: 'pasid-cache-inv', dev: dev.name, pasid });
}

/**
 * Invalidates IOTLB entries of `tag` in [startVpn, endVpn). SMMU without range invalidation widens
 * long ranges to the whole ASID (widening is always allowed, never narrowing).
 */
export function flushIotlb(iommu: Iommu, tag: number, startVpn: number, endVpn: number): void {
  const core = iommu.core;
  let start = startVpn;
  let end = endVpn;
  if (
    isWholeSpace(start, end) ||
    (iommu.flavour === 'smmu' && !iommu.rangeInvalidation && end - start > SMMU_TLBI_MAX_PAGES)
  ) {
    start = 0;
    end = Number.MAX_SAFE_INTEGER;
  }
  core.stats.add(core.ctr.iotlbInvalidations);
  core.kernel.charge(core.costs.iotlbInvalidationNs);
  iommu.command({ op: 'iotlb-inv', tag, startVpn: start, endVpn: end });
  if (end === Number.MAX_SAFE_INTEGER) iommu.iotlb.invalidateTag(tag);
  else iommu.iotlb.invalidateRange(tag, start, end);
}

/**
 * The naturally aligned power-of-two block an ATS invalidation request can express that covers
 * [startVpn, endVpn) (R-SVA-113: the size is encoded in the address's low bits).
 */
export function atsAlignedRange(startVpn: number, endVpn: number): [number, number] {
  let size = 1;
  while (size < endVpn - startVpn) size *= 2;
  for (;;) {
    const base = startVpn - (startVpn % size);
    if (base + size >= endVpn) return [base, base + size];
    size *= 2;
  }
}

/**
 * Sends an ATS invalidation for [startVpn, endVpn) of `pasid` to `dev` and waits for its
 * completion (R-SVA-91). Skipped for devices without ATS or already gone (R-SVA-95).
 */
export function flushDevTlb(
  iommu: Iommu,
  dev: Device,
  pasid: number,
  startVpn: number,
  endVpn: number,
): void {
  if (!dev.ats || !dev.present) return;
  const core = iommu.core;
  const [start, end] = isWholeSpace(startVpn, endVpn)
    ? [0, Number.MAX_SAFE_INTEGER]
    : atsAlignedRange(startVpn, endVpn);
  core.stats.add(core.ctr.atsInvalidations);
  core.kernel.charge(core.costs.atsInvalidationNs);
  iommu.command({ op: 'devtlb-inv', dev: dev.name, pasid, startVpn: start, endVpn: end });
  dev.atsInvalidate(pasid, start, end);
}

/** Everything cached for (dev, pasid) goes: PASID cache, then IOTLB, then ATC (R-SVA-97 order). */
export function flushPasidCaches(iommu: Iommu, domain: IommuDomain | null, dev: Device, pasid: number): void {
  flushPasidCache(iommu, dev, pasid);
  const tag = domain === null ? pasid : iotlbTag(domain, pasid);
  flushIotlb(iommu, tag, 0, Number.MAX_SAFE_INTEGER);
  flushDevTlb(iommu, dev, pasid, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * The SVA domain's secondary-TLB callback (arch_invalidate_secondary_tlbs): for every attachment,
 * the IOTLB for the domain's tag and, on ATS devices, the ATC for the PASID, each waited for
 * (R-SVA-91). One IOTLB command per distinct (instance, tag); one ATS invalidation per attachment,
 * so an mm with several PASIDs pays one per PASID (R-SVA-94).
 */
export function domainInvalidateSecondaryTlbs(domain: IommuDomain, startVpn: number, endVpn: number): void {
  const atts = domain.attachments;
  for (let i = 0; i < atts.length; i++) {
    const { dev, pasid } = atts[i];
    const iommu = dev.iommu!;
    const tag = iotlbTag(domain, pasid);
    let seen = false;
    for (let j = 0; j < i; j++) {
      if (atts[j].dev.iommu === iommu && iotlbTag(domain, atts[j].pasid) === tag) seen = true;
    }
    if (!seen) {
      // With the CPU's ASID shared, the CPU's own broadcast TLB maintenance already cleaned the SMMU
      // TLB: only the ATC needs an explicit command (R-SVA-123, the pre-6.10 design).
      if (iommu.flavour === 'smmu' && iommu.smmuSharedCpuAsid)
        iommu.iotlb.invalidateRange(tag, startVpn, endVpn);
      else flushIotlb(iommu, tag, startVpn, endVpn);
    }
    flushDevTlb(iommu, dev, pasid, startVpn, endVpn);
  }
}
