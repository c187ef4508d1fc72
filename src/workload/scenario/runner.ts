// Runs a scenario: builds the machine, starts every process's thread, runs the engine to the end,
// samples metrics over simulated time, and produces the run's result: the summary table, every
// counter, per-actor figures, expectations checked, leaks found at shutdown, time series, latency
// histograms and (when asked) the trace. Same scenario and seed, same result, byte for byte.

import { buildRefGraph, refReport } from '../../check/refGraph.js';
import { auditShutdown } from '../../check/svaAudit.js';
import { ZONE_RAM } from '../../mm/physmem.js';
import type { Actor, StepResult } from '../../sim/engine.js';
import { Rng } from '../../sim/rng.js';
import type {
  ExpectationResult,
  Histogram,
  RunResult,
  RunSummary,
  SummaryTable,
  TimeSeries,
} from '../../report/types.js';
import { buildMachine, type Machine } from './machine.js';
import type { Expectation, Scenario } from './model.js';
import { type OpFailure, ProcessActor, type RunContext } from './process.js';

export interface RunScenarioOptions {
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Record trace events (for `--trace`). */
  readonly trace?: boolean;
  /** Called now and then with the simulated time and the events run (progress bars). */
  readonly onProgress?: (simNs: number, events: number) => void;
  /** Watches the run from outside: told when the machine is built and after every event. */
  readonly observer?: RunObserver;
}

/** What an observer of a run can look at. */
export interface ObservedRun {
  readonly machine: Machine;
  /** Every process of the run so far, forked children included, in the order they started. */
  readonly processes: readonly ProcessActor[];
}

/** Sees a run event by event (the visualizer's recorder). Observers only read the model. */
export interface RunObserver {
  /** Before the first event, once every process is created. */
  start(run: ObservedRun): void;
  /** After every event, and once more after the run (idle work may change state between events). */
  afterEvent(run: ObservedRun): void;
}

/** Progress is reported this often when no observer needs every event. */
const PROGRESS_EVERY = 65_536;

/** Most points a series keeps: past it, every other point goes and the interval doubles. */
const MAX_POINTS = 4096;

interface Probe {
  readonly name: string;
  readonly group: string;
  readonly unit: string;
  readonly read: () => number;
  readonly values: number[];
}

/** The actor that samples the time series: it only reads the model (observers may skip its events). */
export const SAMPLER_NAME = 'sampler';

/** Records the time series every `sampleEveryNs` while anything else is still going on. */
class Sampler implements Actor {
  readonly name = SAMPLER_NAME;
  private readonly t: number[] = [];
  private readonly probes: Probe[] = [];
  private everyNs: number;

  constructor(
    private readonly machine: Machine,
    everyNs: number,
  ) {
    this.everyNs = everyNs;
    const k = machine.kernel;
    const stats = k.stats;
    const probe = (name: string, group: string, unit: string, read: () => number) =>
      this.probes.push({ name, group, unit, read, values: [] });
    const counterIds = (names: string[]) => names.map((n) => stats.counter(n));
    const cpu = stats.counter('mm.faults.cpu');
    probe('faults.cpu', 'faults', 'faults', () => stats.value(cpu));
    const dev = counterIds([
      'iommu.page_requests',
      ...[...machine.gpus.keys()].map((g) => `gpu.${g}.far_faults`),
    ]);
    probe('faults.device', 'faults', 'faults', () => dev.reduce((n, id) => n + stats.value(id), 0));
    const ram = k.mem.zones.filter((z) => z.kind === ZONE_RAM);
    probe('resident.RAM', 'resident', 'pages', () => ram.reduce((n, z) => n + z.usedPages, 0));
    for (const [name, gpu] of machine.gpus) {
      probe(`resident.${name}`, 'resident', 'pages', () => gpu.memory.usedPages);
      for (const dir of ['to_device', 'to_host']) {
        const id = stats.counter(`gpu.${name}.pages_${dir}`);
        probe(`migrations.${name}.${dir}`, 'migrations', 'pages', () => stats.value(id));
      }
      for (const dir of ['h2d', 'd2h']) {
        const id = stats.counter(`link.${gpu.linkName}.${dir}_bytes`);
        probe(`bytes.${gpu.linkName}.${dir}`, 'bytes', 'bytes', () => stats.value(id));
      }
    }
  }

