// Models the per-device PASID tables the IOMMU reads (sva.md section 12): VT-d's PASID directory
// with leaf tables of 64 entries, SMMUv3's context-descriptor table (linear below 1024 substreams,
// else two levels with leaves of 1024), AMD's GCR3 table. Each entry is in one of the model states
// ABSENT, ACTIVE, QUIESCED (or DUMMY_ROOT under [OPT:exitQuiesceMode]=dummyRoot), and carries the
// few hardware bits that decide what an access sees: whether faults are reported and whether a
// miss stalls.

import type { Mm } from '../mm/mm.js';
import type { IommuDomain } from './domain.js';
import type { IommuFlavour } from './iommu.js';

export type PasidEntryState = 'ABSENT' | 'ACTIVE' | 'QUIESCED' | 'DUMMY_ROOT';

export class PasidEntry {
  state: PasidEntryState = 'ABSENT';
  /** The domain translating through this entry (null when ABSENT). */
  domain: IommuDomain | null = null;
  /** The address space whose page table the entry points at (SVA), kept while QUIESCED. */
  mm: Mm | null = null;
  /** Faults on this entry are recorded (VT-d FPD = 0, SMMU fault records on, AMD always). */
  reportsFaults = true;
  /** A miss stalls the transaction (SMMU CD.S) instead of aborting it. */
  stall = false;

  constructor(readonly pasid: number) {}

  clear(): void {
    this.state = 'ABSENT';
    this.domain = null;
    this.mm = null;
    this.reportsFaults = true;
    this.stall = false;
  }
}

/** Entries of one leaf table, by flavour (VT-d 64; SMMU CDs 1024 when two-level; AMD GCR3 512). */
function leafSize(flavour: IommuFlavour, maxPasids: number): number {
  if (flavour === 'vtd') return 64;
  if (flavour === 'smmu') return maxPasids < 1024 ? Math.max(1, maxPasids) : 1024;
  return 512;
}

export class PasidTable {
  private readonly entries = new Map<number, PasidEntry>();
  /** Leaf tables allocated so far (allocated on first use, never freed while the device lives). */
  readonly leaves = new Set<number>();
  readonly leafEntries: number;

  constructor(
    readonly flavour: IommuFlavour,
    readonly maxPasids: number,
  ) {
    this.leafEntries = leafSize(flavour, maxPasids);
  }

  /** The entry for `pasid`, allocating its leaf table on first use. */
  entry(pasid: number): PasidEntry {
    let e = this.entries.get(pasid);
    if (e === undefined) {
      e = new PasidEntry(pasid);
      this.entries.set(pasid, e);
      this.leaves.add(Math.floor(pasid / this.leafEntries));
    }
    return e;
  }

  /** The entry if one was ever written, else null (an access then sees ABSENT). */
  peek(pasid: number): PasidEntry | null {
    return this.entries.get(pasid) ?? null;
  }

  state(pasid: number): PasidEntryState {
    return this.entries.get(pasid)?.state ?? 'ABSENT';
  }

  /** Every entry that is not ABSENT. */
  *live(): Generator<PasidEntry> {
    for (const e of this.entries.values()) if (e.state !== 'ABSENT') yield e;
  }

  /** Two levels unless SMMU's table is linear (fewer than 1024 substreams). */
  get levels(): 1 | 2 {
    return this.flavour === 'smmu' && this.maxPasids < 1024 ? 1 : 2;
  }
}
