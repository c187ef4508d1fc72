// Times full redraws of the page map in the browser: rasterize plus putImageData, for the whole
// space fitted into the canvas and for a zoomed-in view. The states are synthetic but shaped like a
// run's: a few large segments, long runs of RAM and device-private pages, holes, zero pages, and
// rare migrating and device-exclusive pages scattered through (the worst case for the level-of-
// detail rule, which must find them). Deterministic: a fixed-seed LCG, not Math.random.

import {
  makePageState,
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_MIGRATING,
  PAGE_NOT_PRESENT,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
} from '../../../src/view/pageState.js';
import { fitZoom, viewAt, type MapView, type SegmentExtent } from '../map/layout.js';
import { BACKGROUND_RGBA, PAGE_COLOURS } from '../map/palette.js';
import { rasterizePageMap } from '../map/rasterize.js';

export interface MapRedrawBenchResult {
  /** Median time of one whole-space redraw (rasterize + putImageData). */
  readonly medianMs: number;
  /** Median time of one redraw zoomed in to 8-pixel cells. */
  readonly zoomedMedianMs: number;
  readonly pages: number;
  readonly width: number;
  readonly height: number;
  /** Pages per pixel of the whole-space view. */
  readonly pagesPerPixel: number;
}

/** Numerical Recipes' 32-bit LCG: returns a function giving uniform integers in [0, 2^32). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

/** Segment sizes for `pages` pages: a big heap, a big mapping, a smaller one, a stack. */
export function syntheticSegments(pages: number): SegmentExtent[] {
  const heap = Math.floor(pages * 0.55);
  const mapping = Math.floor(pages * 0.3);
  const small = Math.floor(pages * 0.12);
  return [{ pages: heap }, { pages: mapping }, { pages: small }, { pages: pages - heap - mapping - small }];
}

/**
 * A deterministic page-state array of `pages` pages (see the file comment for its shape).
 * @example syntheticStates(1 << 20, 1) // the bench's input
 */
export function syntheticStates(pages: number, seed = 0x9e3779b9): Uint8Array {
  const next = lcg(seed);
  const states = new Uint8Array(pages);
  // Runs of one state, lengths up to 4096 pages, picked by weight.
  const runKinds = [
    { state: PAGE_RAM, weight: 40 },
    { state: PAGE_NOT_PRESENT, weight: 18 },
    { state: makePageState(PAGE_DEVICE_PRIVATE, 0), weight: 16 },
    { state: makePageState(PAGE_DEVICE_PRIVATE, 1), weight: 6 },
    { state: PAGE_ZERO, weight: 6 },
    { state: makePageState(PAGE_DEVICE_COHERENT, 2), weight: 5 },
    { state: PAGE_UNMAPPED, weight: 9 },
  ];
  const totalWeight = runKinds.reduce((sum, kind) => sum + kind.weight, 0);
  for (let page = 0; page < pages;) {
    let pick = next() % totalWeight;
    let state = runKinds[0].state;
    for (const kind of runKinds) {
      if (pick < kind.weight) {
        state = kind.state;
        break;
      }
      pick -= kind.weight;
    }
    const end = Math.min(pages, page + 1 + (next() % 4096));
    states.fill(state, page, end);
    page = end;
  }
  // Rare transient states, scattered: about one page in 5000 migrating, one in 20000 exclusive.
  for (let i = 0; i < Math.ceil(pages / 5000); i++) states[next() % pages] = PAGE_MIGRATING;
  for (let i = 0; i < Math.ceil(pages / 20000); i++)
    states[next() % pages] = makePageState(PAGE_EXCLUSIVE, 0);
  return states;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Times `repeats` full redraws of `pages` pages into `canvas` (resized to `size`, 1200×600 by
 * default), whole space and zoomed in; returns the whole-space median.
 * @example runMapRedrawBench(document.createElement('canvas')).medianMs // ~2-10 ms in Chrome
 */
export function runMapRedrawBench(
  canvas: HTMLCanvasElement,
  pages = 1 << 20,
  repeats = 30,
  size: { readonly width: number; readonly height: number } = { width: 1200, height: 600 },
): MapRedrawBenchResult {
  const { width, height } = size;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (ctx === null) throw new Error('runMapRedrawBench: the canvas has no 2d context');
  const segments = syntheticSegments(pages);
  const states = syntheticStates(pages);
  const image = ctx.createImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  const options = { background: BACKGROUND_RGBA };
  const whole = viewAt(segments, width, fitZoom(segments, width, height, 16, options), 0, options);
  // Zoomed in to 8-pixel cells, scrolled into the middle of the heap.
  const zoomedAt = viewAt(segments, width, 8, 0, options);
  const zoomed: MapView = { ...zoomedAt, scrollPx: Math.floor((zoomedAt.layout.totalRows * 8) / 4) };

  const time = (view: MapView): number[] => {
    const samples: number[] = [];
    // Two untimed redraws first, so the JIT has compiled the loops before timing starts.
    for (let i = -2; i < repeats; i++) {
      const started = performance.now();
      rasterizePageMap(pixels, width, height, states, view, PAGE_COLOURS);
      ctx.putImageData(image, 0, 0);
      const elapsed = performance.now() - started;
      if (i >= 0) samples.push(elapsed);
    }
    return samples;
  };
  const zoomedMedianMs = median(time(zoomed));
  const medianMs = median(time(whole));
  return { medianMs, zoomedMedianMs, pages, width, height, pagesPerPixel: whole.pagesPerPixel };
}
