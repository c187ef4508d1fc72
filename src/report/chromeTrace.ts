// Exports a recorded trace in the Chrome Trace Event format (the JSON that Perfetto and
// chrome://tracing open). The run is one process (pid 1); every track (actor) becomes one thread
// whose tid is its rank of first appearance, so the same events always give the same tids and the
// same bytes. Overlapping lifetimes (migrations, binds, I/O fault groups) are async events ('b'/'e'
// with an id): unlike 'B'/'E' they need not nest, which is why the recorder has both.

import type { TraceArgs, TraceEvent } from '../sim/trace.js';

/** The one process of a run; Perfetto shows it as the top-level group. */
export const CHROME_TRACE_PID = 1;

export interface ChromeTraceOptions {
  readonly scenario: string;
  readonly seed: number;
}

/** One event of the Trace Event format, restricted to the phases hetmem writes. */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly cat?: string;
  readonly ph: 'i' | 'B' | 'E' | 'b' | 'e' | 'M';
  readonly ts?: number;
  readonly pid: number;
  readonly tid: number;
  /** Instant scope: 't' draws the instant on its thread only. */
  readonly s?: 't';
  readonly id?: number;
  readonly args?: TraceArgs;
}

export interface ChromeTrace {
  readonly traceEvents: ChromeTraceEvent[];
  readonly displayTimeUnit: 'ns';
  readonly otherData: { readonly source: 'hetmem'; readonly scenario: string; readonly seed: number };
}

/**
 * The trace as one object (for tests and small runs; `chromeTraceChunks` streams large ones).
 *
 * @example
 * const trace = toChromeTrace(recorder.events, { scenario: 'tour', seed: 1 });
 * trace.traceEvents[0]; // { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'hetmem tour (seed 1)' } }
 */
export function toChromeTrace(events: readonly TraceEvent[], options: ChromeTraceOptions): ChromeTrace {
  return {
    traceEvents: [...chromeTraceEvents(events, options)],
    displayTimeUnit: 'ns',
    otherData: otherData(options),
  };
}

/** The trace as JSON text; parses to exactly `toChromeTrace(events, options)`. */
export function chromeTraceJson(events: readonly TraceEvent[], options: ChromeTraceOptions): string {
  return [...chromeTraceChunks(events, options)].join('');
}

/** Events per streamed piece: big enough that per-piece overhead vanishes, small enough to stream. */
export const CHROME_TRACE_EVENTS_PER_CHUNK = 1024;

/**
 * The JSON text in pieces (one event per line, `CHROME_TRACE_EVENTS_PER_CHUNK` lines per piece), so
 * a writer can stream millions of events to a file without holding one giant string: V8 strings
 * stop at about 512 MiB, and a long trace gets there.
 *
 * @example
 * for (const piece of chromeTraceChunks(events, options)) out.write(piece);
 */
export function* chromeTraceChunks(
  events: readonly TraceEvent[],
  options: ChromeTraceOptions,
): Generator<string, void, undefined> {
  yield '{"traceEvents":[';
  let lines: string[] = [];
  let separator = '\n';
  for (const event of chromeTraceEvents(events, options)) {
    lines.push(`${separator}${JSON.stringify(event)}`);
    separator = ',\n';
    if (lines.length === CHROME_TRACE_EVENTS_PER_CHUNK) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join('');
  yield `\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(otherData(options))}}\n`;
}

/** The converted events in order: process and thread metadata first, then the events as recorded. */
export function* chromeTraceEvents(
  events: readonly TraceEvent[],
  options: ChromeTraceOptions,
): Generator<ChromeTraceEvent, void, undefined> {
  const tids = assignTids(events);
  yield metadata('process_name', 0, { name: `hetmem ${options.scenario} (seed ${options.seed})` });
  for (const [track, tid] of tids) {
    yield metadata('thread_name', tid, { name: track });
    // Viewers otherwise order threads by tid or by name; the sort index pins first-appearance order.
    yield metadata('thread_sort_index', tid, { sort_index: tid });
  }
  // Recording order is kept (not re-sorted by time): viewers sort on load, and a per-thread
  // ordering problem is the recorder's bug, which `validateChromeTrace` should see, not hide.
  for (const event of events) yield convert(event, tids.get(event.track)!);
}

/** Tids by track, numbered 1, 2, ... in order of first appearance (tid 0 is the process's own). */
function assignTids(events: readonly TraceEvent[]): Map<string, number> {
  const tids = new Map<string, number>();
  for (const event of events) if (!tids.has(event.track)) tids.set(event.track, tids.size + 1);
  return tids;
}

function metadata(name: string, tid: number, args: TraceArgs): ChromeTraceEvent {
  return { name, ph: 'M', pid: CHROME_TRACE_PID, tid, args };
}

/** Key order is fixed here (name, cat, ph, ts, pid, tid, s, id, args) so the bytes are stable. */
function convert(event: TraceEvent, tid: number): ChromeTraceEvent {
  const out: Mutable<ChromeTraceEvent> = {
    name: event.name,
    cat: event.category,
    ph: event.phase,
    ts: nsToUs(event.tNs),
    pid: CHROME_TRACE_PID,
    tid,
  };
  if (event.phase === 'i') out.s = 't';
  // A missing async id stays missing: the validator reports it rather than this writer inventing one.
  if ((event.phase === 'b' || event.phase === 'e') && event.id !== undefined) out.id = event.id;
  if (event.args !== undefined) out.args = event.args;
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Microseconds, the format's unit. Dividing an integer by 1000 gives the double nearest the exact
 * decimal, and JSON prints the shortest decimal that reads back as it, so 1234567 ns is written
 * 1234.567. That is exact while the decimal has at most 15 digits, i.e. below 10^15 ns (11.5 days
 * of simulated time); beyond that the sub-nanosecond digits round.
 */
export function nsToUs(tNs: number): number {
  return tNs / 1000;
}

function otherData(options: ChromeTraceOptions): ChromeTrace['otherData'] {
  return { source: 'hetmem', scenario: options.scenario, seed: options.seed };
}
