// The seed discussions' options (sva.md section 13, R-SVA-130..R-SVA-137): each is off by default,
// and each test shows the difference it makes against the upstream default.

import { describe, expect, it } from 'vitest';
import { expectClean, dma, mapAnon, svaWorld } from '../../test/svaHarness.js';
import { DmaAccelerator } from '../devices/accel/accelerator.js';
import { EINVAL } from '../sim/errno.js';
import { iommuAttachDevicePasid } from './attach.js';
import { AttachHandle, PagingDomain } from './domain.js';
import {
  iommuPasidReleaseDone,
  iommuSvaBindDevice,
  iommuSvaFindDrvdata,
  iommuSvaGetPasid,
  iommuSvaInvalidateKvaRange,
  iommuSvaSetMmExit,
  iommuSvaUnbindDevice,
  pasidAllocPlain,
  pasidFreePlain,
} from './sva.js';

function bond<T>(b: T | number): T {
  if (typeof b === 'number') throw new Error(`bind failed: ${b}`);
  return b;
}

/** Binds a new process to A, closes it (exit + unbind) and runs: its PASID is given back. */
function bindAndRelease(w: ReturnType<typeof svaWorld>): number {
  const p = w.kernel.spawn();
  const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
  const pasid = iommuSvaGetPasid(b);
  p.exit();
  iommuSvaUnbindDevice(b);
  w.core.runUntilIdle();
  return pasid;
}

describe('[OPT:pasidReuse] (R-SVA-130)', () => {
  it('smallestFree (default) hands a freed value straight back; cyclic moves on; exhaustFirst avoids used values', () => {
    const got: Record<string, number[]> = {};
    for (const policy of ['smallestFree', 'cyclic', 'exhaustFirst'] as const) {
      const w = svaWorld({ sva: { pasidReuse: policy, pasidSpace: 4 } });
      const seq = [
        bindAndRelease(w),
        bindAndRelease(w),
        bindAndRelease(w),
        bindAndRelease(w),
        bindAndRelease(w),
      ];
      got[policy] = seq;
      expectClean(w);
    }
    expect(got.smallestFree).toEqual([1, 1, 1, 1, 1]);
    expect(got.cyclic).toEqual([1, 2, 3, 1, 2]);
    expect(got.exhaustFirst).toEqual([1, 2, 3, 1, 1]);
  });

  it('quarantine with acknowledgement: a freed PASID waits for both the time and iommuPasidReleaseDone', () => {
    const w = svaWorld({
      sva: { pasidReuse: 'quarantine', pasidQuarantineNs: 1_000_000, pasidQuarantineNeedsAck: true },
    });
    expect(bindAndRelease(w)).toBe(1);
    expect(w.core.pasidState(1)).toBe('QUARANTINED');
    w.kernel.clock.advance(2_000_000);
    expect(bindAndRelease(w), 'time has passed but the driver has not said it is done').toBe(2);
    expect(iommuPasidReleaseDone(w.core, 1)).toBe(true);
    expect(bindAndRelease(w)).toBe(1);
  });
});

