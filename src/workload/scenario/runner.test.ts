// The scenario runner, checked on behaviour a wrong engine would get wrong: CPU threads and GPU
// kernels overlap in simulated time, sleeps and start offsets are exact, a fatal fault kills only
// its process, fork copies the address space, expectations are judged correctly, the sampled time
// series and histograms are consistent, and limits end a run with an error instead of a hang.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { Task } from '../../mm/task.js';
import type { Actor, StepResult } from '../../sim/engine.js';
import { LimitError } from '../../sim/errors.js';
import { Rng } from '../../sim/rng.js';
import type { RunResult } from '../../report/types.js';
import { loadScenario } from './load.js';
import { buildMachine } from './machine.js';
import { type OpFailure, ProcessActor, type RunContext } from './process.js';
import { runScenario } from './runner.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

function run(yaml: string, options: { seed?: number; trace?: boolean } = {}): RunResult {
  return runScenario(loadScenario(yaml, 'test.yaml'), options);
}

/** Simulated times of the op instants a process recorded in the trace, in order. */
function opTimes(result: RunResult, process: string): { op: string; tNs: number }[] {
  return result
    .trace!.filter((e) => e.category === 'op' && e.track === process)
    .map((e) => ({ op: e.name, tNs: e.tNs }));
}

describe('simulated time', () => {
  // Every variant maps two 8 MiB buffers and writes `b` first, so they differ only in the work below.
  const overlap = (work: string[]) =>
    run(`name: overlap
machine:
  ram: 256MiB
  sampleEvery: 1us
  devices:
    - { kind: gpu, name: gpu0, memory: 64MiB, mode: mirror }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 8MiB }
      - { op: mmap, name: b, size: 8MiB }
      - { op: touch, region: b, write: true }
${work.map((w) => `      - ${w}\n`).join('')}`);

  it('a CPU thread and a GPU kernel run at the same time', () => {
    const base = overlap([]).summary.table.simNs;
    const cpu = overlap(['{ op: touch, region: a, write: true }']).summary.table.simNs - base;
    const kernel = '{ op: gpu, device: gpu0, region: b, pattern: { kind: sequential, passes: 4 }';
    const gpu = overlap([`${kernel} }`]).summary.table.simNs - base;
    const bothRun = overlap([
      `${kernel}, wait: false }`,
      '{ op: touch, region: a, write: true }',
      '{ op: wait }',
    ]);
    const both = bothRun.summary.table.simNs - base;
    // Each alone takes real time (at least a millisecond: 2048 faults, 8192 remote accesses).
    expect(cpu).toBeGreaterThan(1_000_000);
    expect(gpu).toBeGreaterThan(1_000_000);
    // Together: no faster than the slower one, clearly faster than one after the other.
    expect(both).toBeGreaterThanOrEqual(Math.max(cpu, gpu));
    expect(both).toBeLessThan(cpu + gpu - Math.min(cpu, gpu) / 2);
    expect(bothRun.summary.failures).toEqual([]);
    expect(bothRun.summary.leaks).toEqual([]);
  });

  it('the CPU keeps working while the kernel it launched without waiting runs', () => {
    const traced = runScenario(
      loadScenario(
        `name: overlap
machine:
  ram: 256MiB
  devices:
    - { kind: gpu, name: gpu0, memory: 64MiB, mode: mirror }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 8MiB }
      - { op: mmap, name: b, size: 8MiB }
      - { op: touch, region: b, write: true }
      - { op: gpu, device: gpu0, region: b, wait: false, pattern: { kind: sequential, passes: 8 } }
      - { op: touch, region: a, write: true }
      - { op: wait }
`,
        'overlap.yaml',
      ),
      { trace: true },
    );
    const kernel = traced.trace!.filter((e) => e.track === 'gpu0/kernel1' && e.category === 'gpu');
    expect(kernel.map((e) => e.phase)).toEqual(['b', 'e']);
    const ops = opTimes(traced, 'app');
    const touchA = ops[4];
    const waitOp = ops[5];
    expect(touchA.op).toBe('touch');
    expect(waitOp.op).toBe('wait');
    // The touch of `a` starts when the kernel starts and ends (the wait op) before the kernel ends.
    expect(touchA.tNs).toBe(kernel[0].tNs);
    expect(waitOp.tNs).toBeGreaterThan(touchA.tNs + 1_000_000);
    expect(waitOp.tNs).toBeLessThan(kernel[1].tNs);
  });

  it('sleep delays the next operation by exactly its time, and a start offset is honoured', () => {
    const r = run(
      `name: sleepy
machine: { ram: 64MiB, sampleEvery: 1ms }
processes:
  - name: app
    start: 7us
    program:
      - { op: sleep, time: 1234 }
      - { op: sleep, time: 2.5us }
      - { op: mmap, name: x, size: 64KiB }
      - { op: sleep, time: 1ms }
      - { op: exit }
  - name: late
    start: 3ms
    program:
      - { op: mmap, name: y, size: 4KiB }
`,
      { trace: true },
    );
    const app = opTimes(r, 'app');
    expect(app.map((o) => o.op)).toEqual(['sleep', 'sleep', 'mmap', 'sleep', 'exit']);
    expect(app[0].tNs).toBe(7_000);
    expect(app[1].tNs - app[0].tNs).toBe(1_234);
    expect(app[2].tNs - app[1].tNs).toBe(2_500);
    // The mmap charges its syscall time: the sleep starts after it, the exit exactly 1 ms later.
    expect(app[3].tNs).toBeGreaterThan(app[2].tNs);
    expect(app[4].tNs - app[3].tNs).toBe(1_000_000);
    expect(opTimes(r, 'late')).toEqual([{ op: 'mmap', tNs: 3_000_000 }]);
    expect(r.summary.table.simNs).toBeGreaterThanOrEqual(3_000_000);
    expect(r.summary.failures).toEqual([]);
  });
});

