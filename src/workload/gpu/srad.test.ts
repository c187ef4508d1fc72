// srad_v2 against page maps computed here from the kernels' index arithmetic (ganguly2019.md §6):
// srad_cuda_1 loads a 16 x 16 tile of J with a one-cell halo, srad_cuda_2 reads and rewrites the
// tile, and before each iteration the host reads the region of interest.

import { describe, expect, it } from 'vitest';
import { blockPageFlags, PAGE_READ, PAGE_WRITE, pageFlagDifferences, pageFlags } from './inspect.js';
import { layoutArrays } from './layout.js';
import { srad, sradParams } from './srad.js';
import type { WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;
type Host = Extract<WorkloadStep, { kind: 'host' }>;

/** Pages of J block (bx, by) touches in srad_cuda_1 (kernel 1) or srad_cuda_2 (kernel 2). */
function expectedBlock(
  rows: number,
  cols: number,
  kernel: 1 | 2,
  bx: number,
  by: number,
  pages: number,
): Uint8Array {
  const map = new Uint8Array(pages);
  const size = rows * cols;
  const gx = cols / 16;
  const gy = rows / 16;
  const read = (index: number): void => {
    map[Math.floor((index * 4) / 4096)] |= PAGE_READ;
  };
  const inside = (index: number): boolean => index >= 0 && index < size;
  for (let ty = 0; ty < 16; ty++) {
    for (let tx = 0; tx < 16; tx++) {
      const base = cols * 16 * by + 16 * bx;
      const index = base + cols * ty + tx;
      if (kernel === 2) {
        read(index);
        map[Math.floor((index * 4) / 4096)] |= PAGE_WRITE;
        continue;
      }
      if (inside(base + tx - cols)) read(base + tx - cols);
      if (inside(base + cols * 16 + tx)) read(base + cols * 16 + tx);
      if (by === 0) read(16 * bx + tx);
      else if (by === gy - 1) read(cols * 16 * (gy - 1) + 16 * bx + cols * 15 + tx);
      if (inside(base + cols * ty - 1)) read(base + cols * ty - 1);
      if (inside(base + cols * ty + 16)) read(base + cols * ty + 16);
      if (bx === 0) read(cols * 16 * by + cols * ty);
      else if (bx === gx - 1) read(cols * 16 * by + 16 * (gx - 1) + cols * ty + 15);
      read(index);
    }
  }
  return map;
}

describe('srad_v2', () => {
  for (const [rows, cols] of [
    [48, 64],
    [32, 1040],
    [16, 16],
  ]) {
    it(`${rows} x ${cols}: every block of both kernels touches exactly its tile and halo`, () => {
      const w = srad.build(
        sradParams.parse({ rows, cols, r1: 1, r2: rows - 2, c1: 3, c2: 9, iterations: 2 }),
        0,
      );
      const layout = layoutArrays(w.arrays);
      expect(layout.offset('J_shared')).toBe(0);
      const steps = [...w.steps(layout)];
      const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
      expect(kernels.map((k) => k.name)).toEqual([
        'srad_cuda_1',
        'srad_cuda_2',
        'srad_cuda_1',
        'srad_cuda_2',
      ]);
      for (const [k, step] of kernels.entries()) {
        const got = pageFlags(step.grid, layout.totalPages, true);
        expect(got).toHaveLength((rows / 16) * (cols / 16));
        for (let b = 0; b < got.length; b++) {
          const bx = b % (cols / 16);
          const want = expectedBlock(
            rows,
            cols,
            k % 2 === 0 ? 1 : 2,
            bx,
            (b - bx) / (cols / 16),
            layout.totalPages,
          );
          expect(pageFlagDifferences(got[b], want), `kernel ${k} block ${b}`).toEqual([]);
        }
      }
      // The host reads the region of interest (rows 1 .. rows - 2, columns 3 .. 9) before each
      // iteration's kernels: its steps cover exactly the region's pages.
      const roi = new Set<number>();
      for (let i = 1; i <= rows - 2; i++)
        for (let j = 3; j <= 9; j++) roi.add(Math.floor(((i * cols + j) * 4) / 4096));
      const firstKernel = steps.findIndex((s) => s.kind === 'kernel');
      const hosts = steps.slice(0, firstKernel) as Host[];
      const covered = new Set<number>();
      for (const h of hosts) for (let p = h.firstPage; p <= h.lastPage; p++) covered.add(p);
      expect([...covered].sort((a, b) => a - b)).toEqual([...roi].sort((a, b) => a - b));
      expect(steps.filter((s) => s.kind === 'host')).toHaveLength(2 * hosts.length);
    });
  }

  it("at the paper's input (3072 x 1024, 4 iterations): 8 kernels, a tile is 16 pages, its halo 2 more", () => {
    const w = srad.build(sradParams.parse({}), 0);
    expect(w.arrays).toEqual([{ name: 'J_shared', bytes: 3072 * 1024 * 4, hostInit: true }]);
    const layout = layoutArrays(w.arrays);
    const steps = [...w.steps(layout)];
    // Per iteration: the region of interest (rows 0..127, columns 0..127: pages 0..127), two kernels.
    expect(steps.map((s) => (s.kind === 'host' ? `host ${s.firstPage}-${s.lastPage}` : s.name))).toEqual(
      Array(4).fill(['host 0-127', 'srad_cuda_1', 'srad_cuda_2']).flat(),
    );
    const [k1, k2] = steps.filter((s): s is Kernel => s.kind === 'kernel');
    expect(k1.grid.blocks).toBe(64 * 192);
    const rowsOf = (map: Uint8Array, flag: number): number[] =>
      [...map.keys()].filter((p) => (map[p] & flag) !== 0);
    // Block (10, 100): rows 1600 .. 1615, one page each; srad_cuda_1 adds the rows above and below.
    const flags = (step: Kernel): Uint8Array => blockPageFlags(step.grid, 100 * 64 + 10, layout.totalPages);
    expect(rowsOf(flags(k1), PAGE_READ)).toEqual(Array.from({ length: 18 }, (_, i) => 1600 - 1 + i));
    expect(rowsOf(flags(k1), PAGE_WRITE)).toEqual([]);
    expect(rowsOf(flags(k2), PAGE_READ)).toEqual(Array.from({ length: 16 }, (_, i) => 1600 + i));
    expect(rowsOf(flags(k2), PAGE_WRITE)).toEqual(Array.from({ length: 16 }, (_, i) => 1600 + i));
  });
});
