// The event timeline's pure parts: pairing begin/end events into spans (nested, async, unclosed),
// lanes that never overlap, track order, time text and axis ticks, window zoom and pan.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/sim/trace.js';
import {
  categoryColour,
  CATEGORY_PALETTE,
  formatNs,
  formatTick,
  isNiceStep,
  niceStepNs,
  ticks,
} from '../src/timeline/format.js';
import {
  assignLanes,
  buildTimeline,
  clampWindow,
  compareNames,
  MIN_WINDOW_NS,
  panWindow,
  spanAt,
  visibleInstants,
  visibleRange,
  zoomWindow,
  type Span,
  type Timeline,
} from '../src/timeline/spans.js';

function ev(
  tNs: number,
  track: string,
  phase: TraceEvent['phase'],
  name: string,
  extra: { id?: number; args?: TraceEvent['args']; category?: string } = {},
): TraceEvent {
  return { tNs, track, phase, name, category: extra.category ?? 'test', id: extra.id, args: extra.args };
}

function allSpans(timeline: Timeline): Span[] {
  return timeline.tracks.flatMap((track) => track.rows.flat());
}

function overlaps(a: Span, b: Span): boolean {
  return a.startNs < b.endNs && b.startNs < a.endNs;
}

describe('buildTimeline pairing', () => {
  it('pairs nested B/E on one track innermost first and stacks the inner span below', () => {
    const timeline = buildTimeline(
      [
        ev(0, 'app', 'B', 'outer', { args: { a: 1 } }),
        ev(10, 'app', 'B', 'inner'),
        ev(20, 'app', 'E', 'inner', { args: { b: 2 } }),
        ev(30, 'app', 'E', 'outer', { args: { a: 3 } }),
      ],
      100,
    );
    const [track] = timeline.tracks;
    expect(track.rows.map((row) => row.map((s) => [s.name, s.startNs, s.endNs]))).toEqual([
      [['outer', 0, 30]],
      [['inner', 10, 20]],
    ]);
    // The end's args win over the begin's.
    expect(track.rows[0][0].args).toEqual({ a: 3 });
    expect(track.rows[1][0].args).toEqual({ b: 2 });
    expect(allSpans(timeline).every((s) => s.closed && !s.async)).toBe(true);
    expect(timeline.unmatchedEnds).toBe(0);
  });

  it('keeps B/E stacks per track', () => {
    const timeline = buildTimeline(
      [ev(0, 'a', 'B', 'x'), ev(1, 'b', 'B', 'y'), ev(2, 'a', 'E', 'x'), ev(3, 'b', 'E', 'y')],
      10,
    );
    expect(allSpans(timeline).map((s) => [s.track, s.name, s.startNs, s.endNs])).toEqual([
      ['a', 'x', 0, 2],
      ['b', 'y', 1, 3],
    ]);
  });

  it('pairs overlapping async spans by id and name, out of order', () => {
    const timeline = buildTimeline(
      [
        ev(0, 'dsa0/dma', 'b', 'dma copy', { id: 1 }),
        ev(5, 'dsa0/dma', 'b', 'dma copy', { id: 2 }),
        ev(6, 'dsa0/dma', 'b', 'dma fill', { id: 1 }),
        ev(7, 'dsa0/dma', 'e', 'dma copy', { id: 2 }),
        ev(9, 'dsa0/dma', 'e', 'dma fill', { id: 1 }),
        ev(12, 'dsa0/dma', 'e', 'dma copy', { id: 1, args: { ok: true } }),
      ],
      100,
    );
    const spans = allSpans(timeline).sort((a, b) => a.index - b.index);
    expect(spans.map((s) => [s.name, s.startNs, s.endNs, s.index])).toEqual([
      ['dma copy', 0, 12, 0],
      ['dma copy', 5, 7, 1],
      ['dma fill', 6, 9, 2],
    ]);
    expect(spans.every((s) => s.async && s.closed)).toBe(true);
    expect(spans[0].args).toEqual({ ok: true });
    // 0..12 takes lane 0; 5..7 and 6..9 overlap it and each other.
    expect(timeline.tracks[0].rows.map((row) => row.map((s) => s.index))).toEqual([[0], [1], [2]]);
  });

  it('does not pair async spans across tracks', () => {
    const timeline = buildTimeline(
      [ev(0, 'gpu0/driver', 'b', 'm', { id: 1 }), ev(5, 'gpu1/driver', 'e', 'm', { id: 1 })],
      20,
    );
    const [span] = allSpans(timeline);
    expect(span).toMatchObject({ track: 'gpu0/driver', startNs: 0, endNs: 20, closed: false });
    expect(timeline.unmatchedEnds).toBe(1);
  });

  it('ends unclosed spans at endNs, and counts ends with no begin', () => {
    const timeline = buildTimeline(
      [
        ev(0, 'app', 'E', 'orphan'),
        ev(1, 'app', 'B', 'open sync', { args: { n: 1 } }),
        ev(2, 'app', 'b', 'open async', { id: 7 }),
        ev(3, 'app', 'e', 'open async', { id: 8 }),
      ],
      50,
    );
    const spans = allSpans(timeline).sort((a, b) => a.index - b.index);
    expect(spans.map((s) => [s.name, s.startNs, s.endNs, s.closed, s.async])).toEqual([
      ['open sync', 1, 50, false, false],
      ['open async', 2, 50, false, true],
    ]);
    expect(spans[0].args).toEqual({ n: 1 });
    expect(timeline.unmatchedEnds).toBe(2);
    expect(timeline.spanCount).toBe(2);
  });

  it('widens the run to cover every event and never draws a span backwards', () => {
    const timeline = buildTimeline(
      [ev(30, 'app', 'b', 'late', { id: 1 }), ev(20, 'app', 'e', 'late', { id: 1 })],
      10,
    );
    expect(timeline.startNs).toBe(0);
    expect(timeline.endNs).toBe(30);
    expect(allSpans(timeline)[0]).toMatchObject({ startNs: 30, endNs: 30 });
  });

  it('collects instants in time order', () => {
    const timeline = buildTimeline(
      [ev(5, 'app', 'i', 'b'), ev(1, 'app', 'i', 'a', { args: { region: 'buf' } }), ev(5, 'app', 'i', 'c')],
      10,
    );
    expect(timeline.tracks[0].instants.map((i) => [i.name, i.tNs, i.index])).toEqual([
      ['a', 1, 1],
      ['b', 5, 0],
      ['c', 5, 2],
    ]);
    expect(timeline.tracks[0].instants[0].args).toEqual({ region: 'buf' });
    expect(visibleInstants(timeline.tracks[0].instants, 2, 5)).toEqual([1, 3]);
  });

  it('is deterministic', () => {
    const trace = [
      ev(0, 'iommu0/prq', 'i', 'x'),
      ev(1, 'app', 'b', 'a', { id: 1 }),
      ev(1, 'app', 'b', 'a', { id: 2 }),
      ev(3, 'app', 'e', 'a', { id: 1 }),
    ];
    expect(JSON.stringify(buildTimeline(trace, 9))).toBe(JSON.stringify(buildTimeline([...trace], 9)));
  });
});

