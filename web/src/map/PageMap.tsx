// The page map: a process's address space as pages coloured by where each page lives, on a canvas.
// Zoom, scroll and the pixel buffer live in a controller object outside Preact's state, so wheel,
// drag and key events redraw the canvas (coalesced to one draw per animation frame) without
// re-rendering any component; only the tooltip is Preact state.
//
// Coordinates: the canvas's backing store is in device pixels (CSS size × devicePixelRatio) and so
// are all map positions; pointer positions are converted once, on the way in.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { JSX, TargetedKeyboardEvent, TargetedPointerEvent } from 'preact';
import { PAGE_SIZE } from '../../../src/mm/constants.js';
import { describeMirrorState, describePageState } from '../../../src/view/pageState.js';
import type { Segment } from '../../../src/view/recording.js';
import {
  clampScroll,
  fitZoom,
  pageRect,
  pageSpanAtPixel,
  scrollKeepingPointer,
  viewAt,
  zoomGeometry,
  type MapView,
} from './layout.js';
import { BACKGROUND_RGBA } from './palette.js';
import { mostNotablePage, PAGE_PRIORITY_KEYS, rasterizePageMap } from './rasterize.js';
import { mountCanvas } from '../canvas/mountCanvas.js';
import { RedrawScheduler } from '../canvas/redrawScheduler.js';

/** A device mirror shown in the tooltip next to the page's own state. */
export interface MirrorLayer {
  readonly name: string;
  /** Mirror bytes (MIRROR_* flags), laid out like the page states. */
  readonly states: Uint8Array;
}

export interface PageMapProps {
  /** One state byte per page, segment after segment (see `RecordedProcess`). */
  readonly states: Uint8Array;
  readonly segments: readonly Segment[];
  /** Packed colour per state byte (PAGE_COLOURS, or MIRROR_COLOURS to draw a mirror). */
  readonly colours: Uint32Array;
  /** Bump after changing `states` in place to redraw. */
  readonly version: number;
  readonly selectedPage: number | null;
  /** A click on a page selects it; a click past the last page or on a separator passes null. */
  readonly onSelectPage: (page: number | null) => void;
  /** The canvas's accessible name, e.g. "Page map of process 101 (app)". */
  readonly label: string;
  /** Device names by slot, for state text. */
  readonly deviceNames: readonly string[];
  /** Ranking of states within a zoomed-out pixel (default PAGE_PRIORITY_KEYS). */
  readonly priorityKeys?: Uint16Array;
  /** State text for the tooltip (default describePageState with deviceNames). */
  readonly describeState?: (state: number) => string;
  /** Device mirrors of the same pages, listed in the tooltip. */
  readonly mirrors?: readonly MirrorLayer[];
}

/** Whether any page map of this page has drawn pages yet. */
let firstMapDrawn = false;

/** Largest cell side, in CSS pixels. */
const MAX_CELL_CSS_PX = 16;
const LABEL_FONT_CSS_PX = 11;
/** A pointer that moves less than this between down and up clicked rather than dragged. */
const DRAG_THRESHOLD_CSS_PX = 4;
/** Wheel zoom speed: the zoom factor per pixel of wheel delta. */
const WHEEL_ZOOM_PER_PX = 0.0015;

