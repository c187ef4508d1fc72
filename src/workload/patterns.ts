// Access patterns: how a CPU thread, a GPU kernel or an accelerator walks a region. Each pattern
// becomes an AccessStream of page offsets inside the region: streaming (sequential), strided,
// stencil (a 3-row neighbourhood over a grid of rows), random (seeded), or a recorded page trace.

import type { AccessStream } from '../sim/accessStream.js';
import { InputError, type InputLocation } from '../sim/errors.js';
import { Rng } from '../sim/rng.js';

export type PatternSpec =
  | { readonly kind: 'sequential'; readonly passes: number }
  | { readonly kind: 'strided'; readonly stride: number; readonly lanes?: number; readonly passes: number }
  | { readonly kind: 'random'; readonly count: number; readonly seed?: number }
  | { readonly kind: 'stencil'; readonly rowPages: number; readonly iterations: number }
  | { readonly kind: 'trace'; readonly file: string };

/** A page-access trace: page offsets, in order. */
export type PageTrace = Int32Array;

class Sequential implements AccessStream {
  private i = 0;
  constructor(
    private readonly pages: number,
    private readonly total: number,
  ) {}
  next(): number {
    return this.i < this.total ? this.i++ % this.pages : -1;
  }
}

class Strided implements AccessStream {
  private pass = 0;
  private lane = 0;
  private pos = 0;
  private readonly lanes: number;
  constructor(
    private readonly pages: number,
    private readonly stride: number,
    lanes: number,
    private readonly passes: number,
  ) {
    this.lanes = Math.min(lanes, stride, pages);
  }
  /** Lane l visits l, l + stride, l + 2 stride, ...; `lanes` of them per pass (all: every page). */
  next(): number {
    for (;;) {
      if (this.pass >= this.passes) return -1;
      const p = this.lane + this.pos * this.stride;
      if (p < this.pages) {
        this.pos++;
        return p;
      }
      this.pos = 0;
      this.lane++;
      if (this.lane >= this.lanes) {
        this.lane = 0;
        this.pass++;
      }
    }
  }
}

class RandomPages implements AccessStream {
  private left: number;
  constructor(
    private readonly pages: number,
    count: number,
    private readonly rng: Rng,
  ) {
    this.left = count;
  }
  next(): number {
    if (this.left <= 0) return -1;
    this.left--;
    return this.rng.below(this.pages);
  }
}

/** Rows of `rowPages` pages; for each row r of each iteration, rows r-1, r and r+1 in turn. */
class Stencil implements AccessStream {
  private readonly rows: number;
  private iter = 0;
  private row = 0;
  private k = 0;
  private col = 0;
  constructor(
    pages: number,
    private readonly rowPages: number,
    private readonly iterations: number,
  ) {
    this.rows = Math.max(1, Math.floor(pages / rowPages));
  }
  next(): number {
    for (;;) {
      if (this.iter >= this.iterations) return -1;
      if (this.col < this.rowPages) {
        const r = this.row + this.k - 1;
        if (r >= 0 && r < this.rows) return r * this.rowPages + this.col++;
        this.col = this.rowPages;
        continue;
      }
      this.col = 0;
      if (++this.k < 3) continue;
      this.k = 0;
      if (++this.row < this.rows) continue;
      this.row = 0;
      this.iter++;
    }
  }
}

class TraceStream implements AccessStream {
  private i = 0;
  constructor(
    private readonly trace: PageTrace,
    private readonly pages: number,
  ) {}
  next(): number {
    while (this.i < this.trace.length) {
      const p = this.trace[this.i++];
      if (p < this.pages) return p;
    }
    return -1;
  }
}

/**
 * The stream of a pattern over a region of `pages` pages. `rng` drives random patterns without an
 * explicit seed; `traces` holds the traces the loader read, by file name.
 */
export function makeStream(
  spec: PatternSpec,
  pages: number,
  rng: Rng,
  traces: ReadonlyMap<string, PageTrace> = new Map(),
): AccessStream {
  switch (spec.kind) {
    case 'sequential':
      return new Sequential(pages, pages * spec.passes);
    case 'strided':
      return new Strided(pages, spec.stride, spec.lanes ?? spec.stride, spec.passes);
    case 'random':
      // An explicit seed fixes the pages whatever the run's seed is.
      return new RandomPages(pages, spec.count, spec.seed === undefined ? rng : new Rng(spec.seed));
    case 'stencil':
      return new Stencil(pages, spec.rowPages, spec.iterations);
    case 'trace': {
      const t = traces.get(spec.file);
      if (t === undefined) throw new RangeError(`trace ${spec.file} was not loaded`);
      return new TraceStream(t, pages);
    }
  }
}

/**
 * Reads a page-access trace: one access per line, a page offset in decimal or 0x-hex, optionally
 * after an `R` or `W`; `#` starts a comment. Errors name the file and line.
 */
export function parsePageTrace(text: string, file: string): PageTrace {
  const out: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^(?:[RWrw]\s+)?(0x[0-9a-fA-F]+|\d+)$/.exec(line);
    const loc: InputLocation = { file, line: i + 1, column: 1 };
    if (m === null)
      throw new InputError(
        loc,
        'a page offset (decimal or 0x-hex), optionally after R or W',
        JSON.stringify(line),
      );
    const v = Number(m[1]);
    if (!Number.isSafeInteger(v) || v > 0x7fffffff)
      throw new InputError(loc, 'a page offset below 2^31', m[1]);
    out.push(v);
  }
  return Int32Array.from(out);
}
