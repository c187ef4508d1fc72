// Bad calls get the error codes of sva.md section 14 and change nothing: binding a device without
// an IOMMU or PASID capability, incapable IOMMUs, PASID 0 or out of range, busy slots and groups,
// exhausted ASIDs, unbinding twice, DMA with a PASID never bound, page requests past the budget.

import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL, ENODEV, EOPNOTSUPP, ENOSPC } from '../sim/errno.js';
import { InvariantError } from '../sim/errors.js';
import { dma, mapAnon, svaWorld } from '../../test/svaHarness.js';
import { iommuAttachDevicePasid } from './attach.js';
import { IOMMU_FAULT_PERM_READ, PASID_INVALID } from './constants.js';
import type { IommuCore } from './core.js';
import { AttachHandle, PagingDomain } from './domain.js';
import { iopfQueueAddDevice, iopfQueueFlushDev } from './iopf.js';
import {
  iommuAllocGlobalPasid,
  iommuFreeGlobalPasid,
  iommuMmData,
  iommuSvaBindDevice,
  iommuSvaGetPasid,
  iommuSvaUnbindDevice,
} from './sva.js';

/** What a failed call must leave untouched. */
function snapshot(core: IommuCore) {
  return {
    pasidsInUse: core.pasids.inUse,
    slots: core.groups.map((g) => [...g.pasidSlots.keys()]),
    entries: core.devices.map((d) =>
      d.pasidTable === null ? [] : [...d.pasidTable.live()].map((e) => `${e.pasid}:${e.state}`),
    ),
    svaMms: core.svaMms.size,
    binds: core.stats.get('sva.binds'),
  };
}

function bond<T>(b: T | number): T {
  if (typeof b === 'number') throw new Error(`bind failed: ${b}`);
  return b;
}

