// Models struct iommu_group as far as SVA needs it: the devices that cannot be isolated from each
// other, and the group's PASID map (pasid_array): one slot per PASID, holding the attach handle of
// the domain attached there. Faults are routed through this map (R-SVA-62).

import type { Device } from './device.js';
import type { AttachHandle } from './domain.js';

export class IommuGroup {
  readonly devices: Device[] = [];
  /** PASID -> the handle of the domain attached on that PASID (for every device of the group). */
  readonly pasidSlots = new Map<number, AttachHandle>();
  /** A device of the group is being reset: attaches fail with EBUSY (R-SVA-31). */
  resetting = false;

  constructor(readonly id: number) {}

  /** iommu_attach_handle_get: the handle on `pasid`, or null (the kernel's ENOENT). */
  handle(pasid: number): AttachHandle | null {
    return this.pasidSlots.get(pasid) ?? null;
  }
}