/** Owns the canvas: zoom, scroll, the reused ImageData, drawing. One per mounted PageMap. */
class MapController {
  props: PageMapProps;
  pxPerPage = 1;
  scrollPx = 0;
  /** Zoomed to fit: refit when the canvas or the segments change. */
  fitted = true;
  widthPx = 0;
  heightPx = 0;
  dpr = 1;
  private image: ImageData | null = null;
  private pixels: Uint32Array | null = null;
  private fitCache = { segments: null as readonly Segment[] | null, widthPx: 0, heightPx: 0, zoom: 1 };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    props: PageMapProps,
  ) {
    this.props = props;
  }

  maxZoom(): number {
    return MAX_CELL_CSS_PX * this.dpr;
  }

  /** The zoom at which the whole space fits (never above the largest cell). */
  minZoom(): number {
    const cache = this.fitCache;
    const { segments } = this.props;
    if (cache.segments !== segments || cache.widthPx !== this.widthPx || cache.heightPx !== this.heightPx) {
      cache.zoom = fitZoom(segments, Math.max(1, this.widthPx), Math.max(1, this.heightPx), this.maxZoom());
      cache.segments = segments;
      cache.widthPx = this.widthPx;
      cache.heightPx = this.heightPx;
    }
    return Math.min(cache.zoom, this.maxZoom());
  }

  view(pxPerPage = this.pxPerPage, scrollPx = this.scrollPx): MapView {
    return viewAt(this.props.segments, Math.max(1, this.widthPx), pxPerPage, scrollPx, {
      background: BACKGROUND_RGBA,
    });
  }

  /** The current view with its scroll clamped (and remembered clamped). */
  clampedView(): MapView {
    const view = clampScroll(this.view(), this.heightPx);
    this.scrollPx = view.scrollPx;
    return view;
  }

  fit(): void {
    this.pxPerPage = this.minZoom();
    this.scrollPx = 0;
    this.fitted = true;
    this.schedule();
  }

  resize(cssWidth: number, cssHeight: number, dpr: number): void {
    this.dpr = dpr;
    this.widthPx = Math.max(0, Math.round(cssWidth * dpr));
    this.heightPx = Math.max(0, Math.round(cssHeight * dpr));
    if (this.canvas.width !== this.widthPx) this.canvas.width = this.widthPx;
    if (this.canvas.height !== this.heightPx) this.canvas.height = this.heightPx;
    if (this.fitted) this.pxPerPage = this.minZoom();
    else this.pxPerPage = Math.min(this.maxZoom(), Math.max(this.minZoom(), this.pxPerPage));
    this.draw(); // now, not next frame: resizing the canvas cleared it
  }

  /**
   * Zooms by `factor` keeping what is under (xPx, yPx) in place. Each call changes what is drawn
   * unless a limit is reached: a factor too small to change the cell size or the pages per pixel
   * steps to the next level.
   */
  zoomAt(factor: number, xPx: number, yPx: number): void {
    const min = this.minZoom();
    const max = this.maxZoom();
    const before = zoomGeometry(this.pxPerPage);
    let next = this.pxPerPage * factor;
    const after = zoomGeometry(next);
    if (after.cellPx === before.cellPx && after.pagesPerPixel === before.pagesPerPixel) {
      if (factor > 1) next = before.pagesPerPixel > 1 ? 1 / (before.pagesPerPixel - 1) : before.cellPx + 1;
      else if (factor < 1)
        next = before.pagesPerPixel > 1 ? 1 / (before.pagesPerPixel + 1) : before.cellPx - 1;
      if (next === 0) next = 1 / 2;
    }
    next = Math.min(max, Math.max(min, next));
    const current = this.clampedView();
    const nextView = this.view(next, 0);
    this.scrollPx = scrollKeepingPointer(current, nextView, xPx, yPx);
    this.pxPerPage = next;
    this.fitted = next <= min;
    this.schedule();
  }

  panBy(dyPx: number): void {
    this.scrollPx = Math.max(0, this.scrollPx + dyPx);
    this.schedule();
  }

  /** Scrolls so `page` is on screen, centring it when it was not. */
  reveal(page: number): void {
    const view = this.clampedView();
    if (page < 0 || page >= view.layout.totalPages) return;
    const rect = pageRect(view, page);
    if (rect.y >= 0 && rect.y + rect.height <= this.heightPx) return;
    this.scrollPx = Math.max(0, this.scrollPx + rect.y - Math.floor(this.heightPx / 2));
    this.schedule();
  }

  /** Pages under a canvas pixel: [first, end) and the page a click there selects. */
  hit(xPx: number, yPx: number): { first: number; end: number; page: number } | null {
    const view = this.clampedView();
    if (this.props.states.length < view.layout.totalPages) return null;
    const span = pageSpanAtPixel(view, xPx, yPx);
    if (span === null) return null;
    const keys = this.props.priorityKeys ?? PAGE_PRIORITY_KEYS;
    return { first: span[0], end: span[1], page: mostNotablePage(this.props.states, span[0], span[1], keys) };
  }

  private readonly redraw = new RedrawScheduler(() => this.draw());

  schedule(): void {
    this.redraw.schedule();
  }

  dispose(): void {
    this.redraw.dispose();
  }

  draw(): void {
    const { widthPx, heightPx } = this;
    const ctx = this.canvas.getContext('2d');
    if (ctx === null || widthPx === 0 || heightPx === 0) return;
    if (this.image === null || this.image.width !== widthPx || this.image.height !== heightPx) {
      this.image = ctx.createImageData(widthPx, heightPx);
      this.pixels = new Uint32Array(this.image.data.buffer);
    }
    const { states, colours, segments, selectedPage } = this.props;
    const view = this.clampedView();
    if (states.length < view.layout.totalPages) {
      // States and segments of different processes (mid-update): draw nothing rather than guess.
      this.pixels!.fill(BACKGROUND_RGBA);
    } else {
      rasterizePageMap(
        this.pixels!,
        widthPx,
        heightPx,
        states,
        view,
        colours,
        this.props.priorityKeys ?? PAGE_PRIORITY_KEYS,
      );
    }
    ctx.putImageData(this.image, 0, 0);
    if (!firstMapDrawn && states.length > 0) {
      // The page's first render, as `web.first_render_ms` measures it (ms since navigation start).
      firstMapDrawn = true;
      performance.mark('hetmem:page-map-drawn');
    }
    this.drawLabels(ctx, view, segments);
    if (selectedPage !== null && selectedPage >= 0 && selectedPage < view.layout.totalPages) {
      this.drawSelection(ctx, view, selectedPage);
    }
    // For browser tests and debugging: what the canvas shows right now.
    const data = this.canvas.dataset;
    data.cellPx = String(view.cellPx);
    data.pagesPerPixel = String(view.pagesPerPixel);
    data.scrollPx = String(view.scrollPx);
    data.totalRows = String(view.layout.totalRows);
  }

  /** Each segment's label at the top left of its rows, kept on screen while the segment is. */
  private drawLabels(ctx: CanvasRenderingContext2D, view: MapView, segments: readonly Segment[]): void {
    const { layout, cellPx, scrollPx } = view;
    const fontPx = Math.round(LABEL_FONT_CSS_PX * this.dpr);
    const labelHeightPx = fontPx + Math.round(4 * this.dpr);
    const padPx = Math.round(3 * this.dpr);
    ctx.font = `${fontPx}px system-ui, sans-serif`;
    ctx.textBaseline = 'middle';
    for (let s = 0; s < layout.segmentCount; s++) {
      const top = layout.segmentRowStart[s] * cellPx - scrollPx;
      const bottom = layout.segmentRowEnd[s] * cellPx - scrollPx;
      // Only where the segment is tall enough on screen to carry a label without hiding all of it.
      if (bottom - top < 2 * labelHeightPx || bottom <= labelHeightPx || top >= this.heightPx) continue;
      const y = Math.min(Math.max(top, 0), bottom - labelHeightPx);
      const text = segments[s]?.label ?? '';
      if (text === '') continue;
      const widthPx = Math.min(ctx.measureText(text).width + 2 * padPx, this.widthPx);
      ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      ctx.fillRect(view.originX, y, widthPx, labelHeightPx);
      ctx.fillStyle = '#111';
      ctx.fillText(text, view.originX + padPx, y + labelHeightPx / 2, widthPx - 2 * padPx);
    }
  }

  /** A black-and-white ring around the selected page, at least a few pixels across at any zoom. */
  private drawSelection(ctx: CanvasRenderingContext2D, view: MapView, page: number): void {
    const rect = pageRect(view, page);
    const minSidePx = 9 * this.dpr;
    const side = Math.max(rect.width + 2 * this.dpr, minSidePx);
    const x = rect.x + rect.width / 2 - side / 2;
    const y = rect.y + rect.height / 2 - side / 2;
    ctx.lineWidth = 2 * this.dpr;
    ctx.strokeStyle = '#000';
    ctx.strokeRect(x, y, side, side);
    ctx.lineWidth = this.dpr;
    ctx.strokeStyle = '#fff';
    ctx.strokeRect(x + 1.5 * this.dpr, y + 1.5 * this.dpr, side - 3 * this.dpr, side - 3 * this.dpr);
  }
}

