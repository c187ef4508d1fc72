// The race finder on the real GPU (src/devices/gpu): its driver's service thread is the step
// program the engine runs in `hetmem run`, so the explorer interleaves the driver's own passes
// (migrations, hmm_range_fault snapshots, commits under the table lock) with GPU threads, CPU
// threads and the kernel's invalidation windows. The shipped driver passes; the same driver with
// mmu_interval_read_retry made to always answer "still valid" (swapped in here) is caught.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { InputErrorList } from '../../sim/errors.js';
import * as interval from '../../notifier/interval.js';
import { explore, replaySchedule, type Strategy } from './explore.js';
import { loadExploreScenario } from './scenario.js';
import type { WorldSpec } from './world.js';

/** The driver under test skips the read_retry check (its commit stores any snapshot). */
const bug = vi.hoisted(() => ({ noRetryCheck: false }));
vi.mock('../../notifier/interval.js', async (importOriginal) => {
  const real = await importOriginal<typeof interval>();
  return {
    ...real,
    mmuIntervalReadRetry: (isub: interval.MmuIntervalNotifier, seq: number): boolean =>
      !bug.noRetryCheck && real.mmuIntervalReadRetry(isub, seq),
  };
});

const STRATEGIES: readonly Strategy[] = ['random', 'pct', 'exhaustive'];

/** A mirroring GPU reads two pages while the CPU drops one and writes the other. */
const mirrorSpec: WorldSpec = {
  pages: 2,
  devices: [],
  gpus: [{ name: 'gpu0', mode: 'mirror' }],
  actors: [
    {
      name: 'warp',
      gpu: 'gpu0',
      accesses: [
        { page: 0, write: false },
        { page: 1, write: false },
      ],
    },
    {
      name: 'cpu',
      cpu: [
        { op: 'dontneed', first: 0, pages: 1 },
        { op: 'touch', page: 1, write: true },
      ],
    },
  ],
};

/** A migrating GPU with room for one page, and a CPU taking a page back. */
const migrateSpec: WorldSpec = {
  pages: 3,
  devices: [],
  gpus: [{ name: 'gpu0', mode: 'migrate', memoryPages: 1 }],
  actors: [
    {
      name: 'warp',
      gpu: 'gpu0',
      accesses: [
        { page: 0, write: true },
        { page: 1, write: false },
        { page: 2, write: true, atomic: true },
      ],
    },
    {
      name: 'cpu',
      cpu: [
        { op: 'touch', page: 0, write: false },
        { op: 'mprotect', first: 1, pages: 1, prot: 'r' },
        { op: 'munmap', first: 2, pages: 1 },
      ],
    },
  ],
};

describe('the explorer on the real GPU driver', () => {
  afterEach(() => {
    bug.noRetryCheck = false;
  });

  it('finds no violation in the shipped driver under every strategy, in both modes', () => {
    for (const spec of [mirrorSpec, migrateSpec]) {
      for (const strategy of STRATEGIES) {
        const r = explore(spec, { strategy, schedules: 400, seed: 2 });
        expect(r.failure?.violation.message ?? null, `${spec.gpus![0].mode} ${strategy}`).toBeNull();
        expect(r.schedules).toBeGreaterThan(0);
      }
    }
  });

  it('runs the driver as an actor of its own, through its passes and its commit under the table lock', () => {
    const r = replaySchedule(mirrorSpec, []);
    expect(r.violation).toBeNull();
    const labels = r.steps.map((s) => s.label);
    expect(labels).toContain('gpu0/driver: take faults from the buffer');
    expect(labels).toContain('gpu0/driver: commit the mirror snapshot');
    expect(labels.some((l) => /^gpu0\/driver: take gpu0's table lock/.test(l))).toBe(true);
    expect(labels).toContain('warp: wait for the fault on page 0');
    expect(r.names).toContain('gpu0/driver');
  });

  it('catches the driver without the read_retry check: the GPU maps a freed or stale frame', () => {
    bug.noRetryCheck = true;
    for (const strategy of STRATEGIES) {
      const r = explore(mirrorSpec, { strategy, schedules: 2000, seed: 2 });
      expect(['freed-frame', 'stale-mirror'], strategy).toContain(r.failure?.violation.kind);
      expect(r.failure!.violation.message).toMatch(/^gpu0(:| can reach)/);
      // The race: the snapshot is taken, the CPU drops the page, the stale snapshot is committed.
      const labels = r.failure!.steps.map((s) => s.label);
      expect(labels).toContain('cpu: dontneed pages 0..0');
      expect(labels).toContain('gpu0/driver: commit the mirror snapshot');
      // The shrunk schedule replays to the same violation.
      const again = replaySchedule(mirrorSpec, r.failure!.schedule);
      expect(again.violation?.kind).toBe(r.failure!.violation.kind);
    }
  });
});

describe('two GPUs faulting on one page', () => {
  /** A migrating GPU and a mirroring one read the same page. */
  const pingPong = (thrashing: 'none' | 'remote'): WorldSpec => ({
    pages: 1,
    devices: [],
    gpus: [
      { name: 'gpu0', mode: 'migrate', thrashing },
      { name: 'gpu1', mode: 'mirror' },
    ],
    actors: [
      { name: 'warp0', gpu: 'gpu0', accesses: [{ page: 0, write: false }] },
      { name: 'warp1', gpu: 'gpu1', accesses: [{ page: 0, write: false }] },
    ],
  });

  it('ping-pong the page forever under a schedule that always lets the other GPU in first', () => {
    // gpu0 migrates the page in; gpu1's hmm_range_fault takes it back (migrate_to_ram) before
    // warp0 retries; and so on. A fair schedule ends it, so only the exhaustive walk finds it.
    const r = explore(pingPong('none'), { strategy: 'exhaustive', schedules: 500 });
    expect(r.failure?.violation.kind).toBe('livelock');
    expect(r.failure!.violation.message).toMatch(/^warp[01]'s read page 0 faulted 16 times/);
  });

  it('settle once the migrating GPU maps a thrashing page remotely (UVM thrashing mitigation)', () => {
    const r = explore(pingPong('remote'), { strategy: 'exhaustive', schedules: 1500 });
    expect(r.failure?.violation.message ?? null).toBeNull();
  });
});

describe('GPU explore scenarios', () => {
  it('names an undeclared GPU and a page outside the region at line and column', async () => {
    const text = [
      'name: bad',
      'pages: 2',
      'gpus: [{ name: gpu0 }]',
      'actors:',
      '  - { name: w, gpu: gpu9, accesses: [{ page: 0 }] }',
      '  - { name: v, gpu: gpu0, accesses: [{ page: 5 }] }',
    ].join('\n');
    const noModules = () => Promise.reject(new Error('no driver modules here'));
    const err = await loadExploreScenario(text, 'bad.yaml', noModules).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputErrorList);
    const message = (err as Error).message;
    expect(message).toMatch(/bad\.yaml:5:\d+.*one of the gpus \(gpu0\)/);
    expect(message).toMatch(/bad\.yaml:6:\d+.*a page inside the region \(0\.\.1\)/);
  });
});
