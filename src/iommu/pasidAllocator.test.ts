// The PASID allocator against a plain reference (a set of values in use): every policy of R-SVA-130
// hands out what the reference says, never a value in use (R-SVA-19), never 0, and reports
// PASID_INVALID exactly when the range is full (R-SVA-11, R-SVA-16, R-SVA-17).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from '../sim/clock.js';
import { PASID_INVALID } from './constants.js';
import type { PasidReusePolicy } from './options.js';
import { PasidAllocator } from './pasidAllocator.js';

const owner = { kind: 'plain' } as const;

function allocator(
  policy: PasidReusePolicy,
  spaceSize: number,
  clock = new SimClock(),
  quarantineNs = 0,
  needsAck = false,
) {
  return new PasidAllocator(clock, { spaceSize, policy, quarantineNs, quarantineNeedsAck: needsAck });
}

/** The reference: which value each policy must return, from the set of values in use. */
class RefAllocator {
  readonly used = new Set<number>([0]);
  readonly ever = new Set<number>();
  last = 0;

  constructor(
    readonly policy: PasidReusePolicy,
    readonly space: number,
  ) {}

  alloc(lo: number, hi: number): number {
    const from = Math.max(1, lo);
    const to = Math.min(hi, this.space - 1);
    const free = (v: number) => !this.used.has(v);
    let pick = -1;
    if (this.policy === 'cyclic') {
      for (let v = Math.max(from, this.last + 1); v <= to && pick < 0; v++) if (free(v)) pick = v;
    }
    if (this.policy === 'exhaustFirst') {
      for (let v = from; v <= to && pick < 0; v++) if (free(v) && !this.ever.has(v)) pick = v;
    }
    for (let v = from; v <= to && pick < 0; v++) if (free(v)) pick = v;
    if (pick < 0) return PASID_INVALID;
    this.used.add(pick);
    this.ever.add(pick);
    this.last = pick;
    return pick;
  }
}

describe('PASID allocator', () => {
  it('R-SVA-11: smallest free first, a freed smallest value comes straight back, 0 never', () => {
    const a = allocator('smallestFree', 1 << 20);
    expect([1, 2, 3].map(() => a.alloc(1, (1 << 20) - 1, owner))).toEqual([1, 2, 3]);
    a.free(2);
    expect(a.alloc(1, (1 << 20) - 1, owner)).toBe(2);
    expect(a.alloc(0, 5, owner)).toBe(4);
  });

  it('R-SVA-16/R-SVA-17: a full range gives PASID_INVALID; an empty range (maxPasids 0 or 1) too', () => {
    const a = allocator('smallestFree', 1 << 20);
    for (let i = 1; i < 16; i++) expect(a.alloc(1, 15, owner)).toBe(i);
    expect(a.alloc(1, 15, owner)).toBe(PASID_INVALID);
    expect(a.alloc(1, 0, owner)).toBe(PASID_INVALID);
    expect(a.alloc(1, 16, owner)).toBe(16);
  });

  it('finds the smallest free value across many full words (the summary level)', () => {
    const a = allocator('smallestFree', 1 << 20);
    for (let i = 1; i < 40_000; i++) a.alloc(1, (1 << 20) - 1, owner);
    a.free(33_333);
    expect(a.alloc(1, (1 << 20) - 1, owner)).toBe(33_333);
    expect(a.alloc(1, (1 << 20) - 1, owner)).toBe(40_000);
    expect(a.alloc(1, 39_999, owner)).toBe(PASID_INVALID);
  });

  it('R-SVA-130 quarantine: a freed value waits for the time and, if asked, the acknowledgement', () => {
    const clock = new SimClock();
    const a = allocator('quarantine', 64, clock, 1000, true);
    expect(a.alloc(1, 63, owner)).toBe(1);
    a.free(1);
    expect(a.isQuarantined(1)).toBe(true);
    expect(a.alloc(1, 63, owner)).toBe(2);
    clock.advance(1000);
    expect(a.alloc(1, 63, owner), 'time alone is not enough with needsAck').toBe(3);
    expect(a.releaseDone(1)).toBe(true);
    expect(a.alloc(1, 63, owner)).toBe(1);
  });

  for (const policy of ['smallestFree', 'cyclic', 'exhaustFirst'] as const) {
    it(`${policy}: agrees with the reference on random alloc/free sequences`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 200 }),
          fc.array(
            fc.oneof(
              fc.record({ free: fc.constant(false), hi: fc.integer({ min: 0, max: 220 }) }),
              fc.record({ free: fc.constant(true), k: fc.nat() }),
            ),
            {
              maxLength: 300,
            },
          ),
          (space, ops) => {
            const a = allocator(policy, space);
            const ref = new RefAllocator(policy, space);
            const owned: number[] = [];
            for (const op of ops) {
              if (op.free) {
                if (owned.length === 0) continue;
                const v = owned.splice(op.k % owned.length, 1)[0];
                a.free(v);
                ref.used.delete(v);
              } else {
                const got = a.alloc(1, op.hi, owner);
                expect(got).toBe(ref.alloc(1, op.hi));
                if (got !== PASID_INVALID) {
                  expect(got).toBeGreaterThan(0);
                  owned.push(got);
                }
              }
              expect(a.inUse).toBe(owned.length);
            }
          },
        ),
        { numRuns: 200, seed: 5 },
      );
    });
  }

  it('freeing a value that is not allocated is a model bug', () => {
    const a = allocator('smallestFree', 16);
    expect(() => a.free(3)).toThrow(/not allocated/);
  });
});
