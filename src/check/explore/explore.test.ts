// The race finder end to end, from the library: every example scenario finds its bug (with the
// expected kind) and its fixed twin stays clean under every strategy; drivers written here from
// scratch against the MirrorDevice API (not the built-in ones) are caught for each kind of mistake
// and their correct versions pass; schedules are deterministic and respect locks and invalidation
// windows; the exhaustive walk visits exactly the interleavings counted by hand, and its sleep sets
// prune only orders equivalent to one already run (checked against a brute-force enumeration);
// shrunk schedules and seeds replay the violation they report.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HMM_PFN_VALID } from '../../hmm/hmmPfn.js';
import { ExhaustiveWalk } from './exhaustive.js';
import { explore, type ExploreOptions, replaySchedule, replaySeed, type Strategy } from './explore.js';
import { type InvalidateCallback, MIRROR_READ } from './mirrorDevice.js';
import { DriverLock, type Program, step } from './program.js';
import { type DriverImporter, loadExploreScenario } from './scenario.js';
import { KERNEL_ACTOR, runSchedule, ScheduleAbandoned, type ScheduleResult } from './schedule.js';
import { randomChooser } from './strategies.js';
import type { ViolationKind } from './violation.js';
import type { ActorSpec, CpuOp, DriverEnv, DriverProgram, WorldSpec } from './world.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples/explore');
const STRATEGIES: readonly Strategy[] = ['random', 'pct', 'exhaustive'];

/** Imports user driver modules relative to the scenario file, as the CLI does for .mjs modules. */
function importerFor(file: string): DriverImporter {
  return async (module, exportName) => {
    const mod = (await import(pathToFileURL(resolve(dirname(file), module)).href)) as Record<string, unknown>;
    if (!(exportName in mod)) throw new Error(`${module} has no export ${exportName}`);
    return mod[exportName] as DriverProgram;
  };
}

async function loadExample(name: string) {
  const file = join(EXAMPLES, name);
  return loadExploreScenario(readFileSync(file, 'utf8'), file, importerFor(file));
}

/** Actor names of a schedule's steps, in order (what `--schedule` takes). */
const actorNames = (r: ScheduleResult): string[] => r.steps.map((t) => r.names[t.actor]);

function world(
  actors: ActorSpec[],
  options: { pages?: number; devices?: WorldSpec['devices'] } = {},
): WorldSpec {
  return { pages: options.pages ?? 4, devices: options.devices ?? [{ name: 'm0' }], actors };
}

const driver = (name: string, program: DriverProgram, device = 'm0'): ActorSpec => ({
  name,
  device,
  driver: program,
});
const cpu = (name: string, ...ops: CpuOp[]): ActorSpec => ({ name, cpu: ops });

// ---- the examples ---------------------------------------------------------------------------------

/** What each buggy example must be caught as. */
const EXPECTED_KIND: Readonly<Record<string, ViolationKind>> = {
  'mirror-no-retry-check': 'protocol',
  'mirror-update-outside-lock': 'protocol',
  'mirror-read-begin-hoisted': 'livelock',
  'exclusive-ignores-owner': 'livelock',
  'teardown-races-fault': 'use-after-free',
  'pasid-reused-with-work-queued': 'pasid-reuse',
};

const exampleFiles = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('examples/explore', () => {
  it('every example says what it expects, and every buggy one has an expected kind here', async () => {
    expect(exampleFiles.length).toBeGreaterThanOrEqual(10);
    const buggy: string[] = [];
    for (const f of exampleFiles) {
      const s = await loadExample(f);
      expect(s.expect, f).not.toBeNull();
      if (s.expect === 'violation') buggy.push(s.name);
    }
    // A new buggy example needs its kind here: the examples are only as good as what they catch.
    expect(buggy.sort(), 'add the kind of each new buggy example to EXPECTED_KIND').toEqual(
      Object.keys(EXPECTED_KIND).sort(),
    );
  });

  for (const f of exampleFiles) {
    it(`${f}: with its own defaults, finds what it expects`, async () => {
      const s = await loadExample(f);
      const r = explore(s.spec, {
        strategy: s.strategy,
        schedules: s.schedules,
        seed: s.seed,
        depth: s.depth,
        maxSteps: s.maxSteps,
      });
      if (s.expect === 'violation') {
        expect(r.failure, `${f}: no violation in ${r.schedules} schedules`).not.toBeNull();
        expect(r.failure!.violation.kind, r.failure!.violation.message).toBe(EXPECTED_KIND[s.name]);
      } else {
        expect(r.failure?.violation.message ?? null).toBeNull();
        // The budget is spent (an exhaustive walk may finish first).
        if (!r.exhausted) expect(r.schedules).toBe(s.schedules);
      }
    });

    it(`${f}: the same under random, pct and exhaustive with 500 schedules`, async () => {
      const s = await loadExample(f);
      for (const strategy of STRATEGIES) {
        const r = explore(s.spec, {
          strategy,
          schedules: 500,
          seed: s.seed,
          depth: s.depth,
          maxSteps: s.maxSteps,
        });
        if (s.expect === 'violation') {
          expect(r.failure, `${strategy}: nothing found`).not.toBeNull();
          expect(r.failure!.violation.kind, `${strategy}: ${r.failure!.violation.message}`).toBe(
            EXPECTED_KIND[s.name],
          );
          expect(r.failure!.seed === null).toBe(strategy === 'exhaustive');
        } else {
          expect(r.failure?.violation.message ?? null, strategy).toBeNull();
          expect(r.exhausted || r.schedules === 500, strategy).toBe(true);
        }
      }
    });
  }
});

