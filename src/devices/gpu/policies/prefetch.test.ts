// The prefetch policies against the rules of Ganguly et al. (ISCA 2019, docs/research/ganguly2019.md
// §4.1-4.3) and NVIDIA UVM's tree prefetcher (uvm_perf_prefetch.c, §5): on-demand, random (Rp),
// sequential-local 64 KiB (SLp) and the tree rule (a subregion pulled whole once strictly more than
// threshold% of it is resident or selected; the largest such ancestor of each fault wins). Expected
// selections are worked out by hand here, or by a brute-force reference that counts every aligned
// subregion page by page.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../sim/rng.js';
import { VA_BLOCK_PAGES, VaBlock } from '../vaBlock.js';
import { FakeGpuMemory } from '../../../../test/fakeGpuMemory.js';
import { createPolicy, type PolicyChoice } from './registry.js';
import type { PrefetchPolicy, PrefetchRequest } from './types.js';

const context = { memory: new FakeGpuMemory(1), nowNs: () => 0 };

function prefetcher(choice: PolicyChoice): PrefetchPolicy {
  return createPolicy('prefetch', choice, context);
}

/** Pages [first, end) as a list. */
function range(first: number, end: number): number[] {
  return Array.from({ length: end - first }, (_, k) => first + k);
}

interface RequestSpec {
  firstIndex?: number;
  endIndex?: number;
  faulted: readonly number[];
  resident?: readonly number[];
  /** The initial selection; the faulted pages if not given (4 KiB migration granularity). */
  select?: readonly number[];
  seed?: number;
}

function request(spec: RequestSpec): PrefetchRequest {
  const block = new VaBlock(0, 0);
  for (const i of spec.resident ?? []) block.place(i, i);
  const faulted = new Uint8Array(VA_BLOCK_PAGES);
  for (const i of spec.faulted) faulted[i] = 1;
  const select = new Uint8Array(VA_BLOCK_PAGES);
  for (const i of spec.select ?? spec.faulted) select[i] = 1;
  return {
    block,
    firstIndex: spec.firstIndex ?? 0,
    endIndex: spec.endIndex ?? VA_BLOCK_PAGES,
    faulted,
    select,
    rng: new Rng(spec.seed ?? 1),
  };
}

/** The selected pages, ascending. */
function selected(r: PrefetchRequest): number[] {
  const pages: number[] = [];
  for (let i = 0; i < VA_BLOCK_PAGES; i++) if (r.select[i]) pages.push(i);
  return pages;
}

function run(choice: PolicyChoice, spec: RequestSpec): number[] {
  const r = request(spec);
  prefetcher(choice).prefetch(r);
  return selected(r);
}

describe('prefetch none (on-demand paging)', () => {
  it('selects only what was already selected', () => {
    const spec = { faulted: [3, 100, 511], select: [3, 4, 100, 511], resident: range(0, 3) };
    expect(run('none', spec)).toEqual([3, 4, 100, 511]);
    expect(run('none', { faulted: [] })).toEqual([]);
  });
});

