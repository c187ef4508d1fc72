// Drawing one frame of the event timeline into a 2D canvas context: grid, tracks with their
// instants and spans, the selected span's outline, the time axis, a range being dragged out and
// the line at the current time. Drawing reads the view it is given and changes none of it.
//
// Coordinates are CSS pixels relative to the canvas, drawn through a devicePixelRatio transform so
// the backing store is sharp; one device pixel is `1 / dpr`.

import { categoryColour, formatNs, formatTick, ticks, type Ticks } from './format.js';
import {
  AXIS_HEIGHT_CSS,
  lastAtOrBelow,
  locateSpan,
  MIN_TRACK_HEIGHT_CSS,
  TRACK_PAD_CSS,
  type TrackLayout,
} from './layout.js';
import {
  visibleInstants,
  visibleRange,
  type Instant,
  type Span,
  type TimeWindow,
  type Timeline as TimelineData,
} from './spans.js';

const FONT = '11px system-ui, sans-serif';
/** Space each axis label needs; fixes how many ticks fit. */
const TICK_SPACING_CSS = 90;
const NOW_COLOUR = '#e11d48';
const SPAN_TEXT_MIN_WIDTH_CSS = 28;
/** Spans at most this many device pixels wide merge with back-to-back neighbours into one bar. */
const RUN_MAX_WIDTH_PX = 3;

/** What a frame shows and where: the controller's state as drawing sees it. */
export interface TimelineView {
  readonly props: {
    readonly timeline: TimelineData;
    readonly selected: Span | null;
    readonly nowNs: number;
  };
  readonly layout: TrackLayout;
  readonly window: TimeWindow;
  /** A shift-drag or axis-drag in progress: the range it will zoom to. */
  readonly range: TimeWindow | null;
  readonly scrollCss: number;
  readonly widthCss: number;
  readonly heightCss: number;
  readonly dpr: number;
  plotLeftCss(): number;
  plotWidthCss(): number;
  xOf(tNs: number): number;
  tAt(xCss: number): number;
}

/** Sets the device-pixel transform and the text style every label uses; call before measuring text. */
export function prepareContext(ctx: CanvasRenderingContext2D, dpr: number): void {
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
}

/** Paints the whole canvas for `view`, over whatever was there. Call `prepareContext` first. */
export function drawTimeline(ctx: CanvasRenderingContext2D, view: TimelineView): void {
  const { widthCss, heightCss } = view;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, widthCss, heightCss);
  const axis = ticks(
    view.window.startNs,
    view.window.endNs,
    Math.max(2, Math.floor(view.plotWidthCss() / TICK_SPACING_CSS)),
  );

  ctx.save();
  ctx.beginPath();
  ctx.rect(0, AXIS_HEIGHT_CSS, widthCss, heightCss - AXIS_HEIGHT_CSS);
  ctx.clip();
  drawGrid(ctx, view, axis.valuesNs);
  drawTracks(ctx, view);
  drawSelected(ctx, view);
  ctx.restore();

  if (view.props.timeline.tracks.length === 0) {
    ctx.fillStyle = '#6b7280';
    ctx.fillText('No trace events in this run.', view.plotLeftCss() + 8, AXIS_HEIGHT_CSS + 20);
  }
  drawAxis(ctx, view, axis);
  drawRange(ctx, view);
  drawNow(ctx, view);
}

function drawGrid(ctx: CanvasRenderingContext2D, view: TimelineView, valuesNs: readonly number[]): void {
  ctx.fillStyle = '#eef0f3';
  for (const tNs of valuesNs)
    ctx.fillRect(
      Math.round(view.xOf(tNs) * view.dpr) / view.dpr,
      AXIS_HEIGHT_CSS,
      1 / view.dpr,
      view.heightCss,
    );
}