describe('processes', () => {
  it('a fatal fault (SIGSEGV) kills only its process, is reported, and the run ends cleanly', () => {
    const r = run(
      `name: segv
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: x, size: 64KiB }
      - { op: touch, region: x, write: true }
      - { op: mprotect, region: x, prot: none }
      - { op: touch, region: x }
      - { op: sleep, time: 1s }
      - { op: exit }
  - name: bystander
    start: 100us
    program:
      - { op: mmap, name: y, size: 64KiB }
      - { op: touch, region: y, write: true }
expect:
  - { noLeaks: true }
`,
      { trace: true },
    );
    expect(r.summary.failures).toEqual([{ process: 'app', op: 3, what: 'touch x page 0', why: 'SIGSEGV' }]);
    // The process died at the fault: the ops after it never ran (no 1 s sleep).
    expect(opTimes(r, 'app').map((o) => o.op)).toEqual(['mmap', 'touch', 'mprotect', 'touch']);
    expect(r.summary.table.simNs).toBeLessThan(1_000_000_000);
    // The other process is not affected; everything is freed.
    expect(r.summary.table.cpuFaults).toBe(32);
    expect(r.summary.actors.map((a) => [a.name, a.done])).toEqual([
      ['app', true],
      ['bystander', true],
    ]);
    expect(r.summary.leaks).toEqual([]);
    expect(r.summary.expectations).toEqual([{ text: 'noLeaks', ok: true, actual: 'no leak' }]);
  });

  it('a write to a read-only mapping is a SIGSEGV too; reading it is fine', () => {
    const r = run(`name: ro
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: x, size: 16KiB, prot: r }
      - { op: touch, region: x }
      - { op: touch, region: x, write: true }
`);
    expect(r.summary.failures).toEqual([{ process: 'app', op: 2, what: 'touch x page 0', why: 'SIGSEGV' }]);
    expect(r.summary.leaks).toEqual([]);
  });

  it('fork: the child touches the copied region; its writes break copy-on-write, one copy per page', () => {
    const r = run(`name: fork
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: x, size: 64KiB }
      - { op: touch, region: x, write: true }
      - { op: fork, name: kid, program: [ { op: touch, region: x, write: true } ] }
      - { op: sleep, time: 1ms }
      - { op: touch, region: x }
expect:
  - { noLeaks: true }
`);
    expect(r.summary.failures).toEqual([]);
    expect(r.summary.actors.map((a) => a.name)).toEqual(['app', 'kid']);
    expect(r.summary.counters['mm.cow_copies']).toBe(16);
    expect(r.summary.leaks).toEqual([]);
  });

  it("fork: the child's writes do not change what the parent sees", () => {
    // The runner's own wiring, plus an observer actor that reads both address spaces at chosen
    // instants: before the child writes and after.
    const scenario = loadScenario(
      `name: fork-tokens
machine: { ram: 64MiB, contentMode: tokens }
processes:
  - name: parent
    program:
      - { op: mmap, name: x, size: 32KiB }
      - { op: touch, region: x, write: true }
      - { op: fork, name: child, program: [ { op: sleep, time: 100us }, { op: touch, region: x, write: true }, { op: sleep, time: 1ms } ] }
      - { op: sleep, time: 2ms }
`,
      'fork.yaml',
    );
    const machine = buildMachine(scenario, 1, false);
    const engine = machine.kernel.engine;
    const failures: OpFailure[] = [];
    const actors: ProcessActor[] = [];
    const ctx: RunContext = {
      scenario,
      machine,
      rng: new Rng(1).fork('workload'),
      failures,
      spawn: (a) => {
        actors.push(a);
        engine.addActor(a);
      },
    };
    const parent = new ProcessActor(ctx, machine.kernel.spawn(), 'parent', scenario.processes[0].program);
    actors.push(parent);
    engine.addActor(parent);
    const npages = 8;
    /** What a load sees in each page of `x` (the only mapping; the child inherited it). */
    const tokens = (task: Task): number[] => {
      const vmas = task.mm!.vmas.toArray();
      expect(vmas).toHaveLength(1);
      const res = task.readTokens(vmas[0].start * PAGE_SIZE, npages * PAGE_SIZE);
      expect(res.signal).toBe(0);
      return [...res.tokens];
    };
    const seen: Record<string, number[]> = {};
    // At 50 us the child exists and has not written yet (it sleeps 100 us); at 500 us it has.
    const observer: Actor = {
      name: 'observer',
      step(): StepResult {
        const child = actors.find((a) => a.name === 'child');
        expect(child, 'the child was started').toBeDefined();
        const when = engine.nowNs === 50_000 ? 'Before' : 'After';
        seen[`parent${when}`] = tokens(parent.task);
        seen[`child${when}`] = tokens(child!.task);
        return when === 'Before' ? 450_000 : 'done';
      },
    };
    engine.addActor(observer, 50_000);
    machine.kernel.runUntilIdle();
    expect(failures).toEqual([]);
    // Before the child writes, both see the parent's pages (shared copy-on-write).
    expect(seen.parentBefore.every((t) => t !== 0)).toBe(true);
    expect(seen.childBefore).toEqual(seen.parentBefore);
    // After: the parent still sees its own contents; the child sees new, distinct ones.
    expect(seen.parentAfter).toEqual(seen.parentBefore);
    for (let i = 0; i < npages; i++) expect(seen.childAfter[i], `page ${i}`).not.toBe(seen.parentBefore[i]);
    expect(new Set(seen.childAfter).size).toBe(npages);
    expect(machine.kernel.stats.snapshot()['mm.cow_copies']).toBe(npages);
  });
});