describe('prefetch random (Ganguly Rp)', () => {
  /** The reference: `pages` draws of a page of [first, end) per faulted page. */
  function expectedRandom(spec: RequestSpec, pages: number): number[] {
    const first = spec.firstIndex ?? 0;
    const end = spec.endIndex ?? VA_BLOCK_PAGES;
    const rng = new Rng(spec.seed ?? 1);
    const set = new Set(spec.select ?? spec.faulted);
    for (let n = 0; n < spec.faulted.length * pages; n++) set.add(first + rng.below(end - first));
    return [...set].sort((a, b) => a - b);
  }

  it('adds one random page of the block per faulted page by default, from the seeded stream', () => {
    const spec = { faulted: [10, 300], seed: 42 };
    const got = run('random', spec);
    expect(got).toEqual(expectedRandom(spec, 1));
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got.length).toBeLessThanOrEqual(4);
  });

  it('adds exactly `pages` draws per faulted page', () => {
    const spec = { faulted: [7, 8, 200], seed: 7 };
    expect(run({ name: 'random', pages: 5 }, spec)).toEqual(expectedRandom(spec, 5));
    // No fault, no draw: the selection stays empty.
    expect(run({ name: 'random', pages: 5 }, { faulted: [] })).toEqual([]);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = run({ name: 'random', pages: 8 }, { faulted: [1, 2, 3], seed: 5 });
    const b = run({ name: 'random', pages: 8 }, { faulted: [1, 2, 3], seed: 5 });
    const c = run({ name: 'random', pages: 8 }, { faulted: [1, 2, 3], seed: 6 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('never selects outside the VMA part of the block', () => {
    for (let seed = 0; seed < 20; seed++) {
      const spec = { firstIndex: 100, endIndex: 140, faulted: range(100, 140), seed };
      const got = run({ name: 'random', pages: 16 }, spec);
      expect(got).toEqual(expectedRandom(spec, 16));
      expect(got[0]).toBeGreaterThanOrEqual(100);
      expect(got[got.length - 1]).toBeLessThan(140);
    }
  });
});

describe('prefetch sequential-local (Ganguly SLp)', () => {
  it('selects the aligned 64 KiB group (16 pages) of each faulted page', () => {
    expect(run('sequential-local', { faulted: [37] })).toEqual(range(32, 48));
    expect(run('sequential-local', { faulted: [15, 16] })).toEqual(range(0, 32));
    expect(run('sequential-local', { faulted: [33, 40, 47] })).toEqual(range(32, 48));
    expect(run('sequential-local', { faulted: [0, 511] })).toEqual([...range(0, 16), ...range(496, 512)]);
  });

  it('clips the group to [firstIndex, endIndex)', () => {
    expect(run('sequential-local', { firstIndex: 40, endIndex: 300, faulted: [41] })).toEqual(range(40, 48));
    expect(run('sequential-local', { firstIndex: 40, endIndex: 300, faulted: [299] })).toEqual(
      range(288, 300),
    );
  });

  it('takes the group size from `pages`', () => {
    expect(run({ name: 'sequential-local', pages: 64 }, { faulted: [70] })).toEqual(range(64, 128));
    expect(run({ name: 'sequential-local', pages: 1 }, { faulted: [70] })).toEqual([70]);
  });

  it('selects resident pages of the group too (the driver skips them when it copies)', () => {
    expect(run('sequential-local', { faulted: [5], resident: [0, 1, 15] })).toEqual(range(0, 16));
  });
});

describe('prefetch tree (NVIDIA UVM, Ganguly TBNp)', () => {
  it('streams a 2 MiB block in 6 faults: big pages 0, 1, 2, 4, 8 and 16', () => {
    // Threshold 51: after big page 0 (16 pages) a fault on big page 1 makes the 32-page node
    // 32/32 resident or selected, so it is pulled; big page 2 makes the 64-page node 48/64 = 75%;
    // big page 4 the 128-page node 80/128; big page 8 the 256-page node 144/256 = 56%; big page 16
    // the block 272/512 = 53% > 51%, which pulls the rest.
    const policy = prefetcher('tree');
    const block = new VaBlock(0, 0);
    const faults: number[] = [];
    for (let round = 0; round < VA_BLOCK_PAGES && block.residentPages < VA_BLOCK_PAGES; round++) {
      let p = 0;
      while (block.isResident(p)) p++;
      faults.push(p);
      const faulted = new Uint8Array(VA_BLOCK_PAGES);
      const select = new Uint8Array(VA_BLOCK_PAGES);
      faulted[p] = 1;
      select[p] = 1;
      policy.prefetch({ block, firstIndex: 0, endIndex: VA_BLOCK_PAGES, faulted, select, rng: new Rng(1) });
      for (let i = 0; i < VA_BLOCK_PAGES; i++) if (select[i] && !block.isResident(i)) block.place(i, i);
    }
    expect(faults).toEqual([0, 16, 32, 64, 128, 256]);
    expect(block.residentPages).toBe(VA_BLOCK_PAGES);
  });

  it('pulls a 128-page subregion that is 60% resident but not its 256-page parent at 30%', () => {
    // Resident [0, 61); the fault on page 100 grows to its big page [96, 112): the 128-page node
    // [0, 128) holds 61 + 16 = 77 pages (60.2% > 51%); [64, 128) has 16/64 and [96, 128) 16/32
    // (50%, not above 51%); [0, 256) 77/256 = 30%.
    expect(run('tree', { faulted: [100], resident: range(0, 61) })).toEqual(range(0, 128));
  });

  it('pulls the 256-page parent only when it is strictly more than 51% full', () => {
    // [0, 128) holds 64 resident + 16 faulted = 80; [128, 256) adds 50 or 51 resident pages:
    // 130/256 = 50.8% stays, 131/256 = 51.2% > 51% is pulled whole.
    const base = range(0, 64);
    expect(run('tree', { faulted: [100], resident: [...base, ...range(128, 178)] })).toEqual(range(0, 128));
    expect(run('tree', { faulted: [100], resident: [...base, ...range(128, 179)] })).toEqual(range(0, 256));
  });

  it('does not pull a subregion exactly at the threshold (strictly greater)', () => {
    // Nothing resident: the fault's big page makes [0, 32) exactly 16/32 = 50%.
    expect(run({ name: 'tree', threshold: 50 }, { faulted: [0] })).toEqual(range(0, 16));
    expect(run({ name: 'tree', threshold: 49 }, { faulted: [0] })).toEqual(range(0, 32));
  });

  it('grows every fault to its whole big page first, as SLp does', () => {
    expect(run('tree', { faulted: [37] })).toEqual(range(32, 48));
  });

  it('keeps the largest qualifying ancestor, even above a non-qualifying one', () => {
    // Resident [16, 64) and [128, 256); fault on page 0: [0, 64) is full, [0, 128) only 64/128
    // = 50%, [0, 256) 192/256 = 75%, the block 192/512 = 37.5%: [0, 256) wins.
    expect(run('tree', { faulted: [0], resident: [...range(16, 64), ...range(128, 256)] })).toEqual(
      range(0, 256),
    );
  });

  it('computes each fault against the counts before any subregion is added (one pass)', () => {
    // Faults on pages 0 and 256, resident [16, 160): [0, 256) holds 16 + 144 = 160/256 = 62.5% and
    // is pulled for page 0; page 256 sees [256, 512) at 16/256 and the block at 176/512 = 34%,
    // counted before [0, 256) was added, so only its big page goes.
    expect(run('tree', { faulted: [0, 256], resident: range(16, 160) })).toEqual([
      ...range(0, 256),
      ...range(256, 272),
    ]);
  });

  it('never selects, nor counts, pages outside [firstIndex, endIndex)', () => {
    // VMA part [0, 200), resident [16, 200): [0, 256) is 200/256 = 78% and is pulled, clipped.
    expect(run('tree', { endIndex: 200, faulted: [0], resident: range(16, 200) })).toEqual(range(0, 200));
    // VMA part [0, 100); [100, 256) resident belongs to another mapping sharing the block: it does
    // not count, so the fault pulls only its big page.
    expect(run('tree', { endIndex: 100, faulted: [0], resident: range(100, 256) })).toEqual(range(0, 16));
    // VMA part [300, 512): the big page [288, 304) of page 301 is clipped to [300, 304).
    expect(run('tree', { firstIndex: 300, faulted: [301] })).toEqual(range(300, 304));
  });

  it('keeps pages the migration granularity already selected and counts them', () => {
    // Granularity 64 pages: the initial selection is [0, 64) for a fault on page 0; with [64, 80)
    // resident, [0, 128) holds 80/128 = 62.5% and is pulled.
    expect(run('tree', { faulted: [0], select: range(0, 64), resident: range(64, 80) })).toEqual(
      range(0, 128),
    );
  });

  /** Brute force: every aligned subregion counted page by page. */
  function referenceTree(
    first: number,
    end: number,
    resident: ReadonlySet<number>,
    faulted: readonly number[],
    initial: readonly number[],
    threshold: number,
  ): Set<number> {
    const grown = new Set(initial);
    for (const f of faulted) {
      const group = f - (f % 16);
      for (let i = Math.max(first, group); i < Math.min(end, group + 16); i++) grown.add(i);
    }
    const occupied = (i: number): boolean => i >= first && i < end && (grown.has(i) || resident.has(i));
    const out = new Set(grown);
    for (const f of faulted) {
      let best: [number, number] | null = null;
      for (let size = 2; size <= VA_BLOCK_PAGES; size *= 2) {
        const start = f - (f % size);
        let count = 0;
        for (let i = start; i < start + size; i++) if (occupied(i)) count++;
        if (count * 100 > size * threshold) best = [start, size];
      }
      if (best !== null)
        for (let i = Math.max(first, best[0]); i < Math.min(end, best[0] + best[1]); i++) out.add(i);
    }
    return out;
  }

  const runs = fc.array(fc.record({ start: fc.nat(VA_BLOCK_PAGES - 1), length: fc.nat(160) }), {
    maxLength: 6,
  });
  const scenario = fc.record({
    bounds: fc.tuple(fc.nat(VA_BLOCK_PAGES), fc.nat(VA_BLOCK_PAGES)),
    residentRuns: runs,
    extraRuns: runs,
    faults: fc.array(fc.nat(VA_BLOCK_PAGES - 1), { minLength: 1, maxLength: 10 }),
    granularity: fc.constantFrom(1, 16, 64),
    threshold: fc.integer({ min: 1, max: 100 }),
  });

  function pagesOf(list: readonly { start: number; length: number }[]): Set<number> {
    const set = new Set<number>();
    for (const r of list)
      for (let i = r.start; i < Math.min(VA_BLOCK_PAGES, r.start + r.length); i++) set.add(i);
    return set;
  }

  it('property: a superset of the initial selection, made of aligned subregions around faults, equal to the brute-force rule, and monotone in residency', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const first = Math.min(...s.bounds);
        const end = Math.max(...s.bounds);
        fc.pre(end > first);
        const resident = pagesOf(s.residentRuns);
        const faulted = [...new Set(s.faults.map((f) => first + (f % (end - first))))].filter(
          (f) => !resident.has(f),
        );
        fc.pre(faulted.length > 0);
        const initial = new Set<number>();
        for (const f of faulted) {
          const group = f - (f % s.granularity);
          for (let i = Math.max(first, group); i < Math.min(end, group + s.granularity); i++) initial.add(i);
        }
        const choice = { name: 'tree', threshold: s.threshold };
        const spec = {
          firstIndex: first,
          endIndex: end,
          faulted,
          resident: [...resident],
          select: [...initial],
        };
        const got = run(choice, spec);
        const gotSet = new Set(got);

        // expect() once per check, not per page: the property runs hundreds of times.
        expect([...initial].filter((i) => !gotSet.has(i))).toEqual([]);
        expect(got.filter((i) => i < first || i >= end)).toEqual([]);
        expect(got).toEqual(
          [...referenceTree(first, end, resident, faulted, [...initial], s.threshold)].sort((a, b) => a - b),
        );
        // Every added page lies in an aligned power-of-two subregion holding a faulted page whose
        // part inside the VMA is selected whole.
        const faultedSet = new Set(faulted);
        const covered = new Set<number>();
        for (const f of faulted)
          for (let size = 2; size <= VA_BLOCK_PAGES; size *= 2) {
            const lo = Math.max(first, f - (f % size));
            const hi = Math.min(end, f - (f % size) + size);
            let whole = true;
            for (let j = lo; j < hi && whole; j++) whole = gotSet.has(j);
            if (whole) for (let j = lo; j < hi; j++) covered.add(j);
          }
        expect(got.filter((i) => !initial.has(i) && !covered.has(i))).toEqual([]);
        // More resident pages (none of them faulted) never select fewer pages.
        const more = new Set([...resident, ...[...pagesOf(s.extraRuns)].filter((i) => !faultedSet.has(i))]);
        const gotMore = new Set(run(choice, { ...spec, resident: [...more] }));
        expect(got.filter((i) => !gotMore.has(i))).toEqual([]);
      }),
      { numRuns: 250 },
    );
  });
});
