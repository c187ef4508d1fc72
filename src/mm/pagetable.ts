// Models a 4-level x86-64 page table (PGD -> PUD -> PMD -> PTE, 512 entries each, 48-bit space).
// Upper levels are small arrays of child tables; leaves are typed arrays of two-word entries (see
// pte.ts), so a populated 2 MiB region costs one 4 KiB leaf and no object per page. A PMD slot is
// either empty, a pointer to a PTE table, or a huge (2 MiB) leaf entry.
//
// Tables are allocated on demand (as the fault path's pte_alloc does) and freed only where the
// kernel frees them: at munmap, for regions no VMA covers any more (free_pgd_range), and at exit.

import { HPAGE_PMD_NR, PGD_NR, PTRS_PER_TABLE, PUD_NR } from './constants.js';
import { PTE_KIND_MASK } from './pte.js';

/** The last level: 512 entries, entry i at words [2i] (flags) and [2i+1] (pfn). */
export class PteTable {
  readonly e = new Uint32Array(PTRS_PER_TABLE * 2);
}

export class PmdTable {
  readonly ptes: (PteTable | null)[] = new Array<PteTable | null>(PTRS_PER_TABLE).fill(null);
  /** Huge leaf entries, allocated when the first one is set: [2i] flags, [2i+1] head pfn. */
  huge: Uint32Array | null = null;
}

export class PudTable {
  readonly pmds: (PmdTable | null)[] = new Array<PmdTable | null>(PTRS_PER_TABLE).fill(null);
}

/** Receives the populated parts of a range from `PageTable.walk`. */
export interface PageTableVisitor {
  /** Entries [first, end) of a PTE table whose entry 0 maps `baseVpn`. */
  ptes(table: PteTable, first: number, end: number, baseVpn: number): void;
  /** A huge PMD leaf in slot `idx` of `pmd`, mapping [blockVpn, blockVpn + 512). */
  huge(pmd: PmdTable, idx: number, blockVpn: number): void;
}

export class PageTable {
  readonly pgd: (PudTable | null)[] = new Array<PudTable | null>(PTRS_PER_TABLE).fill(null);
  /** Number of PTE and PMD tables in use (the kernel's nr_ptes / nr_pmds). */
  nrPteTables = 0;
  nrPmdTables = 0;
  nrPudTables = 0;
  // One-entry lookup cache: the PMD table for the last PMD-sized region looked up.
  private cacheKey = -1;
  private cachePmd: PmdTable | null = null;

  /** The PMD table covering `vpn`, or null. */
  pmdTable(vpn: number): PmdTable | null {
    const pudKey = (vpn / PUD_NR) >>> 0;
    if (pudKey === this.cacheKey) return this.cachePmd;
    const pud = this.pgd[pudKey >>> 9];
    const pmd = pud === null ? null : pud.pmds[pudKey & 511];
    if (pmd !== null) {
      this.cacheKey = pudKey;
      this.cachePmd = pmd;
    }
    return pmd;
  }

  /** The PTE table covering `vpn`, or null (none, or mapped by a huge PMD). */
  pteTable(vpn: number): PteTable | null {
    const pmd = this.pmdTable(vpn);
    return pmd === null ? null : pmd.ptes[((vpn / HPAGE_PMD_NR) >>> 0) & 511];
  }

  /** The PMD table covering `vpn`, allocating the PUD and PMD levels as needed. */
  allocPmdTable(vpn: number): PmdTable {
    const pudKey = (vpn / PUD_NR) >>> 0;
    let pud = this.pgd[pudKey >>> 9];
    if (pud === null) {
      pud = new PudTable();
      this.pgd[pudKey >>> 9] = pud;
      this.nrPudTables++;
    }
    let pmd = pud.pmds[pudKey & 511];
    if (pmd === null) {
      pmd = new PmdTable();
      pud.pmds[pudKey & 511] = pmd;
      this.nrPmdTables++;
    }
    return pmd;
  }