describe('expectations', () => {
  // 16 pages written by the parent, 16 copied by the child: 32 CPU faults, 16 copies.
  const r = run(`name: expectations
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: x, size: 64KiB }
      - { op: touch, region: x, write: true }
      - { op: fork, name: kid, program: [ { op: touch, region: x, write: true } ] }
expect:
  - { metric: cpuFaults, min: 32 }
  - { metric: cpuFaults, min: 33 }
  - { metric: cpuFaults, max: 32 }
  - { metric: cpuFaults, max: 31 }
  - { metric: cpuFaults, equals: 32 }
  - { metric: cpuFaults, equals: 31 }
  - { metric: cpuFaults, min: 1, max: 100 }
  - { metric: cpuFaults, min: 40, max: 100 }
  - { metric: mm.cow_copies, equals: 16 }
  - { metric: simTime, min: 1 }
  - { metric: simTime, max: 1 }
  - { metric: zzz_not_a_metric, min: 0 }
  - { metric: cow_copies, min: 0 }
  - { noLeaks: true }
`);

  it('min, max and equals are inclusive bounds on the measured value', () => {
    expect(r.summary.expectations.slice(0, 11).map((e) => [e.text, e.ok, e.actual])).toEqual([
      ['cpuFaults >= 32', true, '32'],
      ['cpuFaults >= 33', false, '32'],
      ['cpuFaults <= 32', true, '32'],
      ['cpuFaults <= 31', false, '32'],
      ['cpuFaults == 32', true, '32'],
      ['cpuFaults == 31', false, '32'],
      ['cpuFaults >= 1 and <= 100', true, '32'],
      ['cpuFaults >= 40 and <= 100', false, '32'],
      ['mm.cow_copies == 16', true, '16'],
      ['simTime >= 1', true, String(r.summary.table.simNs)],
      ['simTime <= 1', false, String(r.summary.table.simNs)],
    ]);
  });

  it('an unknown metric fails with "no such metric", suggesting near names', () => {
    const [unknown, near] = r.summary.expectations.slice(11, 13);
    expect(unknown).toEqual({ text: 'zzz_not_a_metric >= 0', ok: false, actual: 'no such metric' });
    expect(near.ok).toBe(false);
    expect(near.actual).toBe('no such metric; did you mean mm.cow_copies?');
  });

  it('noLeaks passes on a clean run', () => {
    expect(r.summary.expectations[13]).toEqual({ text: 'noLeaks', ok: true, actual: 'no leak' });
  });
});

