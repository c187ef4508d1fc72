// Rules of sva.md that the section-15 scenarios do not pin down on their own: fault plumbing at
// attach (R-SVA-7), domain scope per flavour (R-SVA-32), AMD's synchronous notifier teardown
// (R-SVA-42), kernel PASIDs with paging domains (R-SVA-49), accessed/dirty bits (R-SVA-52), the
// page-request screening of VT-d and AMD (R-SVA-61, R-SVA-79), partial grouping by index
// (R-SVA-65), VMA permissions in the handler (R-SVA-71), user-space fault queues (R-SVA-80),
// invalidation edge cases (R-SVA-92, 95, 96, 97), and SMMU context-descriptor layout (R-SVA-121).

import { describe, expect, it } from 'vitest';
import { dma, expectClean, mapAnon, svaWorld } from '../../test/svaHarness.js';
import { DmaAccelerator } from '../devices/accel/accelerator.js';
import { PROT_EXEC, PROT_READ } from '../mm/constants.js';
import { PTE_DIRTY, PTE_YOUNG } from '../mm/pte.js';
import { iommuAttachDevicePasid, iommuDetachDevicePasid } from './attach.js';
import {
  IOMMU_FAULT_PERM_EXEC,
  IOMMU_FAULT_PERM_PRIV,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
} from './constants.js';
import { AttachHandle, PagingDomain } from './domain.js';
import { atsAlignedRange } from './flush.js';
import {
  iommuAllocGlobalPasid,
  iommuFreeGlobalPasid,
  iommuMmData,
  iommuSvaBindDevice,
  iommuSvaUnbindDevice,
} from './sva.js';
import { TC_READ, TC_WRITE } from './translationCache.js';
import {
  iommufdDetachDevicePasid,
  IommufdFault,
  iommufdTestInjectFault,
  UserFaultDomain,
} from './userFault.js';

function bond<T>(b: T | number): T {
  if (typeof b === 'number') throw new Error(`bind failed: ${b}`);
  return b;
}