  /** The PTE table covering `vpn`, allocating every level as needed. The PMD slot must not be huge. */
  allocPteTable(vpn: number): PteTable {
    const pmd = this.allocPmdTable(vpn);
    const idx = ((vpn / HPAGE_PMD_NR) >>> 0) & 511;
    let table = pmd.ptes[idx];
    if (table === null) {
      table = new PteTable();
      pmd.ptes[idx] = table;
      this.nrPteTables++;
    }
    return table;
  }

  /** Flags of the huge PMD leaf covering `vpn` (0 when that slot holds no huge leaf). */
  hugeFlags(vpn: number): number {
    const pmd = this.pmdTable(vpn);
    if (pmd === null || pmd.huge === null) return 0;
    return pmd.huge[(((vpn / HPAGE_PMD_NR) >>> 0) & 511) * 2];
  }

  /** Head pfn of the huge PMD leaf covering `vpn`. */
  hugePfn(vpn: number): number {
    const pmd = this.pmdTable(vpn)!;
    return pmd.huge![(((vpn / HPAGE_PMD_NR) >>> 0) & 511) * 2 + 1];
  }

  /** Sets (or, with flags 0, clears) the huge PMD leaf covering `vpn`. */
  setHuge(vpn: number, flags: number, pfn: number): void {
    const pmd = this.allocPmdTable(vpn);
    if (pmd.huge === null) pmd.huge = new Uint32Array(PTRS_PER_TABLE * 2);
    const i = (((vpn / HPAGE_PMD_NR) >>> 0) & 511) * 2;
    pmd.huge[i] = flags;
    pmd.huge[i + 1] = flags === 0 ? 0 : pfn;
  }

  /** Whether any PUD-level entry (a PMD table) exists for a vpn in [startVpn, endVpn). */
  firstPopulatedPud(startVpn: number, endVpn: number): number {
    let vpn = startVpn;
    while (vpn < endVpn) {
      const pudKey = (vpn / PUD_NR) >>> 0;
      const pud = this.pgd[pudKey >>> 9];
      if (pud === null) {
        vpn = (Math.floor(vpn / PGD_NR) + 1) * PGD_NR;
        continue;
      }
      if (pud.pmds[pudKey & 511] !== null) return vpn;
      vpn = (pudKey + 1) * PUD_NR;
    }
    return -1;
  }

  /** Calls the visitor for every populated leaf table and huge entry intersecting [startVpn, endVpn). */
  walk(startVpn: number, endVpn: number, visitor: PageTableVisitor): void {
    let vpn = startVpn;
    while (vpn < endVpn) {
      const pudKey = (vpn / PUD_NR) >>> 0;
      const pud = this.pgd[pudKey >>> 9];
      if (pud === null) {
        vpn = (Math.floor(vpn / PGD_NR) + 1) * PGD_NR;
        continue;
      }
      const pmd = pud.pmds[pudKey & 511];
      const pudEnd = Math.min((pudKey + 1) * PUD_NR, endVpn);
      if (pmd === null) {
        vpn = pudEnd;
        continue;
      }
      while (vpn < pudEnd) {
        const pmdKey = (vpn / HPAGE_PMD_NR) >>> 0;
        const idx = pmdKey & 511;
        const blockVpn = pmdKey * HPAGE_PMD_NR;
        const blockEnd = Math.min(blockVpn + HPAGE_PMD_NR, pudEnd);
        const table = pmd.ptes[idx];
        if (table !== null) {
          visitor.ptes(table, vpn - blockVpn, blockEnd - blockVpn, blockVpn);
        } else if (pmd.huge !== null && (pmd.huge[idx * 2] & PTE_KIND_MASK) !== 0) {
          visitor.huge(pmd, idx, blockVpn);
        }
        vpn = blockEnd;
      }
    }
  }

