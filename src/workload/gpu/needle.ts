// Rodinia nw (needle) as a GPU workload: Needleman-Wunsch alignment of two sequences as a wavefront
// over 16 x 16 tiles of an (n + 1) x (n + 1) int score matrix (Ganguly et al., ISCA 2019: n = 1024,
// penalty 10). Kernel i of the first sweep has i blocks, one per tile of the i-th anti-diagonal;
// the second sweep walks the other half back down to one block: 2 n / 16 - 1 kernels. A block is one
// half-full warp of 16 threads. With n = 1024 a matrix row is 4100 bytes, so each tile row sits on
// its own page and uses 64 bytes of it: a kernel touches few bytes spread over many pages.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { arrayBases, hostStep, INT_BYTES, kernelStep, pushElement, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const BLOCK = 16;

export const needleParams = z.strictObject({
  size: z
    .number()
    .int()
    .min(BLOCK)
    .max(16368)
    .multipleOf(BLOCK)
    .default(1024)
    .describe('sequence length n (a multiple of 16); the matrices are (n + 1) x (n + 1) ints'),
  penalty: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(10)
    .describe('gap penalty; it changes the scores, not the accesses'),
});
export type NeedleParams = z.output<typeof needleParams>;

/** The 16 rows of a tile whose top-left cell is `index`, one warp instruction per row. */
function pushTileRows(out: AccessBuffer, base: number, index: number, cols: number, write: boolean): void {
  for (let ty = 0; ty < BLOCK; ty++) {
    pushElements(out, base, index + cols * ty, index + cols * ty + BLOCK - 1, INT_BYTES, write);
  }
}

function* needleSteps(size: number, arrays: ManagedArray[], layout: ArrayLayout): Iterable<WorkloadStep> {
  const [reference, itemsets] = arrayBases(layout, arrays);
  const cols = size + 1;
  const tiles = size / BLOCK;
  const e = INT_BYTES;

  /** Block accesses of tile (tileY, tileX); the second kernel loads `referrence` first. */
  const tile = (out: AccessBuffer, tileY: number, tileX: number, second: boolean): void => {
    const nw = cols * BLOCK * tileY + BLOCK * tileX;
    const index = nw + cols + 1;
    if (second) pushTileRows(out, reference, index, cols, false);
    pushElement(out, itemsets, nw, e, false);
    if (!second) pushTileRows(out, reference, index, cols, false);
    // The west column: lane tx loads row tx + 1 of the tile's left neighbour column.
    for (let tx = 0; tx < BLOCK; tx++) pushElement(out, itemsets, nw + cols + cols * tx, e, false);
    pushElements(out, itemsets, nw + 1, nw + BLOCK, e, false);
    pushTileRows(out, itemsets, index, cols, true);
  };

  for (let i = 1; i <= tiles; i++) {
    yield kernelStep('needle_cuda_shared_1', i, (bx, out) => tile(out, i - 1 - bx, bx, false));
  }
  for (let i = tiles - 1; i >= 1; i--) {
    yield kernelStep('needle_cuda_shared_2', i, (bx, out) => tile(out, tiles - bx - 1, bx + tiles - i, true));
  }
  // The host traceback walks from the bottom-right corner to the top-left reading both matrices.
  // The path depends on the scores; it is taken as the diagonal band, which covers the pages from
  // the first to the corner's (a row is about one page, and the walk moves up one row at a time).
  const corner = ((size - 1) * cols + size - 1) * e + e - 1;
  yield hostStep('traceback itemsets', layout, 'itemsets', 0, corner, false);
  yield hostStep('traceback referrence', layout, 'referrence', 0, corner, false);
}

/**
 * Rodinia nw / needle (Ganguly et al.'s input: n = 1024, penalty 10: 64 + 63 = 127 kernels).
 *
 * @example nw.build(needleParams.parse({ size: 32 }), 0).arrays[0].bytes // 33 * 33 * 4
 */
export const nw: WorkloadDefinition<NeedleParams> = {
  name: 'nw',
  aliases: ['needle'],
  description:
    'Rodinia nw (needle): Needleman-Wunsch wavefront over 16 x 16 tiles, 64 bytes of each of many pages per tile',
  kind: 'regular',
  params: needleParams,
  build({ size }): GpuWorkload {
    const bytes = (size + 1) * (size + 1) * INT_BYTES;
    // The host fills the borders of itemsets and all of referrence (from blosum62) first.
    const arrays: ManagedArray[] = [
      { name: 'referrence', bytes, hostInit: true },
      { name: 'itemsets', bytes, hostInit: true },
    ];
    return { name: 'nw', arrays, steps: (layout) => needleSteps(size, arrays, layout) };
  },
};