function drawTracks(ctx: CanvasRenderingContext2D, view: TimelineView): void {
  const { timeline } = view.props;
  const { topCss, heightCss, laneHeightCss, instantCss } = view.layout;
  const viewCss = view.heightCss - AXIS_HEIGHT_CSS;
  const plotLeft = view.plotLeftCss();
  const plotRight = view.widthCss;
  const pixelCss = 1 / view.dpr;
  const colours = new Map<string, string>();
  const colourOf = (category: string): string => {
    let colour = colours.get(category);
    if (colour === undefined) {
      colour = categoryColour(category);
      colours.set(category, colour);
    }
    return colour;
  };
  const first = Math.max(0, lastAtOrBelow(topCss, view.scrollCss));
  for (let t = first; t < timeline.tracks.length; t++) {
    const top = AXIS_HEIGHT_CSS + topCss[t] - view.scrollCss;
    if (top > AXIS_HEIGHT_CSS + viewCss) break;
    const track = timeline.tracks[t];
    const height = heightCss[t];
    if (t % 2 === 1) {
      ctx.fillStyle = '#f8f9fb';
      ctx.fillRect(0, top, view.widthCss, height);
    }
    // A heavier line where processes end and devices begin (and devices and the rest).
    const groupStarts = t > 0 && timeline.tracks[t - 1].group !== track.group;
    ctx.fillStyle = groupStarts ? '#9ca3af' : '#e5e7eb';
    ctx.fillRect(0, top, view.widthCss, groupStarts ? 1 : pixelCss);

    ctx.fillStyle = '#111';
    ctx.fillText(
      truncate(ctx, track.name, plotLeft - 10),
      6,
      top + Math.min(height, MIN_TRACK_HEIGHT_CSS) / 2,
    );

    // Instants: a thin tick each; where many share a pixel, one tick stands for them all.
    const strip = instantCss[t];
    if (strip > 0) {
      const [i0, i1] = visibleInstants(track.instants, view.window.startNs, view.window.endNs);
      let i = i0;
      while (i < i1) {
        const instant = track.instants[i];
        const x = view.xOf(instant.tNs);
        ctx.fillStyle = colourOf(instant.category);
        ctx.fillRect(x - pixelCss / 2, top + TRACK_PAD_CSS, Math.max(pixelCss, 1), strip - 1);
        i = firstAtOrAfter(instantTimes(track.instants), i + 1, i1, view.tAt(x + Math.max(pixelCss, 1)));
      }
    }

    const laneHeight = laneHeightCss[t];
    const barHeight = Math.max(1, laneHeight - (laneHeight >= 8 ? 2 : 1));
    for (let lane = 0; lane < track.rows.length; lane++) {
      const row = track.rows[lane];
      const y = top + TRACK_PAD_CSS + strip + lane * laneHeight;
      const [s0, s1] = visibleRange(row, view.window.startNs, view.window.endNs);
      // Spans a few device pixels wide or less, back to back, are drawn as one run in the first
      // one's colour: a dense lane costs a rectangle per gap rather than one per pixel.
      let runX0 = 0;
      let runX1 = -Infinity;
      let runColour = '';
      const flushRun = (): void => {
        if (runX1 === -Infinity) return;
        ctx.fillStyle = runColour;
        ctx.fillRect(runX0, y, runX1 - runX0, barHeight);
        runX1 = -Infinity;
      };
      const endsNs = spanEnds(row);
      let i = s0;
      while (i < s1) {
        const span = row[i];
        const x0 = Math.max(plotLeft, view.xOf(span.startNs));
        const x1 = Math.max(x0 + pixelCss, Math.min(plotRight, view.xOf(span.endNs)));
        if (x1 - x0 <= RUN_MAX_WIDTH_PX * pixelCss) {
          if (x0 > runX1 + pixelCss / 2) {
            flushRun();
            runX0 = x0;
            runColour = colourOf(span.category);
          }
          runX1 = Math.max(runX1, x1);
        } else {
          flushRun();
          drawSpan(ctx, view.dpr, span, x0, x1, y, barHeight, colourOf(span.category));
        }
        // Spans that end inside what was just drawn would only repaint its pixels: skip them.
        i = firstAtOrAfter(endsNs, i + 1, s1, view.tAt(x1));
      }
      flushRun();
    }
  }
  ctx.fillStyle = '#d1d5db';
  ctx.fillRect(plotLeft - pixelCss, AXIS_HEIGHT_CSS, pixelCss, view.heightCss);
}

/** One span wide enough to show: a device pixel of gap at its right end, its name if it fits. */
function drawSpan(
  ctx: CanvasRenderingContext2D,
  dpr: number,
  span: Span,
  x0: number,
  x1: number,
  y: number,
  barHeight: number,
  colour: string,
): void {
  const pixelCss = 1 / dpr;
  ctx.fillStyle = colour;
  ctx.fillRect(x0, y, x1 - x0 - pixelCss, barHeight);
  if (!span.closed) {
    // An open span fades out at its right end: the run ended before it did.
    ctx.fillStyle = 'rgba(255, 255, 255, 0.5)';
    ctx.fillRect(Math.max(x0, x1 - 6), y, Math.min(6, x1 - x0), barHeight);
  }
  if (x1 - x0 >= SPAN_TEXT_MIN_WIDTH_CSS && barHeight >= 10) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(x0 + 2, y, x1 - x0 - 4, barHeight);
    ctx.clip();
    ctx.fillStyle = '#fff';
    ctx.fillText(span.name, x0 + 3, y + barHeight / 2);
    ctx.restore();
  }
}

function drawSelected(ctx: CanvasRenderingContext2D, view: TimelineView): void {
  const span = view.props.selected;
  if (span === null) return;
  const at = locateSpan(view.props.timeline, span);
  if (at === null) return;
  const { topCss, laneHeightCss, instantCss } = view.layout;
  const y =
    AXIS_HEIGHT_CSS +
    topCss[at.track] -
    view.scrollCss +
    TRACK_PAD_CSS +
    instantCss[at.track] +
    at.lane * laneHeightCss[at.track];
  const x0 = Math.max(view.plotLeftCss() - 2, view.xOf(span.startNs));
  const x1 = Math.min(view.widthCss + 2, Math.max(x0 + 1, view.xOf(span.endNs)));
  const h = Math.max(2, laneHeightCss[at.track] - 1);
  ctx.lineWidth = 2;
  ctx.strokeStyle = '#000';
  ctx.strokeRect(x0 - 1, y - 1, x1 - x0 + 2, h + 2);
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#fff';
  ctx.strokeRect(x0 + 0.5, y + 0.5, Math.max(0, x1 - x0 - 1), Math.max(0, h - 1));
}

