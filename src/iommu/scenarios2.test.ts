// The scenarios S-14 .. S-25 of sva.md section 15 ("Scenarios that must hold"), run against the
// model through its public API on the section's common setup (test/svaHarness.ts): one VT-d IOMMU,
// accelerators A and B (2^20 PASIDs, ATS + PRI, PRG-response-PASID-required), a driver that binds
// on open() and, on release, stops the PASID and unbinds. Each `it` names its scenario and checks
// every outcome the scenario lists, with the rules it cites.

import { describe, expect, it } from 'vitest';
import { auditShutdown } from '../check/svaAudit.js';
import { DmaAccelerator, type DmaJob } from '../devices/accel/accelerator.js';
import { AccelDriver, type AccelContext } from '../devices/accel/driver.js';
import { MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import type { Task } from '../mm/task.js';
import { EINVAL } from '../sim/errno.js';
import { dma, expectClean, expectNoLeaks, mapAnon, svaWorld, type SvaWorld } from '../../test/svaHarness.js';
import { patternPage } from '../../test/pattern.js';
import {
  ACCESS_READ,
  ACCESS_WRITE,
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  PASID_INVALID,
} from './constants.js';
import type { SvaDomain } from './domain.js';
import type { Iommu, SentResponse } from './iommu.js';
import { iommuReportDeviceFault } from './iopf.js';
import {
  iommuMmData,
  iommuSvaBindDevice,
  iommuSvaBindDeviceExtra,
  iommuSvaFindDrvdata,
  iommuSvaFindMm,
  iommuSvaGetPasid,
  iommuSvaUnbindDevice,
  mmGetPasid,
} from './sva.js';
import { ATS_UR, grants, iommuAtsTranslate, iommuDmaTranslate, XLATE_ABORT } from './translate.js';
import type { TranslationCache } from './translationCache.js';

// ---- helpers (this file's own) ------------------------------------------------------------------

/** `pages` pages of the oracle fill pattern (distinct per seed). */
function bytes(pages: number, seed: number): Uint8Array {
  const out = new Uint8Array(pages * PAGE_SIZE);
  for (let p = 0; p < pages; p++) out.set(patternPage(seed, p), p * PAGE_SIZE);
  return out;
}

function vpnOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}

/** open() on the driver must succeed; returns the descriptor and the driver's context for it. */
function openOk(drv: AccelDriver, task: Task): { fd: number; ctx: AccelContext } {
  const fd = drv.open(task);
  expect(fd, `open of ${drv.accel.name} by process ${task.pid}`).toBeGreaterThan(0);
  const ctx = drv.contextOf(task, fd);
  expect(ctx, 'driver context').not.toBeNull();
  return { fd, ctx: ctx! };
}

/** Entries of a translation cache with tag `tag` (a PASID for ATCs and VT-d IOTLBs). */
function cached(cache: TranslationCache | null, tag: number): { vpn: number; perms: number }[] {
  const out: { vpn: number; perms: number }[] = [];
  cache?.forEach((t, vpn, value) => {
    if (t === tag) out.push({ vpn, perms: value % 16 });
  });
  return out.sort((a, b) => a.vpn - b.vpn);
}

function responsesFor(iommu: Iommu, pred: (r: SentResponse) => boolean): SentResponse[] {
  return iommu.responsesSent.filter(pred);
}

function driverBugs(w: SvaWorld): string[] {
  return w.core.diagnostics.filter((d) => d.kind === 'driver-bug').map((d) => d.message);
}

/** Submits a job without running the simulator. */
function submit(accel: DmaAccelerator, desc: Parameters<DmaAccelerator['submit']>[0]): DmaJob {
  const job = accel.submit(desc);
  if (typeof job === 'number') throw new Error(`DMA submit failed: ${job}`);
  return job;
}

/** Exits every live process and runs until idle. */
function exitAll(w: SvaWorld): void {
  for (const t of [...w.kernel.tasks.values()]) if (t.alive) t.exit();
  w.core.runUntilIdle();
}

// ---- S-14 ---------------------------------------------------------------------------------------

/** What process Q (the bystander of S-14) observes; compared between a run with P and one without. */
interface QView {
  jobs: [string, string | null, number][];
  streamedData: boolean;
  cpuSeesDeviceWrites: boolean;
  codes: number[];
  faultRecords: number;
  entry: string;
  atc: { vpn: number; perms: number }[];
  untranslatedGranted: boolean;
  atsGranted: boolean;
}

interface S14Run {
  w: SvaWorld;
  q: QView;
  P?: {
    task: Task;
    mm: Mm;
    ctx: AccelContext;
    helper: Task;
    fdHelper: number;
    jobs: DmaJob[];
    atFirstFree: { state: string; atc: number; iotlb: number } | null;
    exitCmds: ReturnType<typeof commandsSince>;
    faultsBeforeExit: number;
    afterExit: {
      untranslated: number;
      ats: number;
      faultsAfterAccesses: number;
      state: string;
      atc: number;
      iotlb: number;
      stopped: boolean;
      released: boolean;
      bondUsers: number;
      bondDetached: boolean;
      slotHeld: boolean;
      pasidState: string;
      torndown: boolean;
      users: number;
      freed: boolean;
      vmas: number;
      rss: number;
      pteTable: boolean;
    };
    newRequestIndex: number;
  };
}

function commandsSince(iommu: Iommu, from: number) {
  return (iommu.commands ?? []).slice(from);
}

/**
 * The S-14 timeline. With `withP`, P (PASID 1) and Q (PASID 2) are bound to A, A streams for both
 * and has page requests of P queued (one group in the IOPF work queue, one in the hardware queue)
 * when P's last thread exits while a helper keeps P's driver file open. Without it, P never
 * existed and Q does exactly the same work.
 */