  step(): StepResult {
    this.sample();
    // Stop once nothing but the sampler itself is left to run.
    return this.machine.kernel.events.pending === 0 ? 'done' : this.everyNs;
  }

  sample(): void {
    if (this.t.length >= MAX_POINTS) {
      const keep = (a: number[]) => {
        let j = 0;
        for (let i = 0; i < a.length; i += 2) a[j++] = a[i];
        a.length = j;
      };
      keep(this.t);
      for (const p of this.probes) keep(p.values);
      this.everyNs *= 2;
    }
    this.t.push(this.machine.kernel.clock.nowNs);
    for (const p of this.probes) p.values.push(p.read());
  }

  result(): TimeSeries[] {
    return this.probes.map((p) => ({
      name: p.name,
      group: p.group,
      unit: p.unit,
      tNs: this.t,
      values: p.values,
    }));
  }
}

function sum(counters: Record<string, number>, re: RegExp): number {
  let n = 0;
  for (const [k, v] of Object.entries(counters)) if (re.test(k)) n += v;
  return n;
}

function summaryTable(machine: Machine, counters: Record<string, number>, events: number): SummaryTable {
  const bytesPerLink: Record<string, number> = {};
  const invalidations: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters)) {
    const link = /^link\.(.+)\.(h2d|d2h)_bytes$/.exec(k);
    if (link !== null) bytesPerLink[`${link[1]} ${link[2]}`] = v;
    const inv = /^mm\.invalidations\.(.+)$/.exec(k);
    if (inv !== null && v > 0) invalidations[inv[1]] = v;
  }
  return {
    simNs: machine.kernel.clock.nowNs,
    events,
    cpuFaults: counters['mm.faults.cpu'] ?? 0,
    deviceFaults: sum(counters, /^gpu\..+\.far_faults$/) + (counters['iommu.page_requests'] ?? 0),
    pagesToDevice: sum(counters, /^gpu\..+\.pages_to_device$/),
    pagesToHost: sum(counters, /^gpu\..+\.pages_to_host$/),
    bytesPerLink,
    invalidations,
    pasidAllocs: counters['sva.pasid_allocs'] ?? 0,
    pasidFrees: counters['sva.pasid_frees'] ?? 0,
    binds: counters['sva.binds'] ?? 0,
    unbinds: counters['sva.unbinds'] ?? 0,
    iopfGroups: counters['iommu.fault_groups'] ?? 0,
    notifierSeqRetries: sum(counters, /^gpu\..+\.notifier_retries$/),
  };
}

/** The value of a metric by name: a summary-table field, `simTime` (ns), or any counter. */
function metricValue(
  name: string,
  table: SummaryTable,
  counters: Record<string, number>,
): number | undefined {
  if (name === 'simTime' || name === 'simNs') return table.simNs;
  const t = (table as unknown as Record<string, unknown>)[name];
  if (typeof t === 'number') return t;
  return counters[name];
}

function checkExpectations(
  list: readonly Expectation[],
  table: SummaryTable,
  counters: Record<string, number>,
  leaks: readonly string[],
): ExpectationResult[] {
  return list.map((e) => {
    if ('noLeaks' in e) {
      return {
        text: 'noLeaks',
        ok: leaks.length === 0,
        actual: leaks.length === 0 ? 'no leak' : leaks.join('; '),
      };
    }
    const bounds = [
      e.min !== undefined ? `>= ${e.min}` : '',
      e.max !== undefined ? `<= ${e.max}` : '',
      e.equals !== undefined ? `== ${e.equals}` : '',
    ].filter((x) => x !== '');
    const text = `${e.metric} ${bounds.join(' and ')}`;
    const v = metricValue(e.metric, table, counters);
    if (v === undefined) {
      const known = [
        ...Object.keys(table).filter(
          (k) => typeof (table as unknown as Record<string, unknown>)[k] === 'number',
        ),
        ...Object.keys(counters),
      ];
      const near = known.filter((k) => k.includes(e.metric.split('.').pop() ?? e.metric)).slice(0, 6);
      return {
        text,
        ok: false,
        actual: `no such metric${near.length > 0 ? `; did you mean ${near.join(', ')}?` : ''}`,
      };
    }
    const ok =
      (e.min === undefined || v >= e.min) &&
      (e.max === undefined || v <= e.max) &&
      (e.equals === undefined || v === e.equals);
    return { text, ok, actual: String(v) };
  });
}