describe('[OPT:exitQuiesceMode] (R-SVA-131) and the flavours at exit (R-SVA-120..122)', () => {
  /** P bound on A exits; what A's translated (ATS) and untranslated requests see afterwards. */
  function exitOutcome(options: Parameters<typeof svaWorld>[0], flavour: 'vtd' | 'amd' = 'vtd') {
    const w = svaWorld({ ...options, iommu: { ...options?.iommu, flavour } });
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 1);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    p.exit();
    const faults = w.iommu.faultLog.length;
    const ats = dma(w.A, { pasid: 1, op: 'read', addr, length: 4 });
    const untranslated = dma(w.A, { pasid: 1, op: 'read', addr, length: 4, untranslated: true });
    return {
      entry: w.A.dev.pasidTable!.state(1),
      ats: ats.error,
      atsPageRequests: ats.pageRequests,
      untranslated: untranslated.error,
      reported: w.iommu.faultLog.length - faults,
      pasid: w.core.pasidState(1),
    };
  }

  it('vtd default: not present with faults suppressed; ATS gets UR, untranslated aborts silently', () => {
    expect(exitOutcome({})).toEqual({
      entry: 'QUIESCED',
      ats: 'UR',
      atsPageRequests: 0,
      untranslated: 'ABORT',
      reported: 0,
      pasid: 'DEFUNCT',
    });
  });

  it('amd flavour and clearReporting: the entry is cleared and faults are reported', () => {
    const amd = exitOutcome({}, 'amd');
    expect(amd).toEqual({
      entry: 'ABSENT',
      ats: 'UR',
      atsPageRequests: 0,
      untranslated: 'ABORT',
      reported: 2,
      pasid: 'DEFUNCT',
    });
    expect(exitOutcome({ sva: { exitQuiesceMode: 'clearReporting' } })).toEqual(amd);
    expect(exitOutcome({ sva: { exitQuiesceMode: 'notPresentSuppressed' } }, 'amd').reported).toBe(0);
  });

  it('dummyRoot: the entry stays present over an empty table; ATS is not granted and the page request gets INVALID', () => {
    const quiet = exitOutcome({ sva: { exitQuiesceMode: 'dummyRoot' } });
    expect(quiet).toEqual({
      entry: 'DUMMY_ROOT',
      ats: 'INVALID',
      atsPageRequests: 1,
      untranslated: 'ABORT',
      reported: 0,
      pasid: 'DEFUNCT',
    });
    expect(exitOutcome({ sva: { exitQuiesceMode: 'dummyRoot', dummyRootReports: true } }).reported).toBe(1);
  });

  it('SMMU: the release writes a quiet descriptor (QUIESCED) and keeps stalling only when forced', () => {
    for (const forceStall of [false, true]) {
      const w = svaWorld();
      const smmu = w.core.addIommu({ flavour: 'smmu', forceStall });
      const s = new DmaAccelerator(
        smmu.addDevice({ name: 'S', bus: 'platform', stall: true, maxPasids: 1 << 16 }),
      );
      const p = w.kernel.spawn();
      const addr = mapAnon(p, 1);
      bond(iommuSvaBindDevice(s.dev, p.mm!));
      p.exit();
      const entry = s.dev.pasidTable!.peek(1)!;
      expect([entry.state, entry.stall], `forceStall ${forceStall}`).toEqual(['QUIESCED', forceStall]);
      const job = dma(s, { pasid: 1, op: 'read', addr, length: 4 });
      expect([job.error, job.stalls], `forceStall ${forceStall}`).toEqual(['ABORT', forceStall ? 1 : 0]);
    }
  });
});

describe('[OPT:drvdataLookup], [OPT:pasidWithoutIommu], [OPT:legacyMmExit] (R-SVA-132, 134, 135)', () => {
  it('without the option there is no lookup by PASID (upstream removed it)', () => {
    const w = svaWorld();
    expect(() => iommuSvaFindDrvdata(w.A.dev, 1)).toThrow(/drvdataLookup/);
    expect(() => pasidAllocPlain(w.core, 1, 10)).toThrow(/pasidWithoutIommu/);
  });

  it('plain PASIDs share the value space with SVA and can never be attached to a domain', () => {
    const w = svaWorld({ sva: { pasidWithoutIommu: true } });
    expect(pasidAllocPlain(w.core, 1, 100)).toBe(1);
    const p = w.kernel.spawn();
    expect(iommuSvaGetPasid(bond(iommuSvaBindDevice(w.A.dev, p.mm!)))).toBe(2);
    const paging = new PagingDomain(w.iommu);
    expect(
      iommuAttachDevicePasid(paging, w.B.dev, 1, new AttachHandle(w.core.nextObjectId(), w.B.dev, 1)),
    ).toBe(-EINVAL);
    pasidFreePlain(w.core, 1);
    expect(w.core.pasidState(1)).toBe('FREE');
  });

  it('legacy mm_exit: the driver hears about the exit only afterwards, as deferred work; the PASID stays until unbind', () => {
    const w = svaWorld({ sva: { legacyMmExit: true, drvdataLookup: true } });
    const p = w.kernel.spawn();
    const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!, 'ctx-7'));
    const calls: [string, number, unknown, string][] = [];
    iommuSvaSetMmExit(b, (dev, pasid, drvdata) =>
      calls.push([dev.name, pasid, drvdata, dev.pasidTable!.state(pasid)]),
    );
    p.exit();
    expect(calls, 'nothing from inside the release callback').toEqual([]);
    w.core.runUntilIdle();
    expect(calls).toEqual([['A', 1, 'ctx-7', 'QUIESCED']]);
    expect(w.core.pasidState(1)).toBe('DEFUNCT');
    iommuSvaUnbindDevice(b);
    w.core.runUntilIdle();
    expect(w.core.pasidState(1)).toBe('FREE');
  });
});