function drawAxis(ctx: CanvasRenderingContext2D, view: TimelineView, axis: Ticks): void {
  ctx.fillStyle = '#f3f4f6';
  ctx.fillRect(0, 0, view.widthCss, AXIS_HEIGHT_CSS);
  ctx.fillStyle = '#9ca3af';
  ctx.fillRect(0, AXIS_HEIGHT_CSS - 1, view.widthCss, 1);
  ctx.fillStyle = '#374151';
  ctx.fillText(
    formatNs(view.window.endNs - view.window.startNs),
    6,
    AXIS_HEIGHT_CSS / 2,
    view.plotLeftCss() - 10,
  );
  ctx.save();
  ctx.beginPath();
  ctx.rect(view.plotLeftCss(), 0, view.plotWidthCss(), AXIS_HEIGHT_CSS);
  ctx.clip();
  for (const tNs of axis.valuesNs) {
    const x = Math.round(view.xOf(tNs) * view.dpr) / view.dpr;
    ctx.fillStyle = '#6b7280';
    ctx.fillRect(x, AXIS_HEIGHT_CSS - 6, 1 / view.dpr, 5);
    const label = formatTick(tNs, axis);
    // A label cut by the right edge reads as a different number: leave that one out.
    if (x + 3 + ctx.measureText(label).width > view.widthCss) continue;
    ctx.fillStyle = '#111';
    ctx.fillText(label, x + 3, AXIS_HEIGHT_CSS / 2 - 2);
  }
  ctx.restore();
}

function drawRange(ctx: CanvasRenderingContext2D, view: TimelineView): void {
  const { range } = view;
  if (range === null) return;
  const x0 = Math.max(view.plotLeftCss(), view.xOf(Math.min(range.startNs, range.endNs)));
  const x1 = Math.min(view.widthCss, view.xOf(Math.max(range.startNs, range.endNs)));
  ctx.fillStyle = 'rgba(37, 99, 235, 0.15)';
  ctx.fillRect(x0, 0, x1 - x0, view.heightCss);
  ctx.fillStyle = 'rgba(37, 99, 235, 0.8)';
  ctx.fillRect(x0, 0, 1, view.heightCss);
  ctx.fillRect(x1 - 1, 0, 1, view.heightCss);
}

function drawNow(ctx: CanvasRenderingContext2D, view: TimelineView): void {
  const { nowNs } = view.props;
  if (nowNs < view.window.startNs || nowNs > view.window.endNs) return;
  const x = view.xOf(nowNs);
  ctx.fillStyle = NOW_COLOUR;
  ctx.fillRect(x - 0.75, 0, 1.5, view.heightCss);
  ctx.beginPath();
  ctx.moveTo(x - 5, 0);
  ctx.lineTo(x + 5, 0);
  ctx.lineTo(x, 7);
  ctx.closePath();
  ctx.fill();
}

/** `text`, cut short with an ellipsis where it is wider than `maxWidthCss`. */
function truncate(ctx: CanvasRenderingContext2D, text: string, maxWidthCss: number): string {
  if (ctx.measureText(text).width <= maxWidthCss) return text;
  let keep = text.length;
  while (keep > 1 && ctx.measureText(`${text.slice(0, keep)}…`).width > maxWidthCss) keep--;
  return `${text.slice(0, keep)}…`;
}

/** First index in [from, to) of an ascending array whose value is >= valueNs, or `to`. */
function firstAtOrAfter(values: Float64Array, from: number, to: number, valueNs: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] >= valueNs) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// The skip-ahead in drawTracks binary-searches once per pixel; over span objects scattered in
// memory that is mostly cache misses (a 500k-span trace took ~20 ms a frame), so each lane's ends and
// each track's instant times are copied once into a typed array, kept as long as the lane lives.
const spanEndsCache = new WeakMap<readonly Span[], Float64Array>();
const instantTimesCache = new WeakMap<readonly Instant[], Float64Array>();

/** A lane's span ends, ascending (a lane's spans never overlap). */
function spanEnds(row: readonly Span[]): Float64Array {
  let ends = spanEndsCache.get(row);
  if (ends === undefined) {
    ends = Float64Array.from(row, (span) => span.endNs);
    spanEndsCache.set(row, ends);
  }
  return ends;
}

function instantTimes(instants: readonly Instant[]): Float64Array {
  let times = instantTimesCache.get(instants);
  if (times === undefined) {
    times = Float64Array.from(instants, (instant) => instant.tNs);
    instantTimesCache.set(instants, times);
  }
  return times;
}
