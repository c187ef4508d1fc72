import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lastAtOrBefore } from '../src/app/lastAtOrBefore.js';

describe('lastAtOrBefore', () => {
  it('finds the last index whose time is at or before t, as a linear scan does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 })), fc.integer({ min: -5, max: 60 }), (raw, t) => {
        const times = [...raw].sort((a, b) => a - b);
        let want = -1;
        for (let i = 0; i < times.length; i++) if (times[i] <= t) want = i;
        expect(lastAtOrBefore(times, t)).toBe(want);
      }),
      { seed: 5 },
    );
  });
});
