// fdtd-2d against page maps computed here from the PolyBench loop nest (ganguly2019.md §6): which
// pages each kernel reads and writes, block by block for a small grid and kernel by kernel for the
// paper's 1200 x 1200 input.

import { describe, expect, it } from 'vitest';
import { fdtd2d, fdtd2dParams } from './fdtd2d.js';
import {
  PAGE_READ,
  PAGE_WRITE,
  pageFlagDifferences as differences,
  pageFlags as touched,
} from './inspect.js';
import { layoutArrays } from './layout.js';
import type { ArrayLayout, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;
const READ = PAGE_READ;
const WRITE = PAGE_WRITE;

/** The pages of the cells kernel `kernel` (1, 2, 3) reads and writes over rows x cols. */
function expected(
  layout: ArrayLayout,
  size: { nx: number; ny: number },
  kernel: number,
  t: number,
  rows: [number, number],
  cols: [number, number],
): Uint8Array {
  const { nx, ny } = size;
  const map = new Uint8Array(layout.totalPages);
  const base = {
    fict: layout.offset('_fict_'),
    ex: layout.offset('ex'),
    ey: layout.offset('ey'),
    hz: layout.offset('hz'),
  };
  const mark = (arrayBase: number, index: number, flag: number): void => {
    map[arrayBase + Math.floor((index * 4) / 4096)] |= flag;
  };
  for (let i = rows[0]; i <= Math.min(rows[1], nx - 1); i++) {
    for (let j = cols[0]; j <= Math.min(cols[1], ny - 1); j++) {
      if (kernel === 1) {
        // ey[i][j] = i == 0 ? _fict_[t] : ey[i][j] - 0.5 (hz[i][j] - hz[i-1][j])
        if (i === 0) mark(base.fict, t, READ);
        else {
          mark(base.ey, i * ny + j, READ);
          mark(base.hz, i * ny + j, READ);
          mark(base.hz, (i - 1) * ny + j, READ);
        }
        mark(base.ey, i * ny + j, WRITE);
      } else if (kernel === 2) {
        // ex[i][j] -= 0.5 (hz[i][j] - hz[i][j-1]), j > 0; ex rows are ny + 1 long
        if (j === 0) continue;
        mark(base.ex, i * (ny + 1) + j, READ);
        mark(base.hz, i * ny + j, READ);
        mark(base.hz, i * ny + j - 1, READ);
        mark(base.ex, i * (ny + 1) + j, WRITE);
      } else {
        // hz[i][j] -= 0.7 (ex[i][j+1] - ex[i][j] + ey[i+1][j] - ey[i][j])
        mark(base.hz, i * ny + j, READ);
        mark(base.ex, i * (ny + 1) + j + 1, READ);
        mark(base.ex, i * (ny + 1) + j, READ);
        mark(base.ey, (i + 1) * ny + j, READ);
        mark(base.ey, i * ny + j, READ);
        mark(base.hz, i * ny + j, WRITE);
      }
    }
  }
  return map;
}

describe('fdtd-2d', () => {
  it('every block of every kernel touches exactly the pages of its 8 rows x 32 columns (small grid)', () => {
    const size = { nx: 19, ny: 1100 };
    const w = fdtd2d.build(fdtd2dParams.parse({ ...size, tmax: 2 }), 0);
    const layout = layoutArrays(w.arrays);
    const kernels = [...w.steps(layout)].filter((s): s is Kernel => s.kind === 'kernel');
    expect(kernels.map((k) => k.name)).toEqual([1, 2, 3, 1, 2, 3].map((n) => `fdtd_step${n}_kernel`));
    const gridX = Math.ceil(1100 / 32);
    for (const [k, step] of kernels.entries()) {
      expect(step.grid.blocks).toBe(gridX * Math.ceil(19 / 8));
      const got = touched(step.grid, layout.totalPages, true);
      expect(got).toHaveLength(step.grid.blocks);
      for (let b = 0; b < step.grid.blocks; b++) {
        const bx = b % gridX;
        const by = Math.floor(b / gridX);
        const rows: [number, number] = [8 * by, 8 * by + 7];
        const want = expected(layout, size, (k % 3) + 1, Math.floor(k / 3), rows, [32 * bx, 32 * bx + 31]);
        expect(differences(got[b], want), `kernel ${k} block ${b}`).toEqual([]);
      }
    }
  });

  it("at the paper's input (1200 x 1200, tmax 5): 15 kernels, each touching exactly its statement's pages", () => {
    const w = fdtd2d.build(fdtd2dParams.parse({}), 0);
    const layout = layoutArrays(w.arrays);
    const steps = [...w.steps(layout)];
    const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
    expect(kernels).toHaveLength(15);
    expect(kernels[0].grid.blocks).toBe(38 * 150);
    const size = { nx: 1200, ny: 1200 };
    const whole: [number, number] = [0, 1199];
    // _fict_[t] is on page 0 for every t, so one map per kernel of a step serves all five steps.
    const want = [1, 2, 3].map((k) => expected(layout, size, k, 0, whole, whole));
    for (const [k, step] of kernels.entries()) {
      expect(differences(touched(step.grid, layout.totalPages)[0], want[k % 3]), `kernel ${k}`).toEqual([]);
    }
    // Step 3 alone reaches every page of ex, ey and hz.
    expect(want[2].reduce((n, f) => n + (f === 0 ? 0 : 1), 0)).toBe(1408 + 1408 + 1407);
    // The host then prints hz[0], hz[1000], ..., hz[1439000].
    expect(steps[steps.length - 1]).toEqual({
      kind: 'host',
      name: 'print hz',
      firstPage: layout.offset('hz'),
      lastPage: layout.offset('hz') + Math.floor((1439000 * 4) / 4096),
      write: false,
    });
  });
});
