// The event timeline's data: a recorded trace turned into spans and instants per track, spans
// stacked into lanes so none overlap, tracks ordered processes, devices, the rest. Pure and
// deterministic: the same events always give the same timeline, lane for lane.
//
// Pairing follows the Trace Event format the recorder writes (see `src/sim/trace.ts` and
// `src/report/chromeTrace.ts`): 'B'/'E' nest per track, so an 'E' closes the innermost open 'B'
// there; 'b'/'e' are async and may overlap, so an 'e' closes the oldest open 'b' with the same
// track, id and name. Events are paired in recording order, not time order: the recorder may log
// an end ahead of its time (a DMA job's completion is recorded when it is issued).
//
// Ranges here are [startNs, endNs] in simulated nanoseconds; two spans overlap when each starts
// before the other ends, so spans that only touch share a lane.

import type { TraceArgs, TraceEvent } from '../../../src/sim/trace.js';

/** One begin/end pair. */
export interface Span {
  readonly name: string;
  readonly category: string;
  readonly startNs: number;
  /** The end event's time, or the timeline's end when the span never closed. */
  readonly endNs: number;
  /** The begin event's args with the end event's merged over them. */
  readonly args?: TraceArgs;
  readonly track: string;
  /** Index of the begin event in the trace: unique per span, a stable key for selection. */
  readonly index: number;
  /** False when the run ended with the span still open. */
  readonly closed: boolean;
  /** From 'b'/'e' (may overlap others on the track) rather than 'B'/'E' (nests). */
  readonly async: boolean;
}

export interface Instant {
  readonly name: string;
  readonly category: string;
  readonly tNs: number;
  readonly args?: TraceArgs;
  readonly track: string;
  /** Index of the event in the trace. */
  readonly index: number;
}

/** Where a track sorts: processes, then devices, then the rest. */
export type TrackGroup = 'process' | 'device' | 'other';

export interface TimelineTrack {
  readonly name: string;
  readonly group: TrackGroup;
  /** Lanes, top first; each lane's spans are sorted by start and never overlap. */
  readonly rows: readonly (readonly Span[])[];
  /** Sorted by time (then trace order). */
  readonly instants: readonly Instant[];
}

export interface Timeline {
  readonly tracks: readonly TimelineTrack[];
  readonly startNs: number;
  readonly endNs: number;
  readonly spanCount: number;
  /** 'E' with no open 'B', or 'e' with no open 'b' of its track, id and name: dropped. */
  readonly unmatchedEnds: number;
}

/** Optional knowledge about track names, e.g. from a `Recording`. */
export interface TimelineOptions {
  /** The run's start (default 0, or the first event's time if earlier). */
  readonly startNs?: number;
  /** Process names: exactly these tracks are processes (default: tracks without a '/'). */
  readonly processes?: readonly string[];
  /**
   * Device names: tracks named `dev` or `dev/...` for these are devices (default: tracks with a
   * '/'). Given, a track with a '/' under no listed device (an IOMMU's 'iommu0/prq') is 'other'.
   */
  readonly devices?: readonly string[];
}

const GROUP_RANK: Readonly<Record<TrackGroup, number>> = { process: 0, device: 1, other: 2 };

/**
 * The timeline of a trace: spans paired, lanes assigned, tracks ordered.
 * @example
 * const timeline = buildTimeline(recording.trace, recording.frameTimeNs[recording.frames - 1], {
 *   processes: recording.processes.map((p) => p.name),
 *   devices: recording.devices.map((d) => d.name),
 * });
 */
