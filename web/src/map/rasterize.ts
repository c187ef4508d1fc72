// Draws the page map into a pixel buffer: the hot path of the visualizer. One pass over the canvas's
// pixel rows; each visible page is read once, each pixel written once, and nothing is allocated, so
// a million pages redraw in a few milliseconds (see README.md for the budget).
//
// Level of detail. Zoomed in, a page is a k×k cell (with a one-pixel gap on its right and bottom
// once k >= 4, so neighbouring pages stay distinguishable). Zoomed out, one pixel covers n
// consecutive pages of a row and shows the most notable state among them, by the ranking below.
// Averaging or sampling would make a lone migrating or device-exclusive page vanish among a million
// RAM pages; ranking the rare, transient states first keeps every one of them visible at any zoom.

import {
  MIRROR_ATOMIC,
  MIRROR_LOCAL,
  MIRROR_VALID,
  MIRROR_WRITE,
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_KIND_COUNT,
  PAGE_MIGRATING,
  PAGE_NOT_PRESENT,
  PAGE_OTHER,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
} from '../../../src/view/pageState.js';
import { cellGapPx, type MapView } from './layout.js';

/**
 * Page kinds from least to most notable: under migration > device-exclusive > device-private >
 * device-coherent > RAM > zero page > other > not present > unmapped. Transient and device states
 * are rare and are what a viewer looks for, so they win; absence loses to anything mapped.
 */
export const PAGE_KIND_PRIORITY_ORDER: readonly number[] = [
  PAGE_UNMAPPED,
  PAGE_NOT_PRESENT,
  PAGE_OTHER,
  PAGE_ZERO,
  PAGE_RAM,
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_MIGRATING,
];

/**
 * A ranking as a 256-entry table of keys `rank << 8 | state`: the most notable of several states is
 * the one with the largest key, and the key's low byte is that state, ready for the colour table.
 * Equal ranks (one kind on two devices) resolve to the larger state byte, so the result never
 * depends on the order of pages within a pixel.
 */
function keyTable(rankOf: (state: number) => number): Uint16Array {
  const keys = new Uint16Array(256);
  for (let state = 0; state < 256; state++) keys[state] = (rankOf(state) << 8) | state;
  return keys;
}

const KIND_RANK = new Uint8Array(16).fill(PAGE_KIND_PRIORITY_ORDER.indexOf(PAGE_OTHER));
PAGE_KIND_PRIORITY_ORDER.forEach((kind, rank) => (KIND_RANK[kind] = rank));
if (PAGE_KIND_PRIORITY_ORDER.length !== PAGE_KIND_COUNT) {
  throw new Error(`rasterize: the priority order must rank all ${PAGE_KIND_COUNT} page kinds`);
}

/** Priority keys of page state bytes (the default ranking of `rasterizePageMap`). */
export const PAGE_PRIORITY_KEYS: Uint16Array = keyTable((state) => KIND_RANK[state & 0xf]);

/** Priority keys of device-mirror bytes: atomic > device memory > read-write > read-only > none. */
export const MIRROR_PRIORITY_KEYS: Uint16Array = keyTable((state) => {
  if ((state & MIRROR_VALID) === 0) return 0;
  if (state & MIRROR_ATOMIC) return 4;
  if (state & MIRROR_LOCAL) return 3;
  return state & MIRROR_WRITE ? 2 : 1;
});

/**
 * Draws `view` of `states` into `pixels` (a Uint32Array view of an ImageData `width` × `height`),
 * colouring each state byte by `colours` (256 packed colours) and ranking states within a pixel by
 * `priorityKeys` (see PAGE_PRIORITY_KEYS). Every pixel is written.
 * @example
 * const image = ctx.createImageData(w, h);
 * rasterizePageMap(new Uint32Array(image.data.buffer), w, h, states, view, PAGE_COLOURS);
 * ctx.putImageData(image, 0, 0);
 */
export function rasterizePageMap(
  pixels: Uint32Array,
  width: number,
  height: number,
  states: Uint8Array,
  view: MapView,
  colours: Uint32Array,
  priorityKeys: Uint16Array = PAGE_PRIORITY_KEYS,
): void {
  if (pixels.length < width * height) {
    throw new RangeError(`rasterizePageMap: ${pixels.length} pixels cannot hold ${width}×${height}`);
  }
  if (states.length < view.layout.totalPages) {
    throw new RangeError(
      `rasterizePageMap: ${states.length} states for a layout of ${view.layout.totalPages} pages`,
    );
  }
  if (view.cellPx === 1) drawAggregated(pixels, width, height, states, view, colours, priorityKeys);
  else drawCells(pixels, width, height, states, view, colours, priorityKeys);
}