describe('attach and domains', () => {
  it('R-SVA-7: the first fault-handling attachment registers the device with the IOPF queue and enables PRI; the last one undoes it', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const q = w.kernel.spawn();
    expect([w.A.dev.iopf, w.A.dev.priEnabled]).toEqual([null, false]);
    const bp = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    const bq = bond(iommuSvaBindDevice(w.A.dev, q.mm!));
    expect(w.A.dev.iopfRefcount).toBe(2);
    expect(w.iommu.iopfQueue.devices.has(w.A.dev)).toBe(true);
    iommuSvaUnbindDevice(bp);
    expect(w.A.dev.iopf, 'one attachment left').not.toBeNull();
    iommuSvaUnbindDevice(bq);
    expect([w.A.dev.iopf, w.A.dev.priEnabled, w.iommu.iopfQueue.devices.has(w.A.dev)]).toEqual([
      null,
      false,
      false,
    ]);
  });

  it('R-SVA-32: one SVA domain per mm across VT-d units; one per SMMU instance, each with its own ASID, all on the one PASID', () => {
    const w = svaWorld();
    const vtd2 = w.core.addIommu({ flavour: 'vtd' });
    const c = vtd2.addDevice({ name: 'C' });
    const smmus = [0, 1].map(() => w.core.addIommu({ flavour: 'smmu', smmuPri: true }));
    const s = smmus.map((m, i) => m.addDevice({ name: `S${i}` }));
    const p = w.kernel.spawn();
    for (const dev of [w.A.dev, c, s[0], s[1]]) bond(iommuSvaBindDevice(dev, p.mm!));
    const data = iommuMmData(w.core, p.mm!)!;
    expect(data.domains.map((d) => [d.iommu.flavour, d.users])).toEqual([
      ['smmu', 1],
      ['smmu', 1],
      ['vtd', 2],
    ]);
    // ASIDs are per SMMU instance: each domain has one of its own SMMU's.
    for (const d of data.domains.filter((x) => x.iommu.flavour === 'smmu')) expect(d.asid).toBeGreaterThan(0);
    expect(smmus.map((m) => m.asidsInUse)).toEqual([1, 1]);
    for (const dev of [w.A.dev, c, s[0], s[1]]) expect(dev.pasidTable!.state(1), dev.name).toBe('ACTIVE');
    // Each domain holds a count of its own, its notifier another (R-SVA-33); users untouched.
    expect([p.mm!.users, p.mm!.count]).toEqual([1, 1 + 3 * 2]);
  });

  it('5.3: a bond is BOUND, BOUND_DEFUNCT after the exit teardown (users unchanged), DETACHED after the last unbind', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    expect(bond(iommuSvaBindDevice(w.A.dev, p.mm!))).toBe(b);
    expect([b.state, b.users]).toEqual(['BOUND', 2]);
    p.exit();
    expect([b.state, b.users, w.A.dev.pasidTable!.state(1)]).toEqual(['BOUND_DEFUNCT', 2, 'QUIESCED']);
    iommuSvaUnbindDevice(b);
    expect([b.state, w.A.dev.pasidTable!.state(1)]).toEqual(['BOUND_DEFUNCT', 'QUIESCED']);
    iommuSvaUnbindDevice(b);
    expect([b.state, w.A.dev.pasidTable!.state(1)]).toEqual(['DETACHED', 'ABSENT']);
  });

  it('R-SVA-42: VT-d drops the notifier count after a grace period; AMD unregisters synchronously inside unbind', () => {
    for (const [flavour, countAfterUnbind] of [
      ['vtd', 2],
      ['amd', 1],
    ] as const) {
      const w = svaWorld({ iommu: { flavour } });
      const p = w.kernel.spawn();
      const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
      expect(p.mm!.count, flavour).toBe(3);
      iommuSvaUnbindDevice(b);
      expect(p.mm!.count, flavour).toBe(countAfterUnbind);
      w.core.runUntilIdle();
      expect(p.mm!.count, flavour).toBe(1);
    }
  });

  it('R-SVA-49: a driver PASID for kernel DMA: global PASID, paging domain, never an SVA PASID', () => {
    const w = svaWorld();
    const pasid = iommuAllocGlobalPasid(w.A.dev);
    const domain = new PagingDomain(w.iommu);
    domain.map(0x40, 1234, TC_READ | TC_WRITE);
    expect(
      iommuAttachDevicePasid(domain, w.A.dev, pasid, new AttachHandle(w.core.nextObjectId(), w.A.dev, pasid)),
    ).toBe(0);
    expect(w.A.dev.iopf, 'a paging domain has no fault handler').toBeNull();
    const p = w.kernel.spawn();
    expect(iommuMmData(w.core, p.mm!)).toBeNull();
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    expect(iommuMmData(w.core, p.mm!)!.pasid).not.toBe(pasid);
    iommuDetachDevicePasid(domain, w.A.dev, pasid);
    iommuFreeGlobalPasid(w.core, pasid);
    expect(w.A.dev.pasidTable!.state(pasid)).toBe('ABSENT');
    expect(w.core.pasidState(pasid)).toBe('FREE');
  });
});