export function buildTimeline(
  trace: readonly TraceEvent[],
  endNs: number,
  options: TimelineOptions = {},
): Timeline {
  let startNs = options.startNs ?? 0;
  let lastNs = endNs;
  for (const event of trace) {
    if (event.tNs < startNs) startNs = event.tNs;
    if (event.tNs > lastNs) lastNs = event.tNs;
  }
  const builders = new Map<string, { spans: Span[]; instants: Instant[]; open: OpenSpan[] }>();
  const openAsync = new Map<string, OpenSpan[]>();
  let unmatchedEnds = 0;
  const builderOf = (track: string) => {
    let builder = builders.get(track);
    if (builder === undefined) {
      builder = { spans: [], instants: [], open: [] };
      builders.set(track, builder);
    }
    return builder;
  };

  for (let index = 0; index < trace.length; index++) {
    const event = trace[index];
    const builder = builderOf(event.track);
    switch (event.phase) {
      case 'i':
        builder.instants.push(instantOf(event, index));
        break;
      case 'B':
        builder.open.push({ event, index });
        break;
      case 'E': {
        const open = builder.open.pop();
        if (open === undefined) unmatchedEnds++;
        else builder.spans.push(closeSpan(open, event, false));
        break;
      }
      case 'b': {
        const key = asyncKey(event);
        const queue = openAsync.get(key);
        if (queue === undefined) openAsync.set(key, [{ event, index }]);
        else queue.push({ event, index });
        break;
      }
      case 'e': {
        const key = asyncKey(event);
        const queue = openAsync.get(key);
        const open = queue?.shift();
        // Ids are rarely reused, so drop emptied queues: the map stays as small as what is in flight.
        if (queue !== undefined && queue.length === 0) openAsync.delete(key);
        if (open === undefined) unmatchedEnds++;
        else builder.spans.push(closeSpan(open, event, true));
        break;
      }
    }
  }
  // Whatever is still open ran to the end of the run.
  for (const builder of builders.values()) {
    for (const open of builder.open) builder.spans.push(unclosedSpan(open, lastNs, false));
  }
  for (const queue of openAsync.values()) {
    for (const open of queue) builders.get(open.event.track)!.spans.push(unclosedSpan(open, lastNs, true));
  }

  const classify = trackClassifier(options);
  const tracks: TimelineTrack[] = [];
  let spanCount = 0;
  for (const [name, builder] of builders) {
    builder.instants.sort((a, b) => a.tNs - b.tNs || a.index - b.index);
    spanCount += builder.spans.length;
    tracks.push({
      name,
      group: classify(name),
      rows: assignLanes(builder.spans),
      instants: builder.instants,
    });
  }
  tracks.sort((a, b) => GROUP_RANK[a.group] - GROUP_RANK[b.group] || compareNames(a.name, b.name));
  return { tracks, startNs, endNs: lastNs, spanCount, unmatchedEnds };
}

interface OpenSpan {
  readonly event: TraceEvent;
  readonly index: number;
}

/** Async spans pair within their track, by id and name (the recorder's ids are per kind of span). */
function asyncKey(event: TraceEvent): string {
  return `${event.track}\u0000${event.id ?? ''}\u0000${event.name}`;
}

// Every span and instant has the same keys (args may be undefined) so the engine sees one shape.
function instantOf(event: TraceEvent, index: number): Instant {
  const { name, category, tNs, track, args } = event;
  return { name, category, tNs, args, track, index };
}

function closeSpan(open: OpenSpan, end: TraceEvent, async: boolean): Span {
  const begin = open.event;
  const args =
    begin.args === undefined
      ? end.args
      : end.args === undefined
        ? begin.args
        : { ...begin.args, ...end.args };
  return {
    name: begin.name,
    category: begin.category,
    startNs: begin.tNs,
    // An end logged with an earlier time than its begin would draw backwards; it becomes zero-length.
    endNs: Math.max(begin.tNs, end.tNs),
    args,
    track: begin.track,
    index: open.index,
    closed: true,
    async,
  };
}

function unclosedSpan(open: OpenSpan, endNs: number, async: boolean): Span {
  const begin = open.event;
  return {
    name: begin.name,
    category: begin.category,
    startNs: begin.tNs,
    endNs: Math.max(begin.tNs, endNs),
    args: begin.args,
    track: begin.track,
    index: open.index,
    closed: false,
    async,
  };
}

