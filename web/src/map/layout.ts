// Where each page of a process lands on the page map, and back. Pages flow like text: a row holds
// `pagesPerRow` consecutive pages of one segment, each segment starts on a new row, and an optional
// separator row (left blank) divides segments. Zoom changes `pagesPerRow` (the map reflows to the
// canvas width) rather than scrolling sideways, so the only scroll is vertical.
//
// Ranges here are half-open: a segment covers pages [segmentPageStart[s], segmentPageStart[s + 1])
// and rows [segmentRowStart[s], segmentRowEnd[s]). Positions are in device pixels of the canvas.
// Everything is pure; the per-page functions allocate nothing.

/** What the layout needs of a segment (a `Segment` of the recording fits). */
export interface SegmentExtent {
  readonly pages: number;
}

export interface MapLayout {
  readonly pagesPerRow: number;
  /** Blank rows between two segments (0 or more). */
  readonly separatorRows: number;
  readonly segmentCount: number;
  /** First page of segment s; entry `segmentCount` is the total number of pages. */
  readonly segmentPageStart: Float64Array;
  /** First row of segment s. */
  readonly segmentRowStart: Float64Array;
  /** One past the last row of segment s (equal to its start for an empty segment). */
  readonly segmentRowEnd: Float64Array;
  readonly totalRows: number;
  readonly totalPages: number;
}

/**
 * Lays segments out `pagesPerRow` pages to a row.
 * @example layoutSegments([{ pages: 10 }, { pages: 3 }], 4).totalRows === 3 + 1 + 1
 */
export function layoutSegments(
  segments: readonly SegmentExtent[],
  pagesPerRow: number,
  separatorRows = 1,
): MapLayout {
  if (!(Number.isInteger(pagesPerRow) && pagesPerRow >= 1)) {
    throw new RangeError(`layoutSegments: pagesPerRow must be an integer >= 1, got ${pagesPerRow}`);
  }
  const count = segments.length;
  const segmentPageStart = new Float64Array(count + 1);
  const segmentRowStart = new Float64Array(count);
  const segmentRowEnd = new Float64Array(count);
  let page = 0;
  let row = 0;
  let anyRows = false;
  for (let s = 0; s < count; s++) {
    const pages = segments[s].pages;
    // An empty segment takes no rows and no separator, so it cannot leave a blank band behind.
    if (pages > 0 && anyRows) row += separatorRows;
    segmentPageStart[s] = page;
    segmentRowStart[s] = row;
    row += Math.ceil(pages / pagesPerRow);
    segmentRowEnd[s] = row;
    page += pages;
    if (pages > 0) anyRows = true;
  }
  segmentPageStart[count] = page;
  return {
    pagesPerRow,
    separatorRows,
    segmentCount: count,
    segmentPageStart,
    segmentRowStart,
    segmentRowEnd,
    totalRows: row,
    totalPages: page,
  };
}

/** The segment holding `page`, or -1 when the page is outside the layout. */
export function segmentOfPage(layout: MapLayout, page: number): number {
  if (!(page >= 0 && page < layout.totalPages)) return -1;
  const starts = layout.segmentPageStart;
  // Largest s with starts[s] <= page whose segment is not empty.
  let lo = 0;
  let hi = layout.segmentCount - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid] <= page) lo = mid;
    else hi = mid - 1;
  }
  while (starts[lo + 1] <= page) lo++; // skip empty segments sharing the start
  return lo;
}

/** The segment whose rows include `row`, or -1 for a separator row or a row outside the layout. */
export function segmentOfRow(layout: MapLayout, row: number): number {
  if (!(row >= 0 && row < layout.totalRows)) return -1;
  let lo = 0;
  let hi = layout.segmentCount - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (layout.segmentRowStart[mid] <= row) lo = mid;
    else hi = mid - 1;
  }
  // Empty segments share their start row with the next segment; step to the one with rows.
  while (lo < layout.segmentCount - 1 && layout.segmentRowEnd[lo] <= row) lo++;
  return row < layout.segmentRowEnd[lo] && row >= layout.segmentRowStart[lo] ? lo : -1;
}

/** Row of a page (which must be inside the layout). */
export function pageRow(layout: MapLayout, page: number): number {
  const s = segmentOfPage(layout, page);
  return layout.segmentRowStart[s] + Math.floor((page - layout.segmentPageStart[s]) / layout.pagesPerRow);
}

