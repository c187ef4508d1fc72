// Models iommufd's user-space fault queues (drivers/iommu/iommufd/fault.c, R-SVA-80): a domain
// owned by user space hands its fault groups to a fault object instead of the CPU fault path. User
// space reads one record per request (with a cookie per group) and writes one response per cookie;
// detaching the domain or destroying the fault object answers what is still pending INVALID. The
// kernel's iommufd self-test injects faults through the same reporting entry, one request per group.

import { EINVAL } from '../sim/errno.js';
import { iommuDetachDevicePasid } from './attach.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  type PageResponseCode,
} from './constants.js';
import type { Device } from './device.js';
import { IommuDomain } from './domain.js';
import type { Iommu } from './iommu.js';
import { type IopfGroup, iopfGroupResponse, iommuReportDeviceFault } from './iopf.js';

/** One fault record as user space reads it (struct iommu_hwpt_pgfault). */
export interface UserFaultRecord {
  readonly dev: string;
  readonly pasid: number;
  readonly grpid: number;
  readonly perm: number;
  readonly vpn: number;
  /** Identifies the group in the response. */
  readonly cookie: number;
  readonly pasidValid: boolean;
  readonly last: boolean;
}

/** An iommufd fault object: the queue user space reads and answers. */
export class IommufdFault {
  private readonly unread: UserFaultRecord[] = [];
  private readonly pending = new Map<number, IopfGroup>();
  private nextCookie = 1;
  destroyed = false;

  /** @internal The user domain's handler: the group becomes readable records. */
  deliver(group: IopfGroup): number {
    if (this.destroyed) return -EINVAL;
    const cookie = this.nextCookie++;
    this.pending.set(cookie, group);
    for (const f of group.faults) {
      this.unread.push({
        dev: group.dev.name,
        pasid: f.pasid,
        grpid: f.grpid,
        perm: f.perm,
        vpn: f.vpn,
        cookie,
        pasidValid: (f.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) !== 0,
        last: (f.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE) !== 0,
      });
    }
    return 0;
  }

  /** read(): every record not read yet. */
  read(): UserFaultRecord[] {
    return this.unread.splice(0, this.unread.length);
  }

  /** write() of one response: 0, or -EINVAL for an unknown cookie or a code other than SUCCESS/INVALID. */
  respond(cookie: number, code: PageResponseCode): number {
    const group = this.pending.get(cookie);
    if (group === undefined || (code !== IOMMU_PAGE_RESP_SUCCESS && code !== IOMMU_PAGE_RESP_INVALID))
      return -EINVAL;
    this.pending.delete(cookie);
    iopfGroupResponse(group, code);
    return 0;
  }

  /** Groups waiting for user space's answer. */
  get pendingGroups(): number {
    return this.pending.size;
  }

  /** Answers INVALID every pending group that `match` selects (all by default). */
  autoRespond(match: (group: IopfGroup) => boolean = () => true): void {
    for (const [cookie, group] of [...this.pending]) {
      if (!match(group)) continue;
      this.pending.delete(cookie);
      iopfGroupResponse(group, IOMMU_PAGE_RESP_INVALID);
    }
  }

  /** Destroying the fault object answers everything pending INVALID. */
  destroy(): void {
    this.autoRespond();
    this.unread.length = 0;
    this.destroyed = true;
  }
}

/** A domain owned by user space whose faults go to `fault`. Its translations are not modeled. */
export class UserFaultDomain extends IommuDomain {
  readonly type = 'user';

  constructor(
    iommu: Iommu,
    readonly fault: IommufdFault,
  ) {
    super(iommu);
    this.iopfHandler = (group) => fault.deliver(group);
  }
}

/** Detaching a user domain answers its pending groups for that (device, PASID) INVALID. */
export function iommufdDetachDevicePasid(domain: UserFaultDomain, dev: Device, pasid: number): void {
  iommuDetachDevicePasid(domain, dev, pasid);
  domain.fault.autoRespond((g) => g.dev.group === dev.group && g.lastFault.pasid === pasid);
}

/** The iommufd self-test's fault injection: one request, its own group, `last` set. */
export function iommufdTestInjectFault(
  dev: Device,
  pasid: number,
  vpn: number,
  perm: number,
  grpid: number,
): number {
  return iommuReportDeviceFault(dev, {
    pasid,
    vpn,
    perm,
    grpid,
    flags: IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  });
}
