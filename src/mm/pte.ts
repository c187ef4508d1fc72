// Page-table entry encoding. An entry is two 32-bit words in a typed array: a flags word and a pfn
// word. The low four bits of the flags word give the entry's kind; the rest are attribute bits.
// Present entries map a frame; the non-present kinds (migration, device-private, device-exclusive)
// still name a frame in the pfn word, like the kernel's swap-type entries carry an offset.

/** pte_none: nothing mapped, never populated or zapped. */
export const PTE_NONE = 0;
/** A present mapping the CPU can use (subject to PROTNONE and WRITE). */
export const PTE_PRESENT = 1;
/** A real swap entry (reserved; swap is not modeled). */
export const PTE_SWAP = 2;
/** A migration entry: the page is being migrated; accesses wait. */
export const PTE_MIGRATION = 3;
/** A device-private entry: the page lives in memory the CPU cannot address. */
export const PTE_DEVICE_PRIVATE = 4;
/** A device-exclusive entry: a device holds the page for atomics; CPU access revokes it. */
export const PTE_DEVICE_EXCLUSIVE = 5;
/** A hardware-poison entry. */
export const PTE_HWPOISON = 6;
/** A marker entry (uffd-wp, poisoned swap). */
export const PTE_MARKER = 7;

export const PTE_KIND_MASK = 0xf;
/** Writable (present), or a writable migration/device-private/device-exclusive entry. */
export const PTE_WRITE = 1 << 4;
export const PTE_DIRTY = 1 << 5;
export const PTE_YOUNG = 1 << 6;
/** Present but inaccessible: what PROT_NONE leaves in place of a mapping. */
export const PTE_PROTNONE = 1 << 7;
/** The frame is not refcounted through this entry (zero page, PFN maps). */
export const PTE_SPECIAL = 1 << 8;
export const PTE_SOFT_DIRTY = 1 << 9;
/** A readable migration entry of an exclusively owned anonymous page (readable-exclusive). */
export const PTE_MIG_EXCLUSIVE = 1 << 10;
/** A PMD-level leaf mapping 512 pages (a THP or a 2 MiB hugetlb page). */
export const PTE_HUGE = 1 << 11;

export type PteKind =
  | typeof PTE_NONE
  | typeof PTE_PRESENT
  | typeof PTE_SWAP
  | typeof PTE_MIGRATION
  | typeof PTE_DEVICE_PRIVATE
  | typeof PTE_DEVICE_EXCLUSIVE
  | typeof PTE_HWPOISON
  | typeof PTE_MARKER;

export function pteKind(flags: number): PteKind {
  return (flags & PTE_KIND_MASK) as PteKind;
}

export function pteIsNone(flags: number): boolean {
  return (flags & PTE_KIND_MASK) === PTE_NONE;
}

export function pteIsPresent(flags: number): boolean {
  return (flags & PTE_KIND_MASK) === PTE_PRESENT;
}

/** A present entry the CPU may read through (present and not PROT_NONE). */
export function pteIsAccessible(flags: number): boolean {
  return (flags & (PTE_KIND_MASK | PTE_PROTNONE)) === PTE_PRESENT;
}

export function pteIsWritable(flags: number): boolean {
  return (flags & PTE_WRITE) !== 0;
}

const kindNames = [
  'none',
  'present',
  'swap',
  'migration',
  'device-private',
  'device-exclusive',
  'hwpoison',
  'marker',
];

/** A readable description of an entry, for messages and the visualizer: `present rw dirty pfn=42`. */
export function describePte(flags: number, pfn: number): string {
  const kind = kindNames[flags & PTE_KIND_MASK] ?? `kind${flags & PTE_KIND_MASK}`;
  if ((flags & PTE_KIND_MASK) === PTE_NONE) return 'none';
  const bits: string[] = [kind, flags & PTE_WRITE ? 'rw' : 'ro'];
  if (flags & PTE_PROTNONE) bits.push('protnone');
  if (flags & PTE_DIRTY) bits.push('dirty');
  if (flags & PTE_YOUNG) bits.push('young');
  if (flags & PTE_SPECIAL) bits.push('special');
  if (flags & PTE_HUGE) bits.push('huge');
  if (flags & PTE_MIG_EXCLUSIVE) bits.push('excl');
  bits.push(`pfn=${pfn}`);
  return bits.join(' ');
}