/** Column of a page (which must be inside the layout). */
export function pageColumn(layout: MapLayout, page: number): number {
  const s = segmentOfPage(layout, page);
  return (page - layout.segmentPageStart[s]) % layout.pagesPerRow;
}

/** The page at (row, column), or null for a separator, a column past the row's end, or outside. */
export function pageAtCell(layout: MapLayout, row: number, column: number): number | null {
  if (!(column >= 0 && column < layout.pagesPerRow) || !Number.isInteger(column)) return null;
  const s = segmentOfRow(layout, row);
  if (s < 0 || !Number.isInteger(row)) return null;
  const page = layout.segmentPageStart[s] + (row - layout.segmentRowStart[s]) * layout.pagesPerRow + column;
  return page < layout.segmentPageStart[s + 1] ? page : null;
}

/** What the rasterizer draws: a layout at a zoom level, scrolled. */
export interface MapView {
  readonly layout: MapLayout;
  /** Side of a page's square cell in pixels (>= 1); 1 whenever `pagesPerPixel` > 1. */
  readonly cellPx: number;
  /** Consecutive pages of a row one pixel covers (>= 1); 1 whenever `cellPx` > 1. */
  readonly pagesPerPixel: number;
  /** Pixel rows of the map scrolled off the top of the canvas (>= 0, an integer). */
  readonly scrollPx: number;
  /** Pixels left of column 0 (a margin); the map starts at x = originX. */
  readonly originX: number;
  /** Packed colour of everything that is not a page: gaps, separators, margins, past the end. */
  readonly background: number;
}

/** Cells at least this large get a one-pixel gap on their right and bottom edges. */
export const CELL_GAP_MIN_PX = 4;

export function cellGapPx(cellPx: number): number {
  return cellPx >= CELL_GAP_MIN_PX ? 1 : 0;
}

/**
 * Zoom as pixels per page, a real number: z >= 1 draws each page as a floor(z)-pixel cell, z < 1
 * makes each pixel cover ceil(1/z) pages. One number makes wheel zooming smooth across both regimes.
 * @example zoomGeometry(0.25) // { cellPx: 1, pagesPerPixel: 4 }
 */
export function zoomGeometry(pxPerPage: number): { cellPx: number; pagesPerPixel: number } {
  if (pxPerPage >= 1) return { cellPx: Math.floor(pxPerPage), pagesPerPixel: 1 };
  // The tolerance keeps 1 / (1 / n) from rounding up to n + 1.
  return { cellPx: 1, pagesPerPixel: Math.max(1, Math.ceil(1 / pxPerPage - 1e-6)) };
}

export interface ViewOptions {
  readonly originX?: number;
  readonly separatorRows?: number;
  readonly background?: number;
}

/** The view of `segments` at zoom `pxPerPage` on a canvas `widthPx` wide, scrolled by `scrollPx`. */
export function viewAt(
  segments: readonly SegmentExtent[],
  widthPx: number,
  pxPerPage: number,
  scrollPx: number,
  options: ViewOptions = {},
): MapView {
  const originX = options.originX ?? 0;
  const { cellPx, pagesPerPixel } = zoomGeometry(pxPerPage);
  const columns = Math.max(1, Math.floor((widthPx - originX) / cellPx));
  return {
    layout: layoutSegments(segments, columns * pagesPerPixel, options.separatorRows ?? 1),
    cellPx,
    pagesPerPixel,
    scrollPx: Math.max(0, Math.round(scrollPx)),
    originX,
    background: options.background ?? 0xffffffff,
  };
}

/** Height of the whole map in pixels at the view's zoom. */
export function mapHeightPx(view: MapView): number {
  return view.layout.totalRows * view.cellPx;
}

/** `view` with its scroll kept inside [0, map height - canvas height]. */
export function clampScroll(view: MapView, heightPx: number): MapView {
  const scrollPx = Math.max(0, Math.min(view.scrollPx, mapHeightPx(view) - heightPx));
  return scrollPx === view.scrollPx ? view : { ...view, scrollPx };
}

/**
 * The largest zoom (at most `maxPxPerPage`) at which the whole map fits `heightPx`. When even one
 * row per segment does not fit (very many segments), the zoom at which every segment is one row:
 * zooming out further would change nothing, and the map scrolls.
 */
