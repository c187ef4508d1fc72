// sva.md section 15, scenarios S-1 .. S-13, on the common setup of test/svaHarness.ts: one VT-d
// IOMMU, accelerators A and B (PCIe, 2^20 PASIDs, ATS + PRI, PRG-response-PASID-required), each in
// its own group, with drivers that bind on open() and stop the PASID + unbind on release. Every
// expectation below is one the spec lists for the scenario (or a rule the scenario cites).

import { describe, expect, it } from 'vitest';
import { hmmBufferAlloc, hmmDmirrorCmd } from '../../test/hmmTestsHarness.js';
import { fnv1a, patternPage } from '../../test/pattern.js';
import { dma, expectClean, expectNoLeaks, mapAnon, type SvaWorld, svaWorld } from '../../test/svaHarness.js';
import type { DmaAccelerator, DmaDescriptor, DmaJob } from '../devices/accel/accelerator.js';
import type { AccelContext, AccelDriver } from '../devices/accel/driver.js';
import { DmirrorDriver, HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_WRITE } from '../devices/dmirror/index.js';
import { PAGE_SIZE, PROT_READ } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { ZONE_RAM } from '../mm/physmem.js';
import { PTE_DEVICE_PRIVATE, PTE_KIND_MASK, PTE_NONE, PTE_PRESENT, PTE_WRITE } from '../mm/pte.js';
import type { Task } from '../mm/task.js';
import { ENOMEM, ENOSPC, EOVERFLOW } from '../sim/errno.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  PASID_INVALID,
} from './constants.js';
import type { Device } from './device.js';
import type { IommuSva } from './domain.js';
import type { IopfFault } from './iopf.js';
import {
  iommuMmData,
  iommuSvaBindDevice,
  iommuSvaGetPasid,
  iommuSvaUnbindDevice,
  mmGetPasid,
} from './sva.js';
import { TC_HUGE, TC_READ, TC_WRITE, type TranslationCache } from './translationCache.js';

const MS = 1_000_000;

// ---- helpers ----------------------------------------------------------------------------------

/** open() of an accelerator driver that must succeed: the fd and the driver's context. */
function openOk(drv: AccelDriver, task: Task, what: string): { fd: number; ctx: AccelContext } {
  const fd = drv.open(task);
  expect(fd, `${what}: open() returns an fd`).toBeGreaterThanOrEqual(0);
  const ctx = drv.contextOf(task, fd);
  expect(ctx, `${what}: the driver has a context for the fd`).not.toBeNull();
  return { fd, ctx: ctx! };
}

/** iommuSvaBindDevice that must succeed. */
function bindOk(dev: Device, mm: Mm, what: string): IommuSva {
  const bond = iommuSvaBindDevice(dev, mm);
  expect(typeof bond, `${what}: bind returns a bond, not an errno`).toBe('object');
  return bond as IommuSva;
}

/** A DMA job that must be accepted by the device (it runs when the simulator runs). */
function submitOk(accel: DmaAccelerator, desc: DmaDescriptor): DmaJob {
  const job = accel.submit(desc);
  expect(typeof job, 'DMA submit accepted').toBe('object');
  return job as DmaJob;
}

/** The CPU page-table entry of a 4 KiB page, read without faulting. */
function pteOf(mm: Mm, vpn: number): { kind: number; write: boolean; pfn: number } {
  const t = mm.pt.pteTable(vpn);
  if (t === null) return { kind: PTE_NONE, write: false, pfn: 0 };
  const f = t.e[(vpn & 511) * 2];
  return { kind: f & PTE_KIND_MASK, write: (f & PTE_WRITE) !== 0, pfn: t.e[(vpn & 511) * 2 + 1] };
}

/** The cached translation of (tag, vpn) without touching the cache's LRU or hit counters; -1 if none. */
function cachePeek(cache: TranslationCache | null, tag: number, vpn: number): number {
  let found = -1;
  cache?.forEach((t, base, value) => {
    if (t !== tag) return;
    const span = value & TC_HUGE ? 512 : 1;
    if (vpn >= base && vpn < base + span) found = value + (vpn - base) * 16;
  });
  return found;
}

/** Entries of `tag` in `cache` overlapping [startVpn, endVpn). */
function cachedIn(cache: TranslationCache | null, tag: number, startVpn: number, endVpn: number): number {
  let n = 0;
  cache?.forEach((t, base, value) => {
    const span = value & TC_HUGE ? 512 : 1;
    if (t === tag && base < endVpn && base + span > startVpn) n++;
  });
  return n;
}

/** Whether ATS invalidation commands to `dev` for `pasid` logged from `fromIndex` on cover every page of the range. */
function atsInvalidationsCover(
  w: SvaWorld,
  dev: string,
  pasid: number,
  fromIndex: number,
  startVpn: number,
  endVpn: number,
): boolean {
  const cmds = w.iommu.commands!.slice(fromIndex);
  for (let vpn = startVpn; vpn < endVpn; vpn++) {
    const hit = cmds.some(
      (c) =>
        c.op === 'devtlb-inv' && c.dev === dev && c.pasid === pasid && c.startVpn! <= vpn && c.endVpn! > vpn,
    );
    if (!hit) return false;
  }
  return true;
}

/** Calls `onFree(pfn)` for every frame freed from now on (on top of the harness's own watcher). */
function watchFrees(w: SvaWorld, onFree: (pfn: number) => void): void {
  const prev = w.kernel.mem.freeWatcher;
  w.kernel.mem.freeWatcher = (head, nr) => {
    prev?.(head, nr);
    for (let p = head; p < head + nr; p++) onFree(p);
  };
}

/**
 * Holds the IOMMU's page-request thread back, runs `start` and the simulator, and returns the page
 * requests the devices sent meanwhile (still in the hardware queue). The caller resumes the thread.
 */
function pageRequestsDuring(w: SvaWorld, start: () => void): IopfFault[] {
  w.iommu.prqPaused = true;
  start();
  w.core.runUntilIdle();
  return w.iommu.prq.map((e) => e.fault);
}