function leaksOf(machine: Machine, blocked: readonly string[]): string[] {
  const k = machine.kernel;
  const leaks: string[] = [];
  const ram = k.mem.zones.filter((z) => z.kind === ZONE_RAM).reduce((n, z) => n + z.usedPages, 0);
  if (ram > 0) leaks.push(`${ram} RAM pages still in use after every process exited`);
  for (const [name, gpu] of machine.gpus)
    if (gpu.memory.usedPages > 0) leaks.push(`${gpu.memory.usedPages} pages of ${name} memory still in use`);
  // Every object still alive, with the references that hold it (and cycles as cycles).
  if (machine.core !== null) leaks.push(...auditShutdown(k, machine.core));
  else leaks.push(...refReport(buildRefGraph(k, null)).lines);
  for (const b of blocked) leaks.push(`${b} was still waiting when the run ended`);
  return leaks;
}

/** Runs `scenario` to the end. Throws LimitError when a limit of the machine is reached. */
export function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): RunResult {
  const seed = options.seed ?? scenario.seed;
  const machine = buildMachine(scenario, seed, options.trace ?? false);
  const kernel = machine.kernel;
  const engine = kernel.engine;
  const failures: OpFailure[] = [];
  const processes: ProcessActor[] = [];
  const ctx: RunContext = {
    scenario,
    machine,
    rng: new Rng(seed).fork('workload'),
    failures,
    spawn: (actor) => {
      processes.push(actor);
      engine.addActor(actor);
    },
  };
  for (const p of scenario.processes) {
    const actor = new ProcessActor(ctx, kernel.spawn(), p.name, p.program);
    processes.push(actor);
    engine.addActor(actor, p.startNs);
  }
  const sampler = new Sampler(machine, Math.max(1, scenario.machine.sampleEveryNs));
  engine.addActor(sampler);
  const { observer, onProgress } = options;
  const observed: ObservedRun = { machine, processes };
  observer?.start(observed);
  let eventsSeen = 0;
  const events = kernel.runUntilIdle({
    onProgress:
      observer !== undefined
        ? (_n, t) => {
            observer.afterEvent(observed);
            if (onProgress !== undefined && ++eventsSeen % PROGRESS_EVERY === 0) onProgress(t, eventsSeen);
          }
        : onProgress === undefined
          ? undefined
          : (n, t) => onProgress(t, n),
    progressEvery: observer !== undefined ? 1 : PROGRESS_EVERY,
  });
  observer?.afterEvent(observed);
  sampler.sample();
  const counters = kernel.stats.snapshot();
  const table = summaryTable(machine, counters, events);
  const blocked = engine.blockedActors();
  const leaks = leaksOf(machine, blocked);
  const summary: RunSummary = {
    scenario: scenario.name,
    seed,
    table,
    counters,
    actors: engine.actorStats().filter((a) => a.name !== SAMPLER_NAME),
    expectations: checkExpectations(scenario.expect, table, counters, leaks),
    leaks,
    failures,
  };
  const histograms: Histogram[] = [];
  for (const gpu of machine.gpus.values()) histograms.push(gpu.farFaultLatency.snapshot());
  for (const iommu of machine.iommus.values()) histograms.push(iommu.iopfLatency.snapshot());
  for (const { accel } of machine.accels.values())
    if (accel.jobLatency !== null) histograms.push(accel.jobLatency.snapshot());
  return {
    summary,
    series: sampler.result(),
    histograms: histograms.filter((h) => h.count > 0),
    trace: options.trace ? kernel.trace.events : null,
  };
}