describe('track order', () => {
  const tracks = ['iommu0/prq', 'gpu10/driver', 'worker', 'dsa0/dma', 'app', 'gpu2/driver', 'dsa0', 'app2'];
  const trace = tracks.map((track, i) => ev(i, track, 'i', 'x'));

  it('puts tracks without a slash first, then the rest, alphabetically, numbers by value', () => {
    expect(buildTimeline(trace, 10).tracks.map((t) => [t.name, t.group])).toEqual([
      ['app', 'process'],
      ['app2', 'process'],
      ['dsa0', 'process'],
      ['worker', 'process'],
      ['dsa0/dma', 'device'],
      ['gpu2/driver', 'device'],
      ['gpu10/driver', 'device'],
      ['iommu0/prq', 'device'],
    ]);
  });

  it('uses the names it is given: processes, then devices and their sub-tracks, then the rest', () => {
    const timeline = buildTimeline(trace, 10, {
      processes: ['app', 'app2', 'worker'],
      devices: ['gpu2', 'gpu10', 'dsa0'],
    });
    expect(timeline.tracks.map((t) => [t.name, t.group])).toEqual([
      ['app', 'process'],
      ['app2', 'process'],
      ['worker', 'process'],
      ['dsa0', 'device'],
      ['dsa0/dma', 'device'],
      ['gpu2/driver', 'device'],
      ['gpu10/driver', 'device'],
      ['iommu0/prq', 'other'],
    ]);
  });

  it('compares names without the locale', () => {
    expect(['b', 'a10', 'a9', 'A', 'a'].sort(compareNames)).toEqual(['A', 'a', 'a9', 'a10', 'b']);
    expect(compareNames('x', 'x')).toBe(0);
  });
});

/** Random spans on one track: starts and lengths from small ranges so ties and touches happen. */
const spanSets = fc.array(
  fc.record({ startNs: fc.integer({ min: 0, max: 50 }), lengthNs: fc.integer({ min: 0, max: 20 }) }),
  { maxLength: 60 },
);

function makeSpans(specs: readonly { startNs: number; lengthNs: number }[]): Span[] {
  return specs.map((s, index) => ({
    name: `s${index}`,
    category: 'c',
    startNs: s.startNs,
    endNs: s.startNs + s.lengthNs,
    track: 't',
    index,
    closed: true,
    async: true,
  }));
}