/** Cell side 1: each pixel row is one map row, each pixel `pagesPerPixel` pages. */
function drawAggregated(
  pixels: Uint32Array,
  width: number,
  height: number,
  states: Uint8Array,
  view: MapView,
  colours: Uint32Array,
  keys: Uint16Array,
): void {
  const { layout, pagesPerPixel, scrollPx, background } = view;
  const { pagesPerRow, segmentCount, segmentPageStart, segmentRowStart, segmentRowEnd } = layout;
  const originX = Math.min(Math.max(0, view.originX), width);
  let segment = 0;
  for (let y = 0; y < height; y++) {
    const rowOffset = y * width;
    const row = scrollPx + y;
    // Rows only increase down the canvas, so the segment cursor only moves forward.
    while (segment < segmentCount && segmentRowEnd[segment] <= row) segment++;
    if (segment >= segmentCount || row < segmentRowStart[segment]) {
      pixels.fill(background, rowOffset, rowOffset + width);
      continue;
    }
    let page = segmentPageStart[segment] + (row - segmentRowStart[segment]) * pagesPerRow;
    const rowEnd = Math.min(page + pagesPerRow, segmentPageStart[segment + 1]);
    if (originX > 0) pixels.fill(background, rowOffset, rowOffset + originX);
    let x = originX;
    for (; x < width && page < rowEnd; x++) {
      const stop = Math.min(page + pagesPerPixel, rowEnd);
      pixels[rowOffset + x] = colours[notableKey(states, page, stop, keys) & 0xff];
      page = stop;
    }
    if (x < width) pixels.fill(background, rowOffset + x, rowOffset + width);
  }
}

/** Cell side k >= 2: each page is a k×k square; pixel rows inside one cell row repeat. */
function drawCells(
  pixels: Uint32Array,
  width: number,
  height: number,
  states: Uint8Array,
  view: MapView,
  colours: Uint32Array,
  keys: Uint16Array,
): void {
  const { layout, cellPx, pagesPerPixel, scrollPx, background } = view;
  const { pagesPerRow, segmentCount, segmentPageStart, segmentRowStart, segmentRowEnd } = layout;
  const originX = Math.min(Math.max(0, view.originX), width);
  const gap = cellGapPx(cellPx);
  const side = cellPx - gap;
  let segment = 0;
  let drawnRow = -1; // the map row the previous canvas row drew, for copying
  for (let y = 0; y < height; y++) {
    const rowOffset = y * width;
    const mapY = scrollPx + y;
    const row = Math.floor(mapY / cellPx);
    while (segment < segmentCount && segmentRowEnd[segment] <= row) segment++;
    if (segment >= segmentCount || row < segmentRowStart[segment] || mapY - row * cellPx >= side) {
      pixels.fill(background, rowOffset, rowOffset + width);
      drawnRow = -1;
      continue;
    }
    if (row === drawnRow) {
      // Same cell row as the line above: a memmove instead of a second pass over the pages.
      pixels.copyWithin(rowOffset, rowOffset - width, rowOffset);
      continue;
    }
    drawnRow = row;
    let page = segmentPageStart[segment] + (row - segmentRowStart[segment]) * pagesPerRow;
    const rowEnd = Math.min(page + pagesPerRow, segmentPageStart[segment + 1]);
    if (originX > 0) pixels.fill(background, rowOffset, rowOffset + originX);
    let x = originX;
    while (x < width && page < rowEnd) {
      const stop = Math.min(page + pagesPerPixel, rowEnd);
      const colour = colours[notableKey(states, page, stop, keys) & 0xff];
      page = stop;
      const cellEnd = Math.min(x + side, width);
      for (; x < cellEnd; x++) pixels[rowOffset + x] = colour;
      const gapEnd = Math.min(x + gap, width);
      for (; x < gapEnd; x++) pixels[rowOffset + x] = background;
    }
    if (x < width) pixels.fill(background, rowOffset + x, rowOffset + width);
  }
}

/** The highest priority key among the states of pages [first, end) (end > first). */
function notableKey(states: Uint8Array, first: number, end: number, keys: Uint16Array): number {
  let best = keys[states[first]];
  for (let page = first + 1; page < end; page++) {
    const key = keys[states[page]];
    if (key > best) best = key;
  }
  return best;
}

/**
 * The page among [first, end) whose state a zoomed-out pixel shows (the first page holding the
 * winning state), e.g. so a click on a red pixel selects the migrating page.
 */
export function mostNotablePage(
  states: Uint8Array,
  first: number,
  end: number,
  priorityKeys: Uint16Array = PAGE_PRIORITY_KEYS,
): number {
  let bestPage = first;
  let best = priorityKeys[states[first]];
  for (let page = first + 1; page < end; page++) {
    const key = priorityKeys[states[page]];
    if (key > best) {
      best = key;
      bestPage = page;
    }
  }
  return bestPage;
}

/**
 * Pages in each of the 256 states, for the legend. Pass `counts` to reuse a buffer.
 * @example countStates(states)[PAGE_RAM] // pages in RAM
 */
export function countStates(states: Uint8Array, counts: Uint32Array = new Uint32Array(256)): Uint32Array {
  counts.fill(0);
  for (let i = 0; i < states.length; i++) counts[states[i]]++;
  return counts;
}
