// Models the SVA domain's fault handler (iommu_sva_iopf_handler and iommu_sva_handle_iopf /
// iommu_sva_handle_mm): a complete group is queued on the IOMMU's IOPF work queue; the work runs
// each request through the CPU fault path of the domain's mm as a remote fault, stops at the first
// failure, and answers the group once with the last code (R-SVA-70..R-SVA-74). It never signals or
// kills the process, and it holds a temporary mm user per request, so the last put may run the exit
// teardown from the work (R-SVA-73, R-SVA-105).

import {
  FAULT_FLAG_INSTRUCTION,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_READ,
  VM_WRITE,
} from '../mm/constants.js';
import { handleMmFault } from '../mm/fault.js';
import type { Mm } from '../mm/mm.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PERM_EXEC,
  IOMMU_FAULT_PERM_PRIV,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  type PageResponseCode,
} from './constants.js';
import type { SvaDomain } from './domain.js';
import { type IopfFault, type IopfGroup, iopfGroupResponse } from './iopf.js';

/** iommu_sva_handle_mm: one request against the mm; SUCCESS or INVALID. */
export function svaHandleMm(fault: IopfFault, mm: Mm): PageResponseCode {
  if (!(fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID)) return IOMMU_PAGE_RESP_INVALID;
  // The address space may already be on its way out: only a live one is faulted on.
  if (!mm.mmgetNotZero()) return IOMMU_PAGE_RESP_INVALID;
  let status: PageResponseCode = IOMMU_PAGE_RESP_INVALID;
  try {
    // No stack growth: the address must lie inside a VMA.
    const vma = mm.vmas.find(fault.vpn);
    if (vma === null) return status;
    let access = 0;
    let flags = FAULT_FLAG_REMOTE;
    if (fault.perm & IOMMU_FAULT_PERM_READ) access |= VM_READ;
    if (fault.perm & IOMMU_FAULT_PERM_WRITE) {
      access |= VM_WRITE;
      flags |= FAULT_FLAG_WRITE;
    }
    if (fault.perm & IOMMU_FAULT_PERM_EXEC) {
      access |= VM_EXEC;
      flags |= FAULT_FLAG_INSTRUCTION;
    }
    if (!(fault.perm & IOMMU_FAULT_PERM_PRIV)) flags |= FAULT_FLAG_USER;
    if (access & ~vma.flags) return status;
    const ret = handleMmFault(vma, fault.vpn, flags);
    status = ret & VM_FAULT_ERROR ? IOMMU_PAGE_RESP_INVALID : IOMMU_PAGE_RESP_SUCCESS;
    return status;
  } finally {
    mm.mmput();
  }
}

/** iommu_sva_handle_iopf: the work item. The group's answer is its last computed code. */
export function svaHandleIopf(group: IopfGroup): void {
  const mm = (group.handle!.domain as SvaDomain).mm;
  let status: PageResponseCode = IOMMU_PAGE_RESP_SUCCESS;
  for (const fault of group.faults) {
    if (status !== IOMMU_PAGE_RESP_SUCCESS) break;
    status = svaHandleMm(fault, mm);
  }
  iopfGroupResponse(group, status);
}

/** iommu_sva_iopf_handler: queues the group on the IOMMU's IOPF work queue and returns 0. */
export function svaIopfHandler(group: IopfGroup): number {
  group.dev.iommu!.iopfQueue.queueWork(group.dev, svaHandleIopf, group);
  return 0;
}
