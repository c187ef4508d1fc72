// The hmm pfn word of mm/hmm.c, split in two 32-bit halves: the high half holds the flags (bits
// 56..63 of the kernel's 64-bit word move to bits 24..31 here), the low half the pfn. On input the
// flags half carries per-page requests; on output, the result (R-HRF-4, R-HRF-5).

/** Output: the pfn is a valid page, at least readable. Input (as REQ_FAULT): fault if not valid. */
export const HMM_PFN_VALID = 1 << 31;
/** Output: writable. Input (as REQ_WRITE): fault for write if not writable. */
export const HMM_PFN_WRITE = 1 << 30;
/** Output: the access is impossible; the device must fail it. */
export const HMM_PFN_ERROR = 1 << 29;
/** Bits 24..28 (kernel bits 56..60): log2 of the CPU mapping size in pages. */
export const HMM_PFN_ORDER_SHIFT = 24;
export const HMM_PFN_ORDER_MASK = 0x1f << HMM_PFN_ORDER_SHIFT;
/**
 * Opt-in output (not in mainline, asked for in the 2021 device-exclusive review): the page is held
 * exclusively by some device. Reported only when `HmmRange.reportExclusive` is set, without VALID,
 * so a consumer that ignores it sees what mainline reports.
 */
export const HMM_PFN_DEVICE_EXCLUSIVE = 1 << 23;

/**
 * Output, with the P2P extension on (not in mainline; the 2024-2025 proposals): the page is
 * another device's private page, reported in place because both devices share an interconnect.
 */
export const HMM_PFN_P2P = 1 << 22;

export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;

/** Every flag bit of the high half. */
export const HMM_PFN_FLAGS =
  HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_ERROR | HMM_PFN_ORDER_MASK | HMM_PFN_DEVICE_EXCLUSIVE | HMM_PFN_P2P;

/** hmm_pfn_to_map_order. */
export function hmmPfnToMapOrder(flags: number): number {
  return (flags >>> HMM_PFN_ORDER_SHIFT) & 0x1f;
}

/** A readable form of one output: `valid write order=9 pfn=123`, `error`, `none`. */
export function describeHmmPfn(flags: number, pfn: number): string {
  if (flags & HMM_PFN_ERROR) return 'error';
  const parts: string[] = [];
  if (flags & HMM_PFN_VALID) parts.push('valid');
  if (flags & HMM_PFN_WRITE) parts.push('write');
  if (flags & HMM_PFN_DEVICE_EXCLUSIVE) parts.push('exclusive');
  if (flags & HMM_PFN_P2P) parts.push('p2p');
  const order = hmmPfnToMapOrder(flags);
  if (order !== 0) parts.push(`order=${order}`);
  if (parts.length === 0) return 'none';
  parts.push(`pfn=${pfn}`);
  return parts.join(' ');
}
