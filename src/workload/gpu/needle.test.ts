// nw (needle) against page maps computed here from the kernels' tile arithmetic (ganguly2019.md
// §6): kernel i of the first sweep has i blocks on the i-th anti-diagonal of 16 x 16 tiles, the
// second sweep comes back down; a tile reads 16 rows of referrence, its west column, north row
// and corner of itemsets, and writes its 16 x 16 cells of itemsets.

import { describe, expect, it } from 'vitest';
import { forEachBlock, PAGE_READ, PAGE_WRITE, pageFlagDifferences } from './inspect.js';
import { layoutArrays } from './layout.js';
import { needleParams, nw } from './needle.js';
import type { ArrayLayout, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;

/** The tile (row, column) block bx of the k-th kernel works on. */
function tileOf(k: number, bx: number, tiles: number): [number, number] {
  if (k < tiles) return [k - bx, bx]; // needle_cuda_shared_1 with i = k + 1
  const i = 2 * tiles - 1 - k; // needle_cuda_shared_2 with i = tiles - 1 .. 1
  return [tiles - bx - 1, bx + tiles - i];
}

function expectedTile(layout: ArrayLayout, size: number, tileY: number, tileX: number): Uint8Array {
  const map = new Uint8Array(layout.totalPages);
  const cols = size + 1;
  const mark = (array: string, index: number, flag: number): void => {
    map[layout.offset(array) + Math.floor((index * 4) / 4096)] |= flag;
  };
  const nw = cols * 16 * tileY + 16 * tileX;
  mark('itemsets', nw, PAGE_READ);
  for (let t = 0; t < 16; t++) {
    mark('itemsets', nw + cols + cols * t, PAGE_READ); // west column
    mark('itemsets', nw + 1 + t, PAGE_READ); // north row
    for (let u = 0; u < 16; u++) {
      mark('referrence', nw + cols + 1 + cols * t + u, PAGE_READ);
      mark('itemsets', nw + cols + 1 + cols * t + u, PAGE_WRITE);
    }
  }
  return map;
}

describe('nw (needle)', () => {
  for (const size of [64, 1024]) {
    it(`n = ${size}: ${(2 * size) / 16 - 1} kernels on the anti-diagonals, each block exactly its tile`, () => {
      const tiles = size / 16;
      const w = nw.build(needleParams.parse({ size }), 0);
      const layout = layoutArrays(w.arrays);
      const steps = [...w.steps(layout)];
      const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
      expect(kernels).toHaveLength(2 * tiles - 1);
      const seen = new Set<string>();
      for (const [k, step] of kernels.entries()) {
        expect(step.name).toBe(k < tiles ? 'needle_cuda_shared_1' : 'needle_cuda_shared_2');
        expect(step.grid.blocks).toBe(k < tiles ? k + 1 : 2 * tiles - 1 - k);
        forEachBlock(step.grid, (bx, out) => {
          const [ty, tx] = tileOf(k, bx, tiles);
          seen.add(`${ty},${tx}`);
          const got = new Uint8Array(layout.totalPages);
          for (let i = 0; i < out.length; i++)
            got[out.words[i] >>> 1] |= out.words[i] & 1 ? PAGE_WRITE : PAGE_READ;
          expect(
            pageFlagDifferences(got, expectedTile(layout, size, ty, tx)),
            `kernel ${k} block ${bx}`,
          ).toEqual([]);
        });
      }
      // Every tile is computed exactly once.
      expect(seen.size).toBe(tiles * tiles);
      // The traceback reads both matrices from the top-left to the bottom-right corner's page.
      const corner = Math.floor((((size - 1) * (size + 1) + size - 1) * 4) / 4096);
      expect(steps.slice(-2)).toEqual([
        {
          kind: 'host',
          name: 'traceback itemsets',
          firstPage: layout.offset('itemsets'),
          lastPage: layout.offset('itemsets') + corner,
          write: false,
        },
        { kind: 'host', name: 'traceback referrence', firstPage: 0, lastPage: corner, write: false },
      ]);
    });
  }

  it('with n = 1024 a tile row is its own page: a block reads 16 pages of referrence and 17 of itemsets', () => {
    const w = nw.build(needleParams.parse({}), 0);
    const layout = layoutArrays(w.arrays);
    const second = [...w.steps(layout)].filter((s): s is Kernel => s.kind === 'kernel')[64];
    forEachBlock(second.grid, (_b, out) => {
      const ref = new Set<number>();
      const items = new Set<number>();
      let firstItems = -1;
      for (let i = 0; i < out.length; i++) {
        const page = out.words[i] >>> 1;
        if (page < layout.offset('itemsets')) ref.add(page);
        else {
          items.add(page);
          if (firstItems < 0) firstItems = i;
        }
      }
      expect(ref.size).toBe(16);
      expect(items.size).toBe(17);
      // needle_cuda_shared_2 loads the reference tile before any itemsets cell.
      expect(firstItems).toBe(16);
    });
  });
});
