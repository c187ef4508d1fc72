// The Chrome trace writer: exact output for a hand-made event list, streaming, determinism.

import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../sim/trace.js';
import {
  CHROME_TRACE_EVENTS_PER_CHUNK,
  chromeTraceChunks,
  chromeTraceJson,
  toChromeTrace,
} from './chromeTrace.js';
import { validateChromeTraceJson } from './traceValidate.js';

const options = { scenario: 'tour', seed: 42 };

/** Three tracks, nested B/E, an async span across tracks' time, an instant with args. */
const events: TraceEvent[] = [
  { tNs: 0, track: 'cpu0', phase: 'B', name: 'fault', category: 'mm', args: { vpn: 16 } },
  { tNs: 1500, track: 'gpu0', phase: 'b', name: 'migrate', category: 'migrate', id: 7 },
  { tNs: 1600, track: 'cpu0', phase: 'B', name: 'alloc', category: 'mm' },
  { tNs: 1700, track: 'cpu0', phase: 'E', name: 'alloc', category: 'mm' },
  { tNs: 1999, track: 'cpu0', phase: 'E', name: 'fault', category: 'mm' },
  { tNs: 2001, track: 'iopf', phase: 'i', name: 'prq', category: 'iommu', args: { pasid: 3, ok: true } },
  { tNs: 1234567, track: 'gpu0', phase: 'e', name: 'migrate', category: 'migrate', id: 7 },
];

describe('toChromeTrace', () => {
  it('gives exactly the expected events: metadata first, tids by first appearance, ts in µs', () => {
    const trace = toChromeTrace(events, options);
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.otherData).toEqual({ source: 'hetmem', scenario: 'tour', seed: 42 });
    expect(trace.traceEvents).toEqual([
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'hetmem tour (seed 42)' } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'cpu0' } },
      { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 1, args: { sort_index: 1 } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 2, args: { name: 'gpu0' } },
      { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 2, args: { sort_index: 2 } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 3, args: { name: 'iopf' } },
      { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 3, args: { sort_index: 3 } },
      { name: 'fault', cat: 'mm', ph: 'B', ts: 0, pid: 1, tid: 1, args: { vpn: 16 } },
      { name: 'migrate', cat: 'migrate', ph: 'b', ts: 1.5, pid: 1, tid: 2, id: 7 },
      { name: 'alloc', cat: 'mm', ph: 'B', ts: 1.6, pid: 1, tid: 1 },
      { name: 'alloc', cat: 'mm', ph: 'E', ts: 1.7, pid: 1, tid: 1 },
      { name: 'fault', cat: 'mm', ph: 'E', ts: 1.999, pid: 1, tid: 1 },
      { name: 'prq', cat: 'iommu', ph: 'i', ts: 2.001, pid: 1, tid: 3, s: 't', args: { pasid: 3, ok: true } },
      { name: 'migrate', cat: 'migrate', ph: 'e', ts: 1234.567, pid: 1, tid: 2, id: 7 },
    ]);
  });

  it('writes only the process metadata for an empty run', () => {
    expect(toChromeTrace([], options).traceEvents).toEqual([
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'hetmem tour (seed 42)' } },
    ]);
  });
});

describe('chromeTraceJson', () => {
  it('parses to exactly the object form, and the validator accepts it', () => {
    const text = chromeTraceJson(events, options);
    expect(JSON.parse(text)).toEqual(toChromeTrace(events, options));
    expect(validateChromeTraceJson(text)).toEqual([]);
  });

  it('writes microseconds exactly: no binary-fraction noise', () => {
    const text = chromeTraceJson(
      [
        { tNs: 1234567, track: 't', phase: 'i', name: 'a', category: 'c' },
        { tNs: 999_999_999_999_999, track: 't', phase: 'i', name: 'b', category: 'c' },
        { tNs: 1, track: 't', phase: 'i', name: 'c', category: 'c' },
      ],
      options,
    );
    expect(text).toContain('"ts":1234.567,');
    expect(text).toContain('"ts":999999999999.999,');
    expect(text).toContain('"ts":0.001,');
  });

  it('is deterministic: equal events (fresh objects) give the same bytes', () => {
    const copy = JSON.parse(JSON.stringify(events)) as TraceEvent[];
    expect(chromeTraceJson(copy, { ...options })).toBe(chromeTraceJson(events, options));
  });

  it('streams in bounded pieces, so large traces never become one string', () => {
    const many: TraceEvent[] = Array.from({ length: 3000 }, (_, i) => ({
      tNs: i,
      track: `t${i % 3}`,
      phase: 'i' as const,
      name: 'tick',
      category: 'c',
    }));
    const pieces = [...chromeTraceChunks(many, options)];
    // Opening, 3007 events (1 process + 3 × 2 thread metadata + 3000) in pieces of 1024, closing.
    expect(pieces).toHaveLength(1 + Math.ceil(3007 / CHROME_TRACE_EVENTS_PER_CHUNK) + 1);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(CHROME_TRACE_EVENTS_PER_CHUNK * 100);
    expect(pieces.join('')).toBe(chromeTraceJson(many, options));
    expect(JSON.parse(pieces.join(''))).toEqual(toChromeTrace(many, options));
  });
});
