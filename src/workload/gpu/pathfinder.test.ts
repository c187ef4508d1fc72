// pathfinder against page maps computed here from dynproc_kernel's arithmetic (ganguly2019.md §6):
// kernel k advances rows t .. t + iteration - 1 (t = k x pyramidHeight), so it reads exactly those
// rows of the wall, once, and ping-pongs between the two result rows.

import { describe, expect, it } from 'vitest';
import { PAGE_READ, PAGE_WRITE, pageFlagDifferences, pageFlags } from './inspect.js';
import { layoutArrays } from './layout.js';
import { pathfinder, pathfinderParams } from './pathfinder.js';
import type { ArrayLayout, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;

/** Pages block bx of the kernel starting at row t reads and writes. */
function expectedBlock(
  layout: ArrayLayout,
  p: { cols: number; pyramid: number; t: number; iteration: number; src: string; dst: string },
  bx: number,
): Uint8Array {
  const map = new Uint8Array(layout.totalPages);
  const page = (array: string, index: number): number =>
    layout.offset(array) + Math.floor((index * 4) / 4096);
  const blkX = (256 - 2 * p.iteration) * bx - p.pyramid;
  for (let tx = 0; tx < 256; tx++) {
    const x = blkX + tx;
    if (x < 0 || x >= p.cols) continue;
    map[page(p.src, x)] |= PAGE_READ;
    for (let i = 0; i < p.iteration; i++) {
      if (tx >= i + 1 && tx <= 256 - i - 2) map[page('gpuWall', p.cols * (p.t + i) + x)] |= PAGE_READ;
    }
    if (tx >= p.iteration && tx <= 255 - p.iteration) map[page(p.dst, x)] |= PAGE_WRITE;
  }
  return map;
}

/** Kernel-wide map: wall rows [first, last] read, all of src read, all of dst written. */
function expectedKernel(layout: ArrayLayout, cols: number, rows: [number, number], src: string, dst: string) {
  const map = new Uint8Array(layout.totalPages);
  const resultPages = Math.ceil((cols * 4) / 4096);
  for (let r = 0; r < resultPages; r++) {
    map[layout.offset(src) + r] = PAGE_READ;
    map[layout.offset(dst) + r] = PAGE_WRITE;
  }
  const first = Math.floor((rows[0] * cols * 4) / 4096);
  const last = Math.floor(((rows[1] + 1) * cols * 4 - 1) / 4096);
  for (let q = first; q <= last; q++) map[layout.offset('gpuWall') + q] = PAGE_READ;
  return map;
}

const results = ['gpuResult0', 'gpuResult1'];

describe('pathfinder', () => {
  it('every block touches exactly its columns, rows t .. t + iteration - 1 of the wall (small grid)', () => {
    const cols = 1000;
    const w = pathfinder.build(pathfinderParams.parse({ cols, rows: 24, pyramidHeight: 5 }), 0);
    const layout = layoutArrays(w.arrays);
    const steps = [...w.steps(layout)];
    const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
    // ceil(1000 / (256 - 2 x 5)) = 5 blocks of 256 threads.
    expect(kernels.map((k) => k.grid.blocks)).toEqual([5, 5, 5, 5, 5]);
    for (const [k, step] of kernels.entries()) {
      const t = 5 * k;
      const iteration = Math.min(5, 24 - t - 1);
      const got = pageFlags(step.grid, layout.totalPages, true);
      for (let bx = 0; bx < 5; bx++) {
        const p = { cols, pyramid: 5, t, iteration, src: results[k % 2], dst: results[1 - (k % 2)] };
        expect(pageFlagDifferences(got[bx], expectedBlock(layout, p, bx)), `kernel ${k} block ${bx}`).toEqual(
          [],
        );
      }
      const whole = expectedKernel(
        layout,
        cols,
        [t, t + iteration - 1],
        results[k % 2],
        results[1 - (k % 2)],
      );
      expect(pageFlagDifferences(pageFlags(step.grid, layout.totalPages)[0], whole)).toEqual([]);
    }
    // Five kernels: the last wrote gpuResult1, which BENCH_PRINT prints.
    expect(steps[steps.length - 1]).toMatchObject({ kind: 'host', firstPage: layout.offset('gpuResult1') });
  });

  it("at the paper's input (50000 x 200, pyramid 10): kernel k reads exactly rows 10k .. 10k + 9 of the wall", () => {
    const w = pathfinder.build(pathfinderParams.parse({}), 0);
    const layout = layoutArrays(w.arrays);
    const kernels = [...w.steps(layout)].filter((s): s is Kernel => s.kind === 'kernel');
    expect(kernels).toHaveLength(20);
    for (const [k, step] of kernels.entries()) {
      expect(step.grid.blocks).toBe(Math.ceil(50000 / 236));
      // The wall has 199 rows, so the last kernel advances 9.
      const rows: [number, number] = [10 * k, Math.min(10 * k + 9, 198)];
      const want = expectedKernel(layout, 50000, rows, results[k % 2], results[1 - (k % 2)]);
      expect(pageFlagDifferences(pageFlags(step.grid, layout.totalPages)[0], want), `kernel ${k}`).toEqual(
        [],
      );
    }
  });
});