// ---- drivers written here --------------------------------------------------------------------------

/** (a) Stores the hmm_range_fault snapshot with dev.mirror.set, under the lock, with no read_retry. */
function* storesWithoutRetry({ dev, startVpn, pages }: DriverEnv): Program {
  const seq = yield* dev.readBegin();
  const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
  if (rc !== 0) return;
  yield* dev.takeLock();
  for (let i = 0; i < pages; i++) {
    if (range.flags[i] & HMM_PFN_VALID) dev.mirror.set(startVpn + i, range.pfns[i], MIRROR_READ);
  }
  yield* dev.dropLock();
}

/** (a, fixed) The notifier sequence protocol: read_begin in the loop, read_retry under the lock. */
function* storesWithRetry({ dev, startVpn, pages }: DriverEnv): Program {
  for (let attempt = 0; attempt < 20; attempt++) {
    const seq = yield* dev.readBegin();
    const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
    if (rc === -16) continue; // -EBUSY: the sequence moved during the walk
    if (rc !== 0) return;
    yield* dev.takeLock();
    if (yield* dev.readRetry(seq)) {
      yield* dev.dropLock();
      continue;
    }
    yield* dev.commit(range);
    yield* dev.dropLock();
    return;
  }
}

/** (b) Takes its lock and returns holding it. */
function* leaksLock({ dev }: DriverEnv): Program {
  yield* dev.takeLock();
  yield step(`${dev.name}: work under the lock`);
}

/** (b, fixed) */
function* dropsLock({ dev }: DriverEnv): Program {
  yield* dev.takeLock();
  yield step(`${dev.name}: work under the lock`);
  yield* dev.dropLock();
}

/** A callback that takes the lock for every range, its own exclusive requests included. */
const alwaysLocks: InvalidateCallback = (dev, range, curSeq) => {
  dev.callbackLock();
  dev.setSeq(curSeq);
  dev.clearMirror(range.startVpn, range.endVpn);
  dev.callbackUnlock();
  return true;
};

/** (c) Holds its lock across make_device_exclusive, whose invalidation calls back into the driver. */
function* exclusiveUnderLock({ dev, startVpn, pages }: DriverEnv): Program {
  yield* dev.takeLock();
  const seq = yield* dev.readBegin();
  const granted = yield* dev.makeExclusive(startVpn, startVpn + pages);
  if (!(yield* dev.readRetry(seq))) yield* dev.commitExclusive(startVpn, granted, seq);
  yield* dev.dropLock();
}

/** (c, fixed) dmirror_exclusive's order: the grant first, then the lock and the check. */
function* exclusiveThenLock({ dev, startVpn, pages }: DriverEnv): Program {
  for (let attempt = 0; attempt < 20; attempt++) {
    const seq = yield* dev.readBegin();
    const granted = yield* dev.makeExclusive(startVpn, startVpn + pages);
    yield* dev.takeLock();
    if (yield* dev.readRetry(seq)) {
      yield* dev.dropLock();
      continue;
    }
    yield* dev.commitExclusive(startVpn, granted, seq);
    yield* dev.dropLock();
    return;
  }
}

/** (d) Throws an error right after taking its lock. */
function* throwsUnderLock({ dev }: DriverEnv): Program {
  yield* dev.readBegin();
  yield* dev.takeLock();
  throw new Error('bad pfn in the snapshot');
}

/** (e) Polls forever: every iteration yields, none ends the loop. */
function* pollsForever({ dev }: DriverEnv): Program {
  for (;;) yield step(`${dev.name}: poll the device`);
}

/** (e, fixed) A bounded poll. */
function* pollsTenTimes({ dev }: DriverEnv): Program {
  for (let i = 0; i < 10; i++) yield step(`${dev.name}: poll the device`);
}

