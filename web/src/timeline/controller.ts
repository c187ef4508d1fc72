// The timeline canvas's controller: the visible time window, the vertical scroll of the tracks, a
// range being dragged out, and the wheel, pointer and key input that change them. It lives outside
// Preact's state, as the page map's does, so input redraws the canvas (coalesced to one draw per
// animation frame) without re-rendering; the component hears back only for the tooltip, and the
// player's time and the selection go out through the component's props.
//
// Coordinates: the controller works in CSS pixels relative to the canvas; drawing goes through a
// devicePixelRatio transform (see `draw.ts`), so pointer positions need no conversion.

import { drawTimeline, prepareContext } from './draw.js';
import {
  AXIS_HEIGHT_CSS,
  LABEL_WIDTH_MIN_CSS,
  labelColumnWidthCss,
  lastAtOrBelow,
  locateSpan,
  TRACK_PAD_CSS,
  type TrackLayout,
} from './layout.js';
import {
  clampWindow,
  instantAt,
  MIN_WINDOW_NS,
  panWindow,
  spanAt,
  zoomWindow,
  type Instant,
  type Span,
  type TimeWindow,
  type Timeline as TimelineData,
} from './spans.js';
import type { TimelineProps } from './Timeline.js';
import { RedrawScheduler } from '../canvas/redrawScheduler.js';

/** A pointer that moves less than this between down and up clicked rather than dragged. */
const DRAG_THRESHOLD_CSS = 4;
/** Spans and instants this close to the pointer are under it, however thin they are drawn. */
const HIT_SLOP_CSS = 3;
/** Wheel zoom speed: the zoom factor per pixel of wheel delta. */
const WHEEL_ZOOM_PER_PX = 0.002;
const KEY_ZOOM_FACTOR = 1.5;
/** Arrow keys pan by this share of the window (five times as far with shift). */
const KEY_PAN_SHARE = 0.1;
const KEY_SCROLL_CSS = 40;

/** What is under a point of the canvas. */
export type Hit =
  | { readonly kind: 'axis'; readonly tNs: number }
  | { readonly kind: 'label'; readonly track: number }
  | { readonly kind: 'span'; readonly span: Span; readonly tNs: number }
  | { readonly kind: 'instant'; readonly instant: Instant }
  | { readonly kind: 'empty'; readonly tNs: number; readonly track: number };

/** How the controller reaches the component's tooltip, which is Preact state. */
export interface TooltipHost {
  /** The pointer rests at a canvas point (CSS pixels) over `hit`, or over nothing. */
  showTooltip(hit: Hit | null, xCss: number, yCss: number): void;
  hideTooltip(): void;
}

interface Drag {
  readonly pointerId: number;
  readonly xCss: number;
  readonly yCss: number;
  readonly window: TimeWindow;
  readonly scrollCss: number;
  readonly nsPerCss: number;
  readonly mode: 'pan' | 'range';
  moved: boolean;
}

