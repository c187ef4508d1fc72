// Rodinia pathfinder as a GPU workload: dynamic programming down a grid of ints, one row at a time
// (Ganguly et al., ISCA 2019: 50000 columns, 200 rows, pyramid height 10 = 20 kernels). Each kernel
// advances `pyramidHeight` rows in shared memory, so it streams those rows of `gpuWall` exactly once
// and reads and writes one row-sized result buffer (the two buffers ping-pong). Blocks are 256
// threads (8 warps) that overlap their neighbours by the pyramid's halo.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { arrayBases, hostArrayStep, INT_BYTES, kernelStep, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const BLOCK = 256;
const WARP = 32;
const HALO = 1;
/** Cells of the wall at most (1 GiB of ints), so a layout stays far below the region limit. */
const WALL_CELLS_MAX = 2 ** 28;

export const pathfinderParams = z
  .strictObject({
    cols: z
      .number()
      .int()
      .min(1)
      .max(2 ** 24)
      .default(50000)
      .describe('columns of the grid (row_len)'),
    rows: z
      .number()
      .int()
      .min(2)
      .max(2 ** 20)
      .default(200)
      .describe('rows of the grid; the wall is rows - 1 of them'),
    pyramidHeight: z
      .number()
      .int()
      .min(1)
      .max(127)
      .default(10)
      .describe('rows each kernel advances; kernels = ceil((rows - 1) / pyramidHeight)'),
  })
  .refine((p) => (p.rows - 1) * p.cols <= WALL_CELLS_MAX, {
    message: `the wall ((rows - 1) x cols) may hold at most ${WALL_CELLS_MAX} ints`,
    path: ['rows'],
  });
export type PathfinderParams = z.output<typeof pathfinderParams>;

function* pathfinderSteps(
  p: PathfinderParams,
  arrays: ManagedArray[],
  layout: ArrayLayout,
): Iterable<WorkloadStep> {
  const { cols, rows } = p;
  const pyramid = p.pyramidHeight;
  const [result0, result1, wall] = arrayBases(layout, arrays);
  const blocks = Math.ceil(cols / (BLOCK - 2 * pyramid * HALO));
  const border = pyramid * HALO;
  const e = INT_BYTES;

  let k = 0;
  for (let t = 0; t < rows - 1; t += pyramid, k++) {
    const iteration = Math.min(pyramid, rows - t - 1);
    const src = k % 2 === 0 ? result0 : result1;
    const dst = k % 2 === 0 ? result1 : result0;
    const small = BLOCK - 2 * iteration * HALO;
    yield kernelStep('dynproc_kernel', blocks, (bx: number, out: AccessBuffer) => {
      const blkX = small * bx - border;
      // Threads whose column is inside the grid (isValid), as block-relative [v0, v1].
      const v0 = Math.max(0, -blkX);
      const v1 = Math.min(BLOCK - 1, cols - 1 - blkX);
      for (let w = 0; w < BLOCK; w += WARP) {
        const t0 = Math.max(w, v0);
        const t1 = Math.min(w + WARP - 1, v1);
        pushElements(out, src, blkX + t0, blkX + t1, e, false);
      }
      // Step i computes threads [i + 1, BLOCK - i - 2]; a barrier separates the steps.
      for (let i = 0; i < iteration; i++) {
        const row = cols * (t + i) + blkX;
        for (let w = 0; w < BLOCK; w += WARP) {
          const t0 = Math.max(w, v0, i + 1);
          const t1 = Math.min(w + WARP - 1, v1, BLOCK - i - 2);
          pushElements(out, wall, row + t0, row + t1, e, false);
        }
      }
      for (let w = 0; w < BLOCK; w += WARP) {
        const t0 = Math.max(w, v0, iteration);
        const t1 = Math.min(w + WARP - 1, v1, BLOCK - iteration - 1);
        pushElements(out, dst, blkX + t0, blkX + t1, e, true);
      }
    });
  }
  // BENCH_PRINT prints the result buffer the last kernel wrote.
  yield hostArrayStep('print result', layout, k % 2 === 1 ? arrays[1] : arrays[0], false);
}

/**
 * Rodinia pathfinder (Ganguly et al.'s input: 50000 x 200, pyramid 10: 20 kernels).
 *
 * @example pathfinder.build(pathfinderParams.parse({ cols: 1000, rows: 21 }), 0).arrays[2].bytes // 80000
 */
export const pathfinder: WorkloadDefinition<PathfinderParams> = {
  name: 'pathfinder',
  description:
    'Rodinia pathfinder: each kernel streams pyramidHeight rows of the wall once; small ping-pong rows',
  kind: 'regular',
  params: pathfinderParams,
  build(p): GpuWorkload {
    const rowBytes = p.cols * INT_BYTES;
    // init() fills gpuResult[0] (row 0) and the wall (rows 1..) on the host.
    const arrays: ManagedArray[] = [
      { name: 'gpuResult0', bytes: rowBytes, hostInit: true },
      { name: 'gpuResult1', bytes: rowBytes, hostInit: false },
      { name: 'gpuWall', bytes: (p.rows - 1) * rowBytes, hostInit: true },
    ];
    return { name: 'pathfinder', arrays, steps: (layout) => pathfinderSteps(p, arrays, layout) };
  },
};
