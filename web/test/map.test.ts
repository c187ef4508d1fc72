// The page map's pure parts: layout round trips, the rasterizer against a page-by-page reference,
// the level-of-detail priority rule, and state counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  makePageState,
  MIRROR_LOCAL,
  MIRROR_VALID,
  MIRROR_WRITE,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_MIGRATING,
  PAGE_NOT_PRESENT,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
} from '../../src/view/pageState.js';
import {
  fitZoom,
  layoutSegments,
  mapHeightPx,
  pageAtCell,
  pageAtPixel,
  pageColumn,
  pageRect,
  pageRow,
  pageSpanAtPixel,
  scrollKeepingPointer,
  segmentOfPage,
  segmentOfRow,
  viewAt,
  zoomGeometry,
  type MapView,
  type SegmentExtent,
} from '../src/map/layout.js';
import { legendRows } from '../src/map/Legend.js';
import { BACKGROUND_RGBA, MIRROR_COLOURS, PAGE_COLOURS, packRgba } from '../src/map/palette.js';
import { countStates, mostNotablePage, PAGE_PRIORITY_KEYS, rasterizePageMap } from '../src/map/rasterize.js';

const segmentsArb = fc.array(fc.record({ pages: fc.integer({ min: 0, max: 60 }) }), {
  minLength: 0,
  maxLength: 5,
});
const zoomArb = fc.oneof(
  fc.integer({ min: 1, max: 16 }),
  fc.integer({ min: 2, max: 40 }).map((n) => 1 / n),
  fc.double({ min: 0.01, max: 16, noNaN: true }),
);

function totalPages(segments: readonly SegmentExtent[]): number {
  return segments.reduce((sum, segment) => sum + segment.pages, 0);
}

/** Where each page lands, by counting rows one segment at a time (no search, no division tricks). */
function naivePlacement(segments: readonly SegmentExtent[], pagesPerRow: number, separatorRows: number) {
  const rows: number[] = [];
  const columns: number[] = [];
  let row = 0;
  let anyRows = false;
  for (const segment of segments) {
    if (segment.pages === 0) continue;
    if (anyRows) row += separatorRows;
    anyRows = true;
    let column = 0;
    for (let i = 0; i < segment.pages; i++) {
      if (column === pagesPerRow) {
        column = 0;
        row++;
      }
      rows.push(row);
      columns.push(column++);
    }
    row++;
  }
  return { rows, columns, totalRows: row };
}

/** The rasterizer's contract, page by page: paint each page's pixels, keep the highest key. */
function referenceRaster(
  width: number,
  height: number,
  states: Uint8Array,
  segments: readonly SegmentExtent[],
  view: MapView,
  colours: Uint32Array,
): Uint32Array {
  const { cellPx, pagesPerPixel, scrollPx, originX } = view;
  const side = cellPx >= 4 ? cellPx - 1 : cellPx;
  const best = new Int32Array(width * height).fill(-1);
  const placement = naivePlacement(segments, view.layout.pagesPerRow, view.layout.separatorRows);
  for (let page = 0; page < placement.rows.length; page++) {
    const x0 = originX + Math.floor(placement.columns[page] / pagesPerPixel) * cellPx;
    const y0 = placement.rows[page] * cellPx - scrollPx;
    for (let dy = 0; dy < side; dy++) {
      for (let dx = 0; dx < side; dx++) {
        const x = x0 + dx;
        const y = y0 + dy;
        if (x < 0 || x >= width || y < 0 || y >= height) continue;
        best[y * width + x] = Math.max(best[y * width + x], PAGE_PRIORITY_KEYS[states[page]]);
      }
    }
  }
  return Uint32Array.from(best, (key) => (key < 0 ? view.background : colours[key & 0xff]));
}

