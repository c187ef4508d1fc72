// `hetmem explore SCENARIO`: runs the scenario's driver programs under many interleavings and
// reports the first invariant broken, shrunk, with how to replay it and a Perfetto trace of it.
// Exit 0 when the budget is spent clean, 1 on a violation, 2 on bad input.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromeTraceJson } from '../report/chromeTrace.js';
import {
  explore,
  type ExploreResult,
  replaySchedule,
  replaySeed,
  type Strategy,
} from '../check/explore/explore.js';
import type { ScheduleResult } from '../check/explore/schedule.js';
import { loadExploreScenario, type ExploreScenario } from '../check/explore/scenario.js';
import type { DriverProgram } from '../check/explore/world.js';
import { InputError, InputErrorList } from '../sim/errors.js';
import type { TraceEvent } from '../sim/trace.js';
import { parseDuration } from '../workload/units.js';
import type { ExploreWorkerMessage } from './exploreWorker.js';
import { startWorker } from './workerModule.js';

export interface ExploreCliOptions {
  readonly strategy?: string;
  readonly schedules?: string;
  readonly time?: string;
  readonly seed?: string;
  readonly depth?: string;
  readonly replay?: string;
  readonly schedule?: string;
  readonly trace?: string;
  readonly shrink?: boolean;
  readonly json?: boolean;
}

const STRATEGIES: readonly Strategy[] = ['random', 'pct', 'exhaustive'];

function cliInt(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new InputError({ file: '(command line)', field: flag }, `a whole number >= ${min}`, value);
  }
  return Number(value);
}

/** Imports a user driver module (.js/.mjs, or .ts through tsx when it is installed). */
function importerFor(scenarioFile: string) {
  return async (module: string, exportName: string): Promise<DriverProgram> => {
    const path = resolve(dirname(scenarioFile), module);
    const url = pathToFileURL(path).href;
    let mod: Record<string, unknown>;
    if (/\.[cm]?tsx?$/.test(path)) {
      const { tsImport } = (await import('tsx/esm/api')) as {
        tsImport: (u: string, parent: string) => Promise<Record<string, unknown>>;
      };
      mod = await tsImport(url, import.meta.url);
    } else {
      mod = (await import(url)) as Record<string, unknown>;
    }
    if (!(exportName in mod)) throw new Error(`${module} has no export ${exportName}`);
    return mod[exportName] as DriverProgram;
  };
}

export async function readExploreScenario(file: string): Promise<ExploreScenario> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError({ file }, 'a readable explore scenario file (YAML or JSON)');
  }
  return loadExploreScenario(text, file, importerFor(file));
}

/** What the watchdog needs from a run (see exploreWorker.ts). */
export interface ExploreHooks {
  readonly onStep?: (actor: string, label: string) => void;
  /** Called once the scenario is loaded, before the first schedule. */
  readonly onStarted?: () => void;
}