function trackClassifier(options: TimelineOptions): (track: string) => TrackGroup {
  const processes = options.processes === undefined ? null : new Set(options.processes);
  const devices = options.devices === undefined ? null : new Set(options.devices);
  return (track) => {
    const slash = track.indexOf('/');
    const root = slash < 0 ? track : track.slice(0, slash);
    if (devices !== null && devices.has(root)) return 'device';
    if (processes !== null ? processes.has(track) : slash < 0) return 'process';
    return devices === null && slash >= 0 ? 'device' : 'other';
  };
}

/**
 * Names in a fixed order that does not depend on the locale: code-unit order, except that runs of
 * digits compare as numbers, so 'gpu2' comes before 'gpu10'.
 */
export function compareNames(a: string, b: string): number {
  const digitRun = /\d+|\D+/g;
  const partsA = a.match(digitRun) ?? [];
  const partsB = b.match(digitRun) ?? [];
  for (let i = 0; i < Math.min(partsA.length, partsB.length); i++) {
    const x = partsA[i];
    const y = partsB[i];
    if (x === y) continue;
    const bothDigits = /^\d/.test(x) && /^\d/.test(y);
    if (bothDigits) {
      const byValue = Number(x) - Number(y);
      if (byValue !== 0) return byValue;
    }
    return x < y ? -1 : 1;
  }
  return partsA.length - partsB.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Greedy lanes: spans in order of start (longer first on ties, so an enclosing span sits above what
 * it encloses), each into the lowest-numbered lane whose last span has ended. Heaps keep it
 * O(n log n) when many spans are in flight at once.
 * @example assignLanes([a, b]); // [[a], [b]] when a and b overlap, [[a, b]] when they do not
 */
export function assignLanes(spans: readonly Span[]): Span[][] {
  const order = [...spans].sort((a, b) => a.startNs - b.startNs || b.endNs - a.endNs || a.index - b.index);
  const lanes: Span[][] = [];
  const laneEndNs: number[] = [];
  // Lanes still busy, by when their last span ends; lanes free again, by number.
  const busy = new MinHeap((a: number, b: number) => laneEndNs[a] - laneEndNs[b] || a - b);
  const free = new MinHeap((a: number, b: number) => a - b);
  for (const span of order) {
    while (busy.size > 0 && laneEndNs[busy.peek()] <= span.startNs) free.push(busy.pop());
    let lane: number;
    if (free.size > 0) lane = free.pop();
    else {
      lane = lanes.length;
      lanes.push([]);
      laneEndNs.push(0);
    }
    lanes[lane].push(span);
    laneEndNs[lane] = span.endNs;
    busy.push(lane);
  }
  return lanes;
}

/** A binary min-heap of lane numbers. */
class MinHeap {
  private readonly items: number[] = [];
  constructor(private readonly less: (a: number, b: number) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0];
  }

  push(item: number): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(items[i], items[parent]) >= 0) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.less(items[left], items[smallest]) < 0) smallest = left;
        if (right < items.length && this.less(items[right], items[smallest]) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest], items[i]];
        i = smallest;
      }
    }
    return top;
  }
}

