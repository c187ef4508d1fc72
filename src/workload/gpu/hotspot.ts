// Rodinia hotspot as a GPU workload: a transient thermal simulation over a square float grid
// (Ganguly et al., ISCA 2019: 1024 x 1024, pyramid height 2, 8 iterations = 4 kernels). Each
// 16 x 16 block loads a tile of the temperature and power grids (with 1024 columns a tile row is
// one page, so 16 pages of each), steps the pyramid in shared memory, and writes the interior
// (16 - 2 x pyramid)^2 cells to the other temperature buffer: the two buffers ping-pong.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { arrayBases, FLOAT_BYTES, hostArrayStep, kernelStep, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const BLOCK = 16;
const WARPS = (BLOCK * BLOCK) / 32;

export const hotspotParams = z.strictObject({
  gridSize: z.number().int().min(1).max(16384).default(1024).describe('rows = columns of the grid'),
  pyramidHeight: z
    .number()
    .int()
    .min(1)
    .max(7)
    .default(2)
    .describe('time steps each kernel computes in shared memory (a block writes 16 - 2 x this per side)'),
  iterations: z
    .number()
    .int()
    .min(1)
    .max(100000)
    .default(8)
    .describe('total time steps (sim_time); kernels = ceil(iterations / pyramidHeight)'),
});
export type HotspotParams = z.output<typeof hotspotParams>;

function hotspotArrays(gridSize: number): ManagedArray[] {
  const bytes = gridSize * gridSize * FLOAT_BYTES;
  // readinput fills MatrixTemp[0] and MatrixPower; MatrixTemp[1] is first written by the GPU.
  return [
    { name: 'MatrixTemp0', bytes, hostInit: true },
    { name: 'MatrixTemp1', bytes, hostInit: false },
    { name: 'MatrixPower', bytes, hostInit: true },
  ];
}

function* hotspotSteps(
  p: HotspotParams,
  arrays: ManagedArray[],
  layout: ArrayLayout,
): Iterable<WorkloadStep> {
  const n = p.gridSize;
  const pyramid = p.pyramidHeight;
  const [temp0, temp1, power] = arrayBases(layout, arrays);
  // The grid and the border come from the pyramid height; the kernel's own `iteration` argument
  // (shorter for a last partial pyramid) sets its small block.
  const gridX = Math.ceil(n / (BLOCK - 2 * pyramid));
  const blocks = gridX * gridX;
  const border = pyramid;
  const f = FLOAT_BYTES;

  let k = 0;
  for (let t = 0; t < p.iterations; t += pyramid, k++) {
    const iteration = Math.min(pyramid, p.iterations - t);
    const src = k % 2 === 0 ? temp0 : temp1;
    const dst = k % 2 === 0 ? temp1 : temp0;
    const small = BLOCK - 2 * iteration;
    yield kernelStep('calculate_temp', blocks, (b: number, out: AccessBuffer) => {
      const bx = b % gridX;
      const by = (b - bx) / gridX;
      const blkY = small * by - border;
      const blkX = small * bx - border;
      // Columns of the tile inside the grid, and the columns the last pyramid step computes.
      const x0 = Math.max(blkX, 0);
      const x1 = Math.min(blkX + BLOCK - 1, n - 1);
      const cx0 = Math.max(blkX + iteration, x0);
      const cx1 = Math.min(blkX + BLOCK - 1 - iteration, x1);
      for (let w = 0; w < WARPS; w++) {
        for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
          const y = blkY + ty;
          if (y >= 0 && y < n) pushElements(out, src, y * n + x0, y * n + x1, f, false);
        }
        for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
          const y = blkY + ty;
          if (y >= 0 && y < n) pushElements(out, power, y * n + x0, y * n + x1, f, false);
        }
      }
      for (let w = 0; w < WARPS; w++) {
        for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
          const y = blkY + ty;
          if (ty < iteration || ty > BLOCK - 1 - iteration || y < 0 || y >= n) continue;
          pushElements(out, dst, y * n + cx0, y * n + cx1, f, true);
        }
      }
    });
  }
  // compute_tran_temp returns the buffer the last kernel wrote; writeoutput prints all of it.
  const result = k % 2 === 1 ? arrays[1] : arrays[0];
  yield hostArrayStep('writeoutput', layout, result, false);
}

/**
 * Rodinia hotspot (Ganguly et al.'s input: 1024 x 1024, pyramid 2, 8 iterations: 4 kernels).
 *
 * @example hotspot.build(hotspotParams.parse({ gridSize: 64 }), 0).arrays[0].bytes // 16384
 */
export const hotspot: WorkloadDefinition<HotspotParams> = {
  name: 'hotspot',
  description: 'Rodinia hotspot: tiled 2-D stencil, 16 x 16 tiles with halos, ping-pong temperature buffers',
  kind: 'regular',
  params: hotspotParams,
  build(p): GpuWorkload {
    const arrays = hotspotArrays(p.gridSize);
    return { name: 'hotspot', arrays, steps: (layout) => hotspotSteps(p, arrays, layout) };
  },
};
