// The trace validator: accepts valid traces (ours and other shapes of the format) and rejects each
// kind of malformation, one case per rule.

import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../sim/trace.js';
import { toChromeTrace } from './chromeTrace.js';
import { type TraceRule, validateChromeTrace, validateChromeTraceJson } from './traceValidate.js';

const at = (ts: number, ph: string, name: string, more: Record<string, unknown> = {}) => ({
  name,
  cat: 'c',
  ph,
  ts,
  pid: 1,
  tid: 1,
  ...more,
});

/** The rules broken by a trace made of `events`. */
function rules(events: unknown[]): TraceRule[] {
  return validateChromeTrace({ traceEvents: events }).map((p) => p.rule);
}

describe('validateChromeTrace accepts', () => {
  it("hetmem's own traces", () => {
    const events: TraceEvent[] = [
      { tNs: 0, track: 'a', phase: 'B', name: 'outer', category: 'mm' },
      { tNs: 5, track: 'b', phase: 'b', name: 'bind', category: 'sva', id: 1 },
      { tNs: 6, track: 'b', phase: 'b', name: 'bind', category: 'sva', id: 2 },
      { tNs: 7, track: 'a', phase: 'B', name: 'inner', category: 'mm' },
      { tNs: 8, track: 'a', phase: 'E', name: 'inner', category: 'mm' },
      { tNs: 9, track: 'b', phase: 'e', name: 'bind', category: 'sva', id: 1 },
      { tNs: 9, track: 'a', phase: 'E', name: 'outer', category: 'mm' },
      { tNs: 10, track: 'c', phase: 'e', name: 'bind', category: 'sva', id: 2 },
    ];
    expect(validateChromeTrace(toChromeTrace(events, { scenario: 's', seed: 1 }))).toEqual([]);
  });

  it('the bare array form, E without a name, X, C, id2 and other threads interleaving', () => {
    const trace = [
      at(0, 'B', 'x'),
      at(1, 'B', 'y', { tid: 2 }),
      at(2, 'E', 'ignored', { name: undefined }),
      at(3, 'E', 'y', { tid: 2 }),
      at(4, 'X', 'whole', { dur: 2.5 }),
      at(5, 'C', 'depth', { args: { queued: 3 } }),
      at(6, 'b', 'grp', { id2: { local: '0x1' } }),
      at(7, 'e', 'grp', { id2: { local: '0x1' } }),
      at(8, 'i', 'tick', { s: 'g' }),
      { name: 'process_labels', ph: 'M', pid: 1, args: { labels: 'sim' } },
    ];
    expect(validateChromeTrace(trace)).toEqual([]);
  });

  it('the same async id under another name or category (they are different spans)', () => {
    expect(
      rules([
        at(0, 'b', 'a', { id: 1 }),
        at(0, 'b', 'b', { id: 1 }),
        at(0, 'b', 'a', { id: 1, cat: 'd' }),
        at(1, 'e', 'b', { id: 1 }),
        at(1, 'e', 'a', { id: 1, cat: 'd' }),
        at(1, 'e', 'a', { id: 1 }),
      ]),
    ).toEqual([]);
  });
});