describe('translation', () => {
  it('R-SVA-52: walks set accessed, and dirty only when granting write; without hardware A/D a clean entry faults first', () => {
    for (const hwAccessDirty of [true, false]) {
      const w = svaWorld({ iommu: { hwAccessDirty } });
      const p = w.kernel.spawn();
      const addr = mapAnon(p, 2);
      p.write(addr, new Uint8Array([1]));
      p.write(addr + 4096, new Uint8Array([1]));
      // Clear the bits the CPU set, as reclaim's aging would.
      const pt = p.mm!.pt;
      for (const vpn of [addr / 4096, addr / 4096 + 1]) {
        const t = pt.pteTable(vpn)!;
        t.e[(vpn & 511) * 2] &= ~(PTE_YOUNG | PTE_DIRTY);
      }
      bond(iommuSvaBindDevice(w.A.dev, p.mm!));
      const read = dma(w.A, { pasid: 1, op: 'read', addr, length: 1 });
      const write = dma(w.A, {
        pasid: 1,
        op: 'write',
        addr: addr + 4096,
        length: 1,
        data: new Uint8Array([9]),
      });
      const flags = (vpn: number) => pt.pteTable(vpn)!.e[(vpn & 511) * 2];
      expect(flags(addr / 4096) & (PTE_YOUNG | PTE_DIRTY), `read, hw A/D ${hwAccessDirty}`).toBe(PTE_YOUNG);
      expect(flags(addr / 4096 + 1) & (PTE_YOUNG | PTE_DIRTY), `write, hw A/D ${hwAccessDirty}`).toBe(
        PTE_YOUNG | PTE_DIRTY,
      );
      expect([read.pageRequests, write.pageRequests], `hw A/D ${hwAccessDirty}`).toEqual(
        hwAccessDirty ? [0, 0] : [1, 1],
      );
      expect([read.status, write.status]).toEqual(['done', 'done']);
    }
  });

  it('R-SVA-92/R-SVA-113: ATS invalidations cover the naturally aligned power-of-two block around the range', () => {
    expect(atsAlignedRange(5, 6)).toEqual([5, 6]);
    expect(atsAlignedRange(5, 7)).toEqual([4, 8]);
    expect(atsAlignedRange(6, 10)).toEqual([0, 16]);
    expect(atsAlignedRange(16, 32)).toEqual([16, 32]);
    const w = svaWorld();
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 64);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    dma(w.A, { pasid: 1, op: 'read', addr, length: 64 * 4096 });
    w.iommu.commands!.length = 0;
    p.munmap(addr + 5 * 4096, 2 * 4096);
    const inv = w.iommu.commands!.filter((c) => c.op === 'devtlb-inv');
    const base = addr / 4096;
    expect(inv.map((c) => [c.startVpn! - base, c.endVpn! - base])).toEqual([[4, 8]]);
    // Widening removed neighbours too, never too little.
    expect(w.A.dev.atc!.lookup(1, base + 4)).toBe(-1);
    expect(w.A.dev.atc!.lookup(1, base + 8)).toBeGreaterThan(0);
    expectClean(w);
  });

  it('R-SVA-97: detach takes the entry down first, then the PASID cache, the IOTLB and the device TLB, then drains', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const b = bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    w.iommu.commands!.length = 0;
    iommuSvaUnbindDevice(b);
    expect(w.iommu.commands!.map((c) => c.op + (c.detail === 'ABSENT' ? ':absent' : ''))).toEqual([
      'pasid-cache-inv',
      'iotlb-inv',
      'devtlb-inv',
      'pasid-entry:absent',
      'drain-prq',
      'iotlb-inv',
      'devtlb-inv',
    ]);
  });

  it('R-SVA-95/R-SVA-96: invalidations skip an absent device; one that never completes marks the device failed', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 4);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    bond(iommuSvaBindDevice(w.B.dev, p.mm!));
    dma(w.A, { pasid: 1, op: 'read', addr, length: 4 * 4096 });
    dma(w.B, { pasid: 1, op: 'read', addr, length: 4 * 4096 });
    w.B.dev.respondsToInvalidation = false;
    w.A.dev.present = false;
    const before = w.A.dev.atsInvalidationsReceived;
    expect(p.munmap(addr, 4096)).toBe(0);
    expect(w.A.dev.atsInvalidationsReceived, 'the absent device got nothing').toBe(before);
    expect(w.B.dev.failed).toBe(true);
    expect(w.core.diagnostics.map((d) => [d.kind, d.dev])).toEqual([['invalidation-timeout', 'B']]);
    const job = dma(w.B, { pasid: 1, op: 'read', addr: addr + 4096, length: 8 });
    expect(job.error).toBe('DEVICE_FAILED');
  });
});