describe('section 14: bind errors change nothing', () => {
  it('R-SVA-1: a device without an IOMMU group: ENODEV', () => {
    const w = svaWorld();
    const lone = w.core.addDevice({ name: 'L', iommu: null });
    const p = w.kernel.spawn();
    const before = snapshot(w.core);
    expect(iommuSvaBindDevice(lone, p.mm!)).toBe(-ENODEV);
    expect(snapshot(w.core)).toEqual(before);
    expect(iommuMmData(w.core, p.mm!), 'no PASID was allocated').toBeNull();
  });

  it('R-SVA-3: an IOMMU that cannot walk CPU tables: ENODEV on VT-d, EOPNOTSUPP on SMMU and AMD', () => {
    for (const [flavour, errno] of [
      ['vtd', ENODEV],
      ['smmu', EOPNOTSUPP],
      ['amd', EOPNOTSUPP],
    ] as const) {
      const w = svaWorld();
      const bad = w.core.addIommu({ flavour, svaCapable: false });
      const dev = bad.addDevice({ name: `X-${flavour}` });
      const p = w.kernel.spawn();
      expect(iommuSvaBindDevice(dev, p.mm!), flavour).toBe(-errno);
      // The PASID allocated before the domain creation failed stays with the mm (R-SVA-14).
      expect(iommuMmData(w.core, p.mm!)?.pasid, flavour).toBe(1);
      expect(dev.pasidTable!.state(1)).toBe('ABSENT');
      expect(dev.iopf, 'no fault plumbing').toBeNull();
    }
  });

  it('R-SVA-4: page tables not usable for DMA: EBUSY before any PASID is allocated', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    p.mm!.dmaIncompatible = true;
    const before = snapshot(w.core);
    expect(iommuSvaBindDevice(w.A.dev, p.mm!)).toBe(-EBUSY);
    expect(snapshot(w.core)).toEqual(before);
    expect(iommuMmData(w.core, p.mm!)).toBeNull();
  });

  it('R-SVA-5: VT-d refuses SVA on a device without ATS (EINVAL); a device without PRI is accepted', () => {
    const w = svaWorld();
    const noAts = w.iommu.addDevice({ name: 'noATS', ats: false, pri: false });
    const noPri = w.iommu.addDevice({ name: 'noPRI', pri: false });
    const p = w.kernel.spawn();
    expect(iommuSvaBindDevice(noAts, p.mm!)).toBe(-EINVAL);
    expect(noAts.pasidTable!.state(1)).toBe('ABSENT');
    const b = bond(iommuSvaBindDevice(noPri, p.mm!));
    expect(noPri.pasidTable!.state(iommuSvaGetPasid(b))).toBe('ACTIVE');
    expect(noPri.iopf, 'no core fault path for a device without PRI').toBeNull();
  });

  it('R-SVA-6: SMMU: a stall-capable device with two stream IDs cannot get a fault-handling attachment', () => {
    const w = svaWorld();
    const smmu = w.core.addIommu({ flavour: 'smmu' });
    const dev = smmu.addDevice({
      name: 'S2',
      bus: 'platform',
      stall: true,
      streamIds: 2,
      maxPasids: 1 << 16,
    });
    const p = w.kernel.spawn();
    expect(iommuSvaBindDevice(dev, p.mm!)).toBe(-EOPNOTSUPP);
    expect(dev.iopf).toBeNull();
    expect(smmu.asidsInUse, 'the failed domain gave its ASID back').toBe(0);
  });

  it('R-SVA-9: an mm whose contents are gone: EINVAL', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const mm = p.mm!;
    mm.mmgrab();
    p.exit();
    expect(iommuSvaBindDevice(w.A.dev, mm)).toBe(-EINVAL);
    expect(iommuMmData(w.core, mm)).toBeNull();
    mm.mmdrop();
  });

  it('R-SVA-30.4: the slot already holds another kind of domain: EBUSY, nothing changes', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    // A kernel driver put a paging domain on PASID 1 of B's group.
    const paging = new PagingDomain(w.iommu);
    expect(
      iommuAttachDevicePasid(paging, w.B.dev, 1, new AttachHandle(w.core.nextObjectId(), w.B.dev, 1)),
    ).toBe(0);
    const before = snapshot(w.core);
    expect(iommuSvaBindDevice(w.B.dev, p.mm!)).toBe(-EBUSY);
    expect(snapshot(w.core)).toEqual(before);
  });

  it('R-SVA-31: attach on PASID 0 or beyond a device width is EINVAL; a resetting group is EBUSY', () => {
    const w = svaWorld({ deviceB: { maxPasids: 8 } });
    const paging = new PagingDomain(w.iommu);
    const handle = (dev = w.A.dev, pasid = 1) => new AttachHandle(w.core.nextObjectId(), dev, pasid);
    expect(iommuAttachDevicePasid(paging, w.A.dev, 0, handle(w.A.dev, 0))).toBe(-EINVAL);
    expect(iommuAttachDevicePasid(paging, w.B.dev, 8, handle(w.B.dev, 8))).toBe(-EINVAL);
    w.A.dev.group!.resetting = true;
    expect(iommuAttachDevicePasid(paging, w.A.dev, 3, handle(w.A.dev, 3))).toBe(-EBUSY);
    w.A.dev.group!.resetting = false;
    expect(iommuAttachDevicePasid(paging, w.A.dev, 3, handle(w.A.dev, 3))).toBe(0);
    expect(iommuAttachDevicePasid(paging, w.A.dev, 3, handle(w.A.dev, 3)), 'slot taken').toBe(-EBUSY);
    expect(w.A.dev.pasidTable!.state(3)).toBe('ACTIVE');
  });

  it('R-SVA-123: SMMU ASIDs exhausted: EBUSY; the PASID stays with the mm', () => {
    const w = svaWorld();
    const smmu = w.core.addIommu({ flavour: 'smmu', asidBits: 1, smmuPri: true });
    const dev = smmu.addDevice({ name: 'P1' });
    const p = w.kernel.spawn();
    const q = w.kernel.spawn();
    bond(iommuSvaBindDevice(dev, p.mm!));
    expect(smmu.asidsInUse).toBe(1);
    expect(iommuSvaBindDevice(dev, q.mm!)).toBe(-EBUSY);
    expect(iommuMmData(w.core, q.mm!)?.pasid).toBe(2);
    expect(dev.pasidTable!.state(2)).toBe('ABSENT');
  });
});

