// Figures of the simulation engine: raw event throughput, GPU far faults serviced end to end through
// the modeled kernel, and the peak resident memory of a run with a million resident pages.
//
// Timing method: as elsewhere, tinybench runs warmup + REPS repetitions and the median is
// reported; every repetition builds a fresh machine outside the timer and checks its result after.

import { GpuDevice } from '../src/devices/gpu/gpu.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
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

// ---- engine.far_faults_per_s -----------------------------------------------------------------------

const FAULT_PAGES = 1 << 18;

interface GpuRun {
  readonly kernel: Kernel;
  readonly gpu: GpuDevice;
  readonly addr: number;
}

const farFaults: Figure = {
  name: 'engine.far_faults_per_s',
  unit: 'faults/s',
  target: { min: 500_000 },
  description: `tokens mode: a GPU kernel streams over ${FAULT_PAGES.toLocaleString('en-US')} resident pages it has never seen: each is a far fault into the fault buffer, serviced in batches by the driver actor with migrate_vma_* into GPU memory, then replayed`,
  run: () =>
    medianRate(FAULT_PAGES, {
      name: 'engine_far_faults',
      reps: REPS,
      setup: (): GpuRun => {
        const kernel = new Kernel({ ramBytes: (FAULT_PAGES + 8192) * PAGE_SIZE, contentMode: 'tokens' });
        const gpu = new GpuDevice(kernel, { name: 'gpu0', memoryBytes: FAULT_PAGES * PAGE_SIZE });
        const p = kernel.spawn();
        const addr = p.mmap(0, FAULT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (p.touch(addr, FAULT_PAGES * PAGE_SIZE, true).signal !== 0) throw new Error('touch failed');
        return { kernel, gpu, addr };
      },
      measure: ({ kernel, gpu, addr }) => {
        let i = 0;
        gpu.launch({
          mm: [...kernel.tasks.values()][0].mm!,
          baseVpn: addr / PAGE_SIZE,
          write: false,
          stream: { next: () => (i < FAULT_PAGES ? i++ : -1) },
        });
        kernel.runUntilIdle();
      },
      teardown: ({ kernel, gpu }) => {
        const faults = kernel.stats.get('gpu.gpu0.far_faults');
        const moved = kernel.stats.get('gpu.gpu0.pages_to_device');
        if (faults !== FAULT_PAGES || moved !== FAULT_PAGES)
          throw new Error(`${faults} far faults, ${moved} pages migrated; expected ${FAULT_PAGES}`);
        if (gpu.memory.usedPages !== FAULT_PAGES) throw new Error(`${gpu.memory.usedPages} GPU pages in use`);
        for (const t of [...kernel.tasks.values()]) t.exit();
        if (kernel.mem.usedPages() !== 0 || gpu.memory.usedPages !== 0)
          throw new Error('pages leaked after exit');
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

export const engineFigures: readonly Figure[] = [eventsPerS, farFaults, rssMb];