interface Tooltip {
  readonly leftCss: number;
  readonly topCss: number;
  readonly lines: readonly string[];
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Tooltip text for the pages under the pointer. */
function tooltipLines(props: PageMapProps, first: number, end: number, page: number): string[] {
  const { segments, states, deviceNames } = props;
  const describe = props.describeState ?? ((state: number) => describePageState(state, deviceNames));
  const segmentStarts: number[] = [];
  let start = 0;
  for (const segment of segments) {
    segmentStarts.push(start);
    start += segment.pages;
  }
  let s = segmentStarts.length - 1;
  while (s > 0 && segmentStarts[s] > first) s--;
  const segment = segments[s];
  const vpnOf = (p: number): number => (segment?.startVpn ?? 0) + (p - (segmentStarts[s] ?? 0));
  const lines = [segment?.label ?? ''];
  if (end - first === 1) {
    lines.push(`page ${page.toLocaleString('en-US')}`);
    lines.push(`${hex(vpnOf(page) * PAGE_SIZE)} (vpn ${hex(vpnOf(page))})`);
    lines.push(describe(states[page]));
  } else {
    let same = 0;
    for (let p = first; p < end; p++) if (states[p] === states[page]) same++;
    lines.push(
      `pages ${first.toLocaleString('en-US')}–${(end - 1).toLocaleString('en-US')} (${end - first})`,
    );
    lines.push(`${hex(vpnOf(first) * PAGE_SIZE)}–${hex(vpnOf(end) * PAGE_SIZE)}`);
    lines.push(`${describe(states[page])}: ${same} of ${end - first}`);
  }
  for (const mirror of props.mirrors ?? []) {
    if (page < mirror.states.length)
      lines.push(`${mirror.name}: ${describeMirrorState(mirror.states[page])}`);
  }
  return lines;
}

/**
 * A process's pages on a canvas. Wheel zooms around the pointer (shift+wheel scrolls), drag pans,
 * double-click fits the whole space, click selects; keys when focused: + and - zoom, up/down and
 * PageUp/PageDown pan, Home/End jump, left/right step the selection.
 * @example <PageMap states={s} segments={p.segments} colours={PAGE_COLOURS} version={frame}
 *   selectedPage={sel} onSelectPage={setSel} label="pages of app" deviceNames={['gpu0']} />
 */
export function PageMap(props: PageMapProps): JSX.Element {
  const containerRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const controllerRef = useRef<MapController | null>(null);
  const dragRef = useRef<{ pointerId: number; xCss: number; yCss: number; scrollPx: number; moved: boolean }>(
    null,
  );
  const [tooltip, setTooltip] = useState<Tooltip | null>(null);
  if (controllerRef.current !== null) controllerRef.current.props = props;

  useLayoutEffect(() => {
    const canvas = canvasRef.current!;
    const container = containerRef.current!;
    const controller = new MapController(canvas, props);
    controllerRef.current = controller;
    const onWheel = (event: WheelEvent): void => {
      event.preventDefault();
      const { x, y } = canvasPoint(canvas, event.clientX, event.clientY, controller.dpr);
      const deltaPx = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      if (event.shiftKey) controller.panBy(deltaPx * controller.dpr);
      else controller.zoomAt(Math.exp(-deltaPx * WHEEL_ZOOM_PER_PX), x, y);
      setTooltip(null);
    };
    const unmount = mountCanvas(container, canvas, controller, onWheel);
    return () => {
      unmount();
      controllerRef.current = null;
    };
    // Mount only: later props reach the controller through `controller.props`.
  }, []);

  // A different address space: start from the whole of it. Compared by content, so a caller that
  // rebuilds an equal segment list on every render does not reset the zoom each time.
  const segmentsKey = props.segments.map((segment) => `${segment.startVpn}+${segment.pages}`).join(',');
  useEffect(() => {
    controllerRef.current?.fit();
  }, [segmentsKey]);

  useEffect(() => {
    controllerRef.current?.schedule();
  }, [props.states, props.version, props.colours, props.priorityKeys, props.selectedPage]);

  useEffect(() => {
    if (props.selectedPage !== null) controllerRef.current?.reveal(props.selectedPage);
  }, [props.selectedPage]);

  const showTooltip = (clientX: number, clientY: number): void => {
    const controller = controllerRef.current;
    const canvas = canvasRef.current;
    if (controller === null || canvas === null) return;
    const { x, y } = canvasPoint(canvas, clientX, clientY, controller.dpr);
    const hit = controller.hit(x, y);
    if (hit === null) {
      setTooltip(null);
      return;
    }
    const box = canvas.getBoundingClientRect();
    const xCss = clientX - box.left;
    const yCss = clientY - box.top;
    // Keep the tooltip inside the canvas: flip it to the pointer's other side near the edges.
    setTooltip({
      leftCss: xCss > box.width - 240 ? Math.max(0, xCss - 232) : xCss + 14,
      topCss: yCss > box.height - 110 ? Math.max(0, yCss - 100) : yCss + 14,
      lines: tooltipLines(controller.props, hit.first, hit.end, hit.page),
    });
  };

  const onPointerDown = (event: TargetedPointerEvent<HTMLCanvasElement>): void => {
    if (event.button !== 0) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    dragRef.current = {
      pointerId: event.pointerId,
      xCss: event.clientX,
      yCss: event.clientY,
      scrollPx: controllerRef.current?.scrollPx ?? 0,
      moved: false,
    };
  };

  const onPointerMove = (event: TargetedPointerEvent<HTMLCanvasElement>): void => {
    const drag = dragRef.current;
    const controller = controllerRef.current;
    if (drag === null || drag.pointerId !== event.pointerId || controller === null) {
      showTooltip(event.clientX, event.clientY);
      return;
    }
    const dx = event.clientX - drag.xCss;
    const dy = event.clientY - drag.yCss;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < DRAG_THRESHOLD_CSS_PX) return;
    drag.moved = true;
    controller.scrollPx = Math.max(0, drag.scrollPx - dy * controller.dpr);
    controller.schedule();
    setTooltip(null);
  };

