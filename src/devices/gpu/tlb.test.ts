// The GPU TLB (tlb.ts) against what a set-associative, address-space-tagged TLB must do: a filled
// translation hits with its own pfn and attributes until it is invalidated; invalidating a range
// removes exactly that range of exactly that address space, whether the TLB probes page by page
// (short ranges) or sweeps every entry (long ones); a full set replaces its least recently used
// entry, a hit counting as a use; invalidateSpace forgets one space whole. Pages that share a set
// are found from the geometry: with S sets, vpn and vpn + k * S share one in address space 0.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuTlb } from './tlb.js';

/** pfn and attributes chosen from the page so a wrong entry shows. */
const pfnOf = (space: number, vpn: number): number => 1000 + space * 100_000 + vpn;
const attrOf = (vpn: number): number => (((vpn % 7) + 1) | (1 << 31)) >>> 0;

function hit(tlb: GpuTlb, space: number, vpn: number): { pfn: number; attr: number } | null {
  return tlb.lookup(space, vpn) ? { pfn: tlb.hitPfn, attr: tlb.hitAttr } : null;
}

function fillPage(tlb: GpuTlb, space: number, vpn: number): void {
  tlb.fill(space, vpn, pfnOf(space, vpn), attrOf(vpn));
}

describe('GpuTlb geometry', () => {
  it('rounds the sets down to a power of two and rejects impossible shapes', () => {
    expect(new GpuTlb(64, 4).entries).toBe(64);
    expect(new GpuTlb(100, 4).entries).toBe(64);
    expect(new GpuTlb(8, 8).entries).toBe(8);
    expect(() => new GpuTlb(4, 8)).toThrow(RangeError);
    expect(() => new GpuTlb(8, 0)).toThrow(RangeError);
    expect(() => new GpuTlb(8.5, 2)).toThrow(RangeError);
  });
});

describe('GpuTlb lookups', () => {
  it('misses on an empty TLB and hits with the filled pfn and attributes', () => {
    const tlb = new GpuTlb(64, 4);
    expect(hit(tlb, 0, 5)).toBeNull();
    fillPage(tlb, 0, 5);
    fillPage(tlb, 0, 6);
    expect(hit(tlb, 0, 5)).toEqual({ pfn: pfnOf(0, 5), attr: attrOf(5) });
    expect(hit(tlb, 0, 6)).toEqual({ pfn: pfnOf(0, 6), attr: attrOf(6) });
    expect(hit(tlb, 0, 7)).toBeNull();
  });

  it('re-filling a cached page replaces its translation', () => {
    const tlb = new GpuTlb(64, 4);
    tlb.fill(0, 9, 111, 1);
    tlb.fill(0, 9, 222, 3);
    expect(hit(tlb, 0, 9)).toEqual({ pfn: 222, attr: 3 });
  });

  it('keeps every page of a working set that fits, at large vpns too', () => {
    const tlb = new GpuTlb(256, 8);
    // 32 sets: 8 consecutive groups of 32 pages fill every way of every set exactly once.
    const vpns = Array.from({ length: 256 }, (_, i) => 2 ** 35 + i);
    for (const v of vpns) fillPage(tlb, 0, v);
    for (const v of vpns) expect(hit(tlb, 0, v)).toEqual({ pfn: pfnOf(0, v), attr: attrOf(v) });
  });

  it('tags entries by address space: the same vpn in two spaces is two translations', () => {
    const tlb = new GpuTlb(64, 4);
    fillPage(tlb, 0, 42);
    expect(hit(tlb, 1, 42)).toBeNull();
    fillPage(tlb, 1, 42);
    expect(hit(tlb, 0, 42)).toEqual({ pfn: pfnOf(0, 42), attr: attrOf(42) });
    expect(hit(tlb, 1, 42)).toEqual({ pfn: pfnOf(1, 42), attr: attrOf(42) });
  });
});

