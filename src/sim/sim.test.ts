import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';
import { EFAULT, errnoName } from './errno.js';
import { InputError, LimitError } from './errors.js';
import { Rng } from './rng.js';
import { Stats } from './stats.js';
import { TraceRecorder } from './trace.js';

describe('Rng', () => {
  it('the same seed gives the same sequence; different seeds differ', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), (seed) => {
        const a = new Rng(seed);
        const b = new Rng(seed);
        const xs = Array.from({ length: 16 }, () => a.u32());
        expect(Array.from({ length: 16 }, () => b.u32())).toEqual(xs);
        const c = new Rng((seed + 1) >>> 0);
        expect(Array.from({ length: 16 }, () => c.u32())).not.toEqual(xs);
      }),
      { numRuns: 50, seed: 1 },
    );
  });

  it('below(n) stays in range and covers it', () => {
    const rng = new Rng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = rng.below(10);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(10);
      seen.add(x);
    }
    expect(seen.size).toBe(10);
  });

  it('named forks are independent of the parent position', () => {
    const a = new Rng(3);
    const f1 = a.fork('gpu').u32();
    a.u32();
    expect(a.fork('gpu').u32()).toBe(f1);
    expect(a.fork('cpu').u32()).not.toBe(f1);
  });

  it('rejects seeds that are not 32-bit integers', () => {
    expect(() => new Rng(-1)).toThrow(RangeError);
    expect(() => new Rng(1.5)).toThrow(RangeError);
  });
});

describe('SimClock', () => {
  it('moves only forward by whole nanoseconds', () => {
    const clock = new SimClock();
    clock.advance(5);
    clock.advanceTo(12);
    expect(clock.nowNs).toBe(12);
    expect(() => clock.advance(0.5)).toThrow(RangeError);
    expect(() => clock.advanceTo(3)).toThrow(RangeError);
  });
});

describe('Stats and trace', () => {
  it('counters add by id and report by name', () => {
    const s = new Stats();
    const id = s.counter('x.y');
    for (let i = 0; i < 100; i++) s.counter(`c${i}`);
    s.add(id, 3);
    s.add(s.counter('x.y'));
    expect(s.get('x.y')).toBe(4);
    expect(s.get('missing')).toBe(0);
    expect(Object.keys(s.snapshot())[0]).toBe('c0');
  });

  it('a disabled recorder records nothing; a full one fails loudly', () => {
    const off = new TraceRecorder();
    off.instant(0, 't', 'c', 'n');
    expect(off.events).toHaveLength(0);
    const small = new TraceRecorder({ enabled: true, maxEvents: 2 });
    small.begin(0, 't', 'c', 'n');
    small.end(1, 't', 'c', 'n');
    expect(() => small.instant(2, 't', 'c', 'n')).toThrow(LimitError);
  });

  it('errno names and input errors read as a user expects', () => {
    expect(errnoName(-EFAULT)).toBe('EFAULT');
    expect(errnoName(-999)).toBe('E999');
    const e = new InputError({ file: 'a.yaml', line: 3, column: 7 }, 'a number', '"x"');
    expect(e.message).toBe('a.yaml:3:7: expected a number, got "x"');
  });
});