/** One page of recognisable bytes. */
function page(seed: number): Uint8Array {
  return patternPage(seed, 0);
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && fnv1a(a) === fnv1a(b) && a.every((x, i) => x === b[i]);
}

/** Every process exits; nothing is left over (shutdown checker). */
function finish(w: SvaWorld, ...tasks: Task[]): void {
  for (const t of tasks) if (t.alive) t.exit();
  expectClean(w);
  expectNoLeaks(w);
}

// ---- the scenarios --------------------------------------------------------------------------

describe('sva.md section 15, scenarios S-1 .. S-13', () => {
  it('S-1 first bind allocates the smallest PASID; a second device shares it', () => {
    // P opens A's driver: bind(A, P.mm). Then opens B's driver: bind(B, P.mm). Expect: both
    // succeed; getPasid = 1 for both; one iommu mm data for P; under VT-d one SVA domain with
    // users = 2; A's and B's PASID table entries 1 are ACTIVE(P.mm). (R-SVA-11, -12, -30, -32)
    const w = svaWorld();
    const P = w.kernel.spawn();
    const mm = P.mm!;

    const a = openOk(w.drvA, P, 'P opens A');
    expect(iommuSvaGetPasid(a.ctx.bond), 'getPasid on A: the smallest free PASID (R-SVA-11)').toBe(1);
    const data = iommuMmData(w.core, mm);
    expect(data, 'P has iommu mm data after its first bind').not.toBeNull();

    const b = openOk(w.drvB, P, 'P opens B');
    expect(iommuSvaGetPasid(b.ctx.bond), 'getPasid on B: the same PASID as on A (R-SVA-12)').toBe(1);
    expect(iommuMmData(w.core, mm), 'still the one iommu mm data for P').toBe(data);
    expect(data!.pasid, 'the mm data holds PASID 1').toBe(1);
    expect(w.core.pasids.inUse, 'one PASID allocated for both binds (R-SVA-12)').toBe(1);

    expect(data!.domains, 'VT-d: one SVA domain for the mm (R-SVA-32 global scope)').toHaveLength(1);
    const domain = data!.domains[0];
    expect(domain.users, 'the domain has two (device, PASID) users').toBe(2);
    expect(a.ctx.bond.domain, "A's bond uses the shared domain").toBe(domain);
    expect(b.ctx.bond.domain, "B's bond uses the shared domain").toBe(domain);

    for (const dev of [w.A.dev, w.B.dev]) {
      expect(dev.pasidTable!.state(1), `${dev.name}'s PASID table entry 1`).toBe('ACTIVE');
      expect(dev.pasidTable!.peek(1)?.mm, `${dev.name}'s entry 1 points at P's mm`).toBe(mm);
    }
    expect(w.core.pasidState(1), 'PASID 1 is BOUND').toBe('BOUND');
    expectClean(w);
    finish(w, P);
  });

  it('S-2 binding the same pair twice returns the same bond', () => {
    // bind(A, P.mm) twice. Expect: identical bond object, bond.users = 2, domain users = 1, no second
    // hardware write. One unbind leaves the entry ACTIVE; the second detaches. (R-SVA-30.4, R-SVA-41)
    const w = svaWorld();
    const P = w.kernel.spawn();
    const mm = P.mm!;
    const dev = w.A.dev;

    const bond1 = bindOk(dev, mm, 'first bind');
    const commandsAfterFirst = w.iommu.commands!.length;
    expect(commandsAfterFirst, 'the first bind wrote the PASID entry').toBeGreaterThan(0);

    const bond2 = bindOk(dev, mm, 'second bind');
    expect(bond2, 'the second bind returns the same bond object').toBe(bond1);
    expect(bond1.users, 'bond.users').toBe(2);
    const data = iommuMmData(w.core, mm)!;
    expect(data.domains, 'one SVA domain').toHaveLength(1);
    expect(data.domains[0].users, 'domain users (one attachment)').toBe(1);
    expect(
      w.iommu.commands!.slice(commandsAfterFirst),
      'no hardware write (no IOMMU command) for the second bind',
    ).toEqual([]);

    iommuSvaUnbindDevice(bond1);
    expect(bond1.users, 'after one unbind').toBe(1);
    expect(dev.pasidTable!.state(1), 'one unbind leaves the entry ACTIVE (R-SVA-41)').toBe('ACTIVE');
    expect(dev.group!.handle(1), 'the attachment is still in the group slot').toBe(bond1);

    iommuSvaUnbindDevice(bond1);
    expect(dev.pasidTable!.state(1), 'the second unbind detaches: entry ABSENT').toBe('ABSENT');
    expect(dev.group!.handle(1), 'the second unbind removes the attach handle').toBeNull();
    expect(bond1.detached, 'the bond is detached').toBe(true);
    expectClean(w);
    finish(w, P);
  });

  it('S-3 two processes, two PASIDs, smallest-free reuse (default policy)', () => {
    // P and Q bind A -> PASIDs 1 and 2. P exits and its driver file is closed (unbind), run.
    // Expect: PASID 1 FREE only after run (deferred domain teardown); a new process R binding A gets
    // 1, not 3. (R-SVA-11, R-SVA-23)
    const w = svaWorld();
    const P = w.kernel.spawn();
    const Q = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'P gets PASID 1').toBe(1);
    expect(openOk(w.drvA, Q, 'Q opens A').ctx.pasid, 'Q gets PASID 2').toBe(2);

    P.exit(); // exit_mm, then exit_files: the driver's release stops PASID 1 and unbinds
    expect(w.A.dev.pasidTable!.state(1), "P's file was released: A's entry 1 is ABSENT").toBe('ABSENT');
    expect(w.core.pasidState(1), 'PASID 1 is not FREE before run (deferred domain teardown)').not.toBe(
      'FREE',
    );
    expectClean(w);

    w.core.runUntilIdle();
    expect(w.core.pasidState(1), 'PASID 1 is FREE after run (R-SVA-23)').toBe('FREE');

    const R = w.kernel.spawn();
    expect(openOk(w.drvA, R, 'R opens A').ctx.pasid, 'R gets the smallest free PASID: 1, not 3').toBe(1);
    expect(w.core.pasidState(2), "Q's PASID 2 is still BOUND").toBe('BOUND');
    expectClean(w);
    finish(w, Q, R);
  });

  it('S-3 with [OPT:pasidReuse]=quarantine (10 ms): R gets 3 before 10 ms, 1 afterwards', () => {
    // With [OPT:pasidReuse]=quarantine and pasidQuarantineNs = 10 ms, R gets 3 if it binds before
    // 10 ms of simulated time have passed, and 1 afterwards. (R-SVA-11, R-SVA-23, R-SVA-130)
    const setup = (): { w: SvaWorld; Q: Task; exitNs: number } => {
      const w = svaWorld({ sva: { pasidReuse: 'quarantine', pasidQuarantineNs: 10 * MS } });
      const P = w.kernel.spawn();
      const Q = w.kernel.spawn();
      expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'P gets PASID 1').toBe(1);
      expect(openOk(w.drvA, Q, 'Q opens A').ctx.pasid, 'Q gets PASID 2').toBe(2);
      const exitNs = w.kernel.clock.nowNs;
      P.exit();
      expect(w.core.pasidState(1), 'PASID 1 not reusable before run').not.toBe('FREE');
      w.core.runUntilIdle();
      expect(w.core.pasidState(1), 'PASID 1 is QUARANTINED after run').toBe('QUARANTINED');
      return { w, Q, exitNs };
    };

    // R binds before 10 ms have passed.
    {
      const { w, Q, exitNs } = setup();
      expect(w.kernel.clock.nowNs - exitNs, 'precondition: less than 10 ms since P exited').toBeLessThan(
        10 * MS,
      );
      const R = w.kernel.spawn();
      expect(openOk(w.drvA, R, 'R opens A early').ctx.pasid, 'R gets 3 while 1 is quarantined').toBe(3);
      expectClean(w);
      finish(w, Q, R);
    }
    // R binds after 10 ms have passed.
    {
      const { w, Q } = setup();
      w.kernel.clock.advance(10 * MS);
      expect(w.core.pasidState(1), 'PASID 1 is FREE once 10 ms have passed').toBe('FREE');
      const R = w.kernel.spawn();
      expect(openOk(w.drvA, R, 'R opens A late').ctx.pasid, 'R gets 1 after the quarantine').toBe(1);
      expectClean(w);
      finish(w, Q, R);
    }
  });

  it('S-4 narrow device, wide PASID', () => {
    // Devices A (maxPasids 2^20) and N (maxPasids 16). 15 processes bind N (PASIDs 1..15), then a
    // 16th binds N -> ENOSPC, and it has no PASID afterwards. Process X binds A first (gets 16), then
    // binds N -> EOVERFLOW; X keeps PASID 16 and its bond on A is untouched. (R-SVA-15, R-SVA-16)
    const w = svaWorld();
    const N = w.iommu.addDevice({ name: 'N', maxPasids: 16 });
    const tasks: Task[] = [];
    const bonds: IommuSva[] = [];
    for (let i = 1; i <= 15; i++) {
      const t = w.kernel.spawn();
      tasks.push(t);
      bonds.push(bindOk(N, t.mm!, `process ${i} binds N`));
      expect(iommuSvaGetPasid(bonds[i - 1]), `process ${i}'s PASID`).toBe(i);
    }

    const p16 = w.kernel.spawn();
    tasks.push(p16);
    expect(iommuSvaBindDevice(N, p16.mm!), 'the 16th process binds N: ENOSPC (R-SVA-16)').toBe(-ENOSPC);
    expect(iommuMmData(w.core, p16.mm!), 'the 16th process has no iommu mm data').toBeNull();
    expect(mmGetPasid(w.core, p16.mm!), 'the 16th process has no PASID').toBe(PASID_INVALID);

    const X = w.kernel.spawn();
    tasks.push(X);
    const bx = bindOk(w.A.dev, X.mm!, 'X binds A');
    expect(iommuSvaGetPasid(bx), 'X gets PASID 16 on A').toBe(16);
    const commandsBefore = w.iommu.commands!.length;

    expect(iommuSvaBindDevice(N, X.mm!), 'X binds N: EOVERFLOW (R-SVA-15)').toBe(-EOVERFLOW);
    expect(mmGetPasid(w.core, X.mm!), 'X keeps PASID 16').toBe(16);
    expect(w.core.pasidState(16), 'PASID 16 is still BOUND').toBe('BOUND');
    expect(bx.users, "X's bond on A: users unchanged").toBe(1);
    expect(bx.detached, "X's bond on A is still attached").toBe(false);
    expect(iommuSvaGetPasid(bx), "X's bond on A still gives PASID 16").toBe(16);
    expect(w.A.dev.group!.handle(16), "A's slot 16 still holds X's bond").toBe(bx);
    expect(w.A.dev.pasidTable!.state(16), "A's entry 16").toBe('ACTIVE');
    expect(w.A.dev.pasidTable!.peek(16)?.mm, "A's entry 16 points at X's mm").toBe(X.mm);
    expect(N.pasidTable!.state(16), "N's entry 16 was not touched").toBe('ABSENT');
    expect(N.group!.handle(16), "N's slot 16 is empty").toBeNull();
    expect(w.iommu.commands!.slice(commandsBefore), 'the failed bind changed no hardware state').toEqual([]);
    expectClean(w);
    // The driver-less bonds go with explicit unbinds before the processes exit.
    for (const b of [...bonds, bx]) iommuSvaUnbindDevice(b);
    finish(w, ...tasks);
  });

  it('S-5 device without PASID capability', () => {
    // Device L with maxPasids = 0. Fresh process binds L -> ENOSPC; a process that already has
    // PASID 1 (bound on A) binds L -> EOVERFLOW. (R-SVA-2)
    const w = svaWorld();
    const L = w.iommu.addDevice({ name: 'L', maxPasids: 0 });

    const F = w.kernel.spawn();
    expect(iommuSvaBindDevice(L, F.mm!), 'a fresh process binds L: ENOSPC').toBe(-ENOSPC);
    expect(mmGetPasid(w.core, F.mm!), 'the fresh process got no PASID').toBe(PASID_INVALID);

    const P = w.kernel.spawn();
    const { ctx } = openOk(w.drvA, P, 'P opens A');
    expect(ctx.pasid, 'P has PASID 1 through A').toBe(1);
    expect(iommuSvaBindDevice(L, P.mm!), 'a process with PASID 1 binds L: EOVERFLOW').toBe(-EOVERFLOW);
    expect(mmGetPasid(w.core, P.mm!), 'P keeps PASID 1').toBe(1);
    expect(w.A.dev.pasidTable!.state(1), "P's attachment on A is untouched").toBe('ACTIVE');
    expectClean(w);
    finish(w, F, P);
  });

  it('S-6 failed bind keeps the PASID', () => {
    // Fault-inject ENOMEM into SVA domain creation. Fresh process P binds A -> ENOMEM. Expect: P's mm
    // has PASID 1 (OWNED_IDLE), no attachment; the next process gets 2; P binding again (no
    // injection) succeeds with PASID 1. (R-SVA-14)
    const w = svaWorld();
    w.core.inject.domainAllocErrno = ENOMEM;
    w.core.inject.domainAllocFailures = 1;

    const P = w.kernel.spawn();
    expect(iommuSvaBindDevice(w.A.dev, P.mm!), 'P binds A under injection: ENOMEM').toBe(-ENOMEM);
    expect(mmGetPasid(w.core, P.mm!), "P's mm keeps PASID 1 (no rollback)").toBe(1);
    expect(w.core.pasidState(1), 'PASID 1 is OWNED_IDLE').toBe('OWNED_IDLE');
    expect(w.A.dev.group!.handle(1), 'no attachment in A group slot 1').toBeNull();
    expect(w.A.dev.pasidTable!.state(1), "A's entry 1 is ABSENT").toBe('ABSENT');
    expect(iommuMmData(w.core, P.mm!)!.domains, 'no SVA domain was kept').toHaveLength(0);
    expectClean(w);

    const Q = w.kernel.spawn();
    expect(
      iommuSvaGetPasid(bindOk(w.A.dev, Q.mm!, 'the next process binds A')),
      'the next process gets 2',
    ).toBe(2);

    const again = bindOk(w.A.dev, P.mm!, 'P binds A again without injection');
    expect(iommuSvaGetPasid(again), 'P binds with PASID 1').toBe(1);
    expect(w.A.dev.pasidTable!.state(1), "A's entry 1 is now ACTIVE").toBe('ACTIVE');
    expect(w.core.pasidState(1), 'PASID 1 is BOUND').toBe('BOUND');
    expectClean(w);
    // The driver-less bonds go with explicit unbinds before the processes exit.
    iommuSvaUnbindDevice(again);
    iommuSvaUnbindDevice(w.A.dev.group!.handle(2)!);
    finish(w, P, Q);
  });

  it('S-7 present page through ATS', () => {
    // P maps an anonymous page at v and writes it on the CPU. A reads v with PASID 1 (translation
    // request with the no-write hint). Expect: ATS translation granted with R=1, W=0; ATC entry
    // (1, v) cached; the data read equals what the CPU wrote; a second read hits the ATC and causes
    // no walk. A later write by A needs a new translation without the hint, which is granted W=1
    // because the entry is writable. (R-SVA-50, R-SVA-52, R-SVA-112)
    const w = svaWorld();
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const v = mapAnon(P, 1);
    const vpn = v / PAGE_SIZE;
    const cpuData = page(7);
    expect(P.write(v, cpuData).signal, 'CPU write').toBe(0);
    const pte = pteOf(P.mm!, vpn);
    expect(pte.kind === PTE_PRESENT && pte.write, 'precondition: the CPU entry is present and writable').toBe(
      true,
    );

    const ats0 = dev.atsTranslationRequests;
    const prs0 = dev.pageRequestsSent;
    const read1 = dma(w.A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    expect(read1.status, 'first read').toBe('done');
    expect(dev.atsTranslationRequests, 'the first read asked ATS once').toBe(ats0 + 1);
    expect(dev.pageRequestsSent, 'the translation was granted: no page request').toBe(prs0);
    const cached = cachePeek(dev.atc, 1, vpn);
    expect(cached, 'ATC entry (1, v) cached').toBeGreaterThanOrEqual(0);
    expect(cached & TC_READ, 'granted R = 1').toBe(TC_READ);
    expect(cached & TC_WRITE, 'granted W = 0 (no-write hint)').toBe(0);
    expect(Math.floor(cached / 16), "the ATC entry translates to P's frame").toBe(pte.pfn);
    expect(sameBytes(read1.data, cpuData), 'A read what the CPU wrote').toBe(true);

    const walks1 = w.iommu.walks;
    const ats1 = dev.atsTranslationRequests;
    const read2 = dma(w.A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    expect(read2.status, 'second read').toBe('done');
    expect(dev.atsTranslationRequests, 'second read: ATC hit, no translation request').toBe(ats1);
    expect(w.iommu.walks, 'second read: no page-table walk').toBe(walks1);
    expect(sameBytes(read2.data, cpuData), 'second read data').toBe(true);

    const devData = page(8);
    const write = dma(w.A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: devData });
    expect(write.status, 'A write').toBe('done');
    expect(dev.atsTranslationRequests, 'the write needed a new translation (without the hint)').toBe(
      ats1 + 1,
    );
    expect(w.iommu.walks, 'the new translation walked the page table').toBe(walks1 + 1);
    expect(dev.pageRequestsSent, 'write granted without a page request').toBe(prs0);
    const cachedW = cachePeek(dev.atc, 1, vpn);
    expect(cachedW & TC_WRITE, 'granted W = 1: the entry is writable').toBe(TC_WRITE);
    const back = P.read(v, PAGE_SIZE);
    expect(back.signal, 'CPU read back').toBe(0);
    expect(sameBytes(back.data, devData), "the CPU sees A's write").toBe(true);
    expectClean(w);
    finish(w, P);
  });

  it('S-8 first touch through PRI', () => {
    // P maps but never touches v. A writes v. Expect: ATS not granted; A sends one page request (W,
    // last, index g); the core builds a one-request group; after run, the handler populated a zeroed
    // page; response SUCCESS with PASID 1 and index g; A re-translates, is granted W, the write
    // lands; the CPU then reads A's value. The process received no signal.
    // (R-SVA-55, R-SVA-65, R-SVA-70, R-SVA-71, R-SVA-75)
    const w = svaWorld();
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const v = mapAnon(P, 1);
    const vpn = v / PAGE_SIZE;
    const rss0 = P.mm!.rssPages;
    const ats0 = dev.atsTranslationRequests;
    const prs0 = dev.pageRequestsSent;
    // A writes 64 bytes in the middle of the page: the rest shows what the handler populated.
    const payload = page(9).subarray(0, 64);
    let job!: DmaJob;
    const reqs = pageRequestsDuring(w, () => {
      job = submitOk(w.A, { pasid: 1, op: 'write', addr: v + 128, length: 64, data: payload });
    });

    expect(dev.atsTranslationRequests, 'A asked ATS first').toBe(ats0 + 1);
    expect(cachePeek(dev.atc, 1, vpn), 'ATS not granted: nothing cached').toBe(-1);
    expect(job.status, 'the job waits for its page response').toBe('waiting-pri');
    expect(dev.pageRequestsSent, 'A sent one page request').toBe(prs0 + 1);
    expect(reqs, 'one page request in the IOMMU queue').toHaveLength(1);
    const req = reqs[0];
    const g = req.grpid;
    expect(req.vpn, 'the request is for v').toBe(vpn);
    expect(req.perm & IOMMU_FAULT_PERM_WRITE, 'the request asks for W').toBe(IOMMU_FAULT_PERM_WRITE);
    expect(req.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, 'the request is last in its group').not.toBe(0);
    expect(req.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID, 'the request carries a PASID').not.toBe(0);
    expect(req.pasid, 'the request carries PASID 1').toBe(1);
    expect(job.waitKey, 'the job waits on index g').toBe(g);

    // The core builds the group; hold the IOPF work back to look at it.
    w.iommu.iopfQueue.paused = true;
    w.iommu.resumePrq();
    w.core.runUntilIdle();
    const groups = [...(dev.iopf?.faults ?? [])];
    expect(groups, 'one fault group pending').toHaveLength(1);
    expect(groups[0].faults, 'a one-request group').toHaveLength(1);
    expect(groups[0].lastFault.grpid, 'the group has index g').toBe(g);
    expect(w.iommu.responsesSent, 'no response before the handler ran (deferred, R-SVA-70)').toEqual([]);
    expect(pteOf(P.mm!, vpn).kind, 'v not populated before the handler ran').toBe(PTE_NONE);

    w.iommu.iopfQueue.resume();
    w.core.runUntilIdle();
    expect(
      w.iommu.responsesSent.map((r) => ({ dev: r.dev, pasid: r.pasid, index: r.index, code: r.code })),
      'one response: SUCCESS with PASID 1 and index g',
    ).toEqual([{ dev: 'A', pasid: 1, index: g, code: IOMMU_PAGE_RESP_SUCCESS }]);
    expect(dev.responsesReceived, 'A received that response').toEqual([
      { pasid: 1, index: g, code: IOMMU_PAGE_RESP_SUCCESS },
    ]);
    expect(P.mm!.rssPages, 'the handler populated one page').toBe(rss0 + 1);
    const pte = pteOf(P.mm!, vpn);
    expect(pte.kind === PTE_PRESENT && pte.write, 'v is present and writable (write fault)').toBe(true);
    expect(dev.atsTranslationRequests, 'A re-translated after SUCCESS').toBe(ats0 + 2);
    const cached = cachePeek(dev.atc, 1, vpn);
    expect(cached & TC_WRITE, 'A was granted W').toBe(TC_WRITE);
    expect(Math.floor(cached / 16), 'the grant is for the populated frame').toBe(pte.pfn);
    expect(job.status, 'the write landed').toBe('done');
    expect(job.pageRequests, 'exactly one page request for the job').toBe(1);

    const back = P.read(v, PAGE_SIZE);
    expect(back.signal, 'CPU read: no signal').toBe(0);
    const expected = new Uint8Array(PAGE_SIZE);
    expected.set(payload, 128);
    expect(sameBytes(back.data, expected), "the CPU reads A's value in an otherwise zeroed page").toBe(true);
    expect(P.alive, 'the process received no signal (still alive)').toBe(true);
    expect(P.mm!.users, 'the process is untouched (one user)').toBe(1);
    expectClean(w);
    finish(w, P);
  });

  it('S-9 multi-request group with a sticky error', () => {
    // A sends three requests with index 5: v1 (mapped), v2 (no VMA), v3 (mapped, untouched), the
    // third with last. Expect: no response until the third arrives; handler processes v1
    // (populated), v2 -> INVALID, v3 not processed (its page stays unpopulated); exactly one response
    // INVALID for index 5. (R-SVA-65, R-SVA-71)
    const w = svaWorld();
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const base = mapAnon(P, 3);
    expect(P.munmap(base + PAGE_SIZE, PAGE_SIZE), 'a hole in the middle').toBe(0);
    const [v1, v2, v3] = [0, 1, 2].map((i) => base / PAGE_SIZE + i);
    const rss0 = P.mm!.rssPages;
    const perm = IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_WRITE;

    expect(dev.sendPageRequest({ pasid: 1, vpn: v1, perm, index: 5, last: false }), 'request 1 sent').toBe(0);
    expect(dev.sendPageRequest({ pasid: 1, vpn: v2, perm, index: 5, last: false }), 'request 2 sent').toBe(0);
    w.core.runUntilIdle();
    expect(w.iommu.responsesSent, 'no response before the last request').toEqual([]);
    expect(dev.responsesReceived, 'A received nothing yet').toEqual([]);
    expect(pteOf(P.mm!, v1).kind, 'no handler ran before the group was complete').toBe(PTE_NONE);

    expect(dev.sendPageRequest({ pasid: 1, vpn: v3, perm, index: 5, last: true }), 'request 3 sent').toBe(0);
    w.core.runUntilIdle();
    expect(pteOf(P.mm!, v1).kind, 'v1 processed: populated').toBe(PTE_PRESENT);
    expect(pteOf(P.mm!, v3).kind, 'v3 not processed after the error: unpopulated').toBe(PTE_NONE);
    expect(P.mm!.rssPages, 'only v1 was populated').toBe(rss0 + 1);
    expect(
      w.iommu.responsesSent.map((r) => ({ pasid: r.pasid, index: r.index, code: r.code })),
      'exactly one response: INVALID for index 5',
    ).toEqual([{ pasid: 1, index: 5, code: IOMMU_PAGE_RESP_INVALID }]);
    expect(dev.responsesReceived, 'A received exactly that response').toEqual([
      { pasid: 1, index: 5, code: IOMMU_PAGE_RESP_INVALID },
    ]);
    expect(dev.priOutstanding, 'the group is answered: nothing outstanding').toBe(0);
    expectClean(w);
    finish(w, P);
  });

  it('S-10 write to a read-only mapping', () => {
    // v in a read-only VMA. A writes v. Expect: page request W -> INVALID; no page populated for
    // write; no COW; the process gets no signal; A reports an error for that work only.
    // (R-SVA-71.4, R-SVA-72, R-SVA-115)
    const w = svaWorld();
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const v = mapAnon(P, 1, PROT_READ);
    const vpn = v / PAGE_SIZE;
    // The CPU reads v first, so a write fault would have something to copy (COW) if it were allowed.
    expect(P.read(v, PAGE_SIZE).signal, 'CPU read of the read-only page').toBe(0);
    const before = pteOf(P.mm!, vpn);
    expect(before.kind === PTE_PRESENT && !before.write, 'precondition: v mapped read-only').toBe(true);
    // Other work of A on P, which must not be affected.
    const other = mapAnon(P, 1);
    const otherData = page(10);
    expect(P.write(other, otherData).signal, 'CPU write of the other page').toBe(0);
    const cows0 = w.kernel.stats.get('mm.cow_copies');
    const rss0 = P.mm!.rssPages;

    let writeJob!: DmaJob;
    let readJob!: DmaJob;
    const reqs = pageRequestsDuring(w, () => {
      writeJob = submitOk(w.A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: page(11) });
      readJob = submitOk(w.A, { pasid: 1, op: 'read', addr: other, length: PAGE_SIZE });
    });
    expect(reqs, 'one page request').toHaveLength(1);
    expect(reqs[0].vpn, 'for v').toBe(vpn);
    expect(reqs[0].perm & IOMMU_FAULT_PERM_WRITE, 'page request W').toBe(IOMMU_FAULT_PERM_WRITE);
    const g = reqs[0].grpid;
    w.iommu.resumePrq();
    w.core.runUntilIdle();

    expect(
      w.iommu.responsesSent.map((r) => ({ pasid: r.pasid, index: r.index, code: r.code })),
      'the page request is answered INVALID',
    ).toEqual([{ pasid: 1, index: g, code: IOMMU_PAGE_RESP_INVALID }]);
    const after = pteOf(P.mm!, vpn);
    expect(after.pfn, 'no page populated for write: same frame').toBe(before.pfn);
    expect(after.write, 'v is still read-only').toBe(false);
    expect(w.kernel.stats.get('mm.cow_copies'), 'no COW').toBe(cows0);
    expect(P.mm!.rssPages, 'no page populated').toBe(rss0);
    expect(P.alive, 'the process gets no signal (still alive)').toBe(true);
    expect(P.read(v, PAGE_SIZE).signal, 'the process still reads v').toBe(0);
    expect(writeJob.status, 'the write job failed').toBe('error');
    expect(writeJob.error, 'A reports Invalid Request for that work').toBe('INVALID');
    expect(readJob.status, 'the other work of A completed').toBe('done');
    expect(sameBytes(readJob.data, otherData), 'the other work read the right data').toBe(true);
    expect(w.A.errorLog, "A's error log holds that work only").toEqual([writeJob]);
    expectClean(w);
    finish(w, P);
  });

  it('S-11 fork and COW', () => {
    // P bound on A with PASID 1, A has a writable ATC entry for v (anonymous, written). P forks
    // child C. Expect: during fork, a secondary-TLB invalidation covering v reaches A (write
    // permission gone from its ATC); C has no PASID. A then writes v: page request W -> handler
    // breaks COW in P's mm -> SUCCESS; P sees A's value at v, C sees the old value.
    // (R-SVA-90, R-SVA-108)
    const w = svaWorld();
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const v = mapAnon(P, 1);
    const vpn = v / PAGE_SIZE;
    const oldData = page(12);
    expect(P.write(v, oldData).signal, 'CPU write').toBe(0);
    const setup = dma(w.A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: oldData });
    expect(setup.status, 'A writes v').toBe('done');
    expect(cachePeek(dev.atc, 1, vpn) & TC_WRITE, 'precondition: A has a writable ATC entry for v').toBe(
      TC_WRITE,
    );
    const frame = pteOf(P.mm!, vpn).pfn;

    const inv0 = dev.atsInvalidationsReceived;
    const cmd0 = w.iommu.commands!.length;
    const C = P.fork();
    expect(dev.atsInvalidationsReceived, 'during fork an ATS invalidation reached A').toBeGreaterThan(inv0);
    expect(
      atsInvalidationsCover(w, 'A', 1, cmd0, vpn, vpn + 1),
      'the invalidation covers v with PASID 1',
    ).toBe(true);
    const afterFork = cachePeek(dev.atc, 1, vpn);
    expect(afterFork < 0 || (afterFork & TC_WRITE) === 0, "write permission gone from A's ATC").toBe(true);
    expect(iommuMmData(w.core, C.mm!), 'C has no iommu mm data').toBeNull();
    expect(mmGetPasid(w.core, C.mm!), 'C has no PASID').toBe(PASID_INVALID);
    expectClean(w);

    const cows0 = w.kernel.stats.get('mm.cow_copies');
    const newData = page(13);
    let job!: DmaJob;
    const reqs = pageRequestsDuring(w, () => {
      job = submitOk(w.A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: newData });
    });
    expect(reqs, 'A sends one page request').toHaveLength(1);
    expect(reqs[0].vpn, 'for v').toBe(vpn);
    expect(reqs[0].perm & IOMMU_FAULT_PERM_WRITE, 'page request W').toBe(IOMMU_FAULT_PERM_WRITE);
    expect(reqs[0].pasid, 'with PASID 1').toBe(1);
    const g = reqs[0].grpid;
    w.iommu.resumePrq();
    w.core.runUntilIdle();

    expect(
      w.iommu.responsesSent.map((r) => ({ pasid: r.pasid, index: r.index, code: r.code })),
      'the handler answers SUCCESS',
    ).toEqual([{ pasid: 1, index: g, code: IOMMU_PAGE_RESP_SUCCESS }]);
    expect(job.status, "A's write completed").toBe('done');
    expect(w.kernel.stats.get('mm.cow_copies'), 'the handler broke COW (one copy)').toBe(cows0 + 1);
    const pteP = pteOf(P.mm!, vpn);
    expect(pteP.write && pteP.pfn !== frame, "P's entry now maps its own writable copy").toBe(true);
    expect(pteOf(C.mm!, vpn).pfn, "C's entry still maps the original frame").toBe(frame);
    const pRead = P.read(v, PAGE_SIZE);
    const cRead = C.read(v, PAGE_SIZE);
    expect([pRead.signal, cRead.signal], 'CPU reads of P and C').toEqual([0, 0]);
    expect(sameBytes(pRead.data, newData), "P sees A's value").toBe(true);
    expect(sameBytes(cRead.data, oldData), 'C sees the old value').toBe(true);
    expectClean(w);
    finish(w, P, C);
  });

  it('S-12 munmap with a cached translation', () => {
    // A holds ATC entries for [v, v+16 pages). P unmaps that range. Expect: before any of the 16
    // frames returns to the free pool, A has received and completed ATS invalidations covering the
    // range with PASID 1 and the IOTLB is clean for it (the checker verifies R-SVA-93 at the moment
    // each frame is freed). A's next access to v is not granted and its page request is answered
    // INVALID (no VMA). (R-SVA-90, R-SVA-91, R-SVA-93)
    const w = svaWorld();
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const n = 16;
    const v = mapAnon(P, n);
    const vpn = v / PAGE_SIZE;
    for (let i = 0; i < n; i++)
      expect(P.write(v + i * PAGE_SIZE, page(20 + i)).signal, `CPU write ${i}`).toBe(0);
    const read = dma(w.A, { pasid: 1, op: 'read', addr: v, length: n * PAGE_SIZE });
    expect(read.status, 'A reads the 16 pages').toBe('done');
    const frames = new Set<number>();
    for (let i = 0; i < n; i++) {
      const c = cachePeek(dev.atc, 1, vpn + i);
      expect(c, `precondition: A's ATC holds page ${i}`).toBeGreaterThanOrEqual(0);
      frames.add(Math.floor(c / 16));
    }
    expect(frames.size, '16 distinct frames').toBe(n);

    const inv0 = dev.atsInvalidationsReceived;
    const cmd0 = w.iommu.commands!.length;
    const atFree: { pfn: number; atc: number; iotlb: number; covered: boolean; received: number }[] = [];
    watchFrees(w, (pfn) => {
      if (!frames.has(pfn)) return;
      atFree.push({
        pfn,
        atc: cachedIn(dev.atc, 1, vpn, vpn + n),
        iotlb: cachedIn(w.iommu.iotlb, 1, vpn, vpn + n),
        covered: atsInvalidationsCover(w, 'A', 1, cmd0, vpn, vpn + n),
        received: dev.atsInvalidationsReceived - inv0,
      });
    });

    expect(P.munmap(v, n * PAGE_SIZE), 'munmap').toBe(0);
    w.core.runUntilIdle();
    expect(atFree.map((f) => f.pfn).sort(), 'all 16 frames returned to the free pool').toEqual(
      [...frames].sort(),
    );
    for (const f of atFree) {
      const at = `when frame ${f.pfn} was freed`;
      expect(f.received, `${at}: A had received ATS invalidations`).toBeGreaterThan(0);
      expect(f.covered, `${at}: invalidations with PASID 1 covered the whole range`).toBe(true);
      expect(f.atc, `${at}: A's ATC held nothing for the range (completed)`).toBe(0);
      expect(f.iotlb, `${at}: the IOTLB was clean for the range`).toBe(0);
    }
    expect(w.staleFrees, 'R-SVA-93 at every free (checker)').toEqual([]);
    expect(
      w.core.diagnostics.filter((d) => d.kind === 'invalidation-timeout'),
      'every invalidation completed',
    ).toEqual([]);

    const ats0 = dev.atsTranslationRequests;
    let job!: DmaJob;
    const reqs = pageRequestsDuring(w, () => {
      job = submitOk(w.A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    });
    expect(dev.atsTranslationRequests, "A's next access asked ATS").toBe(ats0 + 1);
    expect(job.status, 'not granted (and not UR): A waits on a page request').toBe('waiting-pri');
    expect(
      reqs.map((r) => ({ vpn: r.vpn, pasid: r.pasid })),
      'one page request for v',
    ).toEqual([{ vpn, pasid: 1 }]);
    const g = reqs[0].grpid;
    w.iommu.resumePrq();
    w.core.runUntilIdle();
    expect(
      w.iommu.responsesSent.map((r) => ({ pasid: r.pasid, index: r.index, code: r.code })),
      'the page request is answered INVALID (no VMA)',
    ).toEqual([{ pasid: 1, index: g, code: IOMMU_PAGE_RESP_INVALID }]);
    expect(job.error, "A's access fails with Invalid Request").toBe('INVALID');
    expectClean(w);
    finish(w, P);
  });

  it('S-13 migration to device-private memory and back', () => {
    // A GPU-model device migrates v of P into its private memory (migrateVma*), replacing P's entry
    // by a device-private entry. Expect: the migration's unmap step delivers a secondary-TLB
    // invalidation for v to accelerator A (bound to P) before the RAM frame is freed. A then reads
    // v: not granted, page request R -> handler runs the CPU fault path, which calls the GPU's
    // migrate-to-RAM -> the page comes back to RAM with the GPU's data -> SUCCESS -> A reads the
    // GPU's data. (R-SVA-90, R-SVA-71.5; hmm spec for migrate-to-RAM)
    const w = svaWorld();
    const gpu = new DmirrorDriver(w.kernel);
    const dev = w.A.dev;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P, 'P opens A').ctx.pasid, 'PASID').toBe(1);
    const v = mapAnon(P, 1);
    const vpn = v / PAGE_SIZE;
    expect(P.write(v, page(30)).signal, 'CPU write').toBe(0);
    const warm = dma(w.A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    expect(warm.status, 'A reads v').toBe('done');
    const cached = cachePeek(dev.atc, 1, vpn);
    expect(cached, "precondition: A's ATC holds (1, v)").toBeGreaterThanOrEqual(0);
    const ramFrame = Math.floor(cached / 16);

    const gfd = gpu.open(P, 0);
    expect(gfd, 'P opens the GPU (dmirror device-private)').toBeGreaterThanOrEqual(0);
    const cmd0 = w.iommu.commands!.length;
    let atFree: { atc: number; covered: boolean } | null = null;
    watchFrees(w, (pfn) => {
      if (pfn !== ramFrame || atFree !== null) return;
      atFree = {
        atc: cachePeek(dev.atc, 1, vpn),
        covered: atsInvalidationsCover(w, 'A', 1, cmd0, vpn, vpn + 1),
      };
    });

    const mig = hmmBufferAlloc(PAGE_SIZE);
    mig.ptr = v;
    expect(hmmDmirrorCmd(gpu, P, gfd, HMM_DMIRROR_MIGRATE_TO_DEV, mig, 1), 'MIGRATE_TO_DEV').toBe(0);
    expect(mig.cpages, 'one page migrated').toBe(1);
    expect(pteOf(P.mm!, vpn).kind, "P's entry is now a device-private entry").toBe(PTE_DEVICE_PRIVATE);
    expect(atFree, 'the RAM frame was freed by the migration').not.toBeNull();
    expect(
      atFree!.covered,
      'before the RAM frame was freed, an ATS invalidation for v (PASID 1) reached A',
    ).toBe(true);
    expect(atFree!.atc, "before the RAM frame was freed, A's ATC no longer held (1, v)").toBe(-1);
    expect(w.staleFrees, 'R-SVA-93 at every free').toEqual([]);
    expectClean(w);

    // The GPU writes its own data into the page in its memory.
    const gpuData = page(31);
    const gw = hmmBufferAlloc(PAGE_SIZE);
    gw.ptr = v;
    gw.mirror.set(gpuData);
    expect(hmmDmirrorCmd(gpu, P, gfd, HMM_DMIRROR_WRITE, gw, 1), 'GPU write').toBe(0);
    expect(pteOf(P.mm!, vpn).kind, 'the page is still in device memory').toBe(PTE_DEVICE_PRIVATE);

    let job!: DmaJob;
    const reqs = pageRequestsDuring(w, () => {
      job = submitOk(w.A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    });
    expect(job.status, 'A: not granted, waits on a page request').toBe('waiting-pri');
    expect(reqs, 'one page request').toHaveLength(1);
    expect(reqs[0].vpn, 'for v').toBe(vpn);
    expect(reqs[0].pasid, 'with PASID 1').toBe(1);
    expect(reqs[0].perm & (IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_WRITE), 'page request R').toBe(
      IOMMU_FAULT_PERM_READ,
    );
    const g = reqs[0].grpid;
    w.iommu.resumePrq();
    w.core.runUntilIdle();

    const back = pteOf(P.mm!, vpn);
    expect(back.kind, 'the page came back to RAM (present entry)').toBe(PTE_PRESENT);
    expect(w.kernel.mem.zone(back.pfn).kind, 'the new frame is system RAM').toBe(ZONE_RAM);
    expect(
      w.iommu.responsesSent.map((r) => ({ pasid: r.pasid, index: r.index, code: r.code })),
      'SUCCESS for the page request',
    ).toEqual([{ pasid: 1, index: g, code: IOMMU_PAGE_RESP_SUCCESS }]);
    expect(job.status, "A's read completed").toBe('done');
    expect(sameBytes(job.data, gpuData), "A reads the GPU's data").toBe(true);
    const cpu = P.read(v, PAGE_SIZE);
    expect(cpu.signal === 0 && sameBytes(cpu.data, gpuData), "the CPU reads the GPU's data too").toBe(true);
    expectClean(w);
    expect(P.close(gfd), 'close the GPU file').toBe(0);
    finish(w, P);
  });
});
