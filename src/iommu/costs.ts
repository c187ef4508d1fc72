// The durations the IOMMU layer charges: the IOMMU/SVA part of the kernel's cost model
// (sim/costModel.ts), overridable per IOMMU subsystem.

import type { CostModel } from '../sim/costModel.js';

export type SvaCosts = Pick<
  CostModel,
  | 'iommuWalkNs'
  | 'atsTranslationNs'
  | 'atsInvalidationNs'
  | 'iotlbInvalidationNs'
  | 'priRequestNs'
  | 'prqIrqNs'
  | 'iopfWorkNs'
  | 'priResponseNs'
  | 'dmaPageNs'
>;

/** The IOMMU part of a cost model. */
export function svaCostsOf(model: CostModel): SvaCosts {
  return {
    iommuWalkNs: model.iommuWalkNs,
    atsTranslationNs: model.atsTranslationNs,
    atsInvalidationNs: model.atsInvalidationNs,
    iotlbInvalidationNs: model.iotlbInvalidationNs,
    priRequestNs: model.priRequestNs,
    prqIrqNs: model.prqIrqNs,
    iopfWorkNs: model.iopfWorkNs,
    priResponseNs: model.priResponseNs,
    dmaPageNs: model.dmaPageNs,
  };
}
