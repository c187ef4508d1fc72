// Building blocks the benchmark generators share: element indexes to region pages, kernel steps
// from a per-block fill function, and host steps over a byte range of one array. A CUDA kernel's
// warp touches contiguous elements with contiguous lanes, so one instruction of a warp is a short
// run of pages in lane order (AccessBuffer merges a page repeated back to back).

import type { AccessBuffer, KernelGrid } from '../../devices/gpu/grid.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import { arrayPages } from './layout.js';
import type { ArrayLayout, ManagedArray, WorkloadStep } from './types.js';

/** Bytes of a CUDA `float`. */
export const FLOAT_BYTES = 4;
/** Bytes of a CUDA `int`. */
export const INT_BYTES = 4;
/** Bytes of a CUDA `bool`. */
export const BOOL_BYTES = 1;

/** Threads per warp on every NVIDIA GPU so far. */
export const WARP_THREADS = 32;

/**
 * The region page of element `index` of an array that starts at region page `basePage`.
 *
 * @example elementPage(512, 1500, 4) // 513: byte 6000 is in the array's second page
 */
export function elementPage(basePage: number, index: number, elementBytes: number): number {
  return basePage + Math.floor((index * elementBytes) / PAGE_SIZE);
}

/** Appends the page of one element (a lane whose address no neighbouring lane shares). */
export function pushElement(
  out: AccessBuffer,
  basePage: number,
  index: number,
  elementBytes: number,
  write: boolean,
): void {
  out.push(elementPage(basePage, index, elementBytes), write);
}

/**
 * Appends the pages of elements [first, last] of an array, in ascending order: contiguous lanes of
 * one warp instruction. Nothing is appended when the range is empty (last < first).
 */
export function pushElements(
  out: AccessBuffer,
  basePage: number,
  first: number,
  last: number,
  elementBytes: number,
  write: boolean,
): void {
  if (last < first) return;
  out.pushRange(elementPage(basePage, first, elementBytes), elementPage(basePage, last, elementBytes), write);
}

/** A kernel launch of `blocks` thread blocks; `fill(b, out)` appends block b's accesses. */
export function kernelStep(
  name: string,
  blocks: number,
  fill: (block: number, out: AccessBuffer) => void,
): WorkloadStep {
  const grid: KernelGrid = {
    blocks,
    fillBlock(block, out) {
      if (block < 0 || block >= blocks) return false;
      fill(block, out);
      return true;
    },
  };
  return { kind: 'kernel', name, grid };
}

/** The CPU touching bytes [firstByte, lastByte] of one array, as region pages. */
export function hostStep(
  name: string,
  layout: ArrayLayout,
  array: string,
  firstByte: number,
  lastByte: number,
  write: boolean,
): WorkloadStep {
  const base = layout.offset(array);
  return {
    kind: 'host',
    name,
    firstPage: base + Math.floor(firstByte / PAGE_SIZE),
    lastPage: base + Math.floor(lastByte / PAGE_SIZE),
    write,
  };
}

/** The CPU touching a whole array (a result dump, a reduction over every element). */
export function hostArrayStep(
  name: string,
  layout: ArrayLayout,
  array: ManagedArray,
  write: boolean,
): WorkloadStep {
  return hostStep(name, layout, array.name, 0, array.bytes - 1, write);
}

/**
 * The first page of each array in `layout`, checking the layout gives every array the pages its
 * bytes need (a layout made for other arrays would send accesses into a neighbour).
 */
export function arrayBases(layout: ArrayLayout, arrays: readonly ManagedArray[]): number[] {
  return arrays.map((a) => {
    const need = arrayPages(a.bytes);
    if (layout.pages(a.name) < need) {
      throw new RangeError(`array ${a.name} needs ${need} pages, the layout gives ${layout.pages(a.name)}`);
    }
    return layout.offset(a.name);
  });
}
