// Configuration of the IOMMU layer: the upstream behaviour by default, and the options of the 2016
// and 2018 seed discussions (../shared/spec/sva.md section 13), each off by default.

/** How freed PASIDs come back (R-SVA-130). */
export type PasidReusePolicy = 'smallestFree' | 'cyclic' | 'quarantine' | 'exhaustFirst';

/** What the mm-exit release callback does to PASID table entries (R-SVA-131). */
export type ExitQuiesceMode = 'flavour' | 'notPresentSuppressed' | 'dummyRoot' | 'clearReporting';

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
    strictUnbind: o.strictUnbind ?? true,
    kvaInvalidation: o.kvaInvalidation ?? true,
    maxLogEntries: o.maxLogEntries ?? 10_000,
  };
}