/** Two locks of the current world, shared by the ABBA actors (made by the first one's set-up). */
let abba: [DriverLock, DriverLock] = [new DriverLock('L0'), new DriverLock('L1')];

function lockPair(first: 0 | 1, makesLocks: boolean): DriverProgram {
  return function* (): Program {
    // Set-up code runs when the world is built, in actor order: the first actor makes fresh locks.
    if (makesLocks) abba = [new DriverLock('L0'), new DriverLock('L1')];
    const [a, b] = [abba[first], abba[1 - first]];
    yield { kind: 'acquire', label: `take ${a.name}`, lock: a };
    yield { kind: 'acquire', label: `take ${b.name}`, lock: b };
    yield step(`release ${b.name} and ${a.name}`);
    a.holder = null;
    b.holder = null;
  };
}

const SEARCHES: readonly Strategy[] = ['random', 'pct'];

function exploreBoth(spec: WorldSpec, options: Partial<ExploreOptions> = {}) {
  return SEARCHES.map((strategy) => ({
    strategy,
    ...explore(spec, { strategy, schedules: 2000, seed: 7, ...options }),
  }));
}

describe('drivers written from scratch against the MirrorDevice API', () => {
  it('(a) a snapshot stored without read_retry is caught as freed-frame or stale-mirror; the fixed driver passes', () => {
    for (const op of ['dontneed', 'munmap'] as const) {
      const buggy = world([driver('gpu', storesWithoutRetry), cpu('cpu', { op, first: 0, pages: 4 })]);
      for (const r of exploreBoth(buggy)) {
        expect(r.failure, `${op} ${r.strategy}`).not.toBeNull();
        expect(['freed-frame', 'stale-mirror'], r.failure!.violation.message).toContain(
          r.failure!.violation.kind,
        );
        expect(r.failure!.violation.message).toContain('m0');
      }
      const fixed = world([driver('gpu', storesWithRetry), cpu('cpu', { op, first: 0, pages: 4 })]);
      for (const r of exploreBoth(fixed)) {
        expect(r.failure?.violation.message ?? null, `${op} ${r.strategy}`).toBeNull();
        expect(r.schedules).toBe(2000);
      }
    }
  });

  it('(a) also with two faulting drivers and a CPU thread that unmaps part of the range and writes the rest', () => {
    const ops: CpuOp[] = [
      { op: 'munmap', first: 1, pages: 2 },
      { op: 'touch', page: 0, write: true },
    ];
    const buggy = world([
      driver('f0', storesWithoutRetry),
      cpu('cpu', ...ops),
      driver('f1', storesWithoutRetry),
    ]);
    for (const r of exploreBoth(buggy)) {
      expect(['freed-frame', 'stale-mirror']).toContain(r.failure?.violation.kind);
    }
    const fixed = world([driver('f0', storesWithRetry), cpu('cpu', ...ops), driver('f1', storesWithRetry)]);
    for (const r of exploreBoth(fixed)) expect(r.failure?.violation.message ?? null, r.strategy).toBeNull();
  });

  it('(b) a driver that returns holding its lock is a lock violation naming the lock and the holder', () => {
    const r = runSchedule(
      world([driver('leaky', leaksLock), driver('other', pollsTenTimes)]),
      randomChooser(3),
    );
    expect(r.violation?.kind).toBe('lock');
    expect(r.violation?.message).toContain('m0.lock');
    expect(r.violation?.message).toContain('leaky');
    for (const e of exploreBoth(world([driver('leaky', leaksLock)])))
      expect(e.failure?.violation.kind).toBe('lock');
    const fixed = world([
      driver('a', dropsLock),
      driver('b', dropsLock),
      cpu('cpu', { op: 'dontneed', first: 0, pages: 2 }),
    ]);
    for (const e of exploreBoth(fixed)) expect(e.failure?.violation.message ?? null).toBeNull();
  });

  it('(b) unlocking a lock the actor does not hold is a lock violation', () => {
    function* unlocksOnly({ dev }: DriverEnv): Program {
      yield* dev.dropLock();
    }
    const r = runSchedule(world([driver('stray', unlocksOnly)]), randomChooser(1));
    expect(r.violation?.kind).toBe('lock');
    expect(r.violation?.message).toBe('stray unlocks m0.lock, held by nobody');
  });

  // A lock leaked by an actor that has finished, while others wait for it, is reported as a
  // deadlock ("no actor can go on: cpu at ...") that names neither the lock nor its holder, which
  // has returned holding it (the kernel's lockdep says "lock held when returning to user space").
  it('(b) a lock leaked by a finished actor while the CPU waits for it is reported as lock, naming the holder', () => {
    const spec = world([driver('leaky', leaksLock), cpu('cpu', { op: 'dontneed', first: 0, pages: 2 })]);
    const r = replaySchedule(spec, ['leaky', 'leaky']);
    expect(r.violation?.kind).toBe('lock');
    expect(r.violation?.message).toContain('leaky');
  });

  it('(c) holding the lock across make_device_exclusive with a callback that takes it is a deadlock; the fixed order passes', () => {
    const buggy = world([driver('atomic', exclusiveUnderLock)], {
      devices: [{ name: 'm0', invalidate: alwaysLocks }],
    });
    for (const r of exploreBoth(buggy)) {
      expect(r.failure?.violation.kind).toBe('deadlock');
      expect(r.failure?.violation.message).toBe(
        "m0's invalidate callback waits for m0.lock, which atomic holds while it causes the invalidation",
      );
    }
    // The same order with the upstream callback (it skips the device's own request) is fine.
    const upstream = world([driver('atomic', exclusiveUnderLock)]);
    for (const r of exploreBoth(upstream)) expect(r.failure?.violation.message ?? null).toBeNull();
    const fixed = world([driver('atomic', exclusiveThenLock)]);
    for (const r of exploreBoth(fixed)) expect(r.failure?.violation.message ?? null).toBeNull();
  });

  it('(c) two actors taking two locks in opposite orders deadlock: no actor can go on, both named', () => {
    const buggy = world([driver('ab', lockPair(0, true)), driver('ba', lockPair(1, false))]);
    for (const r of exploreBoth(buggy)) {
      expect(r.failure?.violation.kind).toBe('deadlock');
      expect(r.failure?.violation.message).toBe('no actor can go on: ab at "take L1"; ba at "take L0"');
    }
    const ordered = world([driver('ab', lockPair(0, true)), driver('ab2', lockPair(0, false))]);
    for (const r of exploreBoth(ordered)) expect(r.failure?.violation.message ?? null).toBeNull();
  });

  it('(d) a driver that throws is a driver-error naming the actor, the step and the error', () => {
    const spec = world([
      cpu('cpu', { op: 'touch', page: 0, write: true }),
      driver('thrower', throwsUnderLock),
    ]);
    for (const r of exploreBoth(spec)) {
      expect(r.failure?.violation.kind).toBe('driver-error');
      expect(r.failure?.violation.message).toBe(
        'thrower failed at "m0: mutex_lock": bad pfn in the snapshot',
      );
    }
  });

  // runSchedule knows which actor it is advancing when set-up code (before the first yield)
  // throws, but reports "an actor failed before its first step" without its name.
  it('(d) a driver that throws before its first yield is a driver-error naming the actor', () => {
    // eslint-disable-next-line require-yield
    function* throwsInSetUp(): Program {
      throw new Error('no such device');
    }
    const r = runSchedule(
      world([cpu('cpu', { op: 'touch', page: 0, write: false }), driver('early', throwsInSetUp)]),
      randomChooser(1),
    );
    expect(r.violation?.kind).toBe('driver-error');
    expect(r.violation?.message).toContain('early');
  });

  it('(e) a driver that loops forever with yields is a driver-error at the step bound naming the actor and its step', () => {
    const spec = world([driver('spinner', pollsForever), cpu('cpu', { op: 'touch', page: 1, write: true })]);
    for (const r of exploreBoth(spec, { maxSteps: 300, schedules: 20 })) {
      expect(r.failure?.violation.kind).toBe('driver-error');
      const message = r.failure!.violation.message;
      expect(message).toMatch(/^spinner took \d+ of the schedule's 300 steps \(the step bound\)/);
      expect(message).toContain('last at "m0: poll the device"');
    }
    const fixed = world([
      driver('spinner', pollsTenTimes),
      cpu('cpu', { op: 'touch', page: 1, write: true }),
    ]);
    for (const r of exploreBoth(fixed, { maxSteps: 300 }))
      expect(r.failure?.violation.message ?? null).toBeNull();
  });

  it('(e) the step bound names the actor with the most steps, not the one that took the last', () => {
    const spec = world([driver('worker', plain('work', 100)), driver('spinner', pollsForever)]);
    // 250 spinner steps, then the replay runs the first enabled actor (the worker) to the bound.
    const r = replaySchedule(spec, Array<string>(250).fill('spinner'), 300);
    expect(r.names[r.steps[r.steps.length - 1].actor]).toBe('worker');
    expect(r.violation?.kind).toBe('driver-error');
    expect(r.violation?.message).toMatch(/^spinner took 250 of the schedule's 300 steps \(the step bound\)/);
  });

  it('the built-in naive-mirror.mjs user drivers: snapshotAndStore is caught, checked passes', async () => {
    const file = join(EXAMPLES, 'inline.yaml');
    const text = (exported: string) =>
      [
        'name: naive',
        'pages: 4',
        'devices: [{ name: mirror0 }]',
        'actors:',
        `  - { name: mine, device: mirror0, driver: { module: ./drivers/naive-mirror.mjs, export: ${exported} } }`,
        '  - { name: cpu, cpu: [{ op: dontneed, first: 0, pages: 4 }] }',
      ].join('\n');
    const buggy = await loadExploreScenario(text('snapshotAndStore'), file, importerFor(file));
    for (const r of exploreBoth(buggy.spec))
      expect(['freed-frame', 'stale-mirror']).toContain(r.failure?.violation.kind);
    const fixed = await loadExploreScenario(text('checked'), file, importerFor(file));
    for (const r of exploreBoth(fixed.spec)) expect(r.failure?.violation.message ?? null).toBeNull();
  });
});

// ---- schedules -------------------------------------------------------------------------------------

/** The fixed driver with more steps under its lock, so CPU threads have something to overtake. */
function* longUnderLock({ dev, startVpn, pages }: DriverEnv): Program {
  for (let attempt = 0; attempt < 20; attempt++) {
    const seq = yield* dev.readBegin();
    const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
    if (rc === -16) continue;
    if (rc !== 0) return;
    yield* dev.takeLock();
    yield step(`${dev.name}: prepare the update`);
    yield step(`${dev.name}: flush the device TLB`);
    if (yield* dev.readRetry(seq)) {
      yield* dev.dropLock();
      continue;
    }
    yield* dev.commit(range);
    yield* dev.dropLock();
    return;
  }
}

const busyWorld = world([
  driver('f0', longUnderLock),
  cpu(
    'cpu',
    { op: 'touch', page: 3, write: true },
    { op: 'mprotect', first: 0, pages: 2, prot: 'r' },
    { op: 'dontneed', first: 2, pages: 1 },
    { op: 'munmap', first: 3, pages: 1 },
  ),
  driver('f1', longUnderLock),
]);

describe('runSchedule', () => {
  it('is deterministic: the same chooser seed gives the same steps and result', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const a = runSchedule(busyWorld, randomChooser(seed));
        const b = runSchedule(busyWorld, randomChooser(seed));
        expect(b.steps).toEqual(a.steps);
        expect(b.violation?.message).toBe(a.violation?.message);
        expect(a.names).toEqual(['f0', 'cpu', 'f1', KERNEL_ACTOR]);
      }),
      { numRuns: 100 },
    );
  });

  it('different seeds give different schedules (the chooser matters)', () => {
    const orders = new Set<string>();
    for (let seed = 0; seed < 50; seed++)
      orders.add(actorNames(runSchedule(busyWorld, randomChooser(seed))).join());
    expect(orders.size).toBeGreaterThan(20);
  });

  it('a CPU munmap opens an invalidation that the kernel pseudo-actor ends, and no read_begin runs inside it', () => {
    const spec = world([
      driver('f0', storesWithRetry),
      cpu('cpu', { op: 'munmap', first: 1, pages: 2 }),
      driver('f1', storesWithRetry),
    ]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const r = runSchedule(spec, randomChooser(seed));
        expect(r.violation).toBeNull();
        const labels = r.steps.map((t) => `${r.names[t.actor]}|${t.label}`);
        const unmap = labels.indexOf('cpu|cpu: munmap pages 1..2');
        const end = labels.indexOf(`${KERNEL_ACTOR}|kernel: end of invalidation`);
        expect(unmap).toBeGreaterThanOrEqual(0);
        expect(end).toBeGreaterThan(unmap);
        expect(labels.filter((l) => l.startsWith(`${KERNEL_ACTOR}|`))).toHaveLength(1);
        expect(r.steps[end].actor).toBe(r.names.length - 1);
        const inside = labels.slice(unmap + 1, end);
        expect(inside.filter((l) => l.endsWith('mmu_interval_read_begin'))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('no CPU operation starts while another actor holds a driver lock (derived from the step labels)', () => {
    let sawOvertake = false;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const r = runSchedule(busyWorld, randomChooser(seed));
        expect(r.violation?.message ?? null).toBeNull();
        let holder: string | null = null;
        for (const t of r.steps) {
          const who = r.names[t.actor];
          if (t.label === 'm0: mutex_lock') {
            expect(holder).toBeNull();
            holder = who;
          } else if (t.label === 'm0: mutex_unlock') {
            expect(holder).toBe(who);
            holder = null;
          } else if (who === 'cpu') {
            expect(holder, `${t.label} while ${holder} holds m0.lock`).toBeNull();
          } else if (holder !== null && who !== holder) {
            sawOvertake = true;
          }
        }
        expect(holder).toBeNull();
      }),
      { numRuns: 300 },
    );
    // Other drivers (and the kernel) still run while a lock is held: the check is not vacuous.
    expect(sawOvertake).toBe(true);
  });

  it('replaying the actor names of any schedule reproduces its steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const r = runSchedule(busyWorld, randomChooser(seed));
        const again = replaySchedule(busyWorld, actorNames(r));
        expect(again.steps).toEqual(r.steps);
      }),
      { numRuns: 100 },
    );
  });

  it('a replay skips names whose actor is not enabled (read_begin waits out an invalidation)', () => {
    function* reader({ dev }: DriverEnv): Program {
      const seq = yield* dev.readBegin();
      yield* dev.readRetry(seq);
    }
    const spec = world([driver('r', reader), cpu('cpu', { op: 'dontneed', first: 0, pages: 4 })]);
    const r = replaySchedule(spec, ['cpu', 'r', 'kernel', 'r']);
    expect(r.steps.map((t) => `${r.names[t.actor]}: ${t.label}`)).toEqual([
      'cpu: cpu: dontneed pages 0..3',
      'kernel: kernel: end of invalidation',
      'r: m0: mmu_interval_read_begin',
      'r: m0: mmu_interval_read_retry',
    ]);
  });

  it('an outOfTime budget stops the exploration after the schedule in progress', () => {
    const r = explore(busyWorld, { strategy: 'random', schedules: 1000, outOfTime: () => true });
    expect(r.schedules).toBe(1);
  });
});

