// The event timeline: the run's trace as one row of bars per track on a canvas, a time axis on top,
// track names on the left, a line at the current time, and the selected span's details below.
// This file is the Preact side: the component, its tooltip and the details panel. The visible
// window, the vertical scroll, input and drawing live in a controller object outside Preact's state
// (`controller.ts`, drawing in `draw.ts`), so wheel, drag and key events redraw the canvas without
// re-rendering; only the tooltip is Preact state.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { TimelineController, type Hit } from './controller.js';
import { categoryColour, formatNs, formatNsExact } from './format.js';
import { AXIS_HEIGHT_CSS, layoutTracks } from './layout.js';
import type { Span, Timeline as TimelineData } from './spans.js';
import { mountCanvas } from '../canvas/mountCanvas.js';

export interface TimelineProps {
  readonly timeline: TimelineData;
  /** The player's current time: drawn as a vertical line, followed while it stays on screen. */
  readonly nowNs: number;
  /** A click on the axis or on empty space asks to move the player there. */
  readonly onSeek: (tNs: number) => void;
  readonly selected: Span | null;
  /** A click on a span selects it; Escape passes null. */
  readonly onSelect: (span: Span | null) => void;
  /** Tallest the canvas grows, in CSS pixels, before its tracks scroll (default 480). */
  readonly maxHeightCss?: number;
}

const MIN_HEIGHT_CSS = 120;
const DEFAULT_MAX_HEIGHT_CSS = 480;

function argsLines(args: Span['args']): string[] {
  if (args === undefined) return [];
  return Object.keys(args).map((key) => `${key}: ${String(args[key])}`);
}

function tooltipLines(hit: Hit, timeline: TimelineData): string[] | null {
  switch (hit.kind) {
    case 'span': {
      const { span } = hit;
      return [
        span.name,
        `${span.track} · ${span.category}${span.async ? ' (async)' : ''}`,
        `start ${formatNs(span.startNs)}`,
        `duration ${formatNs(span.endNs - span.startNs)}${span.closed ? '' : ' (still open at the end)'}`,
        ...argsLines(span.args),
      ];
    }
    case 'instant': {
      const { instant } = hit;
      return [
        instant.name,
        `${instant.track} · ${instant.category}`,
        `at ${formatNs(instant.tNs)}`,
        ...argsLines(instant.args),
      ];
    }
    case 'label': {
      const track = timeline.tracks[hit.track];
      const spans = track.rows.reduce((sum, row) => sum + row.length, 0);
      return [
        track.name,
        `${track.group} · ${spans} spans in ${track.rows.length} lanes · ${track.instants.length} instants`,
      ];
    }
    case 'axis':
    case 'empty':
      return null;
  }
}

interface Tooltip {
  readonly leftCss: number;
  readonly topCss: number;
  readonly lines: readonly string[];
}

/** The tooltip for a pointer at a canvas point (CSS pixels) over `hit`; null hides it. */
function placeTooltip(
  controller: TimelineController,
  hit: Hit | null,
  xCss: number,
  yCss: number,
): Tooltip | null {
  const lines = hit === null ? null : tooltipLines(hit, controller.props.timeline);
  if (lines === null) return null;
  // Keep the tooltip inside the canvas: flip it to the pointer's other side near the edges.
  return {
    leftCss: xCss > controller.widthCss - 280 ? Math.max(0, xCss - 272) : xCss + 14,
    topCss: yCss > controller.heightCss - 120 ? Math.max(0, yCss - 110) : yCss + 14,
    lines,
  };
}

/**
 * The run's trace as a zoomable timeline. Wheel zooms around the pointer (horizontal wheel pans,
 * shift+wheel scrolls the tracks), drag pans, shift-drag or a drag on the axis zooms to a range,
 * double-click shows the whole run, click selects a span or (on the axis or empty space) seeks.
 * Keys when focused: + and - zoom, left/right pan, up/down scroll, Home or 0 the whole run,
 * Escape clears the selection.
 * @example
 * const timeline = useMemo(() => buildTimeline(rec.trace, rec.frameTimeNs[rec.frames - 1]), [rec]);
 * <Timeline timeline={timeline} nowNs={now} onSeek={seek} selected={span} onSelect={setSpan} />
 */
