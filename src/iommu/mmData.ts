// Models struct iommu_mm_data: what SVA keeps per address space. It appears on the mm's first bind
// that reaches the allocation step and lives until the mm object is destroyed, when its PASID goes
// back to the allocator (mm_pasid_drop, R-SVA-13). The domains list is most recent first (R-SVA-30.5).

import type { Mm } from '../mm/mm.js';
import type { SvaDomain } from './domain.js';

export class IommuMmData {
  readonly mm: Mm;
  /** The mm's one SVA PASID; it never changes (R-SVA-12, R-SVA-13). */
  readonly pasid: number;
  /** SVA domains built on this mm, most recently created first. */
  readonly domains: SvaDomain[] = [];
  /** [OPT:multiPasidPerMm]: extra PASIDs, each freed with its last bond. */
  readonly extraPasids = new Set<number>();

  constructor(mm: Mm, pasid: number) {
    this.mm = mm;
    this.pasid = pasid;
  }
}