describe('layout', () => {
  it('places pages as the naive row counter does, and finds them again', () => {
    fc.assert(
      fc.property(
        segmentsArb,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 2 }),
        (segments, pagesPerRow, separatorRows) => {
          const layout = layoutSegments(segments, pagesPerRow, separatorRows);
          const naive = naivePlacement(segments, pagesPerRow, separatorRows);
          expect(layout.totalPages).toBe(totalPages(segments));
          expect(layout.totalRows).toBe(naive.totalRows);
          for (let page = 0; page < layout.totalPages; page++) {
            const row = pageRow(layout, page);
            const column = pageColumn(layout, page);
            expect([row, column]).toEqual([naive.rows[page], naive.columns[page]]);
            expect(pageAtCell(layout, row, column)).toBe(page);
            const s = segmentOfPage(layout, page);
            expect(segments[s].pages).toBeGreaterThan(0);
            expect(segmentOfRow(layout, row)).toBe(s);
          }
          expect(segmentOfPage(layout, -1)).toBe(-1);
          expect(segmentOfPage(layout, layout.totalPages)).toBe(-1);
        },
      ),
    );
  });

  it('maps every cell to nothing or to the page that lands there', () => {
    fc.assert(
      fc.property(
        segmentsArb,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 2 }),
        (segments, pagesPerRow, separatorRows) => {
          const layout = layoutSegments(segments, pagesPerRow, separatorRows);
          let found = 0;
          for (let row = -1; row <= layout.totalRows; row++) {
            for (let column = -1; column <= pagesPerRow; column++) {
              const page = pageAtCell(layout, row, column);
              if (page === null) continue;
              found++;
              expect([pageRow(layout, page), pageColumn(layout, page)]).toEqual([row, column]);
            }
          }
          expect(found).toBe(layout.totalPages);
        },
      ),
    );
  });

  it('round-trips page → pixel rectangle → page at every zoom', () => {
    fc.assert(
      fc.property(
        segmentsArb,
        fc.integer({ min: 1, max: 300 }),
        zoomArb,
        fc.integer({ min: 0, max: 8 }),
        (segments, widthPx, pxPerPage, originX) => {
          const view = viewAt(segments, widthPx + originX, pxPerPage, 0, { originX });
          for (let page = 0; page < view.layout.totalPages; page++) {
            const rect = pageRect(view, page);
            if (view.cellPx <= widthPx) expect(rect.x + rect.width).toBeLessThanOrEqual(widthPx + originX);
            const span = pageSpanAtPixel(view, rect.x + rect.width - 1, rect.y + rect.height - 1);
            expect(span).not.toBeNull();
            expect(page).toBeGreaterThanOrEqual(span![0]);
            expect(page).toBeLessThan(span![1]);
            if (view.pagesPerPixel === 1) expect(pageAtPixel(view, rect.x, rect.y)).toBe(page);
          }
        },
      ),
    );
  });

  it('reads a zoom of 1/n as n pages per pixel and z >= 1 as floor(z)-pixel cells', () => {
    for (let n = 1; n < 5000; n++) expect(zoomGeometry(1 / n).pagesPerPixel).toBe(n);
    expect(zoomGeometry(5.9)).toEqual({ cellPx: 5, pagesPerPixel: 1 });
  });

  it('fits the whole space when it can, at the largest zoom that fits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pages: fc.integer({ min: 0, max: 5000 }) }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        (segments, widthPx, heightPx) => {
          const zoom = fitZoom(segments, widthPx, heightPx, 16);
          const view = viewAt(segments, widthPx, zoom, 0);
          const nonEmpty = segments.filter((segment) => segment.pages > 0).length;
          if (2 * nonEmpty - 1 <= heightPx || nonEmpty === 0) {
            expect(mapHeightPx(view)).toBeLessThanOrEqual(heightPx);
          }
          // One step closer no longer fits (or the cell is already the largest).
          const closer = zoom >= 1 ? zoom + 1 : 1 / (Math.round(1 / zoom) - 1);
          if (zoom < 16 && mapHeightPx(view) <= heightPx) {
            expect(mapHeightPx(viewAt(segments, widthPx, closer, 0))).toBeGreaterThan(heightPx);
          }
        },
      ),
    );
  });

  it('keeps the page under the pointer on the pointer row when zooming', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pages: fc.integer({ min: 1, max: 3000 }) }), { minLength: 1, maxLength: 3 }),
        zoomArb,
        zoomArb,
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        (segments, fromZoom, toZoom, scrollPx, pointerX, pointerY) => {
          const current = viewAt(segments, 100, fromZoom, scrollPx);
          const page = pageAtPixel(current, pointerX, pointerY);
          const scroll = scrollKeepingPointer(current, viewAt(segments, 100, toZoom, 0), pointerX, pointerY);
          const next = viewAt(segments, 100, toZoom, scroll);
          if (page === null || scroll === 0) return;
          const nextRow = Math.floor((scroll + pointerY) / next.cellPx);
          expect(pageRow(next.layout, page)).toBe(nextRow);
        },
      ),
    );
  });
});

