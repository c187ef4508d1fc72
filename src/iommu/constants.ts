// Numbers shared by the IOMMU layer: PASID limits, page-request permission and flag bits, and the
// page-response codes (the values of include/linux/iommu.h where the kernel has them).

/** "No PASID": the value iommu_alloc_global_pasid returns on failure (all ones in 32 bits). */
export const PASID_INVALID = -1;
/** Requests without a PASID prefix use PASID 0; the allocator never hands it out. */
export const IOMMU_NO_PASID = 0;
/** PCIe PASIDs are 20 bits wide. */
export const PCIE_PASID_BITS = 20;
export const PCIE_MAX_PASIDS = 1 << PCIE_PASID_BITS;

// Permissions of a fault (IOMMU_FAULT_PERM_*).
export const IOMMU_FAULT_PERM_READ = 1 << 0;
export const IOMMU_FAULT_PERM_WRITE = 1 << 1;
export const IOMMU_FAULT_PERM_EXEC = 1 << 2;
export const IOMMU_FAULT_PERM_PRIV = 1 << 3;

// Flags of a page-request fault (IOMMU_FAULT_PAGE_REQUEST_*).
export const IOMMU_FAULT_PAGE_REQUEST_PASID_VALID = 1 << 0;
export const IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE = 1 << 1;
export const IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID = 1 << 3;

/** Page-response codes (enum iommu_page_response_code), numbered as in the spec's model enum. */
export const IOMMU_PAGE_RESP_SUCCESS = 0;
export const IOMMU_PAGE_RESP_INVALID = 1;
export const IOMMU_PAGE_RESP_FAILURE = 2;
export type PageResponseCode =
  typeof IOMMU_PAGE_RESP_SUCCESS | typeof IOMMU_PAGE_RESP_INVALID | typeof IOMMU_PAGE_RESP_FAILURE;

export const PAGE_RESPONSE_NAMES = ['SUCCESS', 'INVALID', 'FAILURE'] as const;

/** On the PCIe wire: Success 0000b, Invalid Request 0001b, Response Failure 1111b. */
export const PCIE_PRG_RESPONSE_CODE = [0b0000, 0b0001, 0b1111] as const;

/** PRG indexes are 9 bits wide. */
export const PRG_INDEX_MASK = 0x1ff;

/** Access bits the translation paths take and return (read, write, execute). */
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;
export const ACCESS_EXEC = 4;
/** A privileged (supervisor) request: not supported for SVA. */
export const ACCESS_PRIV = 8;