export async function exploreCommand(
  file: string,
  options: ExploreCliOptions,
  hooks: ExploreHooks = {},
): Promise<number> {
  const scenario = await readExploreScenario(file);
  hooks.onStarted?.();
  if (options.strategy !== undefined && !STRATEGIES.includes(options.strategy as Strategy)) {
    throw new InputError(
      { file: '(command line)', field: '--strategy' },
      `one of ${STRATEGIES.join(', ')}`,
      options.strategy,
    );
  }
  const strategy = (options.strategy as Strategy | undefined) ?? scenario.strategy;
  const schedules = cliInt('--schedules', options.schedules, 1) ?? scenario.schedules;
  const seed = cliInt('--seed', options.seed, 0) ?? scenario.seed;
  const depth = cliInt('--depth', options.depth, 1) ?? scenario.depth;
  const timeNs = options.time === undefined ? undefined : parseTime(options.time);
  const traceFile = options.trace ?? `${scenario.name}.failure.json`;
  if (!existsSync(dirname(resolve(traceFile)))) {
    throw new InputError(
      { file: '(command line)', field: '--trace' },
      'a file in a folder that exists',
      traceFile,
    );
  }
  const out = (line = '') => process.stdout.write(`${line}\n`);

  // Replays: one schedule, by its seed or by its list of actors.
  if (options.replay !== undefined || options.schedule !== undefined) {
    let result: ScheduleResult;
    if (options.schedule !== undefined) {
      const names = options.schedule
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
      result = replaySchedule(scenario.spec, names, scenario.maxSteps, hooks.onStep);
    } else {
      if (strategy === 'exhaustive') {
        throw new InputError(
          { file: '(command line)', field: '--replay' },
          'a random or pct exploration (exhaustive replays with --schedule)',
        );
      }
      result = replaySeed(
        scenario.spec,
        strategy,
        cliInt('--replay', options.replay, 0)!,
        depth,
        scenario.maxSteps,
      );
    }
    if (options.json === true) out(JSON.stringify(scheduleJson(result)));
    else printSteps(out, result);
    if (result.violation === null) {
      if (options.json !== true) out('no violation in this schedule');
      return 0;
    }
    if (options.json !== true) out(`\n${result.violation.kind}: ${result.violation.message}`);
    const written = writeTrace(traceFile, scenario, result, seed);
    if (options.json !== true) out(`trace: ${written}`);
    return 1;
  }

  const started = performance.now();
  const deadline = timeNs === undefined ? undefined : started + timeNs / 1e6;
  const progress = process.stderr.isTTY === true && options.json !== true;
  let lastShown = started;
  const result: ExploreResult = explore(scenario.spec, {
    strategy,
    schedules,
    seed,
    depth,
    maxSteps: scenario.maxSteps,
    shrink: options.shrink !== false,
    onStep: hooks.onStep,
    outOfTime: deadline === undefined ? undefined : () => performance.now() > deadline,
    onProgress: (n) => {
      if (!progress) return;
      const now = performance.now();
      if (now - lastShown < 250) return;
      lastShown = now;
      process.stderr.write(
        `\rexplore ${scenario.name}: ${n.toLocaleString('en')} / ${schedules.toLocaleString('en')} schedules`,
      );
    },
  });
  if (progress) process.stderr.write('\r\x1b[K');
  const seconds = (performance.now() - started) / 1000;
  if (options.json === true) {
    out(
      JSON.stringify({
        scenario: scenario.name,
        strategy,
        seed,
        schedules: result.schedules,
        exhausted: result.exhausted,
        pruned: result.pruned,
        failure:
          result.failure === null
            ? null
            : {
                kind: result.failure.violation.kind,
                message: result.failure.violation.message,
                schedule: result.failure.schedule,
                replaySeed: result.failure.seed,
                foundSteps: result.failure.foundSteps,
              },
      }),
    );
  }
  const header = `${scenario.name}: ${result.schedules.toLocaleString('en')} schedule${result.schedules === 1 ? '' : 's'} (${strategy}, seed ${seed}) in ${seconds.toFixed(1)} s`;
  if (result.failure === null) {
    if (options.json !== true) {
      out(
        `${header}: no violation${result.exhausted ? ' (every schedule explored' + (result.pruned > 0 ? `, ${result.pruned} pruned as equivalent` : '') + ')' : ''}`,
      );
    }
    return 0;
  }
  const f = result.failure;
  const replayed = replaySchedule(scenario.spec, f.schedule, scenario.maxSteps, hooks.onStep);
  const written = writeTrace(traceFile, scenario, replayed, seed);
  if (options.json !== true) {
    out(`${header}: VIOLATION`);
    out();
    out(`  ${f.violation.kind}: ${f.violation.message}`);
    out();
    out(`The failing schedule, shrunk to ${f.steps.length} steps (found with ${f.foundSteps}):`);
    printSteps(out, replayed);
    out();
    // An empty list replays too: the first enabled actor runs at every step.
    const schedule = f.schedule.length === 0 ? '""' : f.schedule.join(',');
    if (f.seed !== null)
      out(
        `replay:  hetmem explore ${file} --strategy ${strategy} --replay ${f.seed}${strategy === 'pct' ? ` --depth ${depth}` : ''}   (as found)`,
      );
    out(`         hetmem explore ${file} --schedule ${schedule}   (shrunk)`);
    out(`trace:   ${written}`);
  }
  return 1;
}