/** Owns the canvas: window, vertical scroll, range selection, input, drawing. One per mounted Timeline. */
export class TimelineController {
  props: TimelineProps;
  layout: TrackLayout;
  window: TimeWindow;
  scrollCss = 0;
  widthCss = 0;
  heightCss = 0;
  dpr = 1;
  /** A shift-drag or axis-drag in progress: the range it will zoom to. */
  range: TimeWindow | null = null;
  private labelWidthCss = LABEL_WIDTH_MIN_CSS;
  private labelWidthFor: TimelineData | null = null;
  private drag: Drag | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    props: TimelineProps,
    layout: TrackLayout,
    private readonly tooltip: TooltipHost,
  ) {
    this.props = props;
    this.layout = layout;
    this.window = this.bounds();
  }

  /** The whole run, at least `MIN_WINDOW_NS` wide so an empty run still has an axis. */
  bounds(): TimeWindow {
    const { startNs, endNs } = this.props.timeline;
    return { startNs, endNs: Math.max(endNs, startNs + MIN_WINDOW_NS) };
  }

  plotLeftCss(): number {
    return this.labelWidthCss;
  }

  plotWidthCss(): number {
    return Math.max(1, this.widthCss - this.labelWidthCss);
  }

  nsPerCss(): number {
    return (this.window.endNs - this.window.startNs) / this.plotWidthCss();
  }

  xOf(tNs: number): number {
    return this.plotLeftCss() + (tNs - this.window.startNs) / this.nsPerCss();
  }

  tAt(xCss: number): number {
    return this.window.startNs + (xCss - this.plotLeftCss()) * this.nsPerCss();
  }

  /** Time under x in whole nanoseconds (the model's grain), inside the run. */
  clampedTAt(xCss: number): number {
    const { startNs, endNs } = this.props.timeline;
    return Math.min(endNs, Math.max(startNs, Math.round(this.tAt(xCss))));
  }

  maxScrollCss(): number {
    return Math.max(0, this.layout.totalCss - (this.heightCss - AXIS_HEIGHT_CSS));
  }

  setWindow(window: TimeWindow): void {
    this.window = clampWindow(window, this.bounds());
    this.schedule();
  }

  reset(): void {
    this.setWindow(this.bounds());
  }

  zoomAt(factor: number, xCss: number): void {
    const anchorNs =
      xCss >= this.plotLeftCss() ? this.tAt(xCss) : (this.window.startNs + this.window.endNs) / 2;
    this.window = zoomWindow(this.window, factor, anchorNs, this.bounds());
    this.schedule();
  }

  panByCss(dxCss: number): void {
    this.window = panWindow(this.window, dxCss * this.nsPerCss(), this.bounds());
    this.schedule();
  }

  scrollTo(scrollCss: number): void {
    this.scrollCss = Math.min(this.maxScrollCss(), Math.max(0, scrollCss));
    this.schedule();
  }

  /**
   * Keeps the current time in view while the player runs: when it leaves the window it was in, the
   * window moves a page so it is near the leading edge again. A window the user moved away from
   * the current time stays where it is.
   */
  follow(previousNs: number, nowNs: number): void {
    const { startNs, endNs } = this.window;
    if (previousNs < startNs || previousNs > endNs) return;
    const widthNs = endNs - startNs;
    if (nowNs > endNs) this.setWindow({ startNs: nowNs - 0.1 * widthNs, endNs: nowNs + 0.9 * widthNs });
    else if (nowNs < startNs)
      this.setWindow({ startNs: nowNs - 0.9 * widthNs, endNs: nowNs + 0.1 * widthNs });
  }

  /** Brings a span on screen: pans (or widens) the window to it and scrolls to its track. */
  reveal(span: Span): void {
    const at = locateSpan(this.props.timeline, span);
    if (at === null) return;
    const { startNs, endNs } = this.window;
    if (span.endNs < startNs || span.startNs > endNs) {
      const widthNs = Math.max(endNs - startNs, (span.endNs - span.startNs) * 1.2);
      const centreNs = (span.startNs + span.endNs) / 2;
      this.setWindow({ startNs: centreNs - widthNs / 2, endNs: centreNs + widthNs / 2 });
    }
    const { topCss, heightCss } = this.layout;
    const viewCss = this.heightCss - AXIS_HEIGHT_CSS;
    const top = topCss[at.track];
    if (top < this.scrollCss || top + heightCss[at.track] > this.scrollCss + viewCss) {
      this.scrollTo(top - Math.max(0, (viewCss - heightCss[at.track]) / 2));
    }
  }

  resize(widthCss: number, heightCss: number, dpr: number): void {
    this.dpr = dpr;
    this.widthCss = Math.max(0, widthCss);
    this.heightCss = Math.max(0, heightCss);
    const widthPx = Math.round(this.widthCss * dpr);
    const heightPx = Math.round(this.heightCss * dpr);
    if (this.canvas.width !== widthPx) this.canvas.width = widthPx;
    if (this.canvas.height !== heightPx) this.canvas.height = heightPx;
    this.scrollCss = Math.min(this.scrollCss, this.maxScrollCss());
    this.draw(); // now, not next frame: resizing the canvas cleared it
  }

  /** What is under a canvas point (CSS pixels). */
  hit(xCss: number, yCss: number): Hit | null {
    if (xCss < 0 || yCss < 0 || xCss > this.widthCss || yCss > this.heightCss) return null;
    if (yCss < AXIS_HEIGHT_CSS) return { kind: 'axis', tNs: this.clampedTAt(xCss) };
    const { topCss, heightCss, laneHeightCss, instantCss } = this.layout;
    const y = yCss - AXIS_HEIGHT_CSS + this.scrollCss;
    const track = lastAtOrBelow(topCss, y);
    if (track < 0 || y >= topCss[track] + heightCss[track]) return null;
    if (xCss < this.plotLeftCss()) return { kind: 'label', track };
    const tNs = this.tAt(xCss);
    const slopNs = HIT_SLOP_CSS * this.nsPerCss();
    const inTrack = y - topCss[track] - TRACK_PAD_CSS;
    if (inTrack < instantCss[track]) {
      const instant = instantAt(this.props.timeline, track, tNs, slopNs);
      if (instant !== null) return { kind: 'instant', instant };
    } else {
      const lane = Math.floor((inTrack - instantCss[track]) / laneHeightCss[track]);
      const span = spanAt(this.props.timeline, track, lane, tNs, slopNs);
      if (span !== null) return { kind: 'span', span, tNs };
    }
    return { kind: 'empty', tNs: this.clampedTAt(xCss), track };
  }

  private readonly redraw = new RedrawScheduler(() => this.draw());

  schedule(): void {
    this.redraw.schedule();
  }

  dispose(): void {
    this.redraw.dispose();
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (ctx === null || this.widthCss === 0 || this.heightCss === 0) return;
    prepareContext(ctx, this.dpr);
    this.measureLabels(ctx);
    drawTimeline(ctx, this);

    // For browser tests and debugging: what the canvas shows right now.
    const data = this.canvas.dataset;
    data.windowStartNs = String(this.window.startNs);
    data.windowEndNs = String(this.window.endNs);
    data.scrollCss = String(this.scrollCss);
    data.tracks = String(this.props.timeline.tracks.length);
  }

  /** The label column fits the longest track name, within limits. Measured once per timeline. */
  private measureLabels(ctx: CanvasRenderingContext2D): void {
    if (this.labelWidthFor === this.props.timeline) return;
    this.labelWidthCss = labelColumnWidthCss(ctx, this.props.timeline);
    this.labelWidthFor = this.props.timeline;
  }

  private pointAt(clientX: number, clientY: number): { x: number; y: number } {
    const box = this.canvas.getBoundingClientRect();
    return { x: clientX - box.left, y: clientY - box.top };
  }

  private showTooltip(clientX: number, clientY: number): void {
    const { x, y } = this.pointAt(clientX, clientY);
    this.tooltip.showTooltip(this.hit(x, y), x, y);
  }

  /** Vertical wheel zooms around the pointer, horizontal wheel pans, shift+wheel scrolls the tracks. */
  wheel(event: WheelEvent): void {
    event.preventDefault();
    const scale = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? this.heightCss : 1;
    const dx = event.deltaX * scale;
    const dy = event.deltaY * scale;
    const xCss = event.clientX - this.canvas.getBoundingClientRect().left;
    if (event.shiftKey) this.scrollTo(this.scrollCss + (dy !== 0 ? dy : dx));
    else if (Math.abs(dx) > Math.abs(dy)) this.panByCss(dx);
    else this.zoomAt(Math.exp(-dy * WHEEL_ZOOM_PER_PX), xCss);
    this.tooltip.hideTooltip();
  }

  pointerDown(event: PointerEvent): void {
    if (event.button !== 0) return;
    this.canvas.setPointerCapture(event.pointerId);
    const { x, y } = this.pointAt(event.clientX, event.clientY);
    this.drag = {
      pointerId: event.pointerId,
      xCss: x,
      yCss: y,
      window: this.window,
      scrollCss: this.scrollCss,
      nsPerCss: this.nsPerCss(),
      mode: event.shiftKey || y < AXIS_HEIGHT_CSS ? 'range' : 'pan',
      moved: false,
    };
  }

  pointerMove(event: PointerEvent): void {
    const drag = this.drag;
    if (drag === null || drag.pointerId !== event.pointerId) {
      this.showTooltip(event.clientX, event.clientY);
      return;
    }
    const { x, y } = this.pointAt(event.clientX, event.clientY);
    const dx = x - drag.xCss;
    const dy = y - drag.yCss;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < DRAG_THRESHOLD_CSS) return;
    drag.moved = true;
    this.tooltip.hideTooltip();
    if (drag.mode === 'pan') {
      this.setWindow(panWindow(drag.window, -dx * drag.nsPerCss, this.bounds()));
      this.scrollTo(drag.scrollCss - dy);
    } else {
      this.range = { startNs: this.clampedTAt(drag.xCss), endNs: this.clampedTAt(x) };
      this.schedule();
    }
  }

  /** Ends a drag (zooming to its range, if it drew one), or clicks: selects a span or seeks. */
  pointerUp(event: PointerEvent): void {
    const drag = this.drag;
    if (drag === null || drag.pointerId !== event.pointerId) return;
    this.drag = null;
    if (this.canvas.hasPointerCapture(event.pointerId)) {
      this.canvas.releasePointerCapture(event.pointerId);
    }
    const range = this.range;
    this.range = null;
    if (drag.moved) {
      if (range !== null) {
        const startNs = Math.min(range.startNs, range.endNs);
        const endNs = Math.max(range.startNs, range.endNs);
        if (endNs > startNs) this.setWindow({ startNs, endNs });
        else this.schedule();
      }
      return;
    }
    const { x, y } = this.pointAt(event.clientX, event.clientY);
    const hit = this.hit(x, y);
    if (hit === null) return;
    switch (hit.kind) {
      case 'span':
        this.props.onSelect(hit.span);
        break;
      case 'instant':
        this.props.onSeek(hit.instant.tNs);
        break;
      case 'axis':
      case 'empty':
        this.props.onSeek(hit.tNs);
        break;
      case 'label':
        break;
    }
  }

  pointerCancel(): void {
    this.drag = null;
    if (this.range !== null) {
      this.range = null;
      this.schedule();
    }
  }

  /**
   * + and - zoom, left/right pan, up/down scroll, Home or 0 the whole run; Escape drops a range
   * being dragged out, or else clears the selection.
   */
  keyDown(event: KeyboardEvent): void {
    const centreCss = this.plotLeftCss() + this.plotWidthCss() / 2;
    const panCss = this.plotWidthCss() * KEY_PAN_SHARE * (event.shiftKey ? 5 : 1);
    switch (event.key) {
      case '+':
      case '=':
        this.zoomAt(KEY_ZOOM_FACTOR, centreCss);
        break;
      case '-':
      case '_':
        this.zoomAt(1 / KEY_ZOOM_FACTOR, centreCss);
        break;
      case 'ArrowLeft':
        this.panByCss(-panCss);
        break;
      case 'ArrowRight':
        this.panByCss(panCss);
        break;
      case 'ArrowUp':
        this.scrollTo(this.scrollCss - KEY_SCROLL_CSS);
        break;
      case 'ArrowDown':
        this.scrollTo(this.scrollCss + KEY_SCROLL_CSS);
        break;
      case 'Home':
      case '0':
        this.reset();
        break;
      case 'Escape':
        if (this.range !== null) this.pointerCancel();
        else this.props.onSelect(null);
        break;
      default:
        return;
    }
    event.preventDefault();
    this.tooltip.hideTooltip();
  }
}
