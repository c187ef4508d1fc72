// PolyBench/GPU fdtd-2d as a GPU workload: a 2-D finite-difference time-domain stencil over
// three row-major float grids (Ganguly et al., ISCA 2019: NX = NY = 1200, tmax = 5). Every time
// step launches three kernels over a (ceil(NY / 32), ceil(NX / 8)) grid of 32 x 8 blocks; each
// warp is one row segment of 32 columns, and each kernel sweeps whole arrays, so all three grids
// are re-read every step.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { arrayBases, FLOAT_BYTES, hostStep, kernelStep, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const BLOCK_X = 32;
const BLOCK_Y = 8;
/** The host prints every 1000th element of hz at the end. */
const DUMP_STRIDE = 1000;

export const fdtd2dParams = z.strictObject({
  nx: z.number().int().min(1).max(16384).default(1200).describe('rows of the grids (NX)'),
  ny: z.number().int().min(1).max(16384).default(1200).describe('columns of the grids (NY)'),
  tmax: z.number().int().min(1).max(10000).default(5).describe('time steps; each launches three kernels'),
});
export type Fdtd2dParams = z.output<typeof fdtd2dParams>;

function fdtdArrays({ nx, ny, tmax }: Fdtd2dParams): ManagedArray[] {
  // init_arrays writes all four on the host before the first kernel.
  return [
    { name: '_fict_', bytes: tmax * FLOAT_BYTES, hostInit: true },
    { name: 'ex', bytes: nx * (ny + 1) * FLOAT_BYTES, hostInit: true },
    { name: 'ey', bytes: (nx + 1) * ny * FLOAT_BYTES, hostInit: true },
    { name: 'hz', bytes: nx * ny * FLOAT_BYTES, hostInit: true },
  ];
}

function* fdtdSteps(p: Fdtd2dParams, arrays: ManagedArray[], layout: ArrayLayout): Iterable<WorkloadStep> {
  const { nx, ny, tmax } = p;
  const [fict, ex, ey, hz] = arrayBases(layout, arrays);
  const gridX = Math.ceil(ny / BLOCK_X);
  const blocks = gridX * Math.ceil(nx / BLOCK_Y);
  const f = FLOAT_BYTES;
  const exRow = ny + 1;

  /** Calls `warp(i, j0, j1)` for each warp of block `b` with a row inside the grid. */
  const eachWarp = (
    b: number,
    out: AccessBuffer,
    warp: (out: AccessBuffer, i: number, j0: number, j1: number) => void,
  ): void => {
    const bx = b % gridX;
    const by = (b - bx) / gridX;
    const j0 = bx * BLOCK_X;
    const j1 = Math.min(j0 + BLOCK_X, ny) - 1;
    for (let w = 0; w < BLOCK_Y; w++) {
      const i = by * BLOCK_Y + w;
      if (i < nx) warp(out, i, j0, j1);
    }
  };

  for (let t = 0; t < tmax; t++) {
    // ey[i][j] -= 0.5 (hz[i][j] - hz[i-1][j]); row 0 takes _fict_[t].
    const step1 = (out: AccessBuffer, i: number, j0: number, j1: number): void => {
      if (i === 0) {
        pushElements(out, fict, t, t, f, false);
      } else {
        pushElements(out, ey, i * ny + j0, i * ny + j1, f, false);
        pushElements(out, hz, i * ny + j0, i * ny + j1, f, false);
        pushElements(out, hz, (i - 1) * ny + j0, (i - 1) * ny + j1, f, false);
      }
      pushElements(out, ey, i * ny + j0, i * ny + j1, f, true);
    };
    yield kernelStep('fdtd_step1_kernel', blocks, (b, out) => eachWarp(b, out, step1));

    // ex[i][j] -= 0.5 (hz[i][j] - hz[i][j-1]) for j > 0.
    const step2 = (out: AccessBuffer, i: number, j0: number, j1: number): void => {
      const first = Math.max(j0, 1);
      if (first > j1) return;
      pushElements(out, ex, i * exRow + first, i * exRow + j1, f, false);
      pushElements(out, hz, i * ny + first, i * ny + j1, f, false);
      pushElements(out, hz, i * ny + first - 1, i * ny + j1 - 1, f, false);
      pushElements(out, ex, i * exRow + first, i * exRow + j1, f, true);
    };
    yield kernelStep('fdtd_step2_kernel', blocks, (b, out) => eachWarp(b, out, step2));

    // hz[i][j] -= 0.7 (ex[i][j+1] - ex[i][j] + ey[i+1][j] - ey[i][j]).
    const step3 = (out: AccessBuffer, i: number, j0: number, j1: number): void => {
      pushElements(out, hz, i * ny + j0, i * ny + j1, f, false);
      pushElements(out, ex, i * exRow + j0 + 1, i * exRow + j1 + 1, f, false);
      pushElements(out, ex, i * exRow + j0, i * exRow + j1, f, false);
      pushElements(out, ey, (i + 1) * ny + j0, (i + 1) * ny + j1, f, false);
      pushElements(out, ey, i * ny + j0, i * ny + j1, f, false);
      pushElements(out, hz, i * ny + j0, i * ny + j1, f, true);
    };
    yield kernelStep('fdtd_step3_kernel', blocks, (b, out) => eachWarp(b, out, step3));
  }

  // main() prints hz[0], hz[1000], ...: 4000-byte strides, so every page up to the last one read.
  const last = Math.floor((nx * ny - 1) / DUMP_STRIDE) * DUMP_STRIDE;
  yield hostStep('print hz', layout, 'hz', 0, (last + 1) * f - 1, false);
}

/**
 * PolyBench/GPU fdtd-2d (Ganguly et al.'s input: 1200 x 1200, 5 steps, 15 kernels).
 *
 * @example fdtd2d.build(fdtd2dParams.parse({ nx: 64, ny: 64, tmax: 2 }), 0).arrays.map((a) => a.name)
 * // ['_fict_', 'ex', 'ey', 'hz']
 */
export const fdtd2d: WorkloadDefinition<Fdtd2dParams> = {
  name: 'fdtd',
  aliases: ['fdtd-2d', 'fdtd2d'],
  description:
    'PolyBench fdtd-2d: 2-D stencil, three kernels per time step each sweeping whole row-major grids',
  kind: 'regular',
  params: fdtd2dParams,
  build(p): GpuWorkload {
    const arrays = fdtdArrays(p);
    return { name: 'fdtd', arrays, steps: (layout) => fdtdSteps(p, arrays, layout) };
  },
};