// ---- exhaustive ------------------------------------------------------------------------------------

/** A driver of `n` plain steps (dependent with everything). */
function plain(name: string, n: number): DriverProgram {
  return function* (): Program {
    for (let k = 1; k <= n; k++) yield step(`${name}${k}`);
  };
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Every order of a multiset of actor names (the interleavings, by hand). */
function interleavings(counts: Readonly<Record<string, number>>): string[][] {
  const out: string[][] = [];
  const left = { ...counts };
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const walk = (prefix: string[]) => {
    if (prefix.length === total) {
      out.push([...prefix]);
      return;
    }
    for (const a of Object.keys(left)) {
      if (left[a] === 0) continue;
      left[a]--;
      prefix.push(a);
      walk(prefix);
      prefix.pop();
      left[a]++;
    }
  };
  walk([]);
  return out;
}

/** Runs an exhaustive walk as explore does, keeping every completed schedule. */
function walkAll(spec: WorldSpec, budget = 10_000): { complete: ScheduleResult[]; pruned: number } {
  const walk = new ExhaustiveWalk();
  const complete: ScheduleResult[] = [];
  let pruned = 0;
  for (let n = 0; n < budget && !walk.finished; n++) {
    try {
      complete.push(runSchedule(spec, walk.chooser()));
    } catch (e) {
      if (!(e instanceof ScheduleAbandoned)) throw e;
      pruned++;
    }
    walk.backtrack();
  }
  expect(walk.finished).toBe(true);
  return { complete, pruned };
}

/** What the readers of the current world saw (reset by the first reader's set-up code). */
let seen = new Map<string, string>();

/** Reads the notifier sequence twice (read_begin, read_retry): only reads, so independent. */
function reader(name: string, resets: boolean): DriverProgram {
  return function* ({ dev }: DriverEnv): Program {
    if (resets) seen = new Map();
    const seq = yield* dev.readBegin();
    const retry = yield* dev.readRetry(seq);
    seen.set(name, `seq ${seq} retry ${retry}`);
  };
}

const outcome = () =>
  [...seen.entries()]
    .sort()
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');

/**
 * The Mazurkiewicz trace of an interleaving: the order of every pair of steps of different actors
 * that are not both reads. Two interleavings are equivalent exactly when these agree.
 */
function traceKey(order: readonly string[], readsOnly: (actor: string) => boolean): string {
  const occ: string[] = [];
  const k = new Map<string, number>();
  for (const a of order) {
    k.set(a, (k.get(a) ?? 0) + 1);
    occ.push(`${a}#${k.get(a)}`);
  }
  const pairs: string[] = [];
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      if (order[i] === order[j] || (readsOnly(order[i]) && readsOnly(order[j]))) continue;
      pairs.push(`${occ[i]}<${occ[j]}`);
    }
  }
  return pairs.sort().join(' ');
}

