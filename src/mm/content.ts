// Page contents, in one of two modes. `bytes`: every frame holds its real 4 KiB, stored in lazily
// allocated chunks (a frame that was never written reads as zeros without owning any storage).
// `tokens`: every frame holds one 32-bit content token (0 = all zeros), copied wherever the data
// would be, so big runs track where data goes without moving bytes. Per-frame state lives in
// arrays per memory section, created when PhysMem claims the section.

import { PAGE_SIZE } from './constants.js';

export type ContentMode = 'bytes' | 'tokens';

const SECTION_SHIFT = 15;
const SECTION_MASK = (1 << SECTION_SHIFT) - 1;
/** Frames per storage chunk in bytes mode (256 KiB chunks). */
const CHUNK_SHIFT = 6;
const CHUNK_FRAMES = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_FRAMES - 1;

/** Recycled per-section arrays (see PhysMem.recycle). */
const tokenPool: Uint32Array[] = [];
const flagPool: Uint8Array[] = [];
const POOL_MAX = 16;

export class FrameContent {
  readonly mode: ContentMode;
  /** Per section: a content token per frame (tokens mode), or whether a frame holds data (bytes). */
  private readonly perSection: (Uint32Array | Uint8Array | undefined)[] = [];
  private readonly chunks: (Uint8Array | undefined)[] = [];

  constructor(mode: ContentMode) {
    this.mode = mode;
  }

  /** Sets up per-frame state for a newly claimed section. */
  addSection(index: number): void {
    while (this.perSection.length <= index) this.perSection.push(undefined);
    const pool = this.mode === 'tokens' ? tokenPool : flagPool;
    this.perSection[index] =
      pool.pop() ??
      (this.mode === 'tokens' ? new Uint32Array(1 << SECTION_SHIFT) : new Uint8Array(1 << SECTION_SHIFT));
  }

  /** Gives section `index`'s per-frame array back (cleared up to `used`) for another machine. */
  recycleSection(index: number, used: number): void {
    const a = this.perSection[index];
    if (a === undefined) return;
    a.fill(0, 0, used);
    this.perSection[index] = undefined;
    const pool = a instanceof Uint32Array ? tokenPool : flagPool;
    if (pool.length < POOL_MAX) (pool as (Uint32Array | Uint8Array)[]).push(a);
  }

  /** Makes the frame read as all zeros. */
  zero(pfn: number): void {
    this.perSection[pfn >>> SECTION_SHIFT]![pfn & SECTION_MASK] = 0;
  }

  /** Copies one frame's content to another (COW, migration). */
  copy(dstPfn: number, srcPfn: number): void {
    const src = this.perSection[srcPfn >>> SECTION_SHIFT]![srcPfn & SECTION_MASK];
    const dst = this.perSection[dstPfn >>> SECTION_SHIFT]!;
    if (this.mode === 'tokens' || src === 0) {
      dst[dstPfn & SECTION_MASK] = src;
      return;
    }
    const srcChunk = this.chunks[srcPfn >>> CHUNK_SHIFT]!;
    const srcOff = (srcPfn & CHUNK_MASK) * PAGE_SIZE;
    this.chunkOf(dstPfn).set(
      srcChunk.subarray(srcOff, srcOff + PAGE_SIZE),
      (dstPfn & CHUNK_MASK) * PAGE_SIZE,
    );
    dst[dstPfn & SECTION_MASK] = 1;
  }

  isZero(pfn: number): boolean {
    const v = this.perSection[pfn >>> SECTION_SHIFT]![pfn & SECTION_MASK];
    if (this.mode === 'tokens' || v === 0) return v === 0;
    const chunk = this.chunks[pfn >>> CHUNK_SHIFT]!;
    const off = (pfn & CHUNK_MASK) * PAGE_SIZE;
    for (let i = off; i < off + PAGE_SIZE; i++) if (chunk[i] !== 0) return false;
    return true;
  }

  /** The content token of a frame (tokens mode only). */
  token(pfn: number): number {
    this.requireMode('tokens');
    return this.perSection[pfn >>> SECTION_SHIFT]![pfn & SECTION_MASK];
  }

  setToken(pfn: number, token: number): void {
    this.requireMode('tokens');
    this.perSection[pfn >>> SECTION_SHIFT]![pfn & SECTION_MASK] = token >>> 0;
  }

  /** Copies `len` bytes at `offset` of a frame into `dst` at `dstOffset` (bytes mode only). */
  read(pfn: number, offset: number, dst: Uint8Array, dstOffset: number, len: number): void {
    this.requireMode('bytes');
    if (this.perSection[pfn >>> SECTION_SHIFT]![pfn & SECTION_MASK] === 0) {
      dst.fill(0, dstOffset, dstOffset + len);
      return;
    }
    const off = (pfn & CHUNK_MASK) * PAGE_SIZE + offset;
    dst.set(this.chunks[pfn >>> CHUNK_SHIFT]!.subarray(off, off + len), dstOffset);
  }

  /** Copies `len` bytes from `src` at `srcOffset` into a frame at `offset` (bytes mode only). */
  write(pfn: number, offset: number, src: Uint8Array, srcOffset: number, len: number): void {
    this.requireMode('bytes');
    const chunk = this.materialize(pfn, offset === 0 && len === PAGE_SIZE);
    const base = (pfn & CHUNK_MASK) * PAGE_SIZE + offset;
    if (srcOffset === 0 && len === src.length) chunk.set(src, base);
    else chunk.set(src.subarray(srcOffset, srcOffset + len), base);
  }

  /** The storage chunk of a frame holding valid data (zero-filled first unless it is about to be overwritten). */
  private materialize(pfn: number, wholePage: boolean): Uint8Array {
    const has = this.perSection[pfn >>> SECTION_SHIFT]!;
    const chunk = this.chunkOf(pfn);
    if (has[pfn & SECTION_MASK] === 0) {
      if (!wholePage) chunk.fill(0, (pfn & CHUNK_MASK) * PAGE_SIZE, ((pfn & CHUNK_MASK) + 1) * PAGE_SIZE);
      has[pfn & SECTION_MASK] = 1;
    }
    return chunk;
  }

  private chunkOf(pfn: number): Uint8Array {
    const c = pfn >>> CHUNK_SHIFT;
    let chunk = this.chunks[c];
    if (chunk === undefined) {
      while (this.chunks.length < c) this.chunks.push(undefined);
      chunk = new Uint8Array(CHUNK_FRAMES * PAGE_SIZE);
      this.chunks[c] = chunk;
    }
    return chunk;
  }

  private requireMode(mode: ContentMode): void {
    if (this.mode !== mode) {
      throw new TypeError(
        `this operation needs content mode '${mode}', but memory runs in '${this.mode}' mode`,
      );
    }
  }
}
