// The race finder on the real PASID accelerator and its driver (src/devices/accel): the driver's
// open, submit and release are step programs and the device's work runs as the kernel's events,
// so the explorer interleaves the driver's own code with the DMA, the page requests and the I/O
// page-fault work. The shipped driver passes under every strategy; a release written here that
// unbinds without stopping the PASID on the device (swapped in for the test) lets queued work
// outlive the PASID's owner and is caught as pasid-reuse. Plain calls behave as they always did.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DmaAccelerator, DmaJob } from '../../devices/accel/accelerator.js';
import { AccelDriver, type AccelContext } from '../../devices/accel/driver.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { OpenFile } from '../../mm/file.js';
import type { Task } from '../../mm/task.js';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { type Program, runToCompletion, step } from '../../sim/steps.js';
import { mapAnon, svaWorld } from '../../../test/svaHarness.js';
import { explore, replaySchedule, type Strategy } from './explore.js';
import { loadExploreScenario } from './scenario.js';
import { KERNEL_ACTOR, runSchedule } from './schedule.js';
import { randomChooser } from './strategies.js';
import type { DmaAccelOp, WorldSpec } from './world.js';

const STRATEGIES: readonly Strategy[] = ['random', 'pct', 'exhaustive'];

const open: DmaAccelOp = { op: 'open' };
const close: DmaAccelOp = { op: 'close' };
const dma = (page: number, write: boolean): DmaAccelOp => ({ op: 'dma', page, pages: 1, write });

/** examples/explore/accel-real-driver.yaml: a exits, so its PASID may go to b or app. */
const spec: WorldSpec = {
  pages: 2,
  devices: [],
  dmaAccels: ['dsa0'],
  processes: ['app', 'a', 'b'],
  actors: [
    // app's region: its DMA then goes through page requests and I/O page-fault work.
    { name: 'cpu', cpu: [{ op: 'dontneed', first: 0, pages: 2 }] },
    {
      name: 'app',
      dmaAccel: 'dsa0',
      process: 'app',
      dmaOps: [open, dma(0, true), dma(1, false), { op: 'wait' }, close],
    },
    { name: 'a', dmaAccel: 'dsa0', process: 'a', dmaOps: [open, dma(0, true), close, { op: 'exit' }] },
    { name: 'b', dmaAccel: 'dsa0', process: 'b', dmaOps: [open, dma(0, false), close] },
  ],
};

/** What the test's release needs of the driver's private parts. */
interface DriverInternals {
  forgetContext(file: OpenFile): { ctx: AccelContext; last: boolean };
  drainErrors(pasid: number): void;
  unbindContext(ctx: AccelContext): void;
  readonly releasing: Set<AccelContext>;
}

/**
 * The release without stopping the PASID on the device: work queued with the PASID stays queued
 * after the unbind, and runs once the PASID stands for another process's address space.
 */
function* releaseWithoutStop(this: AccelDriver, file: OpenFile): Program {
  const driver = this as unknown as DriverInternals;
  const { ctx } = driver.forgetContext(file);
  yield step(`${this.accel.name}: drain the error log of PASID ${ctx.pasid}`);
  driver.drainErrors(ctx.pasid);
  yield step(`${this.accel.name}: iommu_sva_unbind_device (PASID ${ctx.pasid})`, { invalidates: true });
  driver.unbindContext(ctx);
  driver.releasing.delete(ctx);
}

const labelsOf = (r: { steps: readonly { actor: number; label: string }[]; names: readonly string[] }) =>
  r.steps.map((t) => `${r.names[t.actor]}|${t.label}`);