describe('page requests', () => {
  function boundWorld(flavour: 'vtd' | 'amd' = 'vtd') {
    const w = svaWorld({ iommu: { flavour } });
    const p = w.kernel.spawn();
    const addr = mapAnon(p, 8);
    bond(iommuSvaBindDevice(w.A.dev, p.mm!));
    w.iommu.prqPaused = true;
    const send = (
      perm: number,
      index: number,
      last: boolean,
      vpn = addr / 4096,
      pasid: number | undefined = 1,
    ) => expect(w.A.dev.sendPageRequest({ pasid, vpn, perm, index, last })).toBe(0);
    const run = () => {
      w.iommu.resumePrq();
      w.core.runUntilIdle();
    };
    return { w, p, addr, send, run };
  }

  it('R-SVA-61: VT-d answers a bad last request INVALID itself and drops a bad partial, before the core sees them', () => {
    const { w, send, run } = boundWorld();
    send(IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_PRIV, 1, true);
    send(IOMMU_FAULT_PERM_EXEC | IOMMU_FAULT_PERM_READ, 2, true);
    send(IOMMU_FAULT_PERM_READ, 3, true, 2 ** 40);
    send(IOMMU_FAULT_PERM_WRITE | IOMMU_FAULT_PERM_PRIV, 4, false);
    const groups = w.kernel.stats.get('iommu.fault_groups');
    run();
    expect(w.iommu.responsesSent.map((r) => [r.index, r.code])).toEqual([
      [1, IOMMU_PAGE_RESP_INVALID],
      [2, IOMMU_PAGE_RESP_INVALID],
      [3, IOMMU_PAGE_RESP_INVALID],
    ]);
    expect(w.kernel.stats.get('iommu.fault_groups')).toBe(groups);
    expect(w.A.dev.iopf!.partial.length, 'the bad partial was dropped').toBe(0);
  });

  it('R-SVA-79: AMD answers a request without a usable PASID FAILURE', () => {
    const { w, send, run } = boundWorld('amd');
    send(IOMMU_FAULT_PERM_READ, 5, true, undefined, 0);
    run();
    expect(w.iommu.responsesSent.map((r) => [r.index, r.code])).toEqual([[5, IOMMU_PAGE_RESP_FAILURE]]);
    expect(w.A.dev.priResponseFailure).toBe(true);
  });

  it('R-SVA-65: partials join a group by index only, in arrival order, whatever their PASID', () => {
    const { w, p, addr, send, run } = boundWorld();
    const q = w.kernel.spawn();
    // Q's mapping lies below P's (both grow down from the same base): P has no VMA at qAddr.
    const qAddr = mapAnon(q, 16);
    bond(iommuSvaBindDevice(w.A.dev, q.mm!));
    send(IOMMU_FAULT_PERM_WRITE, 9, false, addr / 4096 + 1);
    send(IOMMU_FAULT_PERM_WRITE, 9, false, qAddr / 4096, 2);
    send(IOMMU_FAULT_PERM_WRITE, 9, true, addr / 4096 + 2);
    w.iommu.handlePrq();
    expect(w.iommu.iopfQueue.queued).toBe(1);
    run();
    // The group ran against the last request's PASID (1): its pages of P were populated, and the
    // request carried over from PASID 2 faulted on P's mm at Q's address (no VMA there): INVALID.
    expect(w.iommu.responsesSent.map((r) => [r.pasid, r.index, r.code])).toEqual([
      [1, 9, IOMMU_PAGE_RESP_INVALID],
    ]);
    expect(p.mm!.rssAnon).toBe(1);
  });

  it('R-SVA-71.4: the VMA decides: execute on a non-executable VMA or write on a read-only one is INVALID', () => {
    // AMD: VT-d rejects execute requests that also read before the core sees them (R-SVA-61).
    const { w, p, send, run } = boundWorld('amd');
    const ro = p.mmap(0, 4096, PROT_READ, 0x22);
    const rx = p.mmap(0, 4096, PROT_READ | PROT_EXEC, 0x22);
    send(IOMMU_FAULT_PERM_WRITE, 1, true, ro / 4096);
    send(IOMMU_FAULT_PERM_EXEC | IOMMU_FAULT_PERM_READ, 2, true, ro / 4096);
    send(IOMMU_FAULT_PERM_EXEC | IOMMU_FAULT_PERM_READ, 3, true, rx / 4096);
    run();
    expect(w.iommu.responsesSent.map((r) => [r.index, r.code])).toEqual([
      [1, IOMMU_PAGE_RESP_INVALID],
      [2, IOMMU_PAGE_RESP_INVALID],
      [3, IOMMU_PAGE_RESP_SUCCESS],
    ]);
  });
});

