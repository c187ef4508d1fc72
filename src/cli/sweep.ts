// `hetmem sweep GRID.yaml` and `hetmem sweep merge OUT IN...`: parameter sweeps. The grid is
// expanded into content-hashed jobs (`workload/sweep`), this process's shard of them is run on a
// pool of worker threads (piscina), and every finished job is appended to an NDJSON file and
// fsynced, so a killed sweep resumes where it stopped: lines already in the file are not redone.
// Shards run anywhere (`--shard i/N`, or a batch system's array index) and `merge` combines them.
//
// Exit codes: 0 every job ran and met its expectations; 1 a job threw or missed an expectation
// (sweep), or a job of the grid is missing (merge); 2 bad input.

import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Piscina } from 'piscina';
import { InputError, InputErrorList } from '../sim/errors.js';
import { loadScenario, parseScenarioText } from '../workload/scenario/load.js';
import { expandGrid, formatParams, parseGrid, type Sweep, type SweepJob } from '../workload/sweep/grid.js';
import {
  formatResultLine,
  mergeResults,
  parseResults,
  type SweepOutcome,
  type SweepRecord,
} from '../workload/sweep/results.js';
import {
  detectShard,
  inShard,
  type ShardSpec,
  shardOutputName,
  WHOLE_SWEEP,
} from '../workload/sweep/shard.js';
import { hetmemVersion, jobHash } from './sweepHash.js';
import { runSweepJob, type SweepTask } from './sweepWorker.js';
import { piscinaExecArgv, workerModule } from './workerModule.js';

export interface SweepOptions {
  /** Worker threads (default: available parallelism). */
  readonly workers?: number;
  /** `i/N` */
  readonly shard?: string;
  /** The shard count where the environment gives only an index (Kubernetes). */
  readonly shards?: number;
  /** Results file (default: the grid's `output:`, else `<grid name>.ndjson` beside the grid). */
  readonly output?: string;
  /** Print this shard's jobs (index, hash, seed, params) as NDJSON instead of running them. */
  readonly list?: boolean;
}

/** Failed jobs listed by name at the end of a sweep; the rest are counted. */
const FAILURES_LISTED = 10;
/** Missing jobs listed by name after a merge. */
const MISSING_LISTED = 20;

function readInput(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError({ file }, `a readable ${what}`, (e as NodeJS.ErrnoException).code ?? String(e));
  }
}

/** Reads a file the scenario names (page traces), once per sweep: every variant validates it. */
function cachedReader(scenarioFile: string): (path: string) => string {
  const cache = new Map<string, string>();
  return (p) => {
    const full = resolve(dirname(scenarioFile), p);
    let text = cache.get(full);
    if (text === undefined) {
      text = readFileSync(full, 'utf8');
      cache.set(full, text);
    }
    return text;
  };
}

/** A path the grid names: relative to the grid file's folder, unless absolute. */
function besideGrid(gridFile: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(gridFile), path);
}

/**
 * Reads a grid file and its base scenario and expands the jobs; every resolved scenario is
 * validated here, before any job runs. Throws InputError(List).
 */
