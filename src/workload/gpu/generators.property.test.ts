// Properties every generator keeps, for random small parameters and seeds: a build is a pure
// function of (parameters, seed), and every access lands inside a declared array: never in the
// alignment gaps between arrays, never past the region.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessBuffer } from '../../devices/gpu/grid.js';
import { forEachBlock } from './inspect.js';
import { layoutArrays } from './layout.js';
import { buildGpuWorkload, findGpuWorkload, gpuWorkloadNames } from './registry.js';
import type { GpuWorkload } from './types.js';

const int = (min: number, max: number) => fc.integer({ min, max });
/** Two indexes below n, the first no larger than the second. */
const ordered = (n: number) =>
  fc.tuple(int(0, n - 1), int(0, n - 1)).map(([a, b]) => [Math.min(a, b), Math.max(a, b)]);

/** Small valid parameters of each generator. */
const SMALL_PARAMS: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  backprop: fc.record({ inputs: int(1, 64).map((n) => 16 * n) }),
  bfs: int(1, 400).chain((nodes) =>
    fc.record({
      nodes: fc.constant(nodes),
      edges: int(2 * nodes, 4 * nodes).map((half) => 2 * half),
      managedOver: fc.boolean(),
    }),
  ),
  fdtd: fc.record({ nx: int(1, 40), ny: int(1, 300), tmax: int(1, 3) }),
  hotspot: fc.record({ gridSize: int(1, 80), pyramidHeight: int(1, 7), iterations: int(1, 9) }),
  nw: fc.record({ size: int(1, 6).map((n) => 16 * n), penalty: int(0, 20) }),
  pathfinder: fc.record({ cols: int(1, 2000), rows: int(2, 30), pyramidHeight: int(1, 12) }),
  srad: fc
    .record({
      rows: int(1, 4).map((n) => 16 * n),
      cols: int(1, 80).map((n) => 16 * n),
      iterations: int(1, 2),
    })
    .chain((p) =>
      fc.tuple(ordered(p.rows), ordered(p.cols)).map(([[r1, r2], [c1, c2]]) => ({ ...p, r1, r2, c1, c2 })),
    ),
};

/** Each step as one line; kernels with every block's access words. */
function trace(w: GpuWorkload): string[] {
  const layout = layoutArrays(w.arrays);
  return [...w.steps(layout)].map((s) => {
    if (s.kind === 'host') return `host ${s.name} ${s.firstPage} ${s.lastPage} ${s.write}`;
    const blocks: string[] = [];
    forEachBlock(s.grid, (_b, out) => blocks.push(out.words.subarray(0, out.length).join(',')));
    return `kernel ${s.name} ${s.grid.blocks} [${blocks.join('|')}]`;
  });
}

/** Problems with a workload's pages: accesses or host steps outside every array. */
function strayPages(w: GpuWorkload): string[] {
  const layout = layoutArrays(w.arrays);
  const owner = new Int32Array(layout.totalPages).fill(-1);
  w.arrays.forEach((a, i) =>
    owner.fill(i, layout.offset(a.name), layout.offset(a.name) + layout.pages(a.name)),
  );
  const problems: string[] = [];
  const inArray = (page: number): boolean => page >= 0 && page < layout.totalPages && owner[page] >= 0;
  for (const s of w.steps(layout)) {
    if (s.kind === 'host') {
      const same = owner[s.firstPage] === owner[s.lastPage];
      if (!inArray(s.firstPage) || !inArray(s.lastPage) || !same || s.lastPage < s.firstPage) {
        problems.push(`host ${s.name} ${s.firstPage}-${s.lastPage}`);
      }
      continue;
    }
    const blocks = forEachBlock(s.grid, (b, out) => {
      for (let i = 0; i < out.length; i++) {
        if (!inArray(out.words[i] >>> 1)) problems.push(`${s.name} block ${b}: page ${out.words[i] >>> 1}`);
      }
    });
    if (blocks !== s.grid.blocks) problems.push(`${s.name}: ${blocks} of ${s.grid.blocks} blocks`);
    if (s.grid.fillBlock(blocks, new AccessBuffer())) problems.push(`${s.name}: a block past the end`);
  }
  return problems.slice(0, 5);
}

describe('every generator', () => {
  for (const name of gpuWorkloadNames()) {
    it(`${name}: deterministic, and every access inside a declared array`, () => {
      fc.assert(
        fc.property(SMALL_PARAMS[name], fc.nat(0xffffffff), (params, seed) => {
          expect(findGpuWorkload(name)!.params.safeParse(params).success).toBe(true);
          const a = buildGpuWorkload(name, params, seed);
          const b = buildGpuWorkload(name, params, seed);
          expect(trace(b)).toEqual(trace(a));
          expect(strayPages(a)).toEqual([]);
        }),
        { numRuns: 25, seed: 7 },
      );
    });
  }
});