export function fitZoom(
  segments: readonly SegmentExtent[],
  widthPx: number,
  heightPx: number,
  maxPxPerPage: number,
  options: ViewOptions = {},
): number {
  const originX = options.originX ?? 0;
  const separatorRows = options.separatorRows ?? 1;
  const rowsAt = (pagesPerRow: number): number =>
    layoutSegments(segments, pagesPerRow, separatorRows).totalRows;
  for (let cellPx = Math.floor(maxPxPerPage); cellPx >= 1; cellPx--) {
    const columns = Math.max(1, Math.floor((widthPx - originX) / cellPx));
    if (rowsAt(columns) * cellPx <= heightPx) return cellPx;
  }
  const columns = Math.max(1, widthPx - originX);
  let largestPages = 1;
  for (const segment of segments) largestPages = Math.max(largestPages, segment.pages);
  // Rows never grow as pages per pixel grow, so the smallest n that fits is found by bisection.
  let lo = 2;
  let hi = Math.max(2, Math.ceil(largestPages / columns));
  if (rowsAt(hi * columns) > heightPx) return 1 / hi;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (rowsAt(mid * columns) <= heightPx) hi = mid;
    else lo = mid + 1;
  }
  return 1 / lo;
}

/** Map row under canvas pixel row `y`, or -1 above the map. */
function rowAtY(view: MapView, y: number): number {
  const mapY = view.scrollPx + Math.floor(y);
  return mapY < 0 ? -1 : Math.floor(mapY / view.cellPx);
}

/**
 * Pages under canvas pixel (x, y) as [first, end), or null where no page is drawn. A cell's gap
 * pixels count as the cell, so hovering does not flicker between cells.
 */
export function pageSpanAtPixel(view: MapView, x: number, y: number): readonly [number, number] | null {
  const { layout, cellPx, pagesPerPixel } = view;
  const row = rowAtY(view, y);
  const s = segmentOfRow(layout, row);
  if (s < 0) return null;
  const px = Math.floor(x) - view.originX;
  if (px < 0) return null;
  const rowFirst = layout.segmentPageStart[s] + (row - layout.segmentRowStart[s]) * layout.pagesPerRow;
  const rowEnd = Math.min(rowFirst + layout.pagesPerRow, layout.segmentPageStart[s + 1]);
  const first = rowFirst + Math.floor(px / cellPx) * pagesPerPixel;
  if (first >= rowEnd) return null;
  return [first, Math.min(first + pagesPerPixel, rowEnd)];
}

/** First page under canvas pixel (x, y), or null. */
export function pageAtPixel(view: MapView, x: number, y: number): number | null {
  return pageSpanAtPixel(view, x, y)?.[0] ?? null;
}

export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Where a page is drawn on the canvas (may lie outside it when scrolled away); gaps excluded. */
export function pageRect(view: MapView, page: number): PixelRect {
  const { layout, cellPx, pagesPerPixel } = view;
  const row = pageRow(layout, page);
  const column = pageColumn(layout, page);
  const side = cellPx - cellGapPx(cellPx);
  return {
    x: view.originX + Math.floor(column / pagesPerPixel) * cellPx,
    y: row * cellPx - view.scrollPx,
    width: side,
    height: side,
  };
}

/**
 * Scroll for `next` (the same segments at another zoom) that keeps what is under canvas row
 * `pointerY` in place: the page under the pointer when there is one, else the same fraction of the
 * map. Zooming reflows rows, so the pointer's page keeps its height but may move sideways.
 */
export function scrollKeepingPointer(
  current: MapView,
  next: MapView,
  pointerX: number,
  pointerY: number,
): number {
  const rowExact = (current.scrollPx + pointerY) / current.cellPx;
  const row = Math.floor(rowExact);
  const s = segmentOfRow(current.layout, row);
  if (s >= 0) {
    const { layout } = current;
    const rowFirst = layout.segmentPageStart[s] + (row - layout.segmentRowStart[s]) * layout.pagesPerRow;
    const rowLast = Math.min(rowFirst + layout.pagesPerRow, layout.segmentPageStart[s + 1]) - 1;
    const column =
      Math.max(0, Math.floor((pointerX - current.originX) / current.cellPx)) * current.pagesPerPixel;
    const page = Math.min(rowFirst + column, rowLast);
    const nextRow = pageRow(next.layout, page);
    return Math.max(0, Math.floor((nextRow + (rowExact - row)) * next.cellPx - pointerY));
  }
  const fraction = current.layout.totalRows > 0 ? rowExact / current.layout.totalRows : 0;
  return Math.max(0, Math.round(fraction * next.layout.totalRows * next.cellPx - pointerY));
}