describe('the explorer on the real accelerator driver', () => {
  afterEach(() => vi.restoreAllMocks());

  it('finds no violation in the shipped driver under every strategy', () => {
    for (const strategy of STRATEGIES) {
      const r = explore(spec, { strategy, schedules: 1000, seed: 1 });
      expect(r.failure?.violation.message ?? null, strategy).toBeNull();
      expect(r.schedules, strategy).toBe(1000);
    }
  });

  it('catches a release that unbinds without stopping the PASID: queued work reaches the next owner', () => {
    vi.spyOn(AccelDriver.prototype, 'releaseSteps').mockImplementation(releaseWithoutStop);
    for (const strategy of STRATEGIES) {
      const r = explore(spec, { strategy, schedules: 1000, seed: 1 });
      const failure = r.failure!;
      expect(failure, `${strategy}: nothing found`).not.toBeNull();
      expect(failure.violation.kind, failure.violation.message).toBe('pasid-reuse');
      expect(failure.violation.message).toMatch(
        /^dsa0 translates page 0 for job \d+, queued for a \(mm \d+\) with PASID (\d+), but PASID \1 now stands for (b|app) \(mm \d+\): the DMA reaches the wrong process$/,
      );
      // The driver's own steps are in the schedule: a's bind, queueing and unbind, the next
      // owner's bind, then the device's work as a kernel step.
      const labels = labelsOf(failure);
      expect(labels, strategy).toEqual(
        expect.arrayContaining([
          'a|dsa0: iommu_sva_bind_device',
          'a|dsa0: queue dma write (fd 3)',
          expect.stringMatching(/^a\|dsa0: iommu_sva_unbind_device \(PASID \d+\)$/),
          'a|a: exit',
        ]),
      );
      expect(labels.at(-1), strategy).toMatch(/^kernel\|kernel: dsa0\/dma at \d+ ns$/);
      expect(labels.some((l) => l.startsWith('a|') && l.includes('stop PASID'))).toBe(false);
      const replayed = replaySchedule(spec, failure.schedule);
      expect(replayed.violation?.message, strategy).toBe(failure.violation.message);
    }
  });

  it('names each kernel step after the event it runs: DMA, page requests, fault work, responses', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const r = runSchedule(spec, randomChooser(seed));
      expect(r.violation?.message ?? null).toBeNull();
      for (const t of r.steps) {
        if (r.names[t.actor] === KERNEL_ACTOR) seen.add(t.label.replace(/ at \d+ ns$/, ''));
      }
    }
    expect([...seen].sort()).toEqual([
      'kernel: dsa0/dma',
      'kernel: dsa0/link',
      'kernel: end of invalidation',
      'kernel: iommu0/iopf',
      'kernel: iommu0/prq',
    ]);
  });

  it('a schedule runs the kernel until no event is left: no job is left unfinished at the end', () => {
    for (let seed = 0; seed < 50; seed++) {
      const r = runSchedule(spec, randomChooser(seed));
      expect(r.violation?.message ?? null).toBeNull();
      // After its last step, nothing is left for the kernel (else it would still be enabled).
      const kernelSteps = r.steps.filter((t) => r.names[t.actor] === KERNEL_ACTOR).length;
      expect(kernelSteps).toBeGreaterThanOrEqual(2);
    }
  });

  it('reports a job still waiting at the end: a page response that never came', () => {
    // The device drops every page response: app's jobs wait for ever once the events run out.
    vi.spyOn(DmaAccelerator.prototype, 'pageResponse').mockImplementation(() => {});
    const lost: WorldSpec = {
      ...spec,
      actors: [
        spec.actors[0],
        { name: 'app', dmaAccel: 'dsa0', process: 'app', dmaOps: [open, dma(0, true)] },
      ],
    };
    const r = runSchedule(lost, { choose: (enabled) => enabled[0] });
    expect(r.violation?.kind).toBe('audit');
    expect(r.violation?.message).toBe(
      'dsa0 still has 1 unfinished job(s) at the end, with no event left to run them: a page response that never came',
    );
    // A process that waits for its job is stuck instead: a deadlock naming it.
    const waits: WorldSpec = {
      ...lost,
      actors: [spec.actors[0], { ...lost.actors[1], dmaOps: [open, dma(0, true), { op: 'wait' }, close] }],
    };
    const w = runSchedule(waits, { choose: (enabled) => enabled[0] });
    expect(w.violation?.kind).toBe('deadlock');
    expect(w.violation?.message).toBe('no actor can go on: app at "app: wait for its DMA"');
  });

  it('I/O page-fault work waits for driver locks, as an invalidating step does (beside the real dmirror)', () => {
    // app's DMA writes pages dmirror faulted in read-only (the zero page): the fault work breaks
    // copy-on-write, which calls dmirror's invalidate callback, which takes dmirror's mutex.
    const mixed: WorldSpec = {
      pages: 2,
      devices: [],
      dmirrors: ['dm0'],
      dmaAccels: ['dsa0'],
      actors: [
        { name: 'cpu', cpu: [{ op: 'dontneed', first: 0, pages: 2 }] },
        { name: 'read0', dmirror: 'dm0', fault: { first: 0, pages: 2, write: false } },
        { name: 'app', dmaAccel: 'dsa0', dmaOps: [open, { op: 'dma', page: 0, pages: 2, write: true }] },
        { name: 'read1', dmirror: 'dm0', fault: { first: 0, pages: 2, write: false } },
      ],
    };
    for (const strategy of STRATEGIES) {
      const r = explore(mixed, { strategy, schedules: 500, seed: 2 });
      expect(r.failure?.violation.message ?? null, strategy).toBeNull();
    }
  });

  it('a bind waits out an invalidation in flight on the mm (mmu_notifier_register)', () => {
    const r = replaySchedule(
      {
        pages: 2,
        devices: [],
        dmaAccels: ['dsa0'],
        actors: [
          { name: 'cpu', cpu: [{ op: 'dontneed', first: 0, pages: 2 }] },
          { name: 'app', dmaAccel: 'dsa0', dmaOps: [open] },
        ],
      },
      ['cpu', 'app', 'kernel', 'app'],
    );
    expect(r.violation).toBeNull();
    expect(labelsOf(r)).toEqual([
      'cpu|cpu: dontneed pages 0..1',
      'kernel|kernel: end of invalidation',
      'app|dsa0: iommu_sva_bind_device',
    ]);
  });
});