describe('section 14: other calls', () => {
  it('R-SVA-45: unbinding more often than bound is a caller bug the model refuses', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    iommuSvaUnbindDevice(b);
    const before = snapshot(w.core);
    expect(() => iommuSvaUnbindDevice(b)).toThrow(InvariantError);
    expect(snapshot(w.core)).toEqual(before);
    expect(iommuSvaGetPasid(b)).toBe(PASID_INVALID);
  });

  it('R-SVA-17: global PASIDs: PASID_INVALID without capability or when full; freeing PASID_INVALID warns', () => {
    const w = svaWorld({ deviceB: { maxPasids: 3 } });
    const none = w.iommu.addDevice({ name: 'N0', maxPasids: 0 });
    expect(iommuAllocGlobalPasid(none)).toBe(PASID_INVALID);
    expect([iommuAllocGlobalPasid(w.B.dev), iommuAllocGlobalPasid(w.B.dev)]).toEqual([1, 2]);
    expect(iommuAllocGlobalPasid(w.B.dev)).toBe(PASID_INVALID);
    const warnings = w.kernel.warnings.length;
    iommuFreeGlobalPasid(w.core, PASID_INVALID);
    expect(w.kernel.warnings.length).toBe(warnings + 1);
    // A global PASID is never an mm's: the first bind gets the next value.
    const p = w.kernel.spawn();
    expect(iommuSvaGetPasid(bond(iommuSvaBindDevice(w.A.dev, p.mm!)))).toBe(3);
    iommuFreeGlobalPasid(w.core, 1);
    expect(w.core.pasidState(1)).toBe('FREE');
    expect(w.core.pasidState(2)).toBe('OWNED_GLOBAL');
  });

  it('iopf queue registration: a second add is EBUSY, flushing an unregistered device ENODEV', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    expect(iopfQueueAddDevice(w.iommu.iopfQueue, w.A.dev)).toBe(-EBUSY);
    expect(iopfQueueFlushDev(w.B.dev)).toBe(-ENODEV);
  });

  it('R-SVA-53/R-SVA-112: DMA with a PASID never bound: untranslated aborts and is reported, ATS gets UR', () => {
    const w = svaWorld({ deviceB: { ats: false, pri: false } });
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 1);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    const faults = w.iommu.faultLog.length;
    const ats = dma(w.A, { pasid: 7, op: 'read', addr, length: 8 });
    expect([ats.status, ats.error]).toEqual(['error', 'UR']);
    const untranslated = dma(w.B, { pasid: 7, op: 'read', addr, length: 8 });
    expect([untranslated.status, untranslated.error]).toEqual(['error', 'ABORT']);
    expect(w.iommu.faultLog.slice(faults).map((f) => [f.dev, f.pasid])).toEqual([
      ['A', 7],
      ['B', 7],
    ]);
    // The bound PASID still works.
    expect(dma(w.A, { pasid: 1, op: 'read', addr, length: 8 }).status).toBe('done');
  });

  it('R-SVA-111: a PASID the device cannot emit is refused at submission, nothing runs', () => {
    const w = svaWorld({ deviceA: { maxPasids: 16 } });
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 1);
    const translations = w.kernel.stats.get('iommu.ats_translations');
    expect(w.A.submit({ pasid: 16, op: 'read', addr, length: 8 })).toBe(-EINVAL);
    expect(
      w.A.dev.sendPageRequest({
        pasid: 16,
        vpn: addr / 4096,
        perm: IOMMU_FAULT_PERM_READ,
        index: 0,
        last: true,
      }),
    ).toBe(-EINVAL);
    expect(w.kernel.stats.get('iommu.ats_translations')).toBe(translations);
    expect(w.iommu.prq.length).toBe(0);
  });

  it('R-SVA-116: page requests beyond the outstanding budget are refused (EBUSY) and not sent', () => {
    const w = svaWorld({ deviceA: { priAllocation: 2 } });
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 4);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    w.iommu.prqPaused = true;
    const req = (i: number) => ({
      pasid: 1,
      vpn: addr / 4096 + i,
      perm: IOMMU_FAULT_PERM_READ,
      index: i,
      last: true,
    });
    expect(w.A.dev.sendPageRequest(req(0))).toBe(0);
    expect(w.A.dev.sendPageRequest(req(1))).toBe(0);
    expect(w.A.dev.sendPageRequest(req(2))).toBe(-EBUSY);
    expect(w.iommu.prq.length).toBe(2);
    expect(w.A.dev.priOutstanding).toBe(2);
    w.iommu.resumePrq();
    w.core.runUntilIdle();
    expect(w.A.dev.priOutstanding, 'responses returned the credits').toBe(0);
    expect(w.A.dev.sendPageRequest(req(2))).toBe(0);
  });

  it('R-SVA-16 through the driver: with the PASID space exhausted, open() fails with ENOSPC', () => {
    const w = svaWorld({ sva: { pasidSpace: 3 } });
    const fds = [0, 1, 2].map(() => w.drvA.open(w.kernel.spawn()));
    expect(fds.slice(0, 2).every((fd) => fd >= 0)).toBe(true);
    expect(fds[2]).toBe(-ENOSPC);
    expect(w.core.pasids.inUse, 'the failed open took no PASID').toBe(2);
  });
});