describe('validateChromeTrace rejects', () => {
  it('json: text that does not parse', () => {
    expect(validateChromeTraceJson('{"traceEvents": [').map((p) => p.rule)).toEqual(['json']);
  });

  it('container: no event array, bad displayTimeUnit, bad otherData, not an object', () => {
    expect(validateChromeTrace({ events: [] }).map((p) => p.rule)).toEqual(['container']);
    expect(validateChromeTrace({ traceEvents: [], displayTimeUnit: 'us' })[0].rule).toBe('container');
    expect(validateChromeTrace({ traceEvents: [], otherData: 3 })[0].rule).toBe('container');
    expect(validateChromeTrace(42)[0].rule).toBe('container');
  });

  it('event: an entry that is not an object', () => {
    expect(rules([3])).toEqual(['event']);
    expect(validateChromeTrace({ traceEvents: [at(0, 'i', 'ok'), null] })[0].index).toBe(1);
  });

  it('phase: missing or unknown ph', () => {
    expect(rules([at(0, 'Q', 'x')])).toEqual(['phase']);
    expect(rules([at(0, undefined as unknown as string, 'x')])).toEqual(['phase']);
  });

  it('field: a required field missing or of the wrong type', () => {
    expect(rules([at(0, 'i', 'x', { name: undefined })])).toEqual(['field']);
    expect(rules([at(0, 'i', 'x', { pid: undefined })])).toEqual(['field']);
    expect(rules([at(0, 'i', 'x', { tid: '1' })])).toEqual(['field']);
    expect(rules([at(0, 'i', 'x', { ts: undefined })])).toEqual(['field']);
    expect(rules([at(0, 'i', 'x', { s: 'x' })])).toEqual(['field']);
    expect(rules([at(0, 'X', 'x', { dur: -1 })])).toEqual(['field']);
  });

  it('field: async events without an id or a category', () => {
    expect(rules([at(0, 'b', 'x'), at(1, 'e', 'x')])).toEqual(['field', 'field']);
    expect(
      rules([at(0, 'b', 'x', { id: 1, cat: undefined }), at(1, 'e', 'x', { id: 1, cat: undefined })]),
    ).toEqual(['field', 'field']);
  });

  it('args: not a plain object', () => {
    expect(rules([at(0, 'i', 'x', { args: [1, 2] })])).toEqual(['args']);
    expect(rules([at(0, 'i', 'x', { args: 'a=1' })])).toEqual(['args']);
    expect(rules([at(0, 'C', 'x', { args: { n: 'three' } })])).toEqual(['args']);
  });

  it('timestamp: not a finite number', () => {
    expect(rules([at(0, 'i', 'x', { ts: '12' })])).toEqual(['timestamp']);
    expect(rules([at(0, 'i', 'x', { ts: Infinity })])).toEqual(['timestamp']);
    expect(validateChromeTraceJson('[{"name":"x","ph":"i","ts":null,"pid":1,"tid":1}]')[0].rule).toBe(
      'timestamp',
    );
  });

  it('order: B/E going back in time on one thread', () => {
    expect(rules([at(10, 'B', 'x'), at(5, 'E', 'x')])).toEqual(['order']);
    // Another thread has its own clock order.
    expect(
      rules([at(10, 'B', 'x'), at(5, 'B', 'y', { tid: 2 }), at(6, 'E', 'y', { tid: 2 }), at(11, 'E', 'x')]),
    ).toEqual([]);
  });

  it('nesting: E without B, E closing another name, B never ended', () => {
    expect(rules([at(0, 'E', 'x')])).toEqual(['nesting']);
    expect(
      rules([at(0, 'B', 'outer'), at(1, 'B', 'inner'), at(2, 'E', 'outer'), at(3, 'E', 'inner')]),
    ).toEqual(['nesting', 'nesting']);
    const open = validateChromeTrace([at(0, 'B', 'x'), at(1, 'B', 'y'), at(2, 'E', 'y')]);
    expect(open.map((p) => [p.rule, p.index])).toEqual([['nesting', 0]]);
    // An E on another thread does not close this thread's B.
    expect(rules([at(0, 'B', 'x'), at(1, 'E', 'x', { tid: 2 })])).toEqual(['nesting', 'nesting']);
  });

  it('async: e without b, b without e, b reused while open, e before its b', () => {
    expect(rules([at(0, 'e', 'x', { id: 1 })])).toEqual(['async']);
    expect(rules([at(0, 'b', 'x', { id: 1 })])).toEqual(['async']);
    expect(
      rules([at(0, 'b', 'x', { id: 1 }), at(1, 'b', 'x', { id: 1 }), at(2, 'e', 'x', { id: 1 })]),
    ).toEqual(['async']);
    expect(rules([at(5, 'b', 'x', { id: 1 }), at(4, 'e', 'x', { id: 1 })])).toEqual(['async']);
    // Matching needs the same cat, id and name: each of these leaves both ends unmatched.
    expect(rules([at(0, 'b', 'x', { id: 1 }), at(1, 'e', 'x', { id: 2 })])).toEqual(['async', 'async']);
    expect(rules([at(0, 'b', 'x', { id: 1 }), at(1, 'e', 'y', { id: 1 })])).toEqual(['async', 'async']);
    expect(rules([at(0, 'b', 'x', { id: 1 }), at(1, 'e', 'x', { id: 1, cat: 'd' })])).toEqual([
      'async',
      'async',
    ]);
  });

  it('metadata: unknown, missing args, wrong arg types, conflicting thread names', () => {
    const m = (name: string, args: unknown, tid?: number) => ({ name, ph: 'M', pid: 1, tid, args });
    expect(rules([m('thread_colour', { name: 'x' }, 1)])).toEqual(['metadata']);
    expect(rules([m('thread_name', undefined, 1)])).toEqual(['metadata']);
    expect(rules([m('thread_name', { name: 3 }, 1)])).toEqual(['metadata']);
    expect(rules([m('thread_sort_index', { sort_index: 1.5 }, 1)])).toEqual(['metadata']);
    expect(rules([m('thread_name', { name: 'x' })])).toEqual(['field']);
    expect(rules([m('process_name', { name: 'x' })])).toEqual([]);
    expect(rules([m('thread_name', { name: 'a' }, 1), m('thread_name', { name: 'b' }, 1)])).toEqual([
      'metadata',
    ]);
    expect(rules([m('thread_name', { name: 'a' }, 1), m('thread_name', { name: 'a' }, 1)])).toEqual([]);
  });

  it('limit: stops listing after maxProblems', () => {
    const bad = Array.from({ length: 50 }, (_, i) => at(i, 'E', 'x'));
    const problems = validateChromeTrace(bad, { maxProblems: 3 });
    expect(problems.map((p) => p.rule)).toEqual(['nesting', 'nesting', 'nesting', 'limit']);
  });

  it('each problem names the event index and says what is wrong', () => {
    const [problem] = validateChromeTrace([at(0, 'i', 'ok'), at(1, 'B', 'a'), at(2, 'E', 'b')]);
    expect(problem.index).toBe(2);
    expect(problem.message).toContain('"b"');
    expect(problem.message).toContain('"a"');
  });
});
