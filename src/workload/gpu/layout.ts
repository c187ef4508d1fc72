// Where a program's managed arrays sit in its region. cudaMallocManaged hands out virtual ranges
// aligned to 2 MiB (the UVM driver's VA-block size, UVM_VA_BLOCK_BITS = 21), one after the other,
// so each array starts on its own large-page boundary and the gaps between arrays are never
// touched. Page offsets are relative to the region's first page.

import { ACCESS_OFFSET_MAX } from '../../devices/gpu/grid.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { ArrayLayout, ManagedArray } from './types.js';

/** The alignment of a managed allocation: one UVM VA block. */
export const MANAGED_ALIGN_BYTES = 2 * 1024 * 1024;

/** Pages an allocation of `bytes` spans. */
export function arrayPages(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE);
}

/**
 * Lays the arrays out in order, each at the next multiple of `alignBytes`.
 *
 * @example layoutArrays([{ name: 'a', bytes: 5000, hostInit: true }, { name: 'b', bytes: 8, hostInit: false }])
 * // offset('a') = 0, pages('a') = 2, offset('b') = 512, pages('b') = 1, totalPages = 513
 */
export function layoutArrays(
  arrays: readonly ManagedArray[],
  alignBytes: number = MANAGED_ALIGN_BYTES,
): ArrayLayout {
  if (!Number.isInteger(alignBytes) || alignBytes <= 0 || alignBytes % PAGE_SIZE !== 0) {
    throw new RangeError(`alignBytes must be a positive multiple of ${PAGE_SIZE}, got ${alignBytes}`);
  }
  const alignPages = alignBytes / PAGE_SIZE;
  const offsets = new Map<string, number>();
  const pages = new Map<string, number>();
  let next = 0;
  let end = 0;
  for (const a of arrays) {
    if (!Number.isSafeInteger(a.bytes) || a.bytes <= 0) {
      throw new RangeError(`array ${a.name}: bytes must be a positive integer, got ${a.bytes}`);
    }
    if (offsets.has(a.name)) throw new RangeError(`array ${a.name} is declared twice`);
    const n = arrayPages(a.bytes);
    offsets.set(a.name, next);
    pages.set(a.name, n);
    end = next + n;
    next = Math.ceil(end / alignPages) * alignPages;
  }
  // An access word carries the page offset in 30 bits (devices/gpu/grid.ts).
  if (end > ACCESS_OFFSET_MAX + 1) {
    throw new RangeError(`the arrays span ${end} pages; a region holds at most ${ACCESS_OFFSET_MAX + 1}`);
  }
  const lookup = (m: Map<string, number>, name: string): number => {
    const v = m.get(name);
    if (v === undefined) {
      throw new RangeError(`no array ${name} in this layout (arrays: ${[...offsets.keys()].join(', ')})`);
    }
    return v;
  };
  return {
    offset: (name) => lookup(offsets, name),
    pages: (name) => lookup(pages, name),
    totalPages: end,
  };
}

/**
 * Pages the arrays span, without the alignment gaps: what the program can touch.
 *
 * @example workingSetPages([{ name: 'a', bytes: 4097, hostInit: true }]) // 2
 */
export function workingSetPages(arrays: readonly ManagedArray[]): number {
  let n = 0;
  for (const a of arrays) n += arrayPages(a.bytes);
  return n;
}
