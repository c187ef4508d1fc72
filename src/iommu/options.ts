// Configuration of the IOMMU layer: the upstream behaviour by default, and the options of the 2016
// and 2018 seed discussions (../shared/spec/sva.md section 13), each off by default.

/** How freed PASIDs come back (R-SVA-130). */
export type PasidReusePolicy = 'smallestFree' | 'cyclic' | 'quarantine' | 'exhaustFirst';

/** What the mm-exit release callback does to PASID table entries (R-SVA-131). */
export type ExitQuiesceMode = 'flavour' | 'notPresentSuppressed' | 'dummyRoot' | 'clearReporting';

/**
 * Which reference a bond keeps on its mm (sva.md 13, seed point (a)): `mm_count` keeps the object
 * only (upstream since 2016, R-SVA-33, R-SVA-34); `mm_users` keeps the address space as the first
 * VT-d SVM did (get_task_mm at bind, mmput at the last unbind).
 */
export type BondMmReference = 'mm_count' | 'mm_users';

export interface SvaOptions {
  /** Size of the system-wide PASID space (default 2^20: PCIe PASIDs are 20 bits). */
  readonly pasidSpace?: number;
  /** [OPT:pasidReuse] (default `smallestFree`, upstream IDA behaviour). */
  readonly pasidReuse?: PasidReusePolicy;
  /** Simulated time a freed PASID stays quarantined under `quarantine` (default 10 ms). */
  readonly pasidQuarantineNs?: number;
  /** Under `quarantine`, a freed PASID also waits for `iommuPasidReleaseDone` (default false). */
  readonly pasidQuarantineNeedsAck?: boolean;
  /** [OPT:exitQuiesceMode] (default `flavour`: VT-d not-present + FPD, SMMU quiet CD, AMD cleared). */
  readonly exitQuiesceMode?: ExitQuiesceMode;
  /** Under `dummyRoot`, whether accesses that miss in the empty table are reported (default false). */
  readonly dummyRootReports?: boolean;
  /** [OPT:drvdataLookup]: driver data per bond, lookups by PASID (default false). */
  readonly drvdataLookup?: boolean;
  /** [OPT:multiPasidPerMm]: `iommuSvaBindDeviceExtra` gives an mm more PASIDs (default false). */
  readonly multiPasidPerMm?: boolean;
  /** [OPT:pasidWithoutIommu]: `pasidAllocPlain` for devices without an IOMMU (default false). */
  readonly pasidWithoutIommu?: boolean;
  /** [OPT:legacyMmExit]: drivers may register a deferred exit notification (default false). */
  readonly legacyMmExit?: boolean;
  /**
   * What a bond keeps of its mm (default `mm_count`, upstream). `mm_users` is the 2015 VT-d SVM
   * design the 2016 exit discussion removed: with the device file mapped into the process (the
   * VMA holds the open file) and unbind only at file release, file -> bond -> mm users -> VMA ->
   * file is a reference cycle and exit never tears the address space down (R-SVA-34, R-SVA-106).
   */
  readonly bondHoldsMm?: BondMmReference;
  /** Report DMA or page requests on a PASID after its unbind as driver bugs (default true). */
  readonly strictUnbind?: boolean;
  /** Invalidate kernel ranges on every SVA mm (R-SVA-99; default true, as recent upstream). */
  readonly kvaInvalidation?: boolean;
  /** Entries kept in each diagnostic log before only counting (default 10,000). */
  readonly maxLogEntries?: number;
}

export type ResolvedSvaOptions = Required<SvaOptions>;

export function resolveSvaOptions(o: SvaOptions): ResolvedSvaOptions {
  const space = o.pasidSpace ?? 1 << 20;
  if (!Number.isInteger(space) || space < 2 || space > 1 << 20) {
    throw new RangeError(`pasidSpace must be a whole number in [2, 2^20], got ${space}`);
  }
  const quarantineNs = o.pasidQuarantineNs ?? 10_000_000;
  if (!Number.isInteger(quarantineNs) || quarantineNs < 0) {
    throw new RangeError(`pasidQuarantineNs must be a whole number of ns >= 0, got ${quarantineNs}`);
  }
  const bondHoldsMm = o.bondHoldsMm ?? 'mm_count';
  if (bondHoldsMm !== 'mm_count' && bondHoldsMm !== 'mm_users') {
    throw new RangeError(`bondHoldsMm must be mm_count or mm_users, got ${String(bondHoldsMm)}`);
  }
  return {
    pasidSpace: space,
    pasidReuse: o.pasidReuse ?? 'smallestFree',
    pasidQuarantineNs: quarantineNs,
    pasidQuarantineNeedsAck: o.pasidQuarantineNeedsAck ?? false,
    exitQuiesceMode: o.exitQuiesceMode ?? 'flavour',
    dummyRootReports: o.dummyRootReports ?? false,
    drvdataLookup: o.drvdataLookup ?? false,
    multiPasidPerMm: o.multiPasidPerMm ?? false,
    pasidWithoutIommu: o.pasidWithoutIommu ?? false,
    legacyMmExit: o.legacyMmExit ?? false,
    bondHoldsMm,
    strictUnbind: o.strictUnbind ?? true,
    kvaInvalidation: o.kvaInvalidation ?? true,
    maxLogEntries: o.maxLogEntries ?? 10_000,
  };
}