const stateArb = fc.constantFrom(
  PAGE_UNMAPPED,
  PAGE_NOT_PRESENT,
  PAGE_RAM,
  PAGE_ZERO,
  makePageState(PAGE_DEVICE_PRIVATE, 0),
  makePageState(PAGE_DEVICE_PRIVATE, 1),
  makePageState(PAGE_EXCLUSIVE, 2),
  PAGE_MIGRATING,
  0xff,
);

describe('rasterizePageMap', () => {
  it('draws what the page-by-page reference draws', () => {
    fc.assert(
      fc.property(
        segmentsArb.chain((segments) =>
          fc.record({
            segments: fc.constant(segments),
            states: fc.array(stateArb, { minLength: totalPages(segments), maxLength: totalPages(segments) }),
          }),
        ),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        zoomArb,
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 2 }),
        ({ segments, states }, width, height, pxPerPage, scrollPx, originX, separatorRows) => {
          const bytes = Uint8Array.from(states);
          const view = viewAt(segments, width, pxPerPage, scrollPx, {
            originX,
            separatorRows,
            background: BACKGROUND_RGBA,
          });
          const pixels = new Uint32Array(width * height).fill(0x12345678);
          rasterizePageMap(pixels, width, height, bytes, view, PAGE_COLOURS);
          expect(pixels).toEqual(referenceRaster(width, height, bytes, segments, view, PAGE_COLOURS));
        },
      ),
    );
  });

  it('clips a view whose rows are wider than the canvas, and cells that aggregate pages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        (pages, pagesPerRow, cellPx, pagesPerPixel, seed) => {
          const segments = [{ pages }, { pages: pages >> 1 }];
          const states = Uint8Array.from({ length: pages + (pages >> 1) }, (_, i) => (i * 31 + seed) & 0xff);
          const view: MapView = {
            layout: layoutSegments(segments, pagesPerRow * pagesPerPixel, 1),
            cellPx,
            pagesPerPixel,
            scrollPx: 0,
            originX: 1,
            background: BACKGROUND_RGBA,
          };
          const pixels = new Uint32Array(17 * 23);
          rasterizePageMap(pixels, 17, 23, states, view, PAGE_COLOURS);
          expect(pixels).toEqual(referenceRaster(17, 23, states, segments, view, PAGE_COLOURS));
        },
      ),
    );
  });

  it('keeps a single migrating page among 1000 RAM pages visible at full zoom-out', () => {
    const states = new Uint8Array(1001).fill(PAGE_RAM);
    states[617] = PAGE_MIGRATING;
    const segments = [{ pages: 1001 }];
    for (const [width, height] of [
      [1, 1],
      [7, 3],
      [100, 5],
    ] as const) {
      const view = viewAt(segments, width, fitZoom(segments, width, height, 16), 0);
      expect(mapHeightPx(view)).toBeLessThanOrEqual(height);
      expect(view.pagesPerPixel).toBeGreaterThan(1);
      const pixels = new Uint32Array(width * height);
      rasterizePageMap(pixels, width, height, states, view, PAGE_COLOURS);
      const red = pixels.filter((pixel) => pixel === PAGE_COLOURS[PAGE_MIGRATING]).length;
      expect(red).toBe(1);
      const span = pageSpanAtPixel(view, pageRect(view, 617).x, pageRect(view, 617).y)!;
      expect(mostNotablePage(states, span[0], span[1])).toBe(617);
    }
  });

  it('ranks under migration > exclusive > device-private > device-coherent > RAM > zero > other > not present > unmapped', () => {
    const order = [0, 1, 8, 3, 2, 5, 4, 6, 7];
    for (let i = 1; i < order.length; i++) {
      expect(PAGE_PRIORITY_KEYS[order[i]]).toBeGreaterThan(PAGE_PRIORITY_KEYS[order[i - 1]]);
    }
  });

  it('packs colours in ImageData byte order', () => {
    const bytes = new Uint8Array(new Uint32Array([packRgba(1, 2, 3, 4)]).buffer);
    expect([...bytes]).toEqual([1, 2, 3, 4]);
  });

  it('redraws a million pages without allocating per page', () => {
    const pages = 1 << 20;
    const states = new Uint8Array(pages);
    for (let i = 0; i < pages; i++) states[i] = i % 977 === 0 ? PAGE_MIGRATING : PAGE_RAM;
    const segments = [{ pages: pages / 2 }, { pages: pages / 4 }, { pages: pages / 4 }];
    const view = viewAt(segments, 1200, fitZoom(segments, 1200, 600, 16), 0);
    const pixels = new Uint32Array(1200 * 600);
    rasterizePageMap(pixels, 1200, 600, states, view, PAGE_COLOURS);
    const started = performance.now();
    rasterizePageMap(pixels, 1200, 600, states, view, PAGE_COLOURS);
    // A loose bound that only catches a pathological regression; the bench measures the real time.
    expect(performance.now() - started).toBeLessThan(250);
  });
});