describe('R-SVA-80: user-space fault queues (iommufd)', () => {
  it('records per request, one response per cookie, detach answers the rest INVALID', () => {
    const w = svaWorld();
    const fault = new IommufdFault();
    const domain = new UserFaultDomain(w.iommu, fault);
    expect(
      iommuAttachDevicePasid(domain, w.A.dev, 5, new AttachHandle(w.core.nextObjectId(), w.A.dev, 5)),
    ).toBe(0);
    expect(iommufdTestInjectFault(w.A.dev, 5, 0x100, IOMMU_FAULT_PERM_READ, 1)).toBe(0);
    expect(iommufdTestInjectFault(w.A.dev, 5, 0x101, IOMMU_FAULT_PERM_WRITE, 2)).toBe(0);
    const records = fault.read();
    expect(records.map((r) => [r.pasid, r.grpid, r.vpn, r.last, r.pasidValid])).toEqual([
      [5, 1, 0x100, true, true],
      [5, 2, 0x101, true, true],
    ]);
    expect(fault.read(), 'read once').toEqual([]);
    expect(fault.respond(records[0].cookie, IOMMU_PAGE_RESP_SUCCESS)).toBe(0);
    expect(fault.respond(records[0].cookie, IOMMU_PAGE_RESP_SUCCESS), 'answered already').toBe(-22);
    iommufdDetachDevicePasid(domain, w.A.dev, 5);
    w.core.runUntilIdle();
    expect(w.iommu.responsesSent.map((r) => [r.index, r.code])).toEqual([
      [1, IOMMU_PAGE_RESP_SUCCESS],
      [2, IOMMU_PAGE_RESP_INVALID],
    ]);
    expect(fault.pendingGroups).toBe(0);
  });

  it('destroying the fault object answers everything pending INVALID', () => {
    const w = svaWorld();
    const fault = new IommufdFault();
    const domain = new UserFaultDomain(w.iommu, fault);
    iommuAttachDevicePasid(domain, w.A.dev, 5, new AttachHandle(w.core.nextObjectId(), w.A.dev, 5));
    iommufdTestInjectFault(w.A.dev, 5, 0x100, IOMMU_FAULT_PERM_READ, 7);
    fault.destroy();
    expect(w.iommu.responsesSent.map((r) => [r.index, r.code])).toEqual([[7, IOMMU_PAGE_RESP_INVALID]]);
  });
});

describe('R-SVA-121: SMMU context-descriptor tables', () => {
  it('are linear below 1024 substreams and two-level with leaves of 1024 above; VT-d leaves hold 64 entries', () => {
    const w = svaWorld();
    const smmu = w.core.addIommu({ flavour: 'smmu', smmuPri: true });
    const small = smmu.addDevice({ name: 'small', maxPasids: 256 });
    const big = smmu.addDevice({ name: 'big', maxPasids: 1 << 16 });
    expect([small.pasidTable!.levels, big.pasidTable!.levels, w.A.dev.pasidTable!.leafEntries]).toEqual([
      1, 2, 64,
    ]);
    for (let i = 0; i < 70; i++) bond(iommuSvaBindDevice(w.A.dev, w.kernel.spawn().mm!));
    expect(w.A.dev.pasidTable!.leaves.size, 'PASIDs 1..70 need two VT-d leaves').toBe(2);
    const p = w.kernel.spawn();
    bond(iommuSvaBindDevice(big, p.mm!));
    expect(big.pasidTable!.leaves.size).toBe(1);
    const acc = new DmaAccelerator(small);
    expect(acc.dev.maxPasids).toBe(256);
  });
});