// ---- plain calls ---------------------------------------------------------------------------------

/**
 * One session on a fresh machine: p opens A, writes and reads a page by DMA, closes; q opens and
 * gets p's PASID once p has exited; q exits with its file open (the release runs inside exit).
 * `steps` runs the driver's step programs straight through instead of its plain methods.
 */
function session(steps: boolean) {
  const w = svaWorld();
  const run = <T>(program: Program<T>): T => runToCompletion(program, 'test');
  const openA = (task: Task) => (steps ? run(w.drvA.openSteps(task)) : w.drvA.open(task));
  const submitA = (task: Task, fd: number, op: 'read' | 'write', addr: number) => {
    const desc = { op, addr, length: PAGE_SIZE };
    return steps ? run(w.drvA.submitSteps(task, fd, desc)) : w.drvA.submit(task, fd, desc);
  };
  const closeA = (task: Task, fd: number) => (steps ? run(w.drvA.closeSteps(task, fd)) : task.close(fd));
  const p = w.kernel.spawn();
  const q = w.kernel.spawn();
  const addrP = mapAnon(p, 2);
  const addrQ = mapAnon(q, 2);
  const fdP = openA(p);
  const ctxP = w.drvA.contextOf(p, fdP)!;
  const write = submitA(p, fdP, 'write', addrP) as DmaJob;
  const read = submitA(p, fdP, 'read', addrP + PAGE_SIZE) as DmaJob;
  const badFd = submitA(p, 99, 'read', addrP);
  w.kernel.runUntilIdle();
  const queued = submitA(p, fdP, 'write', addrP) as DmaJob; // still queued at the close
  const closed = closeA(p, fdP);
  p.exit();
  w.kernel.runUntilIdle();
  const fdQ = openA(q);
  const ctxQ = w.drvA.contextOf(q, fdQ)!;
  const jobQ = submitA(q, fdQ, 'read', addrQ) as DmaJob;
  w.kernel.runUntilIdle();
  q.exit();
  w.kernel.runUntilIdle();
  const job = (j: DmaJob) => ({ id: j.id, status: j.status, error: j.error, bytes: j.bytesDone });
  return {
    fds: [fdP, fdQ],
    pasids: [ctxP.pasid, ctxQ.pasid],
    released: [ctxP.released, ctxQ.released],
    jobs: [write, read, queued, jobQ].map(job),
    badFd,
    closed,
    errorLog: w.A.errorLog.map((j) => j.id),
    table: w.A.dev.pasidTable!.state(ctxP.pasid),
    commands: w.iommu.commands,
    stats: w.kernel.stats.snapshot(),
    nowNs: w.kernel.engine.nowNs,
  };
}