describe('countStates', () => {
  it('counts every byte once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (states) => {
        const counts = countStates(states);
        expect(counts.reduce((sum, count) => sum + count, 0)).toBe(states.length);
        for (let state = 0; state < 256; state++) {
          expect(counts[state]).toBe(states.filter((s) => s === state).length);
        }
      }),
    );
  });

  it('reuses a buffer it is given, cleared', () => {
    const buffer = new Uint32Array(256).fill(9);
    expect(countStates(Uint8Array.of(2, 2, 4), buffer)).toBe(buffer);
    expect([buffer[2], buffer[4], buffer[0]]).toEqual([2, 1, 0]);
  });
});

describe('legend', () => {
  it('names rows by kind and device, sums their counts, and orders them by kind', () => {
    const states = new Uint8Array(100).fill(PAGE_RAM);
    states.fill(makePageState(PAGE_DEVICE_PRIVATE, 1), 0, 30);
    states.fill(makePageState(PAGE_DEVICE_PRIVATE, 0), 30, 38);
    states[50] = PAGE_MIGRATING;
    states[51] = makePageState(PAGE_EXCLUSIVE, 0);
    states.fill(PAGE_NOT_PRESENT, 90);
    const rows = legendRows(countStates(states), ['gpu0', 'GPU 1']);
    expect(rows.map((row) => [row.testId, row.count, row.text])).toEqual([
      ['legend-not-present', 10, 'not present'],
      ['legend-ram', 50, 'RAM'],
      ['legend-device-private-gpu0', 8, 'device-private on gpu0'],
      ['legend-device-private-gpu-1', 30, 'device-private on GPU 1'],
      ['legend-device-exclusive-gpu0', 1, 'device-exclusive on gpu0'],
      ['legend-under-migration', 1, 'under migration'],
    ]);
  });

  it('groups mirror bytes into their five classes', () => {
    const mirror = Uint8Array.of(
      0,
      0,
      MIRROR_VALID,
      MIRROR_VALID | MIRROR_WRITE,
      MIRROR_VALID | MIRROR_LOCAL,
      2,
    );
    const rows = legendRows(countStates(mirror), [], 'mirror');
    expect(rows.map((row) => [row.testId, row.count])).toEqual([
      ['legend-mirror-no-entry', 3],
      ['legend-mirror-system-read-only', 1],
      ['legend-mirror-system-read-write', 1],
      ['legend-mirror-device-memory', 1],
    ]);
    expect(MIRROR_COLOURS[MIRROR_VALID | MIRROR_LOCAL]).not.toBe(MIRROR_COLOURS[MIRROR_VALID]);
  });
});