export function loadSweepFile(gridFile: string): Sweep {
  const grid = parseGrid(readInput(gridFile, 'grid file'), gridFile);
  const scenarioFile = besideGrid(gridFile, grid.scenario);
  let text: string;
  try {
    text = readFileSync(scenarioFile, 'utf8');
  } catch (e) {
    throw grid.errorAt(
      ['scenario'],
      'a readable scenario file (relative to the grid file)',
      `${scenarioFile} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  const readFile = cachedReader(scenarioFile);
  // The base scenario first, with its own line numbers, then every combination.
  loadScenario(text, scenarioFile, readFile);
  return expandGrid(grid, parseScenarioText(text, scenarioFile), scenarioFile, readFile);
}

/** Where a sweep's results go: `--output`, else the grid's `output:`, else `<name>.ndjson`; per shard. */
export function sweepOutputFile(sweep: Sweep, shard: ShardSpec, output?: string): string {
  if (output !== undefined) return output;
  const dir = dirname(sweep.grid.file);
  const file =
    sweep.grid.output === null
      ? join(dir, `${sweep.grid.name}.ndjson`)
      : besideGrid(sweep.grid.file, sweep.grid.output);
  return shardOutputName(file, shard);
}

// ---- running jobs ----------------------------------------------------------------------------------

/** Runs jobs one at a time or on worker threads. */
export interface JobExecutor {
  readonly threads: number;
  run(task: SweepTask): Promise<SweepOutcome>;
  close(): Promise<void>;
}

/**
 * `workers` threads of a piscina pool, or with one worker (and `inProcess` not false) this thread.
 * Under tsx, workers inherit the parent's `--import tsx`; a parent that compiled TypeScript another
 * way (vitest) gets the tsx loader added for them.
 */
export function createExecutor(workers: number, options: { inProcess?: boolean } = {}): JobExecutor {
  if (workers === 1 && options.inProcess !== false) {
    return {
      threads: 1,
      async run(task) {
        // Let the event loop breathe between jobs (progress, signals).
        await new Promise((r) => setImmediate(r));
        return runSweepJob(task);
      },
      async close() {},
    };
  }
  const { url, source } = workerModule(import.meta.url, 'sweepWorker');
  const execArgv = piscinaExecArgv(source);
  const pool = new Piscina<SweepTask, SweepOutcome>({
    filename: url,
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
    ...(execArgv !== undefined ? { execArgv } : {}),
  });
  return {
    threads: workers,
    run: (task) => pool.run(task),
    close: () => pool.destroy(),
  };
}

/**
 * Runs `jobs` on `executor`, at most two per thread in flight (a million-job shard is not queued
 * at once), calling `done` as each finishes, in completion order. A worker that dies is recorded
 * as the job's error.
 */
export async function runJobs(
  jobs: readonly SweepJob[],
  scenarioFile: string,
  executor: JobExecutor,
  done: (job: SweepJob, outcome: SweepOutcome) => void,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      let outcome: SweepOutcome;
      try {
        outcome = await executor.run({ scenario: job.variant.scenario, file: scenarioFile, seed: job.seed });
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        outcome = { kind: 'error', error: { name: 'WorkerError', message: err.message } };
      }
      done(job, outcome);
    }
  };
  const lanes = Math.min(jobs.length, executor.threads * 2);
  await Promise.all(Array.from({ length: lanes }, lane));
}

/**
 * jobs done/total with an ETA on stderr: only on a terminal, and only once a sweep has run for a
 * second (the bar then stays, its ETA refreshed by cli-progress, even while no job finishes).
 */
function sweepProgress(name: string, total: number, start: number): { tick: () => void; stop: () => void } {
  let value = start;
  let bar: cliProgress.SingleBar | null = null;
  const timer = process.stderr.isTTY
    ? setTimeout(() => {
        bar = new cliProgress.SingleBar(
          {
            format: `hetmem: sweep ${name} [{bar}] {value}/{total} jobs, ETA {eta_formatted}`,
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
            etaBuffer: 20,
          },
          cliProgress.Presets.legacy,
        );
        bar.start(total, value);
      }, 1000)
    : null;
  // A sweep that ends sooner must not wait for the timer.
  timer?.unref();
  return {
    tick() {
      value++;
      bar?.update(value);
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      bar?.stop();
    },
  };
}

/**
 * The complete lines of a results file: a torn last line (a run killed mid-write) is reported and
 * cut off, so appending starts on a fresh line. Returns '' for a missing file.
 */
function readCompleteLines(file: string, cut: boolean): string {
  if (!existsSync(file)) return '';
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new InputError({ file }, 'a readable results file', (e as NodeJS.ErrnoException).code ?? String(e));
  }
  const complete = buf.lastIndexOf(0x0a) + 1;
  if (complete < buf.length) {
    process.stderr.write(
      `hetmem: ${file}: ${cut ? 'removing' : 'ignoring'} an incomplete last line (${buf.length - complete} bytes, from a run that was stopped)\n`,
    );
    if (cut) truncateSync(file, complete);
  }
  return buf.subarray(0, complete).toString('utf8');
}

function jobName(job: SweepJob): string {
  return `job ${job.index} (seed ${job.seed}, ${formatParams(job.variant.params)})`;
}

export async function sweepCommand(gridFile: string, options: SweepOptions): Promise<number> {
  const sweep = loadSweepFile(gridFile);
  const shard = detectShard({ shard: options.shard, shards: options.shards }, process.env) ?? WHOLE_SWEEP;
  const version = hetmemVersion();
  const mine = sweep.jobs.filter((j) => inShard(j.index, shard));
  const hashes = new Map<SweepJob, string>(mine.map((j) => [j, jobHash(j, version)]));

  if (options.list) {
    for (const j of mine)
      process.stdout.write(
        `${JSON.stringify({ index: j.index, hash: hashes.get(j), seed: j.seed, params: j.variant.params })}\n`,
      );
    return 0;
  }

  const out = sweepOutputFile(sweep, shard, options.output);
  const existing = parseResults(readCompleteLines(out, true), out);
  for (const m of existing.malformed)
    process.stderr.write(`hetmem: skipping a line that is not a result: ${m.message}\n`);
  const byHash = new Map<string, SweepRecord>();
  for (const r of existing.records) if (!byHash.has(r.hash)) byHash.set(r.hash, r);
  const done = mine.filter((j) => byHash.has(hashes.get(j)!));
  const todo = mine.filter((j) => !byHash.has(hashes.get(j)!));
  const mineHashes = new Set(hashes.values());
  const foreign = [...byHash.keys()].filter((h) => !mineHashes.has(h)).length;
  if (foreign > 0) {
    process.stderr.write(
      `hetmem: ${out}: ${foreign} line(s) are not jobs of this grid${shard.count > 1 ? ' and shard' : ''} (kept, not counted)\n`,
    );
  }
  const where = shard.count > 1 ? `shard ${shard.index}/${shard.count} (${shard.source}), ` : '';
  if (done.length > 0) {
    process.stderr.write(
      `hetmem: ${where}${done.length} of ${mine.length} jobs already in ${out}; running the other ${todo.length}\n`,
    );
  }

  const failed: { job: SweepJob; why: string }[] = [];
  for (const j of done) {
    const r = byHash.get(hashes.get(j)!)!;
    if (r.failed)
      failed.push({
        job: j,
        why: r.error === null ? 'expectations not met' : `${r.error.name}: ${r.error.message}`,
      });
  }

  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), todo.length || 1));
  const executor = todo.length === 0 ? null : createExecutor(workers);
  let fd: number;
  try {
    mkdirSync(dirname(resolve(out)), { recursive: true });
    fd = openSync(out, 'a');
  } catch (e) {
    await executor?.close();
    throw new InputError(
      { file: out },
      'a writable results file',
      (e as NodeJS.ErrnoException).code ?? String(e),
    );
  }
  const progress = sweepProgress(sweep.grid.name, mine.length, done.length);
  try {
    if (executor !== null) {
      await runJobs(todo, resolve(sweep.scenarioFile), executor, (job, outcome) => {
        writeSync(fd, `${formatResultLine(job, hashes.get(job)!, outcome)}\n`);
        fsyncSync(fd);
        if (outcome.kind === 'error')
          failed.push({ job, why: `${outcome.error.name}: ${outcome.error.message}` });
        else if (!outcome.expectationsMet) failed.push({ job, why: 'expectations not met' });
        progress.tick();
      });
    }
  } finally {
    progress.stop();
    closeSync(fd);
    await executor?.close();
  }

  failed.sort((a, b) => a.job.index - b.job.index);
  for (const f of failed.slice(0, FAILURES_LISTED))
    process.stderr.write(`hetmem: ${jobName(f.job)}: ${f.why}\n`);
  if (failed.length > FAILURES_LISTED)
    process.stderr.write(`hetmem: ... and ${failed.length - FAILURES_LISTED} more\n`);
  const errors = failed.filter((f) => f.why !== 'expectations not met').length;
  process.stdout.write(
    `${sweep.grid.name}: ${where}${mine.length} of ${sweep.jobs.length} jobs: ${todo.length} run now, ${done.length} already done; ` +
      `${errors} failed, ${failed.length - errors} missed expectations -> ${out}\n`,
  );
  return failed.length === 0 ? 0 : 1;
}

// ---- merge -----------------------------------------------------------------------------------------

export interface MergeOptions {
  /** The grid the shards came from: checks that every job is there. */
  readonly grid?: string;
}

/** merge OUT IN...: one line per job, by index; exit 1 when a job of `--grid` is missing. */
export async function sweepMergeCommand(
  out: string,
  inputs: readonly string[],
  options: MergeOptions,
): Promise<number> {
  const records: SweepRecord[] = [];
  const malformed: InputError[] = [];
  for (const file of inputs) {
    if (!existsSync(file)) throw new InputError({ file }, 'a readable results file', 'ENOENT');
    const parsed = parseResults(readCompleteLines(file, false), file);
    records.push(...parsed.records);
    malformed.push(...parsed.malformed);
  }
  if (malformed.length > 0) throw new InputErrorList(malformed);

  let expected: Map<string, SweepJob> | undefined;
  if (options.grid !== undefined) {
    const sweep = loadSweepFile(options.grid);
    const version = hetmemVersion();
    expected = new Map(sweep.jobs.map((j) => [jobHash(j, version), j]));
  }
  const merged = mergeResults(records, expected);

  // Written beside OUT and renamed over it: OUT may be one of the inputs, and a reader never sees
  // half a file.
  mkdirSync(dirname(resolve(out)), { recursive: true });
  const tmp = join(dirname(resolve(out)), `.${basename(out)}.${process.pid}.tmp`);
  writeFileSync(tmp, merged.records.map((r) => `${r.text}\n`).join(''));
  const fd = openSync(tmp, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, out);

  for (const c of merged.conflicts) {
    process.stderr.write(
      `hetmem: job ${c[0].index} (hash ${c[0].hash.slice(0, 12)}) has ${c.length} different lines ` +
        `(${c.map((r) => `${r.file}:${r.line}`).join(', ')}); kept the first\n`,
    );
  }
  if (merged.unknown.length > 0) {
    const files = [...new Set(merged.unknown.map((r) => r.file))].join(', ');
    process.stderr.write(
      `hetmem: dropped ${merged.unknown.length} line(s) that are not jobs of ${options.grid} (from ${files}; another grid or hetmem version?)\n`,
    );
  }
  const failed = merged.records.filter((r) => r.failed).length;
  const total = expected === undefined ? '' : ` of ${expected.size}`;
  process.stdout.write(
    `merged ${merged.records.length}${total} jobs from ${inputs.length} file(s) into ${out}` +
      `${merged.duplicates > 0 ? ` (${merged.duplicates} duplicate line(s) dropped)` : ''}; ${failed} failed or missed expectations\n`,
  );
  if (merged.missing.length > 0) {
    process.stdout.write(`${merged.missing.length} job(s) missing:\n`);
    for (const j of merged.missing.slice(0, MISSING_LISTED)) process.stdout.write(`  ${jobName(j)}\n`);
    if (merged.missing.length > MISSING_LISTED)
      process.stdout.write(`  ... and ${merged.missing.length - MISSING_LISTED} more\n`);
    return 1;
  }
  return 0;
}
