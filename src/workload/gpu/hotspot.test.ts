// hotspot against page maps computed here from the kernel's tile arithmetic (ganguly2019.md §6):
// each block loads a 16 x 16 tile of the source temperature and the power grid, and writes the
// (16 - 2 x pyramid)^2 interior to the other temperature buffer.

import { describe, expect, it } from 'vitest';
import { hotspot, hotspotParams } from './hotspot.js';
import {
  blockPageFlags,
  forEachBlock,
  PAGE_READ,
  PAGE_WRITE,
  pageFlagDifferences,
  pageFlags,
} from './inspect.js';
import { layoutArrays } from './layout.js';
import type { ArrayLayout, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;

/** Pages block (bx, by) of a kernel touches, from the tile arithmetic of calculate_temp. */
function expectedBlock(
  layout: ArrayLayout,
  p: { n: number; pyramid: number; iteration: number; src: string; dst: string },
  bx: number,
  by: number,
): Uint8Array {
  const map = new Uint8Array(layout.totalPages);
  const small = 16 - 2 * p.iteration;
  const page = (array: string, y: number, x: number): number =>
    layout.offset(array) + Math.floor(((y * p.n + x) * 4) / 4096);
  for (let ty = 0; ty < 16; ty++) {
    for (let tx = 0; tx < 16; tx++) {
      const y = small * by - p.pyramid + ty;
      const x = small * bx - p.pyramid + tx;
      if (y < 0 || y >= p.n || x < 0 || x >= p.n) continue;
      map[page(p.src, y, x)] |= PAGE_READ;
      map[page('MatrixPower', y, x)] |= PAGE_READ;
      const interior = (v: number): boolean => v >= p.iteration && v <= 15 - p.iteration;
      if (interior(tx) && interior(ty)) map[page(p.dst, y, x)] |= PAGE_WRITE;
    }
  }
  return map;
}

const kernelsOf = (steps: WorkloadStep[]): Kernel[] => steps.filter((s): s is Kernel => s.kind === 'kernel');

describe('hotspot', () => {
  // Rows of 400 bytes (pages hold parts of several rows), and a last partial pyramid; 37 x 37
  // with one kernel: a grid narrower than three tiles.
  for (const [n, iterations] of [
    [100, 5],
    [37, 1],
  ]) {
    it(`every block touches exactly its tile (${n} x ${n} grid, ${iterations} iterations)`, () => {
      const w = hotspot.build(hotspotParams.parse({ gridSize: n, pyramidHeight: 2, iterations }), 0);
      const layout = layoutArrays(w.arrays);
      const steps = [...w.steps(layout)];
      const kernels = kernelsOf(steps);
      expect(kernels).toHaveLength(Math.ceil(iterations / 2));
      const gridX = Math.ceil(n / 12);
      const temps = ['MatrixTemp0', 'MatrixTemp1'];
      for (const [k, step] of kernels.entries()) {
        expect(step.grid.blocks).toBe(gridX * gridX);
        const iteration = Math.min(2, iterations - 2 * k);
        const p = { n, pyramid: 2, iteration, src: temps[k % 2], dst: temps[1 - (k % 2)] };
        forEachBlock(step.grid, (b, out) => {
          const got = new Uint8Array(layout.totalPages);
          for (let i = 0; i < out.length; i++)
            got[out.words[i] >>> 1] |= out.words[i] & 1 ? PAGE_WRITE : PAGE_READ;
          const want = expectedBlock(layout, p, b % gridX, Math.floor(b / gridX));
          expect(pageFlagDifferences(got, want), `kernel ${k} block ${b}`).toEqual([]);
        });
      }
      // writeoutput prints the buffer the last kernel wrote: MatrixTemp1 after an odd count.
      const last = kernels.length % 2 === 1 ? 'MatrixTemp1' : 'MatrixTemp0';
      expect(steps[steps.length - 1]).toMatchObject({ kind: 'host', firstPage: layout.offset(last) });
    });
  }

  it("at the paper's input: 4 kernels of 86 x 86 blocks; a tile reads 16 pages of each input", () => {
    const w = hotspot.build(hotspotParams.parse({}), 0);
    const layout = layoutArrays(w.arrays);
    const steps = [...w.steps(layout)];
    const kernels = kernelsOf(steps);
    expect(kernels).toHaveLength(4);
    const t = [layout.offset('MatrixTemp0'), layout.offset('MatrixTemp1')];
    const power = layout.offset('MatrixPower');
    for (const [k, step] of kernels.entries()) {
      expect(step.grid.blocks).toBe(86 * 86);
      // An inner tile: rows 12 by - 2 .. 12 by + 13 are pages of their own (1024 floats a row).
      const by = 40;
      const inner = blockPageFlags(step.grid, by * 86 + 40, layout.totalPages);
      const pages = (base: number, flag: number): number[] =>
        Array.from({ length: 1024 }, (_, r) => r).filter((r) => (inner[base + r] & flag) !== 0);
      const rows = (first: number, count: number): number[] =>
        Array.from({ length: count }, (_, i) => first + i);
      expect(pages(t[k % 2], PAGE_READ)).toEqual(rows(12 * by - 2, 16));
      expect(pages(power, PAGE_READ)).toEqual(rows(12 * by - 2, 16));
      expect(pages(t[1 - (k % 2)], PAGE_WRITE)).toEqual(rows(12 * by, 12));
      expect(pages(t[1 - (k % 2)], PAGE_READ)).toEqual([]);
      // Over the whole grid: every page of the source and the power read, every page of the
      // destination written, nothing else.
      const all = pageFlags(step.grid, layout.totalPages)[0];
      const want = new Uint8Array(layout.totalPages);
      for (let r = 0; r < 1024; r++) {
        want[t[k % 2] + r] = PAGE_READ;
        want[power + r] = PAGE_READ;
        want[t[1 - (k % 2)] + r] = PAGE_WRITE;
      }
      expect(pageFlagDifferences(all, want)).toEqual([]);
    }
    expect(steps[steps.length - 1]).toEqual({
      kind: 'host',
      name: 'writeoutput',
      firstPage: t[0],
      lastPage: t[0] + 1023,
      write: false,
    });
  });
});
