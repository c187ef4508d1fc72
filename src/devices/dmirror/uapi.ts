// lib/test_hmm_uapi.h: the dmirror ioctl interface (command numbers, snapshot byte values).

export const HMM_DMIRROR_READ = 0;
export const HMM_DMIRROR_WRITE = 1;
export const HMM_DMIRROR_MIGRATE_TO_DEV = 2;
export const HMM_DMIRROR_MIGRATE_TO_SYS = 3;
export const HMM_DMIRROR_SNAPSHOT = 4;
export const HMM_DMIRROR_EXCLUSIVE = 5;
export const HMM_DMIRROR_CHECK_EXCLUSIVE = 6;
export const HMM_DMIRROR_RELEASE = 7;

// Snapshot bytes (enum hmm_dmirror_prot).
export const HMM_DMIRROR_PROT_ERROR = 0xff;
export const HMM_DMIRROR_PROT_NONE = 0x00;
export const HMM_DMIRROR_PROT_READ = 0x01;
export const HMM_DMIRROR_PROT_WRITE = 0x02;
export const HMM_DMIRROR_PROT_PMD = 0x04;
export const HMM_DMIRROR_PROT_PUD = 0x08;
export const HMM_DMIRROR_PROT_ZERO = 0x10;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

// Device types (HMM_DMIRROR_MEMORY_DEVICE_*).
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;

/**
 * Mirror page-table entries (the driver's xarray tags DPT_XA_TAG_*), as DeviceTable attributes in
 * the hmm pfn flag layout: READ is VALID, WRITE is VALID|WRITE, ATOMIC is VALID|ATOMIC.
 */
export const DPT_ATTR_READ = (1 << 31) >>> 0;
export const DPT_ATTR_WRITE = ((1 << 31) | (1 << 30)) >>> 0;
export const DPT_ATTR_ATOMIC = ((1 << 31) | (1 << 20)) >>> 0;

/** struct hmm_dmirror_cmd, with addresses in pages. */
export interface DmirrorCmd {
  /** First page of the target range in the mirrored mm. */
  addrVpn: number;
  npages: number;
  /** Output: pages handled (meaning per command). */
  cpages: number;
  /** Output: fault rounds (READ and WRITE). */
  faults: number;
}