describe('time series and histograms', () => {
  const scenario = loadScenario(
    readFileSync(join(EXAMPLES, 'gpu-oversubscribe.yaml'), 'utf8'),
    'gpu-oversubscribe.yaml',
  );
  const r = runScenario(scenario);
  const series = new Map(r.series.map((s) => [s.name, s]));

  it('has the expected series, each with one value per sample instant', () => {
    expect([...series.keys()]).toEqual([
      'faults.cpu',
      'faults.device',
      'resident.RAM',
      'resident.gpu0',
      'migrations.gpu0.to_device',
      'migrations.gpu0.to_host',
      'bytes.gpu0.link.h2d',
      'bytes.gpu0.link.d2h',
    ]);
    for (const s of r.series) expect(s.values.length, s.name).toBe(s.tNs.length);
    expect(r.series[0].tNs.length).toBeGreaterThan(100);
  });

  it('sample times never go back, start at 0 and end at the end of the run', () => {
    const t = r.series[0].tNs;
    for (let i = 1; i < t.length; i++)
      expect(t[i] >= t[i - 1], `t[${i}] = ${t[i]} after ${t[i - 1]}`).toBe(true);
    expect(t[0]).toBe(0);
    expect(t[t.length - 1]).toBe(r.summary.table.simNs);
  });

  it('cumulative counters never decrease and end at the totals of the summary', () => {
    for (const s of r.series.filter((x) => x.group === 'faults' || x.group === 'bytes')) {
      for (let i = 1; i < s.values.length; i++) {
        if (s.values[i] < s.values[i - 1])
          expect.fail(`${s.name} decreased at sample ${i}: ${s.values[i - 1]} -> ${s.values[i]}`);
      }
    }
    const last = (name: string) => series.get(name)!.values.at(-1);
    expect(last('faults.cpu')).toBe(r.summary.table.cpuFaults);
    expect(last('faults.device')).toBe(r.summary.table.deviceFaults);
    expect(last('bytes.gpu0.link.h2d')).toBe(r.summary.counters['link.gpu0.link.h2d_bytes']);
    expect(last('bytes.gpu0.link.d2h')).toBe(r.summary.counters['link.gpu0.link.d2h_bytes']);
    expect(last('migrations.gpu0.to_device')).toBe(r.summary.table.pagesToDevice);
    expect(last('migrations.gpu0.to_host')).toBe(r.summary.table.pagesToHost);
    // Every page migrated moved 4 KiB over the link.
    expect(last('bytes.gpu0.link.h2d')).toBeGreaterThanOrEqual(r.summary.table.pagesToDevice * PAGE_SIZE);
  });

  it('resident pages never exceed the size of their memory, and the GPU memory really fills up', () => {
    const gpuPages = (32 * 1024 ** 2) / PAGE_SIZE;
    const ramPages = (512 * 1024 ** 2) / PAGE_SIZE;
    const gpu = series.get('resident.gpu0')!.values;
    const ram = series.get('resident.RAM')!.values;
    expect(Math.max(...gpu)).toBeLessThanOrEqual(gpuPages);
    expect(Math.max(...ram)).toBeLessThanOrEqual(ramPages);
    // Oversubscribed: the working set (12288 pages) does not fit, so the GPU memory runs full.
    expect(Math.max(...gpu)).toBeGreaterThan(gpuPages * 0.9);
    expect(r.summary.table.pagesToHost).toBeGreaterThan(0);
    // At the end every process exited: nothing resident anywhere.
    expect(gpu.at(-1)).toBe(0);
    expect(ram.at(-1)).toBe(0);
  });

  it("histograms' bucket counts add up to their count, within their min and max", () => {
    expect(r.histograms.map((h) => h.name)).toEqual(['latency.gpu0.far_fault']);
    const h = r.histograms[0];
    expect(h.count).toBe(r.summary.counters['gpu.gpu0.far_faults']);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(h.count);
    expect(h.minNs).toBeGreaterThan(0);
    expect(h.minNs).toBeLessThanOrEqual(h.maxNs);
    expect(h.sumNs).toBeGreaterThanOrEqual(h.minNs * h.count);
    expect(h.sumNs).toBeLessThanOrEqual(h.maxNs * h.count);
    // counts[i] holds [2^(i-1), 2^i): the lowest and highest non-empty buckets hold min and max.
    const first = h.counts.findIndex((c) => c > 0);
    const lastBucket = h.counts.length - 1 - [...h.counts].reverse().findIndex((c) => c > 0);
    expect(h.minNs).toBeGreaterThanOrEqual(first === 0 ? 0 : 2 ** (first - 1));
    expect(h.minNs).toBeLessThan(2 ** first);
    expect(h.maxNs).toBeGreaterThanOrEqual(2 ** (lastBucket - 1));
    expect(h.maxNs).toBeLessThan(2 ** lastBucket);
  });

  it('histograms of an SVA run add up too', () => {
    const sva = runScenario(
      loadScenario(readFileSync(join(EXAMPLES, 'sva-iopf.yaml'), 'utf8'), 'sva-iopf.yaml'),
    );
    expect(sva.histograms.map((h) => [h.name, h.count])).toEqual([
      ['latency.iommu0.iopf', sva.summary.table.iopfGroups],
      ['latency.dsa0.dma_job', 2],
    ]);
    for (const h of sva.histograms)
      expect(
        h.counts.reduce((a, b) => a + b, 0),
        h.name,
      ).toBe(h.count);
  });
});

describe('limits', () => {
  it('a tiny event limit ends the run with a LimitError, not a hang', () => {
    let error: unknown = null;
    try {
      run(`name: limited
machine: { ram: 64MiB, limits: { maxEvents: 5 } }
processes:
  - name: app
    program:
      - { op: mmap, name: x, size: 4MiB }
      - { op: touch, region: x, write: true }
`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LimitError);
    expect((error as LimitError).limit).toBe('engine.maxEvents');
    expect((error as LimitError).value).toBe(5);
    expect((error as Error).message).toMatch(/limit of 5 events/);
  });

  it('a simulated-time limit ends a run that would sleep past it', () => {
    expect(() =>
      run(`name: limited
machine: { ram: 64MiB, limits: { maxSimTime: 100us } }
processes:
  - name: app
    program: [ { op: sleep, time: 1ms } ]
`),
    ).toThrow(LimitError);
  });
});