function runS14(withP: boolean): S14Run {
  const w = svaWorld();
  const { A, drvA, kernel, iommu } = w;
  const P = withP ? kernel.spawn() : null;
  const Q = kernel.spawn();
  const pOpen = P === null ? null : openOk(drvA, P);
  const qOpen = openOk(drvA, Q);
  const qPasid = qOpen.ctx.pasid;

  // Memory: written pages (streamed) and untouched pages (faulted in through PRI) for each.
  let pWritten = 0;
  let pUntouched = 0;
  if (P !== null) {
    pWritten = mapAnon(P, 4);
    expect(P.write(pWritten, bytes(4, 11)).signal).toBe(0);
    pUntouched = mapAnon(P, 2);
  }
  const qWritten = mapAnon(Q, 4);
  expect(Q.write(qWritten, bytes(4, 22)).signal).toBe(0);
  const qUntouched = mapAnon(Q, 2);

  // Warm A's ATC (ATS) and the IOMMU's IOTLB (untranslated requests) for both PASIDs.
  if (P !== null) {
    expect(dma(A, { pasid: 1, op: 'read', addr: pWritten, length: 4 * PAGE_SIZE }).status).toBe('done');
    expect(
      iommuDmaTranslate(A.dev, 1, vpnOf(pWritten), ACCESS_READ),
      'P untranslated read',
    ).toBeGreaterThanOrEqual(0);
  }
  expect(dma(A, { pasid: qPasid, op: 'read', addr: qWritten, length: 4 * PAGE_SIZE }).status).toBe('done');
  expect(
    iommuDmaTranslate(A.dev, qPasid, vpnOf(qWritten), ACCESS_READ),
    'Q untranslated read',
  ).toBeGreaterThanOrEqual(0);

  // In flight at P's exit: one group of each PASID in the IOPF work queue (not run yet) ...
  iommu.iopfQueue.paused = true;
  const pJobs: DmaJob[] = [];
  if (P !== null)
    pJobs.push(submit(A, { pasid: 1, op: 'write', addr: pUntouched, length: PAGE_SIZE, data: bytes(1, 12) }));
  const qFault1 = submit(A, {
    pasid: qPasid,
    op: 'write',
    addr: qUntouched,
    length: PAGE_SIZE,
    data: bytes(1, 23),
  });
  w.core.runUntilIdle();
  expect(iommu.iopfQueue.queued, 'groups waiting in the IOPF work queue').toBe(P === null ? 1 : 2);
  // ... one page request of P still in the hardware page-request queue ...
  iommu.prqPaused = true;
  if (P !== null) {
    pJobs.push(
      submit(A, {
        pasid: 1,
        op: 'write',
        addr: pUntouched + PAGE_SIZE,
        length: PAGE_SIZE,
        data: bytes(1, 13),
      }),
    );
    w.core.runUntilIdle();
    expect(iommu.prq.length, 'P page request in the hardware queue').toBe(1);
  }
  // ... and streaming DMA for both.
  if (P !== null) pJobs.push(submit(A, { pasid: 1, op: 'read', addr: pWritten, length: 4 * PAGE_SIZE }));
  const qStream = submit(A, { pasid: qPasid, op: 'read', addr: qWritten, length: 4 * PAGE_SIZE });

  let pPart: S14Run['P'];
  if (P !== null && pOpen !== null) {
    // A helper process holds a duplicate of P's descriptor, so the file outlives P.
    const helper = kernel.spawn();
    const fdHelper = helper.installFile(P.fds.get(pOpen.fd)!.get());
    const mm = P.mm!;
    expect(cached(A.dev.atc, 1).length, 'A caches translations for PASID 1 before the exit').toBeGreaterThan(
      0,
    );
    expect(cached(iommu.iotlb, 1).length, 'the IOTLB caches PASID 1 before the exit').toBeGreaterThan(0);

    // The state of PASID 1 when P's first frame is freed (the page tables are being torn down).
    let atFirstFree: { state: string; atc: number; iotlb: number } | null = null;
    const watcher = kernel.mem.freeWatcher;
    kernel.mem.freeWatcher = (head, nr) => {
      atFirstFree ??= {
        state: A.dev.pasidTable!.state(1),
        atc: cached(A.dev.atc, 1).length,
        iotlb: cached(iommu.iotlb, 1).length,
      };
      watcher?.(head, nr);
    };
    const faultsBeforeExit = iommu.faultLog.length;
    const cmdMark = iommu.commands!.length;
    P.exit();
    kernel.mem.freeWatcher = watcher;
    const exitCmds = commandsSince(iommu, cmdMark);

    const state = A.dev.pasidTable!.state(1);
    const atc = cached(A.dev.atc, 1).length;
    const iotlb = cached(iommu.iotlb, 1).length;
    const stopped = A.dev.stoppedPasids.has(1);
    const untranslated = iommuDmaTranslate(A.dev, 1, vpnOf(pWritten), ACCESS_READ);
    const ats = iommuAtsTranslate(A.dev, 1, vpnOf(pWritten), ACCESS_READ, true);
    pPart = {
      task: P,
      mm,
      ctx: pOpen.ctx,
      helper,
      fdHelper,
      jobs: pJobs,
      atFirstFree,
      exitCmds,
      faultsBeforeExit,
      afterExit: {
        untranslated,
        ats,
        faultsAfterAccesses: iommu.faultLog.length,
        state,
        atc,
        iotlb,
        stopped,
        released: pOpen.ctx.released,
        bondUsers: pOpen.ctx.bond.users,
        bondDetached: pOpen.ctx.bond.detached,
        slotHeld: A.dev.group!.handle(1) === pOpen.ctx.bond,
        pasidState: w.core.pasidState(1),
        torndown: mm.torndown,
        users: mm.users,
        freed: mm.freed,
        vmas: mm.vmas.toArray().length,
        rss: mm.rssPages,
        pteTable: mm.pt.pteTable(vpnOf(pWritten)) !== null,
      },
      newRequestIndex: 300,
    };
    // A new page request for PASID 1 after the exit.
    expect(
      A.dev.sendPageRequest({
        pasid: 1,
        vpn: vpnOf(pUntouched),
        perm: IOMMU_FAULT_PERM_WRITE,
        index: 300,
        last: true,
      }),
      'A sends a new page request for PASID 1',
    ).toBe(0);
  }

  // Let the queues go; everything in flight completes.
  iommu.resumePrq();
  iommu.iopfQueue.resume();
  w.core.runUntilIdle();
  // Q keeps working: a further fault and accesses after P's exit.
  const qFault2 = dma(A, {
    pasid: qPasid,
    op: 'write',
    addr: qUntouched + PAGE_SIZE,
    length: PAGE_SIZE,
    data: bytes(1, 24),
  });
  const qRead = Q.read(qUntouched, 2 * PAGE_SIZE);
  const expectQ = new Uint8Array(2 * PAGE_SIZE);
  expectQ.set(bytes(1, 23), 0);
  expectQ.set(bytes(1, 24), PAGE_SIZE);
  const q: QView = {
    jobs: [qFault1, qStream, qFault2].map((j) => [j.status, j.error, j.bytesDone]),
    streamedData: qStream.data !== null && Buffer.from(qStream.data).equals(Buffer.from(bytes(4, 22))),
    cpuSeesDeviceWrites: qRead.signal === 0 && Buffer.from(qRead.data).equals(Buffer.from(expectQ)),
    codes: responsesFor(iommu, (r) => r.pasid === qPasid).map((r) => r.code),
    faultRecords: iommu.faultLog.filter((f) => f.pasid === qPasid).length,
    entry: A.dev.pasidTable!.state(qPasid),
    atc: cached(A.dev.atc, qPasid),
    untranslatedGranted: grants(iommuDmaTranslate(A.dev, qPasid, vpnOf(qWritten), ACCESS_READ), ACCESS_READ),
    atsGranted: grants(
      iommuAtsTranslate(A.dev, qPasid, vpnOf(qUntouched), ACCESS_WRITE, false),
      ACCESS_WRITE,
    ),
  };
  return { w, q, P: pPart };
}

