// Figure of the sweep runner: how much faster a grid of CPU-bound jobs runs on two worker threads
// than on one (`hetmem sweep --workers 2` against `--workers 1`, both on piscina threads).
//
// Timing method: one grid of 8 jobs (an oversubscribed GPU working through a 48 MiB buffer, each
// job about 0.3-0.5 s) is expanded once. Two pools are started, one thread and two threads, and
// warmed untimed (every thread compiles the model and runs jobs until its JIT has settled: a cold
// thread runs its first job 3-5 times slower, which is start-up cost, not parallelism). Then the
// whole grid is timed on each pool, alternating 1 and 2 threads per round so a change in machine
// load hits both alike, 3 rounds; the figure is median(t1) / median(t2). Every job must return a
// summary that meets its expectations, and both pools must return the same summaries.

import { resolve } from 'node:path';
import { createExecutor, type JobExecutor, runJobs } from '../src/cli/sweep.js';
import { parseScenarioText } from '../src/workload/scenario/load.js';
import { expandGrid, parseGrid, type SweepJob } from '../src/workload/sweep/grid.js';
import type { SweepOutcome } from '../src/workload/sweep/results.js';
import type { Figure } from './harness.js';

const ROUNDS = 3;
const WARMUP_ROUNDS = 3;

const BASE = `name: sweep-bench
machine:
  ram: 512MiB
  devices:
    - { kind: gpu, name: gpu0, memory: 32MiB, mode: migrate, policies: { eviction: lru-4k } }
processes:
  - name: app
    program:
      - { op: mmap, name: data, size: 48MiB }
      - { op: touch, region: data, write: true }
      - { op: gpu, device: gpu0, region: data, pattern: { kind: sequential, passes: 8 } }
expect:
  - { metric: pagesToHost, min: 4096 }
  - { noLeaks: true }
`;

const GRID = `scenario: sweep-bench.yaml
seeds: { from: 1, count: 4 }
parameters:
  machine.devices[0].policies.eviction: [lru-4k, lru-2m]
`;

/** The 8 jobs, expanded the way `hetmem sweep` does. */
function benchJobs(): { jobs: readonly SweepJob[]; file: string } {
  const file = resolve('bench/sweep-bench.yaml'); // never read: the scenario names no files
  const grid = parseGrid(GRID, 'bench/sweep-bench.grid.yaml');
  const sweep = expandGrid(grid, parseScenarioText(BASE, file), file, (p) => {
    throw new Error(`the bench scenario reads no files (${p})`);
  });
  if (sweep.jobs.length !== 8) throw new Error(`expected 8 jobs, the grid has ${sweep.jobs.length}`);
  return { jobs: sweep.jobs, file };
}

/** Runs every job; returns the wall time in ms and the summaries by job index. */
async function timeGrid(
  executor: JobExecutor,
  jobs: readonly SweepJob[],
  file: string,
): Promise<{ ms: number; summaries: string[] }> {
  const summaries: string[] = new Array<string>(jobs.length);
  const t0 = performance.now();
  await runJobs(jobs, file, executor, (job, outcome: SweepOutcome) => {
    if (outcome.kind === 'error')
      throw new Error(`job ${job.index}: ${outcome.error.name}: ${outcome.error.message}`);
    if (!outcome.expectationsMet) throw new Error(`job ${job.index}: expectations not met`);
    summaries[job.index] = outcome.summaryJson;
  });
  return { ms: performance.now() - t0, summaries };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const speedup2: Figure = {
  name: 'sweep.speedup_2_workers',
  unit: 'x',
  target: { min: 1.7 },
  description:
    'wall time of a grid of 8 CPU-bound scenario jobs (~0.3-0.5 s each) on 1 worker thread / on 2 (piscina pools, warmed); ' +
    `median of ${ROUNDS} rounds each, alternating`,
  async run() {
    const { jobs, file } = benchJobs();
    const one = createExecutor(1, { inProcess: false });
    const two = createExecutor(2, { inProcess: false });
    try {
      // Warm every thread: one job per thread at a time, so each of the two gets its share.
      for (const ex of [one, two])
        for (let r = 0; r < WARMUP_ROUNDS; r++) await timeGrid(ex, jobs.slice(0, ex.threads), file);
      const t1: number[] = [];
      const t2: number[] = [];
      let reference: string[] | null = null;
      for (let r = 0; r < ROUNDS; r++) {
        for (const [ex, times] of [
          [one, t1],
          [two, t2],
        ] as const) {
          const { ms, summaries } = await timeGrid(ex, jobs, file);
          reference ??= summaries;
          const differs = summaries.findIndex((s, i) => s !== reference![i]);
          if (differs >= 0) throw new Error(`job ${differs}: a different summary on ${ex.threads} thread(s)`);
          times.push(ms);
        }
      }
      if (process.argv.includes('--verbose') || process.argv.includes('-v')) {
        process.stderr.write(
          `\n  sweep: t1 [${t1.map((t) => t.toFixed(0)).join(', ')}] ms, t2 [${t2.map((t) => t.toFixed(0)).join(', ')}] ms`,
        );
      }
      return median(t1) / median(t2);
    } finally {
      await one.close();
      await two.close();
    }
  },
};

export const sweepFigures: readonly Figure[] = [speedup2];
