// Figures of the simulation engine: raw event throughput and the peak resident memory of a run
// with a million resident pages (GPU figures are in gpu.bench.ts).
//
// Timing method: as elsewhere, tinybench runs warmup + REPS repetitions and the median is
// reported; every repetition builds a fresh machine outside the timer and checks its result after.

import type { Actor, StepResult } from '../src/sim/engine.js';
import { SimClock } from '../src/sim/clock.js';
import { Engine } from '../src/sim/engine.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Figure, medianRate } from './harness.js';

const REPS = 5;

// ---- engine.events_per_s ---------------------------------------------------------------------------

const ACTORS = 1000;
const EVENTS = 2_000_000;

/** An actor that charges a little and steps again after a varying delay, until its budget is spent. */
class Ticker implements Actor {
  readonly name: string;
  private left: number;
  constructor(
    id: number,
    steps: number,
    private readonly delay: number,
  ) {
    this.name = `ticker${id}`;
    this.left = steps;
  }
  step(engine: Engine): StepResult {
    engine.charge(1);
    return --this.left === 0 ? 'done' : this.delay;
  }
}

const eventsPerS: Figure = {
  name: 'engine.events_per_s',
  unit: 'events/s',
  target: { min: 2_000_000 },
  description: `${ACTORS} actors stepping with different periods until ${EVENTS.toLocaleString('en-US')} steps ran: the (time, sequence) heap, the actor dispatch and the charge accounting`,
  run: () =>
    medianRate(EVENTS, {
      name: 'engine_events',
      reps: REPS,
      setup: () => {
        const engine = new Engine(new SimClock());
        for (let i = 0; i < ACTORS; i++) engine.addActor(new Ticker(i, EVENTS / ACTORS, 100 + (i % 37) * 13));
        return engine;
      },
      measure: (engine) => {
        const n = engine.run();
        if (n !== EVENTS) throw new Error(`ran ${n} events, expected ${EVENTS}`);
      },
      teardown: (engine) => {
        if (engine.actorStats().some((a) => !a.done)) throw new Error('an actor did not finish');
      },
    }),
};

// ---- engine.rss_MB_1Mi_pages -----------------------------------------------------------------------

const rssMb: Figure = {
  name: 'engine.rss_MB_1Mi_pages',
  unit: 'MB',
  target: { max: 400 },
  description:
    'peak resident set of the whole process (process.memoryUsage().rss, sampled during the run) for a tokens-mode run with 1 Mi pages resident: 768 Ki in RAM and 256 Ki migrated into GPU memory; MB = 2^20 bytes',
  run: () => {
    // A fresh process: this one holds the memory of the figures that ran before.
    const script = fileURLToPath(new URL('./rssRun.ts', import.meta.url));
    const args = [...process.execArgv.filter((a) => !a.startsWith('--eval')), script];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`rss run failed (${r.status}): ${r.stderr.trim()}`);
    return Number(r.stdout.trim()) / 2 ** 20;
  },
};

export const engineFigures: readonly Figure[] = [eventsPerS, rssMb];