describe('sva.md section 15, scenarios S-14 .. S-25', () => {
  it('S-14 process exits with DMA in flight (the central seed scenario)', () => {
    // P (PASID 1) and Q (PASID 2) are bound to A; A is streaming DMA for both; A also has page
    // requests queued for P. P's last thread exits; its driver file stays open a while because a
    // helper process holds a duplicate of the descriptor. (R-SVA-21..23, 46, 54, 100..104, 110)
    const run = runS14(true);
    const { w } = run;
    const { A, iommu, core } = w;
    const p = run.P!;
    expect(p.ctx.pasid, 'P got PASID 1').toBe(1);

    // At P's exit teardown start: entry QUIESCED, IOTLB and ATC for PASID 1 empty (R-SVA-100),
    // before any of P's frames is freed.
    expect(p.atFirstFree, 'P freed frames at exit').not.toBeNull();
    expect(p.atFirstFree!.state, 'entry 1 when the first frame is freed').toBe('QUIESCED');
    expect(p.atFirstFree!.atc, 'ATC entries for PASID 1 when the first frame is freed').toBe(0);
    expect(p.atFirstFree!.iotlb, 'IOTLB entries for PASID 1 when the first frame is freed').toBe(0);
    const quiesce = p.exitCmds.findIndex(
      (c) => c.op === 'pasid-entry' && c.pasid === 1 && c.detail === 'QUIESCED',
    );
    expect(quiesce, 'the release callback quiesced entry 1').toBeGreaterThanOrEqual(0);
    expect(
      p.exitCmds.some((c) => c.op === 'devtlb-inv' && c.dev === 'A' && c.pasid === 1),
      'ATS invalidation of PASID 1 at exit',
    ).toBe(true);
    expect(
      p.exitCmds.some((c) => c.op === 'drain-prq'),
      'the release callback does not drain page requests',
    ).toBe(false);
    expect(
      p.exitCmds.some((c) => c.op === 'pasid-entry' && c.detail === 'ABSENT'),
      'the release callback detaches nothing',
    ).toBe(false);
    const ax = p.afterExit;
    expect(ax.state, 'entry 1 after exit').toBe('QUIESCED');
    expect(ax.atc, 'A ATC for PASID 1 after exit').toBe(0);
    expect(ax.iotlb, 'IOTLB for PASID 1 after exit').toBe(0);
    // No driver callback ran (R-SVA-46, R-SVA-109): the bond, handle and domain all stay.
    expect(ax.released, 'driver release did not run at exit').toBe(false);
    expect(ax.stopped, 'the driver did not stop PASID 1 at exit').toBe(false);
    expect(ax.bondUsers, 'bond users unchanged').toBe(1);
    expect(ax.bondDetached, 'bond still attached').toBe(false);
    expect(ax.slotHeld, 'attach handle still in the group slot').toBe(true);
    expect(ax.pasidState, 'PASID 1 is DEFUNCT (R-SVA-21)').toBe('DEFUNCT');
    // P's page tables are freed (R-SVA-101); the mm object stays (the domain holds mm_count).
    expect(ax.torndown, 'P exit teardown ran').toBe(true);
    expect(ax.users, 'P mm users').toBe(0);
    expect(ax.vmas, 'P VMAs after exit').toBe(0);
    expect(ax.rss, 'P resident pages after exit').toBe(0);
    expect(ax.pteTable, 'P page table for the streamed range').toBe(false);
    expect(ax.freed, 'P mm object kept while bound').toBe(false);
    // Untranslated accesses with PASID 1 are aborted with no fault record (R-SVA-54); ATS gets UR.
    expect(ax.untranslated, 'untranslated access with PASID 1').toBe(XLATE_ABORT);
    expect(ax.ats, 'ATS translation request for PASID 1').toBe(ATS_UR);
    expect(ax.faultsAfterAccesses, 'no fault record for PASID 1 accesses').toBe(p.faultsBeforeExit);
    expect(
      iommu.faultLog.filter((f) => f.pasid === 1),
      'no fault record for PASID 1 at any time after the exit',
    ).toEqual([]);
    // Page requests for 1, queued (IOPF work, hardware queue) or new, are answered INVALID, once each.
    const [queuedInWork, queuedInHw, stream] = p.jobs;
    for (const [what, index] of [
      ['group queued in the IOPF work queue', queuedInWork.waitKey],
      ['request queued in the hardware queue', queuedInHw.waitKey],
      ['new request after exit', p.newRequestIndex],
    ] as const) {
      const r = responsesFor(iommu, (x) => x.index === index && x.pasid === 1);
      expect(
        r.map((x) => x.code),
        `responses to the ${what} (index ${index})`,
      ).toEqual([IOMMU_PAGE_RESP_INVALID]);
    }
    expect(queuedInWork.error, 'P job whose group was in the work queue').toBe('INVALID');
    expect(queuedInHw.error, 'P job whose request was in the hardware queue').toBe('INVALID');
    expect(stream.error, 'P streaming job after its ATC was emptied').toBe('UR');
    expect(A.dev.outstandingFor(1), 'page requests of PASID 1 left unanswered').toBe(0);

    // Q on PASID 2 proceeds exactly as in a run where P never existed (R-SVA-102, R-SVA-110).
    expect(run.q.jobs, 'Q jobs').toEqual([
      ['done', null, PAGE_SIZE],
      ['done', null, 4 * PAGE_SIZE],
      ['done', null, PAGE_SIZE],
    ]);
    expect(run.q.streamedData, 'Q streamed data').toBe(true);
    expect(run.q.cpuSeesDeviceWrites, 'Q CPU sees A writes').toBe(true);
    expect(run.q.codes, 'Q page responses').toEqual([IOMMU_PAGE_RESP_SUCCESS, IOMMU_PAGE_RESP_SUCCESS]);
    expect(run.q.faultRecords, 'Q fault records').toBe(0);
    expect(run.q.entry, 'Q entry').toBe('ACTIVE');
    const alone = runS14(false);
    expect(run.q, 'Q observations with P dying vs without P').toEqual(alone.q);

    // PASID 1 is not allocatable while DEFUNCT (R-SVA-22): a new process binding A gets 3.
    const R = w.kernel.spawn();
    expect(openOk(w.drvA, R).ctx.pasid, 'new process while 1 is DEFUNCT').toBe(3);
    expect(core.pasidState(1), 'PASID 1 still DEFUNCT').toBe('DEFUNCT');

    // The driver finally releases the file: stopPasid(1), unbind (R-SVA-103). A page request sent
    // just before must be drained and answered.
    expect(
      A.dev.sendPageRequest({ pasid: 1, vpn: 0x1000, perm: IOMMU_FAULT_PERM_READ, index: 301, last: true }),
      'page request pending at release',
    ).toBe(0);
    const domain = p.ctx.bond.domain as SvaDomain;
    const cmdMark = iommu.commands!.length;
    expect(p.helper.close(p.fdHelper), 'helper closes the duplicate').toBe(0);
    expect(p.ctx.released, 'driver release ran').toBe(true);
    expect(A.dev.stoppedPasids.has(1), 'A stopped PASID 1').toBe(true);
    expect(p.ctx.bond.detached, 'bond unbound').toBe(true);
    expect(A.dev.pasidTable!.state(1), 'entry 1 after unbind').toBe('ABSENT');
    expect(
      commandsSince(iommu, cmdMark).some((c) => c.op === 'drain-prq' && c.dev === 'A' && c.pasid === 1),
      'page requests of PASID 1 drained at detach',
    ).toBe(true);
    expect(
      responsesFor(iommu, (r) => r.index === 301).map((r) => r.code),
      'the request pending at release was answered once',
    ).toEqual([IOMMU_PAGE_RESP_INVALID]);
    expect(A.dev.outstandingFor(1), 'no page request of PASID 1 left').toBe(0);
    expect(
      [...(A.dev.iopf?.faults ?? [])].filter((g) => g.lastFault.pasid === 1),
      'pending groups for 1',
    ).toEqual([]);
    expect(cached(A.dev.atc, 1), 'ATC for 1 after unbind').toEqual([]);
    expect(domain.freed, 'P SVA domain freed').toBe(true);
    expect(core.pasidState(1), 'PASID 1 before the grace period').toBe('RELEASING');
    expect(p.mm.freed, 'P mm waits for the grace period').toBe(false);
    expect(p.task.alive, 'P is gone').toBe(false);

    // After the grace period P's mm is destroyed and PASID 1 is FREE; the next bind gets 1.
    core.runUntilIdle();
    expect(p.mm.freed, 'P mm destroyed after the grace period').toBe(true);
    expect(w.kernel.mms.has(p.mm), 'P mm in the live set').toBe(false);
    expect(core.pasidState(1), 'PASID 1 after the grace period').toBe('FREE');
    const S = w.kernel.spawn();
    expect(openOk(w.drvA, S).ctx.pasid, 'next bind after PASID 1 was freed').toBe(1);

    expect(driverBugs(w), 'driver-bug diagnostics').toEqual([]);
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-15 -------------------------------------------------------------------------------------

  it('S-15 the 2016 reference cycle does not form', () => {
    // P opens A's file, binds, mmaps A's portal (the VMA holds the file), closes the descriptor,
    // and exits. (R-SVA-34, R-SVA-106)
    const w = svaWorld();
    const P = w.kernel.spawn();
    const { fd, ctx } = openOk(w.drvA, P);
    expect(ctx.pasid, 'P PASID').toBe(1);
    const file = P.fds.get(fd)!;
    const portal = P.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    expect(portal, 'portal mmap').toBeGreaterThan(0);
    const mm = P.mm!;
    expect(mm.users, 'bind holds no mm users (R-SVA-34)').toBe(1);
    expect(P.close(fd), 'close the descriptor').toBe(0);
    expect(ctx.released, 'the portal VMA keeps the file open').toBe(false);
    expect(file.refcount, 'file references after close').toBe(1);

    P.exit();
    // The exit teardown ran, unmapped the portal, which dropped the last file reference: the
    // driver's release ran and unbound.
    expect(mm.torndown, 'P exit teardown ran').toBe(true);
    expect(mm.users, 'P mm users').toBe(0);
    expect(file.refcount, 'file references after exit').toBe(0);
    expect(ctx.released, 'driver release ran').toBe(true);
    expect(ctx.bond.detached, 'bond unbound').toBe(true);
    expect(w.A.dev.pasidTable!.state(1), 'entry 1').toBe('ABSENT');
    expect(w.core.pasidState(1), 'PASID 1 before run (deferred teardown)').not.toBe('FREE');
    w.core.runUntilIdle();
    expect(w.core.pasidState(1), 'PASID 1 after run').toBe('FREE');
    expect(mm.freed, 'P mm destroyed').toBe(true);
    expectClean(w);
    expectNoLeaks(w);
  });

  it('S-15 variant: a driver holding its own mm users reference rebuilds the cycle', () => {
    // A driver that takes its own `users` reference and drops it only in release: the checker
    // reports a reference cycle (mm with users > 0, no live thread, no progress). (R-SVA-106)
    const w = svaWorld({ driver: { holdMmUsers: true } });
    const P = w.kernel.spawn();
    const { fd, ctx } = openOk(w.drvA, P);
    expect(P.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd), 'portal mmap').toBeGreaterThan(0);
    const mm = P.mm!;
    expect(P.close(fd)).toBe(0);
    P.exit();
    w.core.runUntilIdle();
    expect(mm.users, 'mm users held by the driver').toBeGreaterThan(0);
    expect(mm.torndown, 'exit teardown never ran').toBe(false);
    expect(ctx.released, 'release never ran').toBe(false);
    const problems = auditShutdown(w.kernel, w.core);
    expect(
      problems.filter((m) => /reference cycle/.test(m) && m.includes(`mm ${mm.id}`)),
      `shutdown audit: ${problems.join('; ')}`,
    ).toHaveLength(1);
  });

  // ---- S-16 -------------------------------------------------------------------------------------

  it('S-16 unbind while the process lives; faults afterwards are reported', () => {
    // P bound on A closes the file (stopPasid, unbind) and keeps running. (R-SVA-13, R-SVA-25,
    // R-SVA-40, R-SVA-53)
    const w = svaWorld();
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    const { fd, ctx } = openOk(w.drvA, P);
    expect(ctx.pasid).toBe(1);
    const v = mapAnon(P, 2);
    expect(P.write(v, bytes(2, 5)).signal).toBe(0);
    expect(dma(A, { pasid: 1, op: 'read', addr: v, length: 2 * PAGE_SIZE }).status, 'DMA while bound').toBe(
      'done',
    );
    expect(P.close(fd)).toBe(0);
    expect(ctx.released, 'driver release ran').toBe(true);
    expect(A.dev.stoppedPasids.has(1), 'A stopped PASID 1 before unbind').toBe(true);
    expect(A.dev.pasidTable!.state(1), 'entry 1 after unbind').toBe('ABSENT');
    expect(cached(A.dev.atc, 1), 'A ATC for PASID 1 after unbind (R-SVA-44)').toEqual([]);
    expect(P.alive, 'P keeps running').toBe(true);
    // P still owns PASID 1 (R-SVA-13, R-SVA-25): a new process gets 2.
    expect(mmGetPasid(core, P.mm!), 'P PASID after unbind').toBe(1);
    expect(core.pasidState(1), 'PASID 1 state').toBe('OWNED_IDLE');
    const R = w.kernel.spawn();
    const r = openOk(w.drvA, R);
    expect(r.ctx.pasid, 'new process').toBe(2);

    // A stray access by A with PASID 1 (a driver bug, flagged under strictUnbind) is aborted and
    // logged as a non-recoverable fault (R-SVA-53).
    const faults0 = iommu.faultLog.length;
    expect(iommuDmaTranslate(A.dev, 1, vpnOf(v), ACCESS_READ), 'stray untranslated access').toBe(XLATE_ABORT);
    const logged = iommu.faultLog.slice(faults0);
    expect(
      logged.map((f) => [f.dev, f.pasid, f.vpn]),
      'non-recoverable fault logged with device, PASID and address',
    ).toEqual([['A', 1, vpnOf(v)]]);
    const bugs = driverBugs(w);
    expect(bugs.length, 'strictUnbind flags the stray access').toBeGreaterThanOrEqual(1);
    expect(
      bugs.every((m) => m.includes('PASID 1')),
      `driver bugs: ${bugs.join('; ')}`,
    ).toBe(true);
    // The same through the DMA engine (ATS translation request): fails, logged, no harm to PASID 2.
    const stray = dma(A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    expect(stray.status, 'stray DMA job').toBe('error');
    expect(iommu.faultLog.length, 'stray DMA job logged').toBe(faults0 + 2);
    expect(A.dev.pasidTable!.state(2), 'PASID 2 unaffected').toBe('ACTIVE');

    // P re-opening the file gets PASID 1 again.
    const again = openOk(w.drvA, P);
    expect(again.ctx.pasid, 'P re-open').toBe(1);
    expect(A.dev.pasidTable!.state(1), 'entry 1 after re-bind').toBe('ACTIVE');
    expect(dma(A, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE }).status, 'DMA after re-bind').toBe(
      'done',
    );
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-17 -------------------------------------------------------------------------------------

  it('S-17 unbind drains pending page requests', () => {
    // A has sent a complete group (index 7, PASID 1) that sits in the IOPF work queue, not yet run,
    // when the driver unbinds; A's stopPasid(1) used a stop marker. (R-SVA-43, R-SVA-75, R-SVA-77)
    const w = svaWorld({ driver: { stopMode: 'marker' } });
    const { A, iommu } = w;
    const P = w.kernel.spawn();
    const { fd, ctx } = openOk(w.drvA, P);
    expect(ctx.pasid).toBe(1);
    const v = mapAnon(P, 1);
    const mm = P.mm!;
    iommu.iopfQueue.paused = true;
    expect(
      A.dev.sendPageRequest({ pasid: 1, vpn: vpnOf(v), perm: IOMMU_FAULT_PERM_WRITE, index: 7, last: true }),
    ).toBe(0);
    w.core.runUntilIdle();
    expect(iommu.iopfQueue.queued, 'group 7 waits in the IOPF work queue').toBe(1);
    expect(
      responsesFor(iommu, (r) => r.index === 7),
      'no response yet',
    ).toEqual([]);
    expect(mm.rssAnon, 'nothing populated yet').toBe(0);

    expect(P.close(fd)).toBe(0);
    expect(ctx.bond.detached, 'unbound').toBe(true);
    // Unbind returned only after the group was processed and answered.
    expect(mm.rssAnon, 'the handler populated the page before unbind returned').toBe(1);
    expect(
      responsesFor(iommu, (r) => r.index === 7).map((r) => [r.pasid, r.code, r.by]),
      'exactly one response for index 7',
    ).toEqual([[1, IOMMU_PAGE_RESP_SUCCESS, 'software']]);
    expect(iommu.iopfQueue.queued, 'no handler work left for after unbind').toBe(0);
    const responses = iommu.responsesSent.length;
    const rss = mm.rssAnon;
    iommu.iopfQueue.resume();
    w.core.runUntilIdle();
    // No handler work for PASID 1 runs after unbind returned; no second response.
    expect(iommu.responsesSent.length, 'no response after unbind').toBe(responses);
    expect(mm.rssAnon, 'no handler work after unbind').toBe(rss);
    expect(
      A.dev.responsesReceived.filter((r) => r.index === 7),
      'A received one response for index 7',
    ).toHaveLength(1);
    expect(A.dev.priUnexpectedIndex, 'no unexpected index').toBe(false);
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-18 -------------------------------------------------------------------------------------

  it('S-18 page request for a PASID nobody attached', () => {
    // A sends a page request with PASID 9 (never bound), not last. (R-SVA-63)
    const w = svaWorld();
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    openOk(w.drvA, P); // PASID 1: A's PRI and fault plumbing are on
    const groups0 = core.stats.get('iommu.fault_groups');
    iommu.prqPaused = true;
    expect(
      A.dev.sendPageRequest({ pasid: 9, vpn: 0x4000, perm: IOMMU_FAULT_PERM_READ, index: 12, last: false }),
    ).toBe(0);
    expect(
      responsesFor(iommu, (r) => r.index === 12),
      'nothing answered before the IOMMU driver reports it',
    ).toEqual([]);
    iommu.handlePrq(); // the IOMMU driver's page-request thread reports it to the core
    // Answered INVALID at once (no simulator run), EINVAL to the IOMMU driver, no handler, no partial.
    expect(
      responsesFor(iommu, (r) => r.index === 12).map((r) => [r.pasid, r.code, r.by]),
      'immediate INVALID',
    ).toEqual([[9, IOMMU_PAGE_RESP_INVALID, 'software']]);
    expect(iommu.faultReportErrors, 'EINVAL reported to the IOMMU driver').toBe(1);
    expect(A.dev.iopf!.partial, 'no partial stored').toEqual([]);
    expect(iommu.iopfQueue.queued, 'no handler work queued').toBe(0);
    expect(core.stats.get('iommu.fault_groups'), 'no fault group').toBe(groups0);
    // The core's reporting entry itself returns -EINVAL for such a request.
    const rc = iommuReportDeviceFault(A.dev, {
      pasid: 9,
      vpn: 0x4000,
      perm: IOMMU_FAULT_PERM_READ,
      grpid: 13,
      flags: IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
    });
    expect(rc, 'iommuReportDeviceFault').toBe(-EINVAL);
    expect(A.dev.iopf!.partial, 'still no partial').toEqual([]);
    expect(
      responsesFor(iommu, (r) => r.index === 13).map((r) => r.code),
      'answered INVALID',
    ).toEqual([IOMMU_PAGE_RESP_INVALID]);
    iommu.resumePrq();
    w.core.runUntilIdle();
    expect(iommu.iopfQueue.queued, 'no handler ran').toBe(0);
    expect(core.stats.get('iommu.fault_groups'), 'still no fault group').toBe(groups0);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-19 -------------------------------------------------------------------------------------

  it('S-19 Response Failure stops PRI on the device', () => {
    // Fault-inject a group-allocation failure for A's next complete group. (R-SVA-66, R-SVA-115)
    const w = svaWorld();
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P).ctx.pasid).toBe(1);
    const present = mapAnon(P, 1);
    expect(P.write(present, bytes(1, 3)).signal).toBe(0);
    const untouched = mapAnon(P, 2);
    core.inject.groupAllocFailures = 1;
    const failed = dma(A, { pasid: 1, op: 'write', addr: untouched, length: PAGE_SIZE, data: bytes(1, 4) });
    expect(
      responsesFor(iommu, (r) => r.index === failed.waitKey).map((r) => r.code),
      'response to the group that could not be allocated',
    ).toEqual([IOMMU_PAGE_RESP_FAILURE]);
    expect(failed.error, 'the job whose group failed').toBe('FAILURE');
    expect(A.dev.priResponseFailure, 'A sets Response Failure').toBe(true);
    // No more page requests until PRI is reset: other work that needs faults fails.
    const sent = A.dev.pageRequestsSent;
    const needsFault = dma(A, {
      pasid: 1,
      op: 'write',
      addr: untouched + PAGE_SIZE,
      length: PAGE_SIZE,
      data: bytes(1, 5),
    });
    expect(needsFault.status, 'work needing a fault').toBe('error');
    expect(needsFault.error, 'work needing a fault').toBe('PRI_UNAVAILABLE');
    expect(A.dev.pageRequestsSent, 'no page request sent while Response Failure is set').toBe(sent);
    expect(
      A.dev.sendPageRequest({
        pasid: 1,
        vpn: vpnOf(untouched),
        perm: IOMMU_FAULT_PERM_WRITE,
        index: 40,
        last: true,
      }),
      'page request while Response Failure is set',
    ).toBeLessThan(0);
    // Accesses that hit present pages continue.
    const hit = dma(A, { pasid: 1, op: 'read', addr: present, length: PAGE_SIZE });
    expect(hit.status, 'access to a present page').toBe('done');
    expect(Buffer.from(hit.data!).equals(Buffer.from(bytes(1, 3))), 'data of the present page').toBe(true);
    // Software resets PRI (disabled, reset, enabled again, R-SVA-116): faults work again.
    A.dev.priDisable();
    A.dev.priReset();
    expect(A.dev.priEnable(), 'PRI re-enabled').toBe(true);
    expect(A.dev.priResponseFailure, 'status cleared').toBe(false);
    const after = dma(A, {
      pasid: 1,
      op: 'write',
      addr: untouched + PAGE_SIZE,
      length: PAGE_SIZE,
      data: bytes(1, 5),
    });
    expect(after.status, 'work needing a fault after the reset').toBe('done');
    expect(Buffer.from(P.read(untouched + PAGE_SIZE, PAGE_SIZE).data).equals(Buffer.from(bytes(1, 5)))).toBe(
      true,
    );
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-20 -------------------------------------------------------------------------------------

  it('S-20 (a) a stop marker is dropped: no response, nothing queued', () => {
    // A runs stopPasid(1) using a stop marker. (R-SVA-61, R-SVA-117)
    const w = svaWorld();
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P).ctx.pasid).toBe(1);
    const sent = A.dev.pageRequestsSent;
    const markers = core.stats.get('iommu.stop_markers');
    const groups = core.stats.get('iommu.fault_groups');
    A.dev.stopPasid(1, 'marker');
    expect(A.dev.pageRequestsSent, 'the marker was sent').toBe(sent + 1);
    w.core.runUntilIdle();
    expect(core.stats.get('iommu.stop_markers'), 'the IOMMU driver saw a stop marker').toBe(markers + 1);
    expect(iommu.responsesSent, 'no response').toEqual([]);
    expect(A.dev.responsesReceived, 'A received nothing').toEqual([]);
    expect(iommu.prq, 'hardware queue').toEqual([]);
    expect(A.dev.iopf!.partial, 'no partial').toEqual([]);
    expect(A.dev.iopf!.faults.size, 'no pending group').toBe(0);
    expect(iommu.iopfQueue.queued, 'no handler work').toBe(0);
    expect(core.stats.get('iommu.fault_groups'), 'no fault group').toBe(groups);
    expect(iommu.faultReportErrors, 'not reported to the core').toBe(0);
    exitAll(w);
    expectNoLeaks(w);
  });

  it('S-20 (b) a device without PRG-response-PASID-required gets the PASID anyway under VT-d', () => {
    // Device A0 with prgRespPasidRequired = 0 faults with PASID 1: the VT-d response carries the
    // PASID (Linux echoes it); one "device undefined behavior" diagnostic; A0 still completes the
    // group. (R-SVA-78, R-SVA-114)
    const w = svaWorld({ deviceA: { prgRespPasidRequired: false } });
    const { A, iommu, core } = w;
    expect(A.dev.prgRespPasidRequired).toBe(false);
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P).ctx.pasid).toBe(1);
    const v = mapAnon(P, 1);
    const job = dma(A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: bytes(1, 6) });
    expect(job.pageRequests, 'one page-request group').toBe(1);
    expect(
      iommu.responsesSent.map((r) => [r.pasid, r.index, r.code]),
      'the response carries PASID 1',
    ).toEqual([[1, job.waitKey, IOMMU_PAGE_RESP_SUCCESS]]);
    expect(
      A.dev.responsesReceived.map((r) => r.pasid),
      'A received the PASID',
    ).toEqual([1]);
    expect(
      core.diagnostics.filter((d) => d.kind === 'device-ub' && d.dev === 'A'),
      'one device-UB diagnostic',
    ).toHaveLength(1);
    expect(A.dev.priUnexpectedIndex, 'A matched the response').toBe(false);
    expect(job.status, 'A completes the group and the work').toBe('done');
    expect(Buffer.from(P.read(v, PAGE_SIZE).data).equals(Buffer.from(bytes(1, 6))), 'the write landed').toBe(
      true,
    );
    exitAll(w);
    expectNoLeaks(w);
  });

  it('S-20 (c) a response for no outstanding group sets Unexpected PRG Index and is discarded', () => {
    // A response with an index A has no outstanding group for sets A's Unexpected PRG Index status
    // and is discarded. (R-SVA-115)
    const w = svaWorld();
    const { A, iommu } = w;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P).ctx.pasid).toBe(1);
    const v = mapAnon(P, 1);
    // One real group outstanding (its handler work held back).
    iommu.iopfQueue.paused = true;
    const job = submit(A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: bytes(1, 7) });
    w.core.runUntilIdle();
    expect(job.status).toBe('waiting-pri');
    const outstanding = A.dev.priOutstanding;
    const bogus = (job.waitKey + 100) % 512;
    iommu.sendPageResponse(
      A.dev,
      {
        pasid: 1,
        vpn: vpnOf(v),
        perm: IOMMU_FAULT_PERM_WRITE,
        grpid: bogus,
        flags:
          IOMMU_FAULT_PAGE_REQUEST_PASID_VALID |
          IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE |
          IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
      },
      IOMMU_PAGE_RESP_SUCCESS,
    );
    w.core.runUntilIdle();
    expect(A.dev.priUnexpectedIndex, 'Unexpected PRG Index set').toBe(true);
    expect(A.dev.priOutstanding, 'discarded: outstanding requests unchanged').toBe(outstanding);
    expect(job.status, 'discarded: the waiting work is untouched').toBe('waiting-pri');
    iommu.iopfQueue.resume();
    w.core.runUntilIdle();
    expect(job.status, 'the real response still completes the group').toBe('done');
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-21 -------------------------------------------------------------------------------------

  it('S-21 page-request queue overflow', () => {
    // The IOMMU's page-request queue holds 4 entries and software is not consuming it; A emits a
    // 6-request group with index 3. (R-SVA-67)
    const w = svaWorld({ iommu: { prqDepth: 4 } });
    const { iommu, core } = w;
    // A's engine asks for up to 6 pages per group.
    const A6 = new DmaAccelerator(w.A.dev, { pagesPerGroup: 6 });
    const drv = new AccelDriver(A6);
    const P = w.kernel.spawn();
    expect(openOk(drv, P).ctx.pasid).toBe(1);
    // B shares the IOPF queue and has a partial of its own before the overflow.
    expect(openOk(w.drvB, P).ctx.pasid).toBe(1);
    const warm = mapAnon(P, 3);
    for (let i = 0; i < 3; i++) {
      // Groups 0..2, so that the next group of A has index 3.
      expect(
        dma(A6, {
          pasid: 1,
          op: 'write',
          addr: warm + i * PAGE_SIZE,
          length: PAGE_SIZE,
          data: bytes(1, 30 + i),
        }).status,
      ).toBe('done');
    }
    const other = mapAnon(P, 1);
    expect(
      w.B.dev.sendPageRequest({
        pasid: 1,
        vpn: vpnOf(other),
        perm: IOMMU_FAULT_PERM_READ,
        index: 9,
        last: false,
      }),
    ).toBe(0);
    w.core.runUntilIdle();
    expect(w.B.dev.iopf!.partial.length, 'B partial stored').toBe(1);

    const v = mapAnon(P, 6);
    const data = bytes(6, 40);
    iommu.prqPaused = true;
    const software0 = responsesFor(iommu, (r) => r.by === 'software').length;
    const job = submit(A6, { pasid: 1, op: 'write', addr: v, length: 6 * PAGE_SIZE, data });
    w.kernel.events.step(); // the job's first step: 6 page requests
    expect(job.waitKey, 'group index').toBe(3);
    // Requests 1-4 queued, 5 and 6 dropped, overflow flag set.
    expect(
      iommu.prq.map((e) => [e.dev.name, e.fault.vpn, e.fault.grpid]),
      'hardware queue',
    ).toEqual([0, 1, 2, 3].map((i) => ['A', vpnOf(v) + i, 3]));
    expect(iommu.prqOverflow, 'overflow flag').toBe(true);
    // The hardware answered Success for index 3 because request 6 was the last of its group.
    expect(
      responsesFor(iommu, (r) => r.index === 3).map((r) => [r.code, r.by]),
      'hardware response for group 3',
    ).toEqual([[IOMMU_PAGE_RESP_SUCCESS, 'hardware']]);

    // Software consumes 1-4 as partials, finds the queue empty with the overflow flag set, discards
    // every partial on the IOPF queue and clears the flag.
    const partialVpns: number[] = [];
    const partial = w.A.dev.iopf!.partial;
    const push = partial.push.bind(partial);
    partial.push = (...items) => {
      for (const f of items) partialVpns.push(f.vpn);
      return push(...items);
    };
    const groups0 = core.stats.get('iommu.fault_groups');
    iommu.handlePrq();
    Reflect.deleteProperty(partial, 'push');
    expect(partialVpns, 'requests 1-4 consumed as partials').toEqual([0, 1, 2, 3].map((i) => vpnOf(v) + i));
    expect(iommu.prq, 'hardware queue consumed').toEqual([]);
    expect(iommu.prqOverflow, 'overflow flag cleared').toBe(false);
    expect(w.A.dev.iopf!.partial, 'A partials discarded').toEqual([]);
    expect(w.B.dev.iopf!.partial, 'B partials discarded too (same IOPF queue)').toEqual([]);
    expect(core.stats.get('iommu.fault_groups'), 'no group formed').toBe(groups0);

    // A re-translates, is not granted, and sends a fresh group that is handled normally.
    // (Bounded run: a fresh group that overflows again would retry forever.)
    iommu.prqPaused = false;
    let notIdle: string | null = null;
    try {
      w.kernel.runUntilIdle({ maxEvents: 100_000 });
    } catch (e) {
      notIdle = String(e);
    }
    expect(job.pageRequests, 'A sent a fresh group after the hardware Success').toBeGreaterThanOrEqual(2);
    // No software response for group 3 was ever sent.
    expect(
      responsesFor(iommu, (r) => r.index === 3 && r.by === 'software'),
      'software responses for group 3',
    ).toEqual([]);
    const overflows = core.stats.get('iommu.prq_overflows');
    expect(
      notIdle,
      `the fresh group is handled normally (page-request queue overflows: ${overflows})`,
    ).toBeNull();
    expect(job.pageRequests, 'exactly one fresh group').toBe(2);
    expect(job.status, 'the fresh group was handled and the work completed').toBe('done');
    expect(Buffer.from(P.read(v, 6 * PAGE_SIZE).data).equals(Buffer.from(data)), 'the writes landed').toBe(
      true,
    );
    expect(
      responsesFor(iommu, (r) => r.by === 'software').length,
      'one software response: the fresh group',
    ).toBe(software0 + 1);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-22 -------------------------------------------------------------------------------------

  it('S-22 stall device (SMMU flavour)', () => {
    // Platform device S (stall-capable, one stream ID) bound to P with PASID 1 reads untouched v.
    // Then P exits. (R-SVA-85..89, R-SVA-121)
    const w = svaWorld();
    const smmu = w.core.addIommu({ flavour: 'smmu', recordCommands: true });
    const sdev = smmu.addDevice({ name: 'S', bus: 'platform', stall: true, maxPasids: 1 << 20 });
    const S = new DmaAccelerator(sdev);
    const P = w.kernel.spawn();
    const bond = iommuSvaBindDevice(sdev, P.mm!);
    if (typeof bond === 'number') throw new Error(`bind S: ${bond}`);
    expect(iommuSvaGetPasid(bond), 'S PASID').toBe(1);
    const v = mapAnon(P, 1);

    smmu.prqPaused = true;
    const job = submit(S, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    w.core.runUntilIdle();
    // The transaction stalls; an event with stall tag t is queued.
    expect(job.status, 'the read stalls').toBe('stalled');
    const t = job.waitKey;
    expect(smmu.prq.length, 'one stall event').toBe(1);
    const ev = smmu.prq[0];
    expect(ev.dev, 'event device').toBe(sdev);
    expect([ev.fault.pasid, ev.fault.vpn, ev.fault.grpid], 'event: PASID, address, tag').toEqual([
      1,
      vpnOf(v),
      t,
    ]);
    expect(ev.fault.perm & IOMMU_FAULT_PERM_READ, 'read').toBeTruthy();
    expect(ev.fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, 'group of one: last set').toBeTruthy();
    expect(ev.fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID, 'substream valid').toBeTruthy();
    const groups0 = w.core.stats.get('iommu.fault_groups');
    smmu.resumePrq();
    w.core.runUntilIdle();
    // Group of one -> handler populates -> RESUME retry for t -> the read completes.
    expect(w.core.stats.get('iommu.fault_groups'), 'one group').toBe(groups0 + 1);
    expect(
      smmu.responsesSent.map((r) => [r.index, r.code]),
      'one response for tag t',
    ).toEqual([[t, IOMMU_PAGE_RESP_SUCCESS]]);
    expect(
      (smmu.commands ?? []).filter((c) => c.op === 'resume').map((c) => [c.dev, c.tag, c.detail]),
      'RESUME retry for t',
    ).toEqual([['S', t, 'retry']]);
    expect(job.status, 'the read completes').toBe('done');
    expect(job.stalls, 'stalled once').toBe(1);
    expect(job.data, 'an untouched anonymous page reads zeros').toEqual(new Uint8Array(PAGE_SIZE));
    expect(P.mm!.pt.pteTable(vpnOf(v)), 'the handler populated the page table').not.toBeNull();

    // P exits: S's descriptor turns quiet; its next access aborts at once, no event, no stall.
    P.exit();
    const entry = sdev.pasidTable!.peek(1)!;
    expect(entry.state, 'S descriptor for PASID 1').toBe('QUIESCED');
    expect(entry.stall, 'quiet descriptor: stall cleared').toBe(false);
    expect(entry.reportsFaults, 'quiet descriptor: fault reporting cleared').toBe(false);
    const events0 = w.core.stats.get('iommu.page_requests');
    const faults0 = smmu.faultLog.length;
    const next = submit(S, { pasid: 1, op: 'read', addr: v, length: PAGE_SIZE });
    w.kernel.events.step(); // the job's first (and only) step
    expect(next.status, 'next access').toBe('error');
    expect(next.error, 'next access aborts').toBe('ABORT');
    expect(next.stalls, 'no stall').toBe(0);
    expect(smmu.prq, 'no event queued').toEqual([]);
    expect(w.core.stats.get('iommu.page_requests'), 'no event').toBe(events0);
    expect(smmu.faultLog.length, 'no fault record').toBe(faults0);
    w.core.runUntilIdle();
    iommuSvaUnbindDevice(bond);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-23 -------------------------------------------------------------------------------------

  it('S-23 device removal with pending groups', () => {
    // A has two groups pending a response (handler work queued) when A's last fault-handling
    // attachment goes away through device removal. (R-SVA-75, R-SVA-76)
    const w = svaWorld();
    const { A, iommu } = w;
    const P = w.kernel.spawn();
    expect(openOk(w.drvA, P).ctx.pasid).toBe(1);
    const v = mapAnon(P, 3);
    iommu.iopfQueue.paused = true;
    const j1 = submit(A, { pasid: 1, op: 'write', addr: v, length: PAGE_SIZE, data: bytes(1, 50) });
    const j2 = submit(A, {
      pasid: 1,
      op: 'write',
      addr: v + PAGE_SIZE,
      length: PAGE_SIZE,
      data: bytes(1, 51),
    });
    expect(
      A.dev.sendPageRequest({
        pasid: 1,
        vpn: vpnOf(v) + 2,
        perm: IOMMU_FAULT_PERM_WRITE,
        index: 77,
        last: false,
      }),
    ).toBe(0);
    w.core.runUntilIdle();
    expect(A.dev.iopf!.faults.size, 'two groups pending').toBe(2);
    expect(A.dev.iopf!.partial.length, 'one partial').toBe(1);
    expect(iommu.iopfQueue.queued, 'handler work queued').toBe(2);
    const indices = [j1.waitKey, j2.waitKey];

    w.drvA.remove();
    // Both groups answered INVALID at once; partials discarded (never answered).
    for (const index of indices) {
      expect(
        responsesFor(iommu, (r) => r.index === index).map((r) => r.code),
        `group ${index} answered at removal`,
      ).toEqual([IOMMU_PAGE_RESP_INVALID]);
    }
    expect(A.dev.iopf, 'A is off the IOPF queue').toBeNull();
    expect(A.dev.iopfRefcount, 'no fault-handling attachment left').toBe(0);
    expect(A.dev.pasidTable!.state(1), 'entry 1').toBe('ABSENT');
    // When the queued handler work later runs it sends nothing.
    const sent = iommu.responsesSent.length;
    iommu.iopfQueue.resume();
    w.core.runUntilIdle();
    expect(iommu.iopfQueue.queued, 'the queued work ran').toBe(0);
    expect(iommu.responsesSent.length, 'the late handler work sent nothing').toBe(sent);
    for (const index of indices) {
      expect(
        responsesFor(iommu, (r) => r.index === index),
        `exactly one response for group ${index}`,
      ).toHaveLength(1);
    }
    expect(
      responsesFor(iommu, (r) => r.index === 77),
      'the discarded partial is never answered',
    ).toEqual([]);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-24 -------------------------------------------------------------------------------------

  it('S-24 exec drops the PASID', () => {
    // P bound on A with PASID 1 calls exec. (R-SVA-107)
    const w = svaWorld();
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    const { fd, ctx } = openOk(w.drvA, P);
    expect(ctx.pasid).toBe(1);
    const v = mapAnon(P, 2);
    expect(P.write(v, bytes(2, 60)).signal).toBe(0);
    expect(dma(A, { pasid: 1, op: 'read', addr: v, length: 2 * PAGE_SIZE }).status).toBe('done');
    expect(cached(A.dev.atc, 1).length, 'ATC warm').toBeGreaterThan(0);
    const oldMm = P.mm!;
    P.exec();
    // The new image has no PASID.
    expect(P.mm, 'a new mm').not.toBe(oldMm);
    expect(mmGetPasid(core, P.mm!), 'new image PASID').toBe(PASID_INVALID);
    expect(iommuMmData(core, P.mm!), 'new image SVA data').toBeNull();
    // The old mm is torn down as in S-14: entry QUIESCED, caches empty, bond defunct, no driver call.
    expect(oldMm.users, 'old mm users').toBe(0);
    expect(oldMm.torndown, 'old mm torn down').toBe(true);
    expect(oldMm.freed, 'old mm object kept by the bond').toBe(false);
    expect(A.dev.pasidTable!.state(1), 'entry 1').toBe('QUIESCED');
    expect(cached(A.dev.atc, 1), 'ATC for 1').toEqual([]);
    expect(cached(iommu.iotlb, 1), 'IOTLB for 1').toEqual([]);
    expect(core.pasidState(1), 'PASID 1 (bond BOUND_DEFUNCT)').toBe('DEFUNCT');
    expect(ctx.released, 'no driver callback').toBe(false);
    expect(ctx.bond.detached, 'bond still there').toBe(false);
    expect(ctx.bond.users, 'bond users').toBe(1);
    expect(iommuAtsTranslate(A.dev, 1, vpnOf(v), ACCESS_READ, true), 'ATS for 1').toBe(ATS_UR);
    // The new image opens A's driver: a new PASID, 2, since 1 is still held.
    const fresh = openOk(w.drvA, P);
    expect(fresh.ctx.pasid, 'new image PASID on A').toBe(2);
    expect(mmGetPasid(core, P.mm!), 'new image owns 2').toBe(2);
    // The driver unbinds the old bond when its file goes; PASID 1 comes back after the grace period.
    expect(P.close(fd)).toBe(0);
    expect(ctx.bond.detached, 'old bond unbound').toBe(true);
    expect(A.dev.pasidTable!.state(1), 'entry 1 after unbind').toBe('ABSENT');
    core.runUntilIdle();
    expect(core.pasidState(1), 'PASID 1 after the old mm is destroyed').toBe('FREE');
    expect(oldMm.freed, 'old mm destroyed').toBe(true);
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });

  // ---- S-25 -------------------------------------------------------------------------------------

  it('S-25 option drvdataLookup: driver data and mm lookups by PASID', () => {
    // bind(A, P.mm, drvdata D) -> iommuSvaFindDrvdata(A, 1) = D; after unbind -> null; after P's
    // exit but before unbind, iommuSvaFindMm(1) = null while the drvdata lookup still returns D.
    // (R-SVA-132)
    const w = svaWorld({ sva: { drvdataLookup: true } });
    const { A, core } = w;
    const P = w.kernel.spawn();
    const D = { driver: 'D' };
    const b1 = iommuSvaBindDevice(A.dev, P.mm!, D);
    if (typeof b1 === 'number') throw new Error(`bind: ${b1}`);
    expect(iommuSvaGetPasid(b1)).toBe(1);
    expect(iommuSvaFindDrvdata(A.dev, 1), 'drvdata while bound').toBe(D);
    iommuSvaUnbindDevice(b1);
    expect(iommuSvaFindDrvdata(A.dev, 1), 'drvdata after unbind').toBeNull();

    const b2 = iommuSvaBindDevice(A.dev, P.mm!, D);
    if (typeof b2 === 'number') throw new Error(`bind: ${b2}`);
    expect(iommuSvaGetPasid(b2), 're-bind keeps PASID 1').toBe(1);
    const mm = P.mm!;
    const users = mm.users;
    const found = iommuSvaFindMm(core, 1);
    expect(found, 'mm lookup while P lives').toBe(mm);
    expect(mm.users, 'the lookup took a temporary users reference').toBe(users + 1);
    mm.mmput();
    P.exit();
    expect(iommuSvaFindMm(core, 1), 'mm lookup after exit').toBeNull();
    expect(mm.users, 'no reference taken on a dead mm').toBe(0);
    expect(iommuSvaFindDrvdata(A.dev, 1), 'drvdata after exit, before unbind').toBe(D);
    iommuSvaUnbindDevice(b2);
    expect(iommuSvaFindDrvdata(A.dev, 1), 'drvdata after the final unbind').toBeNull();
    core.runUntilIdle();
    expect(core.pasidState(1)).toBe('FREE');
    expectNoLeaks(w);
  });

  it('S-25 option multiPasidPerMm: extra PASIDs multiply ATS invalidations', () => {
    // P gets PASIDs 1 and 2 on A; one munmap sends two ATS invalidations to A (one per PASID);
    // unbinding the extra bond frees 2 while P lives. (R-SVA-133, R-SVA-94)
    const w = svaWorld({ sva: { multiPasidPerMm: true } });
    const { A, iommu, core } = w;
    const P = w.kernel.spawn();
    const b1 = iommuSvaBindDevice(A.dev, P.mm!);
    if (typeof b1 === 'number') throw new Error(`bind: ${b1}`);
    const b2 = iommuSvaBindDeviceExtra(A.dev, P.mm!);
    if (typeof b2 === 'number') throw new Error(`bind extra: ${b2}`);
    expect([iommuSvaGetPasid(b1), iommuSvaGetPasid(b2)], 'P PASIDs on A').toEqual([1, 2]);
    const v = mapAnon(P, 1);
    expect(P.write(v, bytes(1, 70)).signal).toBe(0);
    for (const pasid of [1, 2]) {
      const job = dma(A, { pasid, op: 'read', addr: v, length: PAGE_SIZE });
      expect(job.status, `read with PASID ${pasid}`).toBe('done');
      expect(
        Buffer.from(job.data!).equals(Buffer.from(bytes(1, 70))),
        `same page tables for PASID ${pasid}`,
      ).toBe(true);
    }
    const mark = iommu.commands!.length;
    const received = A.dev.atsInvalidationsReceived;
    expect(P.munmap(v, PAGE_SIZE)).toBe(0);
    const inv = commandsSince(iommu, mark).filter((c) => c.op === 'devtlb-inv' && c.dev === 'A');
    expect(inv.map((c) => c.pasid).sort(), 'one ATS invalidation per PASID').toEqual([1, 2]);
    for (const c of inv) {
      expect(
        c.startVpn! <= vpnOf(v) && c.endVpn! > vpnOf(v),
        `invalidation for PASID ${c.pasid} covers v`,
      ).toBe(true);
    }
    expect(A.dev.atsInvalidationsReceived - received, 'ATS invalidations A received').toBe(2);
    expect(cached(A.dev.atc, 1), 'ATC for 1').toEqual([]);
    expect(cached(A.dev.atc, 2), 'ATC for 2').toEqual([]);
    // Unbinding the extra bond frees 2 while P lives.
    iommuSvaUnbindDevice(b2);
    expect(P.alive).toBe(true);
    expect(core.pasidState(2), 'extra PASID after its unbind').toBe('FREE');
    expect(core.pasidState(1), 'P main PASID').toBe('BOUND');
    expect(A.dev.pasidTable!.state(2), 'entry 2').toBe('ABSENT');
    iommuSvaUnbindDevice(b1);
    expectClean(w);
    exitAll(w);
    expectNoLeaks(w);
  });
});