  /**
   * free_pgd_range: frees the page tables of [startVpn, endVpn) that lie wholly inside
   * [floorVpn, ceilingVpn), with the kernel's PMD/PUD/PGD alignment rules (ceiling 0: no ceiling).
   * The caller has already zapped every entry in the range.
   */
  freeRange(startVpn: number, endVpn: number, floorVpn: number, ceilingVpn: number): void {
    let addr = Math.floor(startVpn / HPAGE_PMD_NR) * HPAGE_PMD_NR;
    if (addr < floorVpn) addr += HPAGE_PMD_NR;
    let ceiling = ceilingVpn;
    if (ceiling !== 0) {
      ceiling = Math.floor(ceiling / HPAGE_PMD_NR) * HPAGE_PMD_NR;
      if (ceiling === 0) return;
    }
    let end = endVpn;
    if (ceiling !== 0 && end > ceiling) end -= HPAGE_PMD_NR;
    if (addr >= end) return;
    let vpn = addr;
    while (vpn < end) {
      const pgdIdx = Math.floor(vpn / PGD_NR);
      const next = Math.min((pgdIdx + 1) * PGD_NR, end);
      const pud = this.pgd[pgdIdx];
      if (pud !== null) this.freePudRange(pgdIdx, pud, vpn, next, floorVpn, ceiling);
      vpn = next;
    }
  }

  /** Whether [start rounded down to `unit`, end) fits under the floor/ceiling rule of free_p*_range. */
  private static tableFits(
    start: number,
    end: number,
    unit: number,
    floor: number,
    ceiling: number,
  ): boolean {
    if (Math.floor(start / unit) * unit < floor) return false;
    if (ceiling === 0) return true;
    const c = Math.floor(ceiling / unit) * unit;
    return c !== 0 && end <= c;
  }

  private freePudRange(
    pgdIdx: number,
    pud: PudTable,
    addr: number,
    end: number,
    floor: number,
    ceiling: number,
  ) {
    let vpn = addr;
    while (vpn < end) {
      const pudKey = (vpn / PUD_NR) >>> 0;
      const next = Math.min((pudKey + 1) * PUD_NR, end);
      const pmd = pud.pmds[pudKey & 511];
      if (pmd !== null) this.freePmdRange(pud, pudKey, pmd, vpn, next, floor, ceiling);
      vpn = next;
    }
    if (PageTable.tableFits(addr, end, PGD_NR, floor, ceiling)) {
      for (const pmd of pud.pmds) if (pmd !== null) this.dropPmdTable(pmd);
      this.pgd[pgdIdx] = null;
      this.nrPudTables--;
      this.invalidateCache();
    }
  }

  private freePmdRange(
    pud: PudTable,
    pudKey: number,
    pmd: PmdTable,
    addr: number,
    end: number,
    floor: number,
    ceiling: number,
  ) {
    for (let v = addr; v < end; v += HPAGE_PMD_NR) {
      const idx = ((v / HPAGE_PMD_NR) >>> 0) & 511;
      if (pmd.ptes[idx] !== null) {
        pmd.ptes[idx] = null;
        this.nrPteTables--;
      }
    }
    if (PageTable.tableFits(addr, end, PUD_NR, floor, ceiling)) {
      this.dropPmdTable(pmd);
      pud.pmds[pudKey & 511] = null;
      if (this.cacheKey === pudKey) this.invalidateCache();
    }
  }

  /** Accounts for a PMD table (and any PTE tables still under it) going away. */
  private dropPmdTable(pmd: PmdTable): void {
    for (let i = 0; i < PTRS_PER_TABLE; i++) {
      if (pmd.ptes[i] !== null) {
        pmd.ptes[i] = null;
        this.nrPteTables--;
      }
    }
    this.nrPmdTables--;
  }

  /** Frees every table (exit_mmap's free_pgtables over the whole space). */
  freeAll(): void {
    this.pgd.fill(null);
    this.nrPteTables = 0;
    this.nrPmdTables = 0;
    this.nrPudTables = 0;
    this.invalidateCache();
  }

  invalidateCache(): void {
    this.cacheKey = -1;
    this.cachePmd = null;
  }
}