  const onPointerUp = (event: TargetedPointerEvent<HTMLCanvasElement>): void => {
    const drag = dragRef.current;
    if (drag === null || drag.pointerId !== event.pointerId) return;
    dragRef.current = null;
    if (event.currentTarget.hasPointerCapture(event.pointerId)) {
      event.currentTarget.releasePointerCapture(event.pointerId);
    }
    const controller = controllerRef.current;
    if (drag.moved || controller === null) return;
    const { x, y } = canvasPoint(event.currentTarget, event.clientX, event.clientY, controller.dpr);
    props.onSelectPage(controller.hit(x, y)?.page ?? null);
  };

  const onKeyDown = (event: TargetedKeyboardEvent<HTMLCanvasElement>): void => {
    const controller = controllerRef.current;
    if (controller === null) return;
    const { widthPx, heightPx } = controller;
    const rowPx = controller.view().cellPx;
    const stepPx = Math.max(rowPx, Math.round(heightPx / 10));
    switch (event.key) {
      case '+':
      case '=':
        controller.zoomAt(1.25, widthPx / 2, heightPx / 2);
        break;
      case '-':
      case '_':
        controller.zoomAt(0.8, widthPx / 2, heightPx / 2);
        break;
      case 'ArrowUp':
        controller.panBy(-stepPx);
        break;
      case 'ArrowDown':
        controller.panBy(stepPx);
        break;
      case 'PageUp':
        controller.panBy(-heightPx);
        break;
      case 'PageDown':
        controller.panBy(heightPx);
        break;
      case 'Home':
        controller.panBy(-Infinity);
        break;
      case 'End':
        controller.panBy(controller.view().layout.totalRows * rowPx);
        break;
      case 'ArrowLeft':
      case 'ArrowRight': {
        const total = controller.view().layout.totalPages;
        const selected = props.selectedPage;
        if (total === 0) break;
        const step = event.key === 'ArrowLeft' ? -1 : 1;
        props.onSelectPage(
          selected === null ? (step > 0 ? 0 : total - 1) : Math.min(total - 1, Math.max(0, selected + step)),
        );
        break;
      }
      case '0':
      case 'Escape':
        controller.fit();
        break;
      default:
        return;
    }
    event.preventDefault();
    setTooltip(null);
  };

