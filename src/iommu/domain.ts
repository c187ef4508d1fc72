// Models struct iommu_domain for the three kinds SVA meets: an SVA domain, whose translation is the
// process's own CPU page table; a kernel paging domain with its own IOVA mappings (a driver's
// kernel-DMA PASID, R-SVA-49); and, in userFault.ts, a domain whose faults go to user space. An
// attach handle (struct iommu_attach_handle) is what a group's PASID slot holds; for SVA it is
// also the bond a bind returns (struct iommu_sva).

import type { MmuNotifier } from '../notifier/classic.js';
import type { Mm } from '../mm/mm.js';
import type { Device } from './device.js';
import type { IopfGroup } from './iopf.js';
import type { Iommu } from './iommu.js';
import type { IommuMmData } from './mmData.js';

export type IommuDomainType = 'sva' | 'paging' | 'user';

/** A (device, PASID) where the domain is attached. */
export interface Attachment {
  readonly dev: Device;
  readonly pasid: number;
}

export abstract class IommuDomain {
  abstract readonly type: IommuDomainType;
  /** The instance whose driver built the domain (SMMU domains serve that instance only). */
  readonly iommu: Iommu;
  readonly id: number;
  /** Where it is attached right now. */
  readonly attachments: Attachment[] = [];
  /** The domain's fault handler (null: faults on it get INVALID, R-SVA-63). Returns 0 or -errno. */
  iopfHandler: ((group: IopfGroup) => number) | null = null;

  constructor(iommu: Iommu) {
    this.iommu = iommu;
    this.id = iommu.core.nextObjectId();
  }
}

/** An SVA domain: translates through `mm`'s page table; holds mm_count, never mm_users. */
export class SvaDomain extends IommuDomain {
  readonly type = 'sva';
  readonly mm: Mm;
  readonly mmData: IommuMmData;
  /** (device, PASID) attachments using the domain. */
  users = 0;
  /** The domain's mmu notifier (release + secondary-TLB invalidation). */
  readonly notifier: MmuNotifier;
  /** SMMU: the domain's ASID (its IOTLB tag); 0 elsewhere. */
  asid = 0;
  freed = false;

  constructor(iommu: Iommu, mm: Mm, mmData: IommuMmData, notifier: MmuNotifier) {
    super(iommu);
    this.mm = mm;
    this.mmData = mmData;
    this.notifier = notifier;
  }
}

/** A kernel paging domain: IOVA page -> frame mappings the driver makes itself. */
export class PagingDomain extends IommuDomain {
  readonly type = 'paging';
  /** IOVA page -> pfn * 16 + TC_* permission bits. */
  readonly mappings = new Map<number, number>();

  /** iommu_map of one page. */
  map(iovaVpn: number, pfn: number, perms: number): void {
    this.mappings.set(iovaVpn, pfn * 16 + perms);
  }

  /** iommu_unmap of one page (the caller flushes the IOTLB). */
  unmap(iovaVpn: number): boolean {
    return this.mappings.delete(iovaVpn);
  }
}

/**
 * The attach handle in a group's PASID slot. For SVA it is the bond `iommuSvaBindDevice` returns:
 * binding the same (device, mm) again returns the same object with `users + 1`.
 */
export class AttachHandle {
  readonly id: number;
  /** The attached domain (set by the attach that stores the handle in its slot). */
  domain!: IommuDomain;
  /** The device the bind was for (one of the group's devices). */
  readonly dev: Device;
  readonly pasid: number;
  /** Bind references (SVA bonds). */
  users = 0;
  /** Set once the last unbind detached it: any further unbind is a caller bug. */
  detached = false;
  /** [OPT:drvdataLookup]: the driver's pointer for this bond. */
  drvdata: unknown = null;
  /** [OPT:multiPasidPerMm]: the PASID is an extra one, freed with this bond. */
  extra = false;
  /** [OPT:legacyMmExit]: the driver's exit notification. */
  mmExit: ((dev: Device, pasid: number, drvdata: unknown) => void) | null = null;

  /**
   * The bond's state (sva.md 5.3): BOUND while its mm lives, BOUND_DEFUNCT once the mm's exit
   * teardown ran (the entry is quiesced, users unchanged), DETACHED after the last unbind.
   */
  get state(): 'BOUND' | 'BOUND_DEFUNCT' | 'DETACHED' {
    if (this.detached) return 'DETACHED';
    return this.domain instanceof SvaDomain && this.domain.mm.users === 0 ? 'BOUND_DEFUNCT' : 'BOUND';
  }

  constructor(id: number, dev: Device, pasid: number) {
    this.id = id;
    this.dev = dev;
    this.pasid = pasid;
  }
}

/** What `iommuSvaBindDevice` returns. */
export type IommuSva = AttachHandle;