describe('lanes', () => {
  it('never overlap within a lane, and hold every span exactly once', () => {
    fc.assert(
      fc.property(spanSets, (specs) => {
        const spans = makeSpans(specs);
        const lanes = assignLanes(spans);
        const seen = lanes.flat().map((s) => s.index);
        expect([...seen].sort((a, b) => a - b)).toEqual(spans.map((s) => s.index));
        for (const lane of lanes) {
          expect(lane.length).toBeGreaterThan(0);
          for (let i = 1; i < lane.length; i++) {
            // Sorted by start and disjoint, so checking neighbours checks every pair.
            expect(lane[i].startNs).toBeGreaterThanOrEqual(lane[i - 1].endNs);
            expect(overlaps(lane[i - 1], lane[i])).toBe(false);
          }
        }
      }),
    );
  });

  it('are greedy: a span goes to a later lane only when every earlier one is busy at its start', () => {
    fc.assert(
      fc.property(spanSets, (specs) => {
        const lanes = assignLanes(makeSpans(specs));
        for (let l = 1; l < lanes.length; l++) {
          for (const span of lanes[l]) {
            for (let earlier = 0; earlier < l; earlier++) {
              const busy = lanes[earlier].some(
                (other) => other.startNs <= span.startNs && other.endNs > span.startNs && other !== span,
              );
              expect(busy).toBe(true);
            }
          }
        }
      }),
    );
  });

  it('through buildTimeline: random B/E and b/e traces keep every span once and lanes disjoint', () => {
    const events = fc.array(
      fc.record({
        dtNs: fc.integer({ min: 0, max: 5 }),
        track: fc.constantFrom('app', 'gpu0/driver'),
        kind: fc.constantFrom('B', 'E', 'b', 'e', 'i'),
        id: fc.integer({ min: 0, max: 3 }),
      }),
      { maxLength: 80 },
    );
    fc.assert(
      fc.property(events, (specs) => {
        let tNs = 0;
        const trace = specs.map((s) => {
          tNs += s.dtNs;
          const phase = s.kind as TraceEvent['phase'];
          return ev(tNs, s.track, phase, 'x', phase === 'b' || phase === 'e' ? { id: s.id } : {});
        });
        const timeline = buildTimeline(trace, tNs + 1);
        const spans = allSpans(timeline);
        expect(spans.length).toBe(timeline.spanCount);
        expect(new Set(spans.map((s) => s.index)).size).toBe(spans.length);
        const begins = trace.filter((e) => e.phase === 'B' || e.phase === 'b').length;
        expect(spans.length).toBe(begins);
        for (const track of timeline.tracks) {
          for (const lane of track.rows) {
            for (let i = 1; i < lane.length; i++) expect(overlaps(lane[i - 1], lane[i])).toBe(false);
          }
        }
      }),
    );
  });
});

describe('lookups', () => {
  const timeline = buildTimeline(
    [
      ev(0, 'app', 'b', 'a', { id: 1 }),
      ev(10, 'app', 'e', 'a', { id: 1 }),
      ev(20, 'app', 'b', 'b', { id: 1 }),
      ev(21, 'app', 'e', 'b', { id: 1 }),
      ev(40, 'app', 'b', 'c', { id: 1 }),
      ev(60, 'app', 'e', 'c', { id: 1 }),
    ],
    100,
  );
  const lane = timeline.tracks[0].rows[0];

  it('finds the spans meeting a window', () => {
    expect(visibleRange(lane, 5, 30)).toEqual([0, 2]);
    expect(visibleRange(lane, 11, 19)).toEqual([1, 1]);
    expect(visibleRange(lane, 60, 100)).toEqual([2, 3]);
    expect(visibleRange(lane, 61, 100)).toEqual([3, 3]);
  });

  it('finds the span under a time, or the nearest within the tolerance', () => {
    expect(spanAt(timeline, 0, 0, 5)?.name).toBe('a');
    expect(spanAt(timeline, 0, 0, 15)).toBeNull();
    expect(spanAt(timeline, 0, 0, 18, 3)?.name).toBe('b');
    expect(spanAt(timeline, 0, 0, 30, 15)?.name).toBe('b');
    expect(spanAt(timeline, 0, 1, 5)).toBeNull();
    expect(spanAt(timeline, 3, 0, 5)).toBeNull();
  });
});