export function Timeline(props: TimelineProps): JSX.Element {
  const containerRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const controllerRef = useRef<TimelineController | null>(null);
  const nowRef = useRef(props.nowNs);
  const [tooltip, setTooltip] = useState<Tooltip | null>(null);
  const layout = useMemo(() => layoutTracks(props.timeline), [props.timeline]);
  const controller = controllerRef.current;
  if (controller !== null) {
    controller.props = props;
    controller.layout = layout;
  }
  const heightCss = Math.min(
    props.maxHeightCss ?? DEFAULT_MAX_HEIGHT_CSS,
    Math.max(MIN_HEIGHT_CSS, AXIS_HEIGHT_CSS + layout.totalCss + 2),
  );

  useLayoutEffect(() => {
    const canvas = canvasRef.current!;
    const container = containerRef.current!;
    const created: TimelineController = new TimelineController(canvas, props, layout, {
      showTooltip: (hit, xCss, yCss) => setTooltip(placeTooltip(created, hit, xCss, yCss)),
      hideTooltip: () => setTooltip(null),
    });
    controllerRef.current = created;
    const unmount = mountCanvas(container, canvas, created, (event) => created.wheel(event));
    return () => {
      unmount();
      controllerRef.current = null;
    };
    // Mount only: later props reach the controller through `controller.props`.
  }, []);

  // A different run: show all of it.
  useEffect(() => {
    const current = controllerRef.current;
    if (current === null) return;
    current.scrollTo(Math.min(current.scrollCss, current.maxScrollCss()));
    current.reset();
  }, [props.timeline.startNs, props.timeline.endNs]);

  useEffect(() => {
    controllerRef.current?.schedule();
  }, [props.timeline, props.selected, layout]);

  useEffect(() => {
    const previousNs = nowRef.current;
    nowRef.current = props.nowNs;
    controllerRef.current?.follow(previousNs, props.nowNs);
    controllerRef.current?.schedule();
  }, [props.nowNs]);

  useEffect(() => {
    if (props.selected !== null) controllerRef.current?.reveal(props.selected);
  }, [props.selected]);

  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: '6px', width: '100%' }}>
      <div ref={containerRef} style={{ position: 'relative', width: '100%', height: `${heightCss}px` }}>
        <canvas
          ref={canvasRef}
          data-testid="timeline-canvas"
          tabIndex={0}
          aria-label="Event timeline: wheel to zoom, drag to pan, shift-drag to zoom to a range, click a span to select it"
          style={{
            position: 'absolute',
            inset: '0',
            width: '100%',
            height: '100%',
            display: 'block',
            cursor: 'default',
            touchAction: 'none',
          }}
          onPointerDown={(event) => controllerRef.current?.pointerDown(event)}
          onPointerMove={(event) => controllerRef.current?.pointerMove(event)}
          onPointerUp={(event) => controllerRef.current?.pointerUp(event)}
          onPointerCancel={() => controllerRef.current?.pointerCancel()}
          onPointerLeave={() => setTooltip(null)}
          onDblClick={() => controllerRef.current?.reset()}
          onKeyDown={(event) => controllerRef.current?.keyDown(event)}
        />
        {tooltip !== null && (
          <div
            data-testid="timeline-tooltip"
            role="tooltip"
            class="canvas-tooltip"
            style={{
              left: `${tooltip.leftCss}px`,
              top: `${tooltip.topCss}px`,
              maxWidth: '260px',
              overflow: 'hidden',
            }}
          >
            {tooltip.lines.map((line, i) => (
              <div key={i} style={i === 0 ? { fontWeight: 600 } : undefined}>
                {line}
              </div>
            ))}
          </div>
        )}
      </div>
      <SpanDetails span={props.selected} onSeek={props.onSeek} onSelect={props.onSelect} />
    </div>
  );
}

function SpanDetails(props: {
  readonly span: Span | null;
  readonly onSeek: (tNs: number) => void;
  readonly onSelect: (span: Span | null) => void;
}): JSX.Element {
  const { span } = props;
  const cell = { padding: '1px 12px 1px 0', verticalAlign: 'top' } as const;
  return (
    <div
      data-testid="timeline-details"
      style={{ font: '12px/1.5 system-ui, sans-serif', minHeight: '1.5em' }}
    >
      {span === null ? (
        <span style={{ color: '#6b7280' }}>Click a span for its details.</span>
      ) : (
        <>
          <div style={{ display: 'flex', gap: '8px', alignItems: 'baseline', flexWrap: 'wrap' }}>
            <strong>{span.name}</strong>
            <span style={{ color: categoryColour(span.category) }}>{span.category}</span>
            {span.async && <span style={{ color: '#6b7280' }}>async</span>}
            <button type="button" onClick={() => props.onSeek(span.startNs)}>
              Go to start
            </button>
            <button type="button" onClick={() => props.onSeek(span.endNs)}>
              Go to end
            </button>
            <button type="button" onClick={() => props.onSelect(null)}>
              Clear
            </button>
          </div>
          <table style={{ borderCollapse: 'collapse' }}>
            <tbody>
              <tr>
                <th style={{ ...cell, textAlign: 'left' }}>track</th>
                <td style={cell}>{span.track}</td>
              </tr>
              <tr>
                <th style={{ ...cell, textAlign: 'left' }}>start</th>
                <td style={cell} title={formatNsExact(span.startNs)}>
                  {formatNs(span.startNs)}
                </td>
              </tr>
              <tr>
                <th style={{ ...cell, textAlign: 'left' }}>end</th>
                <td style={cell} title={formatNsExact(span.endNs)}>
                  {formatNs(span.endNs)}
                  {span.closed ? '' : ' (still open when the run ended)'}
                </td>
              </tr>
              <tr>
                <th style={{ ...cell, textAlign: 'left' }}>duration</th>
                <td style={cell} title={formatNsExact(span.endNs - span.startNs)}>
                  {formatNs(span.endNs - span.startNs)}
                </td>
              </tr>
              {span.args !== undefined &&
                Object.keys(span.args).map((key) => (
                  <tr key={key}>
                    <th style={{ ...cell, textAlign: 'left', fontWeight: 'normal', color: '#374151' }}>
                      {key}
                    </th>
                    <td style={cell}>{String(span.args![key])}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