  return (
    <div
      ref={containerRef}
      style={{ position: 'relative', width: '100%', height: '100%', minHeight: '160px' }}
    >
      <canvas
        ref={canvasRef}
        data-testid="page-map-canvas"
        tabIndex={0}
        aria-label={props.label}
        style={{
          position: 'absolute',
          inset: '0',
          width: '100%',
          height: '100%',
          display: 'block',
          cursor: 'crosshair',
          touchAction: 'none',
        }}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => (dragRef.current = null)}
        onPointerLeave={() => setTooltip(null)}
        onDblClick={() => controllerRef.current?.fit()}
        onKeyDown={onKeyDown}
      />
      {tooltip !== null && (
        <div
          data-testid="page-map-tooltip"
          role="tooltip"
          class="canvas-tooltip"
          style={{ left: `${tooltip.leftCss}px`, top: `${tooltip.topCss}px` }}
        >
          {tooltip.lines.map((line, i) => (
            <div key={i}>{line}</div>
          ))}
        </div>
      )}
    </div>
  );
}

/** A client (CSS) position as canvas device pixels. */
function canvasPoint(canvas: HTMLCanvasElement, clientX: number, clientY: number, dpr: number) {
  const box = canvas.getBoundingClientRect();
  return { x: (clientX - box.left) * dpr, y: (clientY - box.top) * dpr };
}