describe('time windows', () => {
  const bounds = { startNs: 0, endNs: 1000 };

  it('zooms around the anchor', () => {
    expect(zoomWindow({ startNs: 0, endNs: 100 }, 2, 50, bounds)).toEqual({ startNs: 25, endNs: 75 });
    expect(zoomWindow({ startNs: 0, endNs: 100 }, 2, 0, bounds)).toEqual({ startNs: 0, endNs: 50 });
  });

  it('stays inside the run and no narrower than the minimum', () => {
    expect(zoomWindow(bounds, 1e-3, 500, bounds)).toEqual(bounds);
    const narrow = zoomWindow({ startNs: 500, endNs: 520 }, 100, 510, bounds);
    expect(narrow.endNs - narrow.startNs).toBe(MIN_WINDOW_NS);
    expect(narrow.startNs).toBe(505);
    expect(panWindow({ startNs: 0, endNs: 100 }, -50, bounds)).toEqual({ startNs: 0, endNs: 100 });
    expect(panWindow({ startNs: 0, endNs: 100 }, 2000, bounds)).toEqual({ startNs: 900, endNs: 1000 });
    expect(clampWindow({ startNs: -5, endNs: 5000 }, bounds)).toEqual(bounds);
  });
});

describe('formatNs', () => {
  it('picks the unit that fits', () => {
    expect(formatNs(0)).toBe('0 ns');
    expect(formatNs(850)).toBe('850 ns');
    expect(formatNs(12_345)).toBe('12.3 µs');
    expect(formatNs(1_500_000)).toBe('1.500 ms');
    expect(formatNs(2_500_000_000)).toBe('2.500 s');
    expect(formatNs(-1_500)).toBe('-1.5 µs');
    expect(formatNs(0.5)).toBe('0.5 ns');
  });

  it('carries rounding into the next unit', () => {
    expect(formatNs(999_960)).toBe('1.000 ms');
    expect(formatNs(9_999_999_999)).toBe('10.000 s');
  });
});

/** The step before `stepNs` in 1, 2, 5, 10, 20, 50, ... */
function previousNiceStep(stepNs: number): number {
  const mantissa = Math.round(stepNs / 10 ** Math.floor(Math.log10(stepNs) + 1e-9));
  return mantissa === 5 ? stepNs * 0.4 : stepNs * 0.5;
}

describe('ticks', () => {
  it('chooses 1-2-5 steps', () => {
    expect(niceStepNs(1_000_000, 10)).toBe(100_000);
    expect(niceStepNs(1_000_000, 4)).toBe(500_000);
    expect(niceStepNs(1_000, 3)).toBe(500);
    expect(niceStepNs(7, 10)).toBe(1);
    expect(niceStepNs(0, 10)).toBe(1);
    expect(isNiceStep(200)).toBe(true);
    expect(isNiceStep(300)).toBe(false);
  });

  it('labels ticks in one unit with the decimals the step needs', () => {
    const axis = ticks(0, 2_000_000, 4);
    expect(axis.valuesNs).toEqual([0, 500_000, 1_000_000, 1_500_000, 2_000_000]);
    expect(axis.valuesNs.map((t) => formatTick(t, axis))).toEqual([
      '0.0 ms',
      '0.5 ms',
      '1.0 ms',
      '1.5 ms',
      '2.0 ms',
    ]);
    const fine = ticks(1_234_000, 1_234_100, 5);
    expect(fine.stepNs).toBe(20);
    expect(formatTick(fine.valuesNs[1], fine)).toBe('1.23402 ms');
  });

  it('cover the range with a 1-2-5 step and at most maxTicks intervals', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.double({ min: 1, max: 1e12, noNaN: true }),
        fc.integer({ min: 1, max: 30 }),
        (fromNs, rangeNs, maxTicks) => {
          const toNs = fromNs + rangeNs;
          const axis = ticks(fromNs, toNs, maxTicks);
          expect(isNiceStep(axis.stepNs)).toBe(true);
          expect(axis.stepNs).toBeGreaterThanOrEqual(1);
          expect(rangeNs / axis.stepNs).toBeLessThanOrEqual(maxTicks * (1 + 1e-9));
          // A smaller step of the sequence would have been too many ticks (or below 1 ns).
          const previous = previousNiceStep(axis.stepNs);
          expect(previous < 1 || rangeNs / previous > maxTicks * (1 - 1e-9)).toBe(true);
          for (const t of axis.valuesNs) {
            expect(t).toBeGreaterThanOrEqual(fromNs - 1e-6 * axis.stepNs);
            expect(t).toBeLessThanOrEqual(toNs + 1e-6 * axis.stepNs);
          }
          // Covered: no gap of a whole step at either end or between ticks.
          const edges = [fromNs, ...axis.valuesNs, toNs];
          for (let i = 1; i < edges.length; i++) {
            expect(edges[i] - edges[i - 1]).toBeLessThanOrEqual(axis.stepNs * (1 + 1e-9));
          }
        },
      ),
    );
  });
});

describe('category colours', () => {
  it('are stable and from the palette', () => {
    expect(categoryColour('migrate')).toBe(categoryColour('migrate'));
    for (const category of ['migrate', 'dma', 'iopf', 'sva', 'gpu', 'op']) {
      expect(CATEGORY_PALETTE).toContain(categoryColour(category));
    }
  });
});