function parseTime(text: string): number {
  const ns = parseDuration(text);
  if (!Number.isFinite(ns) || ns <= 0) {
    throw new InputError({ file: '(command line)', field: '--time' }, 'a duration such as 30s or 2min', text);
  }
  return ns;
}

function printSteps(out: (line?: string) => void, r: ScheduleResult): void {
  const width = Math.max(...r.names.map((n) => n.length));
  r.steps.forEach((s, i) =>
    out(`  ${String(i + 1).padStart(4)}  ${r.names[s.actor].padEnd(width)}  ${s.label}`),
  );
}

function scheduleJson(r: ScheduleResult) {
  return {
    steps: r.steps.map((s) => ({ actor: r.names[s.actor], label: s.label })),
    violation: r.violation === null ? null : { kind: r.violation.kind, message: r.violation.message },
  };
}

/**
 * Writes the schedule as a Trace Event file (one track per actor, a step per microsecond). Returns
 * what to print: the file, or why it could not be written (the violation is reported either way).
 */
function writeTrace(file: string, scenario: ExploreScenario, r: ScheduleResult, seed: number): string {
  const events: TraceEvent[] = [];
  r.steps.forEach((s, i) => {
    const track = r.names[s.actor];
    events.push({
      tNs: i * 1000,
      track,
      phase: 'B',
      category: 'explore',
      name: s.label,
      args: { step: i + 1 },
    });
    events.push({ tNs: i * 1000 + 900, track, phase: 'E', category: 'explore', name: s.label });
  });
  if (r.violation !== null) {
    const last = r.steps[r.steps.length - 1];
    events.push({
      tNs: r.steps.length * 1000,
      track: last === undefined ? 'explorer' : r.names[last.actor],
      phase: 'i',
      category: 'violation',
      name: r.violation.kind,
      args: { message: r.violation.message },
    });
  }
  try {
    writeFileSync(file, chromeTraceJson(events, { scenario: scenario.name, seed }));
  } catch (e) {
    return `not written: ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  return `${file} (open it in ui.perfetto.dev)`;
}

/**
 * Runs `hetmem explore` in a worker thread and watches it: a step that has not returned after
 * `stepTimeoutMs` (a driver looping without a yield) stops the worker and is reported as a driver
 * error naming the actor and the step. Same exit codes as `exploreCommand`.
 */
export async function exploreWatched(
  file: string,
  options: ExploreCliOptions,
  stepTimeoutMs = 5000,
): Promise<number> {
  const heartbeat = new SharedArrayBuffer(8);
  const beat = new Int32Array(heartbeat);
  const names = new Map<number, { actor: string; label: string }>();
  const worker = startWorker(import.meta.url, 'exploreWorker', { workerData: { file, options, heartbeat } });
  return new Promise<number>((resolvePromise, reject) => {
    let exitCode: number | null = null;
    let lastCount = -1;
    let lastChange = performance.now();
    // Armed once the worker has loaded the model and the scenario: loading is not a driver step.
    let armed = false;
    const timer = setInterval(() => {
      if (!armed) return;
      const count = Atomics.load(beat, 0);
      const now = performance.now();
      if (count !== lastCount) {
        lastCount = count;
        lastChange = now;
        return;
      }
      if (now - lastChange < stepTimeoutMs || exitCode !== null) return;
      const step = names.get(Atomics.load(beat, 1));
      const who = step === undefined ? 'an actor' : step.actor;
      const what = step === undefined ? '' : ` at "${step.label}"`;
      process.stdout.write(
        `driver-error: ${who} did not yield for ${(stepTimeoutMs / 1000).toFixed(0)} s${what}: a loop with no yield in it? (stopped)\n`,
      );
      exitCode = 1;
      void worker.terminate();
    }, 250);
    worker.on('message', (m: ExploreWorkerMessage) => {
      if (m.type === 'started') {
        armed = true;
        lastChange = performance.now();
      } else if (m.type === 'step-name') names.set(m.id, { actor: m.actor, label: m.label });
      else if (m.type === 'done') exitCode = m.exitCode;
      else reject(new InputErrorList(m.errors.map((x) => new InputError(x.location, x.expected, x.got))));
    });
    worker.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    worker.on('exit', () => {
      clearInterval(timer);
      resolvePromise(exitCode ?? 1);
    });
  });
}
