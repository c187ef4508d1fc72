// The choosers: random and PCT are functions of their seed; random picks only enabled actors and
// all of them; PCT with depth 1 never preempts (the highest-priority actor runs until it blocks or
// finishes) and with depth d preempts at most d - 1 times; replay follows its names, skipping the
// ones whose actor is not enabled, then runs the first enabled actor.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Program, step } from './program.js';
import { runSchedule, type ScheduleResult } from './schedule.js';
import { pctChooser, randomChooser, replayChooser } from './strategies.js';
import type { DriverProgram, WorldSpec } from './world.js';

const NAMES = ['a', 'b', 'c', 'd', 'kernel'];
const noReads = () => false;

/** The choices a chooser makes over a fixed sequence of enabled sets. */
function choices(chooser: ReturnType<typeof randomChooser>, enabledSets: readonly number[][]): number[] {
  return enabledSets.map((e) => chooser.choose(e, NAMES, noReads));
}

const enabledSets = fc.array(
  fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }).map((a) => a.sort()),
  { minLength: 1, maxLength: 60 },
);
const seed32 = fc.integer({ min: 0, max: 0xffffffff });

/** A driver of `n` plain steps. */
function plain(name: string, n: number): DriverProgram {
  return function* (): Program {
    for (let k = 1; k <= n; k++) yield step(`${name}${k}`);
  };
}

/** Independent actors (no locks, no shared state): nothing ever blocks. */
const independent: WorldSpec = {
  pages: 2,
  devices: [{ name: 'm0' }],
  actors: [
    { name: 'a', device: 'm0', driver: plain('a', 4) },
    { name: 'b', device: 'm0', driver: plain('b', 4) },
    { name: 'c', device: 'm0', driver: plain('c', 4) },
  ],
};

/** Runs of consecutive steps by one actor: [actor, length]. */
function blocks(r: ScheduleResult): [number, number][] {
  const out: [number, number][] = [];
  for (const t of r.steps) {
    const last = out[out.length - 1];
    if (last !== undefined && last[0] === t.actor) last[1]++;
    else out.push([t.actor, 1]);
  }
  return out;
}

describe('randomChooser', () => {
  it('is a function of its seed, and picks only enabled actors', () => {
    fc.assert(
      fc.property(seed32, enabledSets, (seed, sets) => {
        const a = choices(randomChooser(seed), sets);
        expect(choices(randomChooser(seed), sets)).toEqual(a);
        a.forEach((c, i) => expect(sets[i]).toContain(c));
      }),
    );
  });

  it('differs between seeds and reaches every enabled actor about equally often', () => {
    const sets = Array.from({ length: 3000 }, () => [0, 2, 3]);
    const a = choices(randomChooser(1), sets);
    const b = choices(randomChooser(2), sets);
    expect(b).not.toEqual(a);
    for (const actor of [0, 2, 3]) {
      const n = a.filter((c) => c === actor).length;
      expect(n).toBeGreaterThan(850);
      expect(n).toBeLessThan(1150);
    }
  });
});

describe('pctChooser', () => {
  it('is a function of its seed', () => {
    fc.assert(
      fc.property(seed32, enabledSets, fc.integer({ min: 1, max: 4 }), (seed, sets, depth) => {
        const a = choices(pctChooser(seed, 5, 40, depth), sets);
        expect(choices(pctChooser(seed, 5, 40, depth), sets)).toEqual(a);
        a.forEach((c, i) => expect(sets[i]).toContain(c));
      }),
    );
  });

  it('gives different seeds different priorities', () => {
    const firsts = new Set<number>();
    for (let seed = 0; seed < 40; seed++)
      firsts.add(pctChooser(seed, 5, 40, 1).choose([0, 1, 2, 3, 4], NAMES, noReads));
    expect(firsts.size).toBe(5);
  });

  it('with depth 1 priorities never change: the same actor wins whenever it is enabled', () => {
    fc.assert(
      fc.property(seed32, enabledSets, (seed, sets) => {
        const chooser = pctChooser(seed, 5, 40, 1);
        const top = chooser.choose([0, 1, 2, 3, 4], NAMES, noReads);
        // The full order of priorities, read off by removing the winner each time.
        const order = [top];
        const rest = [0, 1, 2, 3, 4].filter((a) => a !== top);
        while (rest.length > 0) {
          const next = chooser.choose(rest, NAMES, noReads);
          order.push(next);
          rest.splice(rest.indexOf(next), 1);
        }
        for (const e of sets) {
          const want = order.find((a) => e.includes(a));
          expect(chooser.choose(e, NAMES, noReads)).toBe(want);
        }
      }),
    );
  });

  it('with depth 1 never preempts: each actor runs all its steps in one block, when nothing blocks', () => {
    fc.assert(
      fc.property(seed32, (seed) => {
        const r = runSchedule(independent, pctChooser(seed, 4, 12, 1));
        expect(r.violation).toBeNull();
        expect(r.steps).toHaveLength(12);
        expect(blocks(r).map(([, n]) => n)).toEqual([4, 4, 4]);
      }),
      { numRuns: 200 },
    );
  });

  it('with depth d preempts at most d - 1 times, and does preempt', () => {
    let preempted = 0;
    fc.assert(
      fc.property(seed32, fc.integer({ min: 2, max: 4 }), (seed, depth) => {
        const r = runSchedule(independent, pctChooser(seed, 4, 12, depth));
        expect(r.steps).toHaveLength(12);
        const extra = blocks(r).length - 3;
        expect(extra).toBeLessThanOrEqual(depth - 1);
        if (extra > 0) preempted++;
      }),
      { numRuns: 300 },
    );
    expect(preempted).toBeGreaterThan(30);
  });
});

describe('replayChooser', () => {
  it('follows its names, skips the ones whose actor is not enabled, then runs the first enabled', () => {
    const chooser = replayChooser(['b', 'c', 'a', 'zz', 'kernel']);
    expect(chooser.choose([0, 1], NAMES, noReads)).toBe(1); // b
    expect(chooser.choose([0, 3], NAMES, noReads)).toBe(0); // c is not enabled: skipped; a
    expect(chooser.choose([2, 4], NAMES, noReads)).toBe(4); // zz names nobody: skipped; kernel
    expect(chooser.choose([3, 2], NAMES, noReads)).toBe(3); // the names are used up: first enabled
    expect(chooser.followed).toEqual(['b', 'a', 'kernel', 'd']);
  });

  it('replays any recorded list of choices exactly', () => {
    fc.assert(
      fc.property(seed32, enabledSets, (seed, sets) => {
        const picked = choices(randomChooser(seed), sets);
        const replay = replayChooser(picked.map((i) => NAMES[i]));
        expect(choices(replay, sets)).toEqual(picked);
      }),
    );
  });
});