describe('exhaustive exploration', () => {
  it('two actors of 2 and 3 plain steps: exactly C(5,2) = 10 schedules, each interleaving once, none pruned', () => {
    const spec = world([driver('a', plain('a', 2)), driver('b', plain('b', 3))]);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 1000 });
    expect(r).toMatchObject({ exhausted: true, pruned: 0, failure: null, schedules: binomial(5, 2) });
    const { complete } = walkAll(spec);
    const got = complete.map((s) => actorNames(s).join(',')).sort();
    const want = interleavings({ a: 2, b: 3 })
      .map((o) => o.join(','))
      .sort();
    expect(got).toEqual(want);
    expect(new Set(got).size).toBe(10);
  });

  it('three actors of 2, 2 and 1 steps: 5!/(2!2!1!) = 30 schedules', () => {
    const spec = world([driver('a', plain('a', 2)), driver('b', plain('b', 2)), driver('c', plain('c', 1))]);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 1000 });
    expect(r).toMatchObject({ exhausted: true, pruned: 0, schedules: 30 });
  });

  it('a budget smaller than the walk stops it unfinished', () => {
    const spec = world([driver('a', plain('a', 3)), driver('b', plain('b', 3))]);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 7 });
    expect(r).toMatchObject({ exhausted: false, schedules: 7, failure: null });
    expect(explore(spec, { strategy: 'exhaustive', schedules: 1000 })).toMatchObject({
      exhausted: true,
      schedules: 20,
    });
  });

  it('two readers only (read_begin, read_retry): sleep sets prune to one schedule, with the same outcome as all six', () => {
    const spec = world([driver('r0', reader('r0', true)), driver('r1', reader('r1', false))]);
    const brute = new Set<string>();
    for (const order of interleavings({ r0: 2, r1: 2 })) {
      const r = replaySchedule(spec, order);
      expect(actorNames(r)).toEqual(order);
      brute.add(outcome());
    }
    const { complete, pruned } = walkAll(spec);
    expect(complete).toHaveLength(1);
    expect(pruned).toBeGreaterThan(0);
    expect(brute.size).toBe(1);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 1000 });
    expect(r).toMatchObject({ exhausted: true, failure: null, pruned });
    expect(r.schedules).toBe(complete.length + pruned);
    expect(r.schedules).toBeLessThan(binomial(4, 2));
  });

  it('readers and a CPU dontneed: every distinct outcome is still reached, one schedule per equivalence class', () => {
    const spec = world([
      driver('r0', reader('r0', true)),
      driver('r1', reader('r1', false)),
      cpu('cpu', { op: 'dontneed', first: 0, pages: 4 }),
    ]);
    const readsOnly = (a: string) => a === 'r0' || a === 'r1';
    // Brute force, no reduction: every order of the steps; the feasible ones run as asked.
    const bruteOutcomes = new Set<string>();
    const classes = new Set<string>();
    let feasible = 0;
    for (const order of interleavings({ r0: 2, r1: 2, cpu: 1, [KERNEL_ACTOR]: 1 })) {
      const r = replaySchedule(spec, order);
      if (actorNames(r).join() !== order.join()) continue;
      expect(r.violation).toBeNull();
      feasible++;
      bruteOutcomes.add(outcome());
      classes.add(traceKey(order, readsOnly));
    }
    expect(feasible).toBeGreaterThan(classes.size);
    expect(bruteOutcomes.size).toBeGreaterThan(1);

    const walkOutcomes = new Set<string>();
    const walkClasses = new Set<string>();
    const { complete, pruned } = walkAll(spec);
    for (const s of complete) {
      // Re-run by replay, so that `seen` belongs to the schedule looked at.
      const order = actorNames(s);
      replaySchedule(spec, order);
      walkOutcomes.add(outcome());
      walkClasses.add(traceKey(order, readsOnly));
    }
    expect(pruned).toBeGreaterThan(0);
    expect(complete.length).toBeLessThan(feasible);
    expect(walkOutcomes).toEqual(bruteOutcomes);
    // Sound (every class reached) and, for sleep sets, never two runs of one class.
    expect(walkClasses).toEqual(classes);
    expect(complete.length).toBe(classes.size);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 1000 });
    expect(r).toMatchObject({ exhausted: true, failure: null, pruned, schedules: complete.length + pruned });
  });

  it('finds the ABBA deadlock and reports the choices that replay it, with no seed', () => {
    const spec = world([driver('ab', lockPair(0, true)), driver('ba', lockPair(1, false))]);
    const r = explore(spec, { strategy: 'exhaustive', schedules: 1000 });
    expect(r.failure?.violation.kind).toBe('deadlock');
    expect(r.failure?.seed).toBeNull();
    expect(replaySchedule(spec, r.failure!.schedule).violation?.message).toBe(r.failure!.violation.message);
  });
});

