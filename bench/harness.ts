// Shared pieces of the benchmark harness: the shape of a figure, target checks, a forced garbage
// collection, heap measurement, and the median-of-N timing helper every throughput figure uses.
// Layer files (bench/<layer>.bench.ts) import from here; bench/main.ts runs and prints them.

import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';

/** Bounds a figure must stay within: `min` for throughputs (higher is better), `max` for costs. */
export interface Target {
  readonly min?: number;
  readonly max?: number;
}

/** One named, reported number. `run` measures it from scratch and returns the value in `unit`. */
export interface Figure {
  /** `<layer>.<what>_<unit>`, e.g. `mm.populate_pages_per_s`; `--only` filters on its prefix. */
  readonly name: string;
  readonly unit: string;
  readonly target: Target;
  /** One line for the README and `--help`: what is measured and how. */
  readonly description: string;
  run(): Promise<number> | number;
}

export function meetsTarget(value: number, target: Target): boolean {
  if (!Number.isFinite(value)) return false;
  if (target.min !== undefined && value < target.min) return false;
  if (target.max !== undefined && value > target.max) return false;
  return true;
}

export function describeTarget(target: Target): string {
  const parts: string[] = [];
  if (target.min !== undefined) parts.push(`>= ${formatNumber(target.min)}`);
  if (target.max !== undefined) parts.push(`<= ${formatNumber(target.max)}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.abs(value) >= 1000 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

// ---- garbage collection and heap size --------------------------------------------------------------

let gcFn: (() => void) | null = null;

/**
 * A full, synchronous garbage collection. Works without `node --expose-gc`: the flag is set at run
 * time and a fresh context picks up the `gc` global it installs.
 */
export function forceGc(): void {
  if (gcFn === null) {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (typeof existing === 'function') {
      gcFn = existing;
    } else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/**
 * Bytes the process holds for JavaScript objects and typed-array storage: `heapUsed + external`.
 * Node's `external` already includes `arrayBuffers` (typed-array backing stores), so adding
 * `arrayBuffers` as well would count every typed array twice.
 */
export function modelHeapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** `modelHeapBytes()` after two forced collections (the second catches what finalizers freed). */
export function settledHeapBytes(): number {
  forceGc();
  forceGc();
  return modelHeapBytes();
}

// ---- timing -----------------------------------------------------------------------------------------

let verbose = false;

/** With `--verbose`: print every measured repetition's time to stderr. */
export function setVerbose(on: boolean): void {
  verbose = on;
}

export interface TimedRunOptions<S> {
  /** Label for tinybench (and its error messages). */
  readonly name: string;
  /** Measured repetitions; the median is reported. Odd counts give an exact median. Default 5. */
  readonly reps?: number;
  /**
   * Unmeasured repetitions first (default 2). Big one-shot cases need more than one: the first runs
   * of a fresh process pay for JIT tier-up, deoptimizations on first-seen paths, and the OS faulting
   * in the freshly allocated typed arrays.
   */
  readonly warmup?: number;
  /** Untimed: builds fresh state (a new Kernel, populated as the case needs). */
  setup(): S;
  /** Timed: the operation being measured. Throws if the model reports a failure. */
  measure(state: S): void;
  /** Untimed: checks the result and drops the state so the next repetition starts clean. */
  teardown?(state: S): void;
}

/**
 * Median wall time, in milliseconds, of `measure` over `reps` fresh repetitions, after `warmup`
 * unmeasured ones. tinybench drives the loop (warmup, iteration count, hooks, statistics); `setup` and
 * `teardown` run in its beforeEach/afterEach hooks, outside the timed window, and the state is dropped
 * before the next setup, so one model is alive at a time.
 *
 * No GC is forced between repetitions, on purpose: a forced full GC hands freed typed-array memory
 * back to the OS and ages compiled code, so the next repetition paid fresh page faults (system time
 * 40-60 ms instead of 0-20 ms for populate) and ran about 30 % slower than in steady use. Garbage of
 * the previous repetition is collected when V8 decides, as it would be in a long simulation.
 */
export async function medianMs<S>(options: TimedRunOptions<S>): Promise<number> {
  const reps = options.reps ?? 5;
  const warmup = options.warmup ?? 2;
  const bench = new Bench({
    name: options.name,
    iterations: reps,
    time: 0,
    warmup: warmup > 0,
    warmupIterations: warmup,
    warmupTime: 0,
    throws: true,
    retainSamples: verbose,
  });
  let state: S | undefined;
  let hasState = false;
  let measured = false;
  // tinybench runs afterEach in a `finally`, also after a failed setup or measure: only check and
  // tear down a completed repetition, so the first error is the one reported.
  const releaseState = (): void => {
    const s = state as S;
    const complete = hasState && measured;
    state = undefined;
    hasState = false;
    measured = false;
    if (complete) options.teardown?.(s);
  };
  bench.add(
    options.name,
    () => {
      if (!hasState) throw new Error(`${options.name}: measure ran without setup`);
      options.measure(state as S);
      measured = true;
    },
    {
      beforeEach() {
        state = options.setup();
        hasState = true;
      },
      afterEach() {
        releaseState();
      },
    },
  );
  await bench.run();
  const task = bench.getTask(options.name);
  const result = task?.result;
  if (result === undefined || !('latency' in result)) {
    throw new Error(`${options.name}: tinybench produced no latency statistics`);
  }
  if (result.latency.samplesCount !== reps) {
    throw new Error(
      `${options.name}: expected ${reps} samples, tinybench took ${result.latency.samplesCount}`,
    );
  }
  if (verbose) {
    const samples = (result.latency.samples ?? []).map((ms) => ms.toFixed(1)).join(', ');
    process.stderr.write(
      `\n  ${options.name}: ${reps} runs, sorted ms [${samples}], median ${result.latency.p50.toFixed(1)}`,
    );
  }
  return result.latency.p50;
}

/** `units` of work per second, from the median time of the measured operation. */
export async function medianRate<S>(units: number, options: TimedRunOptions<S>): Promise<number> {
  const ms = await medianMs(options);
  if (!(ms > 0)) throw new Error(`${options.name}: median time ${ms} ms is not positive`);
  return units / (ms / 1000);
}