describe('GpuTlb replacement', () => {
  const SETS = 16;
  const WAYS = 4;
  /** The k-th page of the set of vpn 3 in space 0. */
  const inSet = (k: number): number => 3 + k * SETS;

  it('replaces the least recently used entry of a full set, a hit counting as a use', () => {
    const tlb = new GpuTlb(SETS * WAYS, WAYS);
    for (let k = 0; k < WAYS; k++) fillPage(tlb, 0, inSet(k));
    // Uses in the order 2, 0, 3: page 1 is now the least recently used.
    expect(hit(tlb, 0, inSet(2))).not.toBeNull();
    expect(hit(tlb, 0, inSet(0))).not.toBeNull();
    expect(hit(tlb, 0, inSet(3))).not.toBeNull();
    fillPage(tlb, 0, inSet(4));
    expect(hit(tlb, 0, inSet(1))).toBeNull();
    // These lookups are uses too, in the order 3, 4, 2, 0: page 3 becomes the least recent (a
    // first-in-first-out TLB would drop page 0 next instead).
    for (const k of [3, 4, 2, 0]) expect(hit(tlb, 0, inSet(k))).not.toBeNull();
    fillPage(tlb, 0, inSet(5));
    expect(hit(tlb, 0, inSet(3))).toBeNull();
    for (const k of [0, 2, 4, 5]) expect(hit(tlb, 0, inSet(k))).not.toBeNull();
  });

  it('never evicts from another set', () => {
    const tlb = new GpuTlb(SETS * WAYS, WAYS);
    fillPage(tlb, 0, 4);
    for (let k = 0; k < 3 * WAYS; k++) fillPage(tlb, 0, inSet(k));
    expect(hit(tlb, 0, 4)).toEqual({ pfn: pfnOf(0, 4), attr: attrOf(4) });
  });

  it('fills a slot freed by an invalidation before evicting a live entry', () => {
    const tlb = new GpuTlb(SETS * WAYS, WAYS);
    for (let k = 0; k < WAYS; k++) fillPage(tlb, 0, inSet(k));
    tlb.invalidateRange(0, inSet(2), inSet(2) + 1);
    fillPage(tlb, 0, inSet(9));
    for (const k of [0, 1, 3, 9]) expect(hit(tlb, 0, inSet(k))).not.toBeNull();
  });

  it('matches a reference LRU model on random fills, lookups and invalidations', () => {
    // One set's worth of pages (all in the set of vpn 3) so replacement decides everything.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('fill' as const), k: fc.nat(9) }),
      fc.record({ kind: fc.constant('lookup' as const), k: fc.nat(9) }),
      fc.record({ kind: fc.constant('invalidate' as const), k: fc.nat(9) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const tlb = new GpuTlb(SETS * WAYS, WAYS);
        // Reference: the set's pages, least recently used first.
        let ref: number[] = [];
        for (const o of ops) {
          const vpn = inSet(o.k);
          if (o.kind === 'fill') {
            fillPage(tlb, 0, vpn);
            ref = ref.filter((v) => v !== vpn);
            if (ref.length === WAYS) ref.shift();
            ref.push(vpn);
          } else if (o.kind === 'lookup') {
            const present = ref.includes(vpn);
            expect(tlb.lookup(0, vpn)).toBe(present);
            if (present) ref = [...ref.filter((v) => v !== vpn), vpn];
          } else {
            tlb.invalidateRange(0, vpn, vpn + 1);
            ref = ref.filter((v) => v !== vpn);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('GpuTlb invalidation', () => {
  /** Fills pages [first, end) of spaces 0 and 1 of a TLB big enough to hold them all. */
  function filled(first: number, end: number): GpuTlb {
    const tlb = new GpuTlb(4096, 8);
    for (let v = first; v < end; v++) {
      fillPage(tlb, 0, v);
      fillPage(tlb, 1, v);
    }
    return tlb;
  }

  /** The pages of [first, end) of `space` that still hit. */
  function hits(tlb: GpuTlb, space: number, first: number, end: number): number[] {
    const out: number[] = [];
    for (let v = first; v < end; v++) if (tlb.lookup(space, v)) out.push(v);
    return out;
  }

  const range = (first: number, end: number): number[] =>
    Array.from({ length: end - first }, (_, i) => first + i);

  it('drops exactly [start, end) of one space on a short range (page probes)', () => {
    const tlb = filled(0, 200);
    tlb.invalidateRange(0, 50, 53);
    expect(hits(tlb, 0, 0, 200)).toEqual([...range(0, 50), ...range(53, 200)]);
    expect(hits(tlb, 1, 0, 200)).toEqual(range(0, 200));
    expect(tlb.invalidations).toBe(1);
  });

  it('drops exactly [start, end) of one space on a long range (a sweep of every entry)', () => {
    // 512 sets: 600 pages are more than the sets, so the TLB sweeps instead of probing.
    const tlb = filled(0, 1500);
    tlb.invalidateRange(0, 300, 900);
    expect(hits(tlb, 0, 0, 1500)).toEqual([...range(0, 300), ...range(900, 1500)]);
    expect(hits(tlb, 1, 0, 1500)).toEqual(range(0, 1500));
  });

  it('agrees between the probe and the sweep at the boundary length', () => {
    // 4096 entries / 8 ways = 512 sets: a 512-page range probes, a 513-page range sweeps.
    for (const length of [511, 512, 513, 514]) {
      const tlb = filled(0, 1200);
      tlb.invalidateRange(0, 100, 100 + length);
      expect(hits(tlb, 0, 0, 1200)).toEqual([...range(0, 100), ...range(100 + length, 1200)]);
      expect(hits(tlb, 1, 0, 1200)).toEqual(range(0, 1200));
    }
  });

  it('an empty range drops nothing', () => {
    const tlb = filled(0, 10);
    tlb.invalidateRange(0, 5, 5);
    expect(hits(tlb, 0, 0, 10)).toEqual(range(0, 10));
  });

  it('invalidateSpace forgets every translation of one space, at any vpn, and no other', () => {
    const tlb = filled(0, 100);
    fillPage(tlb, 0, 2 ** 36 - 1);
    fillPage(tlb, 1, 2 ** 36 - 1);
    tlb.invalidateSpace(0);
    expect(hits(tlb, 0, 0, 100)).toEqual([]);
    expect(tlb.lookup(0, 2 ** 36 - 1)).toBe(false);
    expect(hits(tlb, 1, 0, 100)).toEqual(range(0, 100));
    expect(tlb.lookup(1, 2 ** 36 - 1)).toBe(true);
  });

  it('a translation filled again after its invalidation hits with the new pfn', () => {
    const tlb = filled(0, 10);
    tlb.invalidateRange(0, 0, 10);
    tlb.fill(0, 4, 77, 5);
    expect(hit(tlb, 0, 4)).toEqual({ pfn: 77, attr: 5 });
    expect(hit(tlb, 0, 3)).toBeNull();
  });
});