// ---- shrinking and replay --------------------------------------------------------------------------

/** Noise around the bug: a driver of plain steps and CPU touches that change nothing it needs. */
const noisyBug = world([
  driver('noise', plain('noise', 12)),
  cpu(
    'cpu',
    { op: 'touch', page: 3, write: false },
    { op: 'touch', page: 2, write: true },
    { op: 'dontneed', first: 0, pages: 2 },
  ),
  driver('gpu', storesWithoutRetry),
]);

describe('shrinking and replay', () => {
  for (const strategy of ['random', 'pct'] as const) {
    it(`${strategy}: the shrunk schedule is no longer, fails the same way, and both replays reproduce`, () => {
      let shrunkSomething = false;
      for (let seed = 1; seed <= 12; seed++) {
        const found = explore(noisyBug, { strategy, schedules: 2000, seed, shrink: false });
        const shrunk = explore(noisyBug, { strategy, schedules: 2000, seed });
        expect(found.failure, `seed ${seed}`).not.toBeNull();
        const f = shrunk.failure!;
        const original = found.failure!;
        // The same exploration found the same schedule; only the report differs.
        expect(f.seed).toBe(original.seed);
        expect(f.foundSteps).toBe(original.steps.length);
        expect(original.foundSteps).toBe(original.steps.length);
        expect(f.violation.kind).toBe(original.violation.kind);
        expect(f.steps.length).toBeLessThanOrEqual(f.foundSteps);
        expect(f.schedule.length).toBeLessThanOrEqual(f.foundSteps);
        if (f.steps.length < f.foundSteps) shrunkSomething = true;
        // --schedule replays the shrunk schedule exactly.
        const replayed = replaySchedule(noisyBug, f.schedule);
        expect(replayed.violation?.kind).toBe(f.violation.kind);
        expect(replayed.violation?.message).toBe(f.violation.message);
        expect(replayed.steps).toEqual(f.steps);
        // The unshrunk choices replay the original too.
        expect(replaySchedule(noisyBug, original.schedule).violation?.message).toBe(
          original.violation.message,
        );
        // --replay SEED re-runs the schedule as found.
        const again = replaySeed(noisyBug, strategy, f.seed!);
        expect(again.violation?.message).toBe(original.violation.message);
        expect(again.steps).toEqual(original.steps);
      }
      expect(shrunkSomething).toBe(true);
    });
  }

  it('shrinking keeps the kind of violation even where a shorter schedule fails another way', () => {
    /** Throws at its sixth step: the first-enabled schedule fails with a driver error. */
    function* bomb(): Program {
      for (let k = 1; k <= 5; k++) yield step(`bomb${k}`);
      yield step('bomb: explode');
      throw new Error('boom');
    }
    const spec = world([
      driver('bomb', bomb),
      cpu('cpu', { op: 'dontneed', first: 0, pages: 4 }),
      driver('gpu', storesWithoutRetry),
    ]);
    expect(replaySchedule(spec, []).violation?.kind).toBe('driver-error');
    let otherKinds = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const found = explore(spec, { strategy: 'random', schedules: 100, seed, shrink: false }).failure!;
      const shrunk = explore(spec, { strategy: 'random', schedules: 100, seed }).failure!;
      expect(shrunk.violation.kind, `seed ${seed}`).toBe(found.violation.kind);
      if (found.violation.kind !== 'driver-error') otherKinds++;
    }
    expect(otherKinds).toBeGreaterThan(0);
  });

  it('pct replays by seed with the depth it was found with', () => {
    const found = explore(noisyBug, { strategy: 'pct', schedules: 2000, seed: 3, depth: 2, shrink: false });
    const again = replaySeed(noisyBug, 'pct', found.failure!.seed!, 2);
    expect(again.steps).toEqual(found.failure!.steps);
  });

  it('the examples shrink to schedules that replay their violation', async () => {
    for (const f of exampleFiles) {
      const s = await loadExample(f);
      if (s.expect !== 'violation') continue;
      const r = explore(s.spec, { strategy: 'random', schedules: 500, seed: 5, maxSteps: s.maxSteps });
      const failure = r.failure!;
      expect(failure.steps.length, f).toBeLessThanOrEqual(failure.foundSteps);
      const replayed = replaySchedule(s.spec, failure.schedule, s.maxSteps);
      expect(replayed.violation?.message, f).toBe(failure.violation.message);
      expect(replaySeed(s.spec, 'random', failure.seed!, 3, s.maxSteps).steps.length, f).toBe(
        failure.foundSteps,
      );
    }
  });
});
