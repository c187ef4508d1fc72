// Where things sit on the timeline canvas, in CSS pixels: the time axis band across the top, the
// track-name column on the left, and one row per track below the axis, each row an optional strip
// of instants over its lanes of spans. Shared by drawing and by hit-testing so both agree.

import { visibleRange, type Span, type Timeline as TimelineData } from './spans.js';

export const AXIS_HEIGHT_CSS = 24;
const LANE_HEIGHT_CSS = 14;
/** Past this many lanes a track's lanes get thinner, down to `MIN_LANE_HEIGHT_CSS`. */
const FULL_HEIGHT_LANES = 8;
const MIN_LANE_HEIGHT_CSS = 4;
const INSTANT_STRIP_CSS = 8;
export const TRACK_PAD_CSS = 3;
export const MIN_TRACK_HEIGHT_CSS = 20;
export const LABEL_WIDTH_MIN_CSS = 72;
const LABEL_WIDTH_MAX_CSS = 200;

/** Vertical layout of the tracks, in CSS pixels from the top of the track area (below the axis). */
export interface TrackLayout {
  readonly topCss: Float64Array;
  readonly heightCss: Float64Array;
  readonly laneHeightCss: Float64Array;
  /** Height of the instant strip at the top of each track (0 without instants). */
  readonly instantCss: Float64Array;
  readonly totalCss: number;
}

export function layoutTracks(timeline: TimelineData): TrackLayout {
  const n = timeline.tracks.length;
  const topCss = new Float64Array(n);
  const heightCss = new Float64Array(n);
  const laneHeightCss = new Float64Array(n);
  const instantCss = new Float64Array(n);
  let y = 0;
  for (let i = 0; i < n; i++) {
    const track = timeline.tracks[i];
    const lanes = track.rows.length;
    // Many overlapping async spans would make one track taller than the screen: thin the lanes.
    laneHeightCss[i] =
      lanes <= FULL_HEIGHT_LANES
        ? LANE_HEIGHT_CSS
        : Math.max(MIN_LANE_HEIGHT_CSS, Math.floor((FULL_HEIGHT_LANES * LANE_HEIGHT_CSS) / lanes));
    instantCss[i] = track.instants.length > 0 ? INSTANT_STRIP_CSS : 0;
    topCss[i] = y;
    heightCss[i] = Math.max(
      MIN_TRACK_HEIGHT_CSS,
      2 * TRACK_PAD_CSS + instantCss[i] + lanes * laneHeightCss[i],
    );
    y += heightCss[i];
  }
  return { topCss, heightCss, laneHeightCss, instantCss, totalCss: y };
}

/**
 * Width of the label column: fits the longest track name, within limits. Measures with the
 * context's current font, so set the label font first.
 */
export function labelColumnWidthCss(ctx: CanvasRenderingContext2D, timeline: TimelineData): number {
  let widest = 0;
  for (const track of timeline.tracks) widest = Math.max(widest, ctx.measureText(track.name).width);
  return Math.min(LABEL_WIDTH_MAX_CSS, Math.max(LABEL_WIDTH_MIN_CSS, Math.ceil(widest) + 16));
}

/** Where a span is drawn: its track and lane, or null when it is not in this timeline. */
export function locateSpan(timeline: TimelineData, span: Span): { track: number; lane: number } | null {
  const tracks = timeline.tracks;
  for (let t = 0; t < tracks.length; t++) {
    if (tracks[t].name !== span.track) continue;
    const rows = tracks[t].rows;
    for (let lane = 0; lane < rows.length; lane++) {
      const [first, end] = visibleRange(rows[lane], span.startNs, span.startNs);
      for (let i = first; i < end; i++) if (rows[lane][i].index === span.index) return { track: t, lane };
    }
  }
  return null;
}

/** Index of the last element <= value in an ascending array, or -1. */
export function lastAtOrBelow(values: Float64Array, value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
