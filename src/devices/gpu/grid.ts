// What a GPU compute kernel executes, as the GPU model sees it: a grid of thread blocks, each a
// short run of page accesses in the order its warps issue them. The GPU keeps a number of blocks
// resident at once (its SMs times blocks per SM) and interleaves their accesses, which is what
// makes a fault buffer fill with the faults of many blocks before the driver services them.

/**
 * The page accesses of one thread block. Each access is one word, `offset * 2 + write`, where
 * `offset` is the page offset inside the kernel's region (below 2^30). Consecutive accesses to the
 * same page with the same direction merge: a warp touching a page many times is one page access.
 */
export class AccessBuffer {
  words: Int32Array;
  length = 0;

  constructor(capacity = 256) {
    this.words = new Int32Array(capacity);
  }

  /** Appends an access unless it repeats the previous one. */
  push(offset: number, write: boolean): void {
    const w = offset * 2 + (write ? 1 : 0);
    if (this.length > 0 && this.words[this.length - 1] === w) return;
    if (this.length === this.words.length) this.grow();
    this.words[this.length++] = w;
  }

  /** Appends the pages [first, last] in order (a contiguous sweep of bytes). */
  pushRange(firstOffset: number, lastOffset: number, write: boolean): void {
    for (let p = firstOffset; p <= lastOffset; p++) this.push(p, write);
  }

  clear(): void {
    this.length = 0;
  }

  private grow(): void {
    const next = new Int32Array(this.words.length * 2);
    next.set(this.words);
    this.words = next;
  }
}

/** The largest page offset an access word can carry. */
export const ACCESS_OFFSET_MAX = 2 ** 30 - 1;

/** Page offset of an access word. */
export function accessOffset(word: number): number {
  return word >>> 1;
}

/** Whether an access word is a write. */
export function accessIsWrite(word: number): boolean {
  return (word & 1) !== 0;
}

/**
 * A kernel's grid. `fillBlock(b, out)` appends block `b`'s accesses to `out` and returns true, or
 * returns false when the grid has no block `b` (a grid fed by an open-ended stream learns its
 * size only at the end). Blocks are requested in order 0, 1, 2, ... exactly once each.
 */
export interface KernelGrid {
  /** Thread blocks in the grid; `Infinity` when only `fillBlock` knows where it ends. */
  readonly blocks: number;
  fillBlock(block: number, out: AccessBuffer): boolean;
}