/** First index in [0, length) where `atOrAfter(i)` holds, for a predicate false then true. */
function lowerBound(length: number, atOrAfter: (i: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (atOrAfter(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The spans of one lane that meet [fromNs, toNs], as indices [first, end). A lane's spans never
 * overlap, so both their starts and their ends ascend and two binary searches find the range.
 * @example const [first, end] = visibleRange(track.rows[0], viewStartNs, viewEndNs);
 */
export function visibleRange(lane: readonly Span[], fromNs: number, toNs: number): [number, number] {
  const first = lowerBound(lane.length, (i) => lane[i].endNs >= fromNs);
  const end = lowerBound(lane.length, (i) => lane[i].startNs > toNs);
  return [first, Math.max(first, end)];
}

/** The instants in [fromNs, toNs], as indices [first, end) of the sorted list. */
export function visibleInstants(
  instants: readonly Instant[],
  fromNs: number,
  toNs: number,
): [number, number] {
  const first = lowerBound(instants.length, (i) => instants[i].tNs >= fromNs);
  const end = lowerBound(instants.length, (i) => instants[i].tNs > toNs);
  return [first, Math.max(first, end)];
}

/**
 * The span of a lane at `tNs`, or the nearest within `toleranceNs` (so a span thinner than a pixel
 * can still be hovered), or null.
 * @example spanAt(timeline, 0, 0, 1500); // the span of track 0, lane 0 covering 1500 ns
 */
export function spanAt(
  timeline: Timeline,
  trackIndex: number,
  lane: number,
  tNs: number,
  toleranceNs = 0,
): Span | null {
  const row = timeline.tracks[trackIndex]?.rows[lane];
  if (row === undefined) return null;
  const [first, end] = visibleRange(row, tNs - toleranceNs, tNs + toleranceNs);
  let best: Span | null = null;
  let bestDistanceNs = Infinity;
  for (let i = first; i < end; i++) {
    const span = row[i];
    const distanceNs = tNs < span.startNs ? span.startNs - tNs : tNs > span.endNs ? tNs - span.endNs : 0;
    if (distanceNs < bestDistanceNs) {
      best = span;
      bestDistanceNs = distanceNs;
    }
  }
  return best;
}

/** The instant of a track nearest `tNs` within `toleranceNs`, or null. */
export function instantAt(
  timeline: Timeline,
  trackIndex: number,
  tNs: number,
  toleranceNs: number,
): Instant | null {
  const instants = timeline.tracks[trackIndex]?.instants;
  if (instants === undefined) return null;
  const [first, end] = visibleInstants(instants, tNs - toleranceNs, tNs + toleranceNs);
  let best: Instant | null = null;
  for (let i = first; i < end; i++) {
    if (best === null || Math.abs(instants[i].tNs - tNs) < Math.abs(best.tNs - tNs)) best = instants[i];
  }
  return best;
}

/** A visible time window [startNs, endNs]. */
export interface TimeWindow {
  readonly startNs: number;
  readonly endNs: number;
}

/** Narrowest window the view zooms to; the model counts whole nanoseconds. */
export const MIN_WINDOW_NS = 10;

/**
 * `window` kept inside `bounds` and at least `MIN_WINDOW_NS` wide (or as wide as `bounds` when that
 * is narrower), shifting it rather than shrinking it where it can.
 */
export function clampWindow(window: TimeWindow, bounds: TimeWindow): TimeWindow {
  const boundsNs = Math.max(0, bounds.endNs - bounds.startNs);
  const widthNs = Math.min(boundsNs, Math.max(MIN_WINDOW_NS, window.endNs - window.startNs));
  const startNs = Math.min(Math.max(window.startNs, bounds.startNs), bounds.endNs - widthNs);
  return { startNs, endNs: startNs + widthNs };
}

/**
 * Zooms by `factor` (> 1 zooms in) keeping `anchorNs` at the same place on screen.
 * @example zoomWindow({ startNs: 0, endNs: 100 }, 2, 50, bounds); // { startNs: 25, endNs: 75 }
 */
export function zoomWindow(
  window: TimeWindow,
  factor: number,
  anchorNs: number,
  bounds: TimeWindow,
): TimeWindow {
  const widthNs = window.endNs - window.startNs;
  const boundsNs = Math.max(0, bounds.endNs - bounds.startNs);
  // Width first, so clamping it to the limits does not slide the window off the anchor.
  const nextWidthNs = Math.min(boundsNs, Math.max(Math.min(MIN_WINDOW_NS, boundsNs), widthNs / factor));
  const anchorShare = widthNs > 0 ? (anchorNs - window.startNs) / widthNs : 0.5;
  const startNs = anchorNs - anchorShare * nextWidthNs;
  return clampWindow({ startNs, endNs: startNs + nextWidthNs }, bounds);
}

/** Moves the window by `deltaNs`, stopping at the bounds. */
export function panWindow(window: TimeWindow, deltaNs: number, bounds: TimeWindow): TimeWindow {
  return clampWindow({ startNs: window.startNs + deltaNs, endNs: window.endNs + deltaNs }, bounds);
}
