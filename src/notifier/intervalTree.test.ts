import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntervalTree } from './intervalTree.js';

type Iv = { id: number; start: number; last: number };

describe('IntervalTree', () => {
  it('answers intersection queries like a brute-force scan, in start order, through inserts and removals', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), start: fc.nat(200), len: fc.nat(40) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(1000) }),
      fc.record({ kind: fc.constant('query' as const), start: fc.nat(220), len: fc.nat(60) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200, size: 'max' }), (ops) => {
        const tree = new IntervalTree<Iv>();
        const live: Iv[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'insert') {
            const iv = { id: id++, start: o.start, last: o.start + o.len };
            tree.insert(iv.start, iv.last, iv);
            live.push(iv);
          } else if (o.kind === 'remove') {
            if (live.length === 0) continue;
            const [iv] = live.splice(o.pick % live.length, 1);
            expect(tree.remove(iv)).toBe(true);
          } else {
            const a = o.start;
            const b = o.start + o.len;
            const want = live
              .filter((iv) => iv.start <= b && iv.last >= a)
              .sort((x, y) => x.start - y.start || x.id - y.id);
            expect(tree.intersecting(a, b)).toEqual(want);
            expect(tree.anyIntersecting(a, b)).toBe(want.length > 0);
          }
        }
        expect(tree.size).toBe(live.length);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('rejects empty intervals and double inserts', () => {
    const tree = new IntervalTree<string>();
    expect(() => tree.insert(5, 4, 'a')).toThrow(RangeError);
    tree.insert(1, 2, 'a');
    expect(() => tree.insert(1, 2, 'a')).toThrow();
  });
});
