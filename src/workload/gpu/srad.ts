// Rodinia srad_v2 as a GPU workload: speckle-reducing anisotropic diffusion over a float image
// (Ganguly et al., ISCA 2019: 3072 rows x 1024 columns, 4 iterations = 8 kernels). Only the image
// `J_shared` is managed; the coefficient arrays (C, E, W, N, S) are cudaMalloc'd device memory,
// which never faults, so their accesses are not part of the workload. Each iteration the host
// reads the region of interest, then srad_cuda_1 loads each 16 x 16 tile of J with a one-cell
// halo (north and south rows, west and east columns) and srad_cuda_2 reads and rewrites the tile.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import { arrayBases, FLOAT_BYTES, kernelStep, pushElement, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const BLOCK = 16;
const WARPS = (BLOCK * BLOCK) / 32;

const side = (what: string, dflt: number) =>
  z
    .number()
    .int()
    .min(BLOCK)
    .max(16384)
    .multipleOf(BLOCK)
    .default(dflt)
    .describe(`${what} of the image (a multiple of 16)`);
const corner = (what: string, dflt: number) =>
  z.number().int().min(0).max(16383).default(dflt).describe(what);

export const sradParams = z
  .strictObject({
    rows: side('rows', 3072),
    cols: side('columns', 1024),
    // The workingset file gives no speckle region; these are the run script's (0 127 0 127).
    r1: corner('first row of the region of interest the host reads (y1)', 0),
    r2: corner('last row of the region of interest (y2)', 127),
    c1: corner('first column of the region of interest (x1)', 0),
    c2: corner('last column of the region of interest (x2)', 127),
    iterations: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(4)
      .describe('iterations; each launches two kernels'),
  })
  .refine((p) => p.r1 <= p.r2 && p.r2 < p.rows, {
    message: 'the region of interest needs r1 <= r2 < rows',
    path: ['r2'],
  })
  .refine((p) => p.c1 <= p.c2 && p.c2 < p.cols, {
    message: 'the region of interest needs c1 <= c2 < cols',
    path: ['c2'],
  });
export type SradParams = z.output<typeof sradParams>;

/** Page runs [first, last] (array-relative) the host's region-of-interest loop reads. */
function roiPageRuns(p: SradParams): number[] {
  const runs: number[] = [];
  for (let i = p.r1; i <= p.r2; i++) {
    const first = Math.floor(((i * p.cols + p.c1) * FLOAT_BYTES) / PAGE_SIZE);
    const last = Math.floor(((i * p.cols + p.c2) * FLOAT_BYTES + FLOAT_BYTES - 1) / PAGE_SIZE);
    const n = runs.length;
    if (n > 0 && first <= runs[n - 1] + 1) runs[n - 1] = Math.max(runs[n - 1], last);
    else runs.push(first, last);
  }
  return runs;
}

function* sradSteps(p: SradParams, arrays: ManagedArray[], layout: ArrayLayout): Iterable<WorkloadStep> {
  const { rows, cols } = p;
  const [j] = arrayBases(layout, arrays);
  const gridX = cols / BLOCK;
  const gridY = rows / BLOCK;
  const size = rows * cols;
  const f = FLOAT_BYTES;
  const runs = roiPageRuns(p);

  /** Loads J[index] for both rows of warp w when the index is inside the image. */
  const column = (out: AccessBuffer, base: number, w: number, dx: number): void => {
    for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
      const index = base + cols * ty + dx;
      if (index >= 0 && index < size) pushElement(out, j, index, f, false);
    }
  };

  const srad1 = (b: number, out: AccessBuffer): void => {
    const bx = b % gridX;
    const by = (b - bx) / gridX;
    const base = cols * BLOCK * by + BLOCK * bx;
    // Both rows of a warp load the same north and south cells, so one run per statement.
    for (let w = 0; w < WARPS; w++) {
      if (base - cols >= 0) pushElements(out, j, base - cols, base - cols + BLOCK - 1, f, false);
      const south = base + cols * BLOCK;
      if (south < size) pushElements(out, j, south, south + BLOCK - 1, f, false);
      if (by === 0) pushElements(out, j, BLOCK * bx, BLOCK * bx + BLOCK - 1, f, false);
      else if (by === gridY - 1) {
        const last = base + cols * (BLOCK - 1);
        pushElements(out, j, last, last + BLOCK - 1, f, false);
      }
    }
    // West and east: one cell per row; at the image's side the index wraps into the neighbouring
    // row, and the kernel then loads the edge cell of its own row as well.
    for (let w = 0; w < WARPS; w++) {
      column(out, base, w, -1);
      column(out, base, w, BLOCK);
      if (bx === 0) column(out, base, w, 0);
      else if (bx === gridX - 1) column(out, base, w, BLOCK - 1);
    }
    for (let w = 0; w < WARPS; w++) {
      for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
        const row = base + cols * ty;
        pushElements(out, j, row, row + BLOCK - 1, f, false);
      }
    }
  };

  const srad2 = (b: number, out: AccessBuffer): void => {
    const bx = b % gridX;
    const by = (b - bx) / gridX;
    const base = cols * BLOCK * by + BLOCK * bx;
    for (let write = 0; write < 2; write++) {
      for (let w = 0; w < WARPS; w++) {
        for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
          const row = base + cols * ty;
          pushElements(out, j, row, row + BLOCK - 1, f, write === 1);
        }
      }
    }
  };

  for (let iter = 0; iter < p.iterations; iter++) {
    for (let r = 0; r < runs.length; r += 2) {
      yield {
        kind: 'host',
        name: 'read ROI',
        firstPage: j + runs[r],
        lastPage: j + runs[r + 1],
        write: false,
      };
    }
    yield kernelStep('srad_cuda_1', gridX * gridY, srad1);
    yield kernelStep('srad_cuda_2', gridX * gridY, srad2);
  }
}

/**
 * Rodinia srad_v2 (Ganguly et al.'s input: 3072 x 1024, 4 iterations: 8 kernels).
 *
 * @example srad.build(sradParams.parse({}), 0).arrays // [{ name: 'J_shared', bytes: 12582912, hostInit: true }]
 */
export const srad: WorkloadDefinition<SradParams> = {
  name: 'srad',
  aliases: ['srad_v2', 'srad-v2'],
  description:
    'Rodinia srad_v2: tiled 2-D stencil over one managed image, host reads a region between iterations',
  kind: 'regular',
  params: sradParams,
  build(p): GpuWorkload {
    // random_matrix + exp fill J_shared on the host.
    const arrays: ManagedArray[] = [
      { name: 'J_shared', bytes: p.rows * p.cols * FLOAT_BYTES, hostInit: true },
    ];
    return { name: 'srad', arrays, steps: (layout) => sradSteps(p, arrays, layout) };
  },
};
