// Walking a workload the way the GPU model does (kernel by kernel, block by block) to describe it:
// how many kernels, blocks and page accesses it makes and how many distinct pages the GPU touches.
// The README's table and the tests read workloads through these; the model itself never does.

import { AccessBuffer, type KernelGrid } from '../../devices/gpu/grid.js';
import { LimitError } from '../../sim/errors.js';
import { layoutArrays, workingSetPages } from './layout.js';
import type { ArrayLayout, GpuWorkload } from './types.js';

/** Blocks one grid may have; a grid that never ends is an error, not a hang. */
export const GRID_BLOCKS_MAX = 2 ** 31 - 1;

/**
 * Fills every block of `grid` in order and calls `visit(block, accesses)` with a reused buffer.
 * Returns the number of blocks.
 *
 * @example forEachBlock(step.grid, (b, out) => console.log(b, out.length))
 */
export function forEachBlock(
  grid: KernelGrid,
  visit: (block: number, accesses: AccessBuffer) => void,
): number {
  const out = new AccessBuffer();
  let b = 0;
  for (; b < grid.blocks; b++) {
    if (b >= GRID_BLOCKS_MAX)
      throw new LimitError('gridBlocks', b, `a grid has more than ${GRID_BLOCKS_MAX} blocks`);
    out.clear();
    if (!grid.fillBlock(b, out)) break;
    visit(b, out);
  }
  return b;
}

/** Every access word of a grid, blocks in order (a repeat across a block boundary is kept). */
export function gridWords(grid: KernelGrid): Int32Array {
  let all = new Int32Array(1024);
  let length = 0;
  forEachBlock(grid, (_b, out) => {
    if (length + out.length > all.length) {
      const next = new Int32Array(Math.max(all.length * 2, length + out.length));
      next.set(all.subarray(0, length));
      all = next;
    }
    all.set(out.words.subarray(0, out.length), length);
    length += out.length;
  });
  return all.slice(0, length);
}

/** Page flags: the page is read, written (both: 3). */
export const PAGE_READ = 1;
export const PAGE_WRITE = 2;

/**
 * Flags of every region page a grid touches (`PAGE_READ | PAGE_WRITE`), over all its blocks, or
 * one map per block with `perBlock`.
 *
 * @example pageFlags(step.grid, layout.totalPages)[0][layout.offset('hz')] // 3: read and written
 */
export function pageFlags(grid: KernelGrid, totalPages: number, perBlock = false): Uint8Array[] {
  const maps: Uint8Array[] = [];
  let map = new Uint8Array(totalPages);
  forEachBlock(grid, (_b, out) => {
    if (perBlock) maps.push((map = new Uint8Array(totalPages)));
    for (let i = 0; i < out.length; i++) map[out.words[i] >>> 1] |= out.words[i] & 1 ? PAGE_WRITE : PAGE_READ;
  });
  return perBlock ? maps : [map];
}

/**
 * Flags of the pages block `block` of a grid touches. The grid's blocks before it are filled too
 * (a grid hands out its blocks in order), but not kept.
 */
export function blockPageFlags(grid: KernelGrid, block: number, totalPages: number): Uint8Array {
  const map = new Uint8Array(totalPages);
  forEachBlock(grid, (b, out) => {
    if (b !== block) return;
    for (let i = 0; i < out.length; i++) map[out.words[i] >>> 1] |= out.words[i] & 1 ? PAGE_WRITE : PAGE_READ;
  });
  return map;
}

/** Pages whose flags differ, as `page:got/want`, at most `max` of them (none: equal maps). */
export function pageFlagDifferences(got: Uint8Array, want: Uint8Array, max = 8): string[] {
  const out: string[] = [];
  const n = Math.max(got.length, want.length);
  for (let p = 0; p < n && out.length < max; p++) {
    if ((got[p] ?? 0) !== (want[p] ?? 0)) out.push(`${p}:${got[p] ?? 0}/${want[p] ?? 0}`);
  }
  return out;
}

export interface WorkloadSummary {
  readonly kernels: number;
  readonly hostSteps: number;
  readonly blocks: number;
  /** Page accesses of all blocks (after AccessBuffer's merging of back-to-back repeats). */
  readonly accesses: number;
  /** Distinct pages any kernel touches. */
  readonly gpuPages: number;
  /** Pages of the arrays (the working set) and of the whole region with its alignment gaps. */
  readonly workingSetPages: number;
  readonly regionPages: number;
}

/**
 * Runs through a workload's steps and counts what it does.
 *
 * @example summarizeWorkload(buildGpuWorkload('hotspot')).kernels // 4
 */
export function summarizeWorkload(
  workload: GpuWorkload,
  layout: ArrayLayout = layoutArrays(workload.arrays),
): WorkloadSummary {
  const touched = new Uint8Array(layout.totalPages);
  let kernels = 0;
  let hostSteps = 0;
  let blocks = 0;
  let accesses = 0;
  let gpuPages = 0;
  for (const step of workload.steps(layout)) {
    if (step.kind === 'host') {
      hostSteps++;
      continue;
    }
    kernels++;
    blocks += forEachBlock(step.grid, (_b, out) => {
      accesses += out.length;
      for (let i = 0; i < out.length; i++) {
        const page = out.words[i] >>> 1;
        if (touched[page] === 0) gpuPages++;
        touched[page] = 1;
      }
    });
  }
  return {
    kernels,
    hostSteps,
    blocks,
    accesses,
    gpuPages,
    workingSetPages: workingSetPages(workload.arrays),
    regionPages: layout.totalPages,
  };
}