describe('[OPT:smmuPri], [OPT:smmuSharedCpuAsid] (R-SVA-136, R-SVA-137, R-SVA-123)', () => {
  function smmuDevice(smmuPri: boolean) {
    const w = svaWorld();
    const smmu = w.core.addIommu({ flavour: 'smmu', smmuPri });
    const acc = new DmaAccelerator(smmu.addDevice({ name: 'G' }));
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 1);
    bond(iommuSvaBindDevice(acc.dev, p.mm!));
    return dma(acc, { pasid: 1, op: 'write', addr, length: 4, data: new Uint8Array([1, 2, 3, 4]) });
  }

  it('upstream SMMUv3 has no PRI: a PCIe device faulting gets nothing; with smmuPri it is served like VT-d', () => {
    const without = smmuDevice(false);
    expect([without.status, without.error, without.pageRequests]).toEqual(['error', 'PRI_UNAVAILABLE', 0]);
    const withPri = smmuDevice(true);
    expect([withPri.status, withPri.pageRequests]).toEqual(['done', 1]);
  });

  it('shared CPU ASIDs: no explicit SMMU TLB invalidation on munmap (broadcast did it), ATC still invalidated; fewer bindable ASIDs', () => {
    const counts: Record<string, [number, number]> = {};
    for (const shared of [false, true]) {
      const w = svaWorld();
      const smmu = w.core.addIommu({
        flavour: 'smmu',
        smmuPri: true,
        smmuSharedCpuAsid: shared,
        recordCommands: true,
      });
      const acc = new DmaAccelerator(smmu.addDevice({ name: 'G' }));
      const p = w.kernel.spawn();
      const addr = mapAnon(p, 4);
      bond(iommuSvaBindDevice(acc.dev, p.mm!));
      dma(acc, { pasid: 1, op: 'read', addr, length: 4 * 4096 });
      smmu.commands!.length = 0;
      p.munmap(addr, 4 * 4096);
      const ops = smmu.commands!.map((c) => c.op);
      counts[String(shared)] = [
        ops.filter((o) => o === 'iotlb-inv').length,
        ops.filter((o) => o === 'devtlb-inv').length,
      ];
      expect(acc.dev.atc!.size, 'the ATC lost the range').toBe(0);
      expect(smmu.iotlb.size).toBe(0);
      expectClean(w);
    }
    expect(counts).toEqual({ false: [1, 1], true: [0, 1] });
    const w = svaWorld();
    const small = w.core.addIommu({
      flavour: 'smmu',
      smmuPri: true,
      smmuSharedCpuAsid: true,
      asidBits: 3,
      cpus: 2,
    });
    const dev = small.addDevice({ name: 'H' });
    const results = [1, 2, 3, 4, 5].map(() => iommuSvaBindDevice(dev, w.kernel.spawn().mm!));
    // 2^3 ASIDs minus the CPUs' and two reserved: three processes fit, the fourth gets EBUSY.
    expect(results.map((r) => (typeof r === 'number' ? r : 'ok'))).toEqual(['ok', 'ok', 'ok', -16, -16]);
  });
});

describe('R-SVA-99: kernel ranges invalidate every SVA mm (recent upstream, default on)', () => {
  it('invalidates each SVA domain of each bound mm; nothing without binds; nothing with the option off', () => {
    for (const kva of [true, false]) {
      const w = svaWorld({ sva: { kvaInvalidation: kva } });
      iommuSvaInvalidateKvaRange(w.core, 0, 16);
      expect(w.kernel.stats.get('iommu.iotlb_invalidations'), 'nothing bound yet').toBe(0);
      for (const _ of [0, 1]) bond(iommuSvaBindDevice(w.A.dev, w.kernel.spawn().mm!));
      const before = w.kernel.stats.get('iommu.iotlb_invalidations');
      iommuSvaInvalidateKvaRange(w.core, 0, 16);
      expect(w.kernel.stats.get('iommu.iotlb_invalidations') - before, `kvaInvalidation ${kva}`).toBe(
        kva ? 2 : 0,
      );
    }
  });
});
