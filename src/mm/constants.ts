// Sizes, flags and codes of the x86-64 memory-management interface, with the kernel's names.
// Inside the model, addresses are handled as virtual page numbers (vpn = address / 4096) and ranges
// as half-open [startVpn, endVpn). Byte addresses below 2^48 are exact as JS numbers.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
/** Entries per page-table page at every level (PGD, PUD, PMD, PTE). */
export const PTRS_PER_TABLE = 512;
/** Pages mapped by one PMD entry (2 MiB). */
export const HPAGE_PMD_NR = 512;
export const HPAGE_PMD_ORDER = 9;
/** Pages covered by one PUD entry (1 GiB). */
export const PUD_NR = 512 * 512;
/** Pages covered by one PGD entry (512 GiB). */
export const PGD_NR = 512 * 512 * 512;

/** End of the user address space on x86-64 with 4-level paging (128 TiB minus a guard page). */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;
export const TASK_SIZE_VPN = TASK_SIZE / PAGE_SIZE;
/** The last vpn + 1 of a 64-bit space: ranges that run "to ULONG_MAX" end here. */
export const VPN_END_MAX = 2 ** 52;
/** Where top-down mmap placement starts when no address is requested. */
export const MMAP_BASE_VPN = 0x7f0000000000 / PAGE_SIZE;

// mmap(2) protections.
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

// mmap(2) flags (x86-64 values).
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
/** MAP_SHARED with validation of the other flags. */
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;
export const MAP_HUGETLB = 0x40000;
export const MAP_FIXED_NOREPLACE = 0x100000;

// VMA flags (vm_flags), kernel bit positions.
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_PFNMAP = 0x400;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_DONTEXPAND = 0x40000;
export const VM_ACCOUNT = 0x100000;
export const VM_HUGETLB = 0x400000;
export const VM_DONTDUMP = 0x4000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/** Flags that make a VMA "special": no migration, no merging. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

// madvise(2) advice values.
export const MADV_NORMAL = 0;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_COLD = 20;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;

// Page-fault flags (FAULT_FLAG_*), the subset the model distinguishes.
export const FAULT_FLAG_WRITE = 0x1;
/** The fault comes from user mode (device faults on user PASIDs count as user faults). */
export const FAULT_FLAG_USER = 0x40;
export const FAULT_FLAG_REMOTE = 0x80;
/** An instruction fetch (device requests with the execute bit). */
export const FAULT_FLAG_INSTRUCTION = 0x100;
/** A fault on behalf of get_user_pages (populate, hmm, exclusive), not a user instruction. */
export const FAULT_FLAG_GUP = 0x10000;

// Page-fault results (vm_fault_t), the subset the model produces.
export const VM_FAULT_OK = 0;
export const VM_FAULT_OOM = 0x1;
export const VM_FAULT_SIGBUS = 0x2;
export const VM_FAULT_SIGSEGV = 0x40;
export const VM_FAULT_FALLBACK = 0x800;
export const VM_FAULT_RETRY = 0x400;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

/** What a FOLL_PIN adds to a small folio's refcount (folio_maybe_dma_pinned looks for it). */
export const GUP_PIN_COUNTING_BIAS = 1024;

/** Page-aligned byte address to vpn. */
export function addrToVpn(addr: number): number {
  return addr / PAGE_SIZE;
}

export function vpnToAddr(vpn: number): number {
  return vpn * PAGE_SIZE;
}

export function isPageAligned(addr: number): boolean {
  return addr % PAGE_SIZE === 0;
}

/** Rounds a byte length up to whole pages (PAGE_ALIGN). */
export function pageAlign(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}