describe('the driver as plain calls', () => {
  it('open, submit and release give the same results through the step programs', () => {
    const plain = session(false);
    expect(session(true)).toEqual(plain);
    expect(plain.fds).toEqual([3, 3]);
    expect(plain.pasids).toEqual([1, 1]);
    expect(plain.released).toEqual([true, true]);
    expect(plain.badFd).toBe(-9); // EBADF
    expect(plain.jobs.map((j) => j.status)).toEqual(['done', 'done', 'error', 'done']);
    expect(plain.jobs[2].error).toBe('STOPPED');
    expect(plain.table).toBe('ABSENT');
  });

  it('nobody watches the device unless asked: the observer is null', () => {
    const w = svaWorld();
    expect(w.A.observer).toBeNull();
  });

  it('a removal in the middle of a release unbinds once, and the release leaves the rest undone', () => {
    const w = svaWorld();
    const p = w.kernel.spawn();
    mapAnon(p, 1);
    const fd = w.drvA.open(p);
    const ctx = w.drvA.contextOf(p, fd)!;
    const close = w.drvA.closeSteps(p, fd);
    expect(close.next().value).toMatchObject({ label: `A: close(fd ${fd})` });
    expect(close.next().value).toMatchObject({ label: 'A: stop PASID 1' });
    w.drvA.remove();
    expect(ctx.bond.detached).toBe(true);
    expect(close.next()).toEqual({ done: true, value: 0 });
    expect(w.kernel.stats.get('sva.unbinds')).toBe(1);
    expect(w.drvA.open(p)).toBe(-19); // ENODEV
  });
});

// ---- the scenario file ---------------------------------------------------------------------------

const EXAMPLE = join(import.meta.dirname, '../../../examples/explore/accel-real-driver.yaml');
const noModules = () => Promise.reject(new Error('no user drivers here'));
const load = (text: string) => loadExploreScenario(text, 'scenarios/r.yaml', noModules);

async function loadError(text: string): Promise<string[]> {
  try {
    await load(text);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e instanceof InputErrorList ? e.errors : [e as InputError]).map((x) => x.message);
  }
  throw new Error('the scenario loaded without an error');
}

const HEADER = ['name: r', 'pages: 2', 'processes: [a, b]', 'dmaAccels: [dsa0]', 'actors:'];
const lines = (...l: string[]) => `${l.join('\n')}\n`;

describe('scenarios with the real accelerator', () => {
  it('the example loads as the spec explored above', async () => {
    const s = await loadExploreScenario(readFileSync(EXAMPLE, 'utf8'), EXAMPLE, noModules);
    expect(s.spec.dmaAccels).toEqual(spec.dmaAccels);
    expect(s.spec.processes).toEqual(spec.processes);
    expect(s.spec.actors).toEqual(spec.actors);
    expect(s.expect).toBe('clean');
  });

  it('operations are checked at line and column: device, process, pages, exit last', async () => {
    expect(
      await loadError(
        lines(
          ...HEADER,
          '  - { name: x, dmaAccel: dsa9, process: c, ops: [{ op: open }] }',
          '  - { name: y, dmaAccel: dsa0, ops: [{ op: exit }, { op: dma, page: 1, pages: 2 }] }',
        ),
      ),
    ).toEqual([
      'scenarios/r.yaml:6:26: actors[0].dmaAccel: expected one of the dmaAccels (dsa0), got dsa9',
      'scenarios/r.yaml:6:41: actors[0].process: expected one of the processes (a, b), got c',
      'scenarios/r.yaml:7:38: actors[1].ops[0]: expected exit as the last operation, got 1 after it',
      'scenarios/r.yaml:7:52: actors[1].ops[1]: expected pages inside the region (0..1), got page 2',
    ]);
    const op = await loadError(lines(...HEADER, '  - { name: x, dmaAccel: dsa0, ops: [{ op: mmap }] }'));
    expect(op).toHaveLength(1);
    expect(op[0]).toMatch(/^scenarios\/r\.yaml:6:\d+: actors\[0\]\.ops\[0\]\.op: /);
    expect(
      await loadError(
        lines(
          ...HEADER.slice(0, 3),
          'accels: [dsa0]',
          'dmaAccels: [dsa0]',
          'actors:',
          '  - { name: x, dmaAccel: dsa0, ops: [{ op: open }] }',
        ),
      ),
    ).toEqual([
      'scenarios/r.yaml:5:13: dmaAccels[0]: expected a device name no other accelerator has, got dsa0',
    ]);
  });
});
