// Page contents, in one of two modes. `bytes`: every frame holds its real 4 KiB, stored in lazily
// allocated chunks (a frame that was never written reads as zeros without owning any storage).
// `tokens`: every frame holds one 32-bit content token (0 = all zeros), copied wherever the data
// would be, so big runs track where data goes without moving bytes.

import { PAGE_SIZE } from './constants.js';

export type ContentMode = 'bytes' | 'tokens';

/** Frames per storage chunk in bytes mode (256 KiB chunks). */
const CHUNK_SHIFT = 6;
const CHUNK_FRAMES = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_FRAMES - 1;

export class FrameContent {
  readonly mode: ContentMode;
  /** Content token per frame (tokens mode). */
  private tokens: Uint32Array;
  /** Byte storage chunks (bytes mode), and whether each frame's slot holds its data. */
  private readonly chunks: (Uint8Array | undefined)[] = [];
  private hasData: Uint8Array;

  constructor(mode: ContentMode, capacityFrames: number) {
    this.mode = mode;
    this.tokens = new Uint32Array(mode === 'tokens' ? capacityFrames : 0);
    this.hasData = new Uint8Array(mode === 'bytes' ? capacityFrames : 0);
  }

  /** Grows per-frame storage to `capacityFrames` (called by PhysMem when it adds sections). */
  grow(capacityFrames: number): void {
    if (this.mode === 'tokens') {
      const t = new Uint32Array(capacityFrames);
      t.set(this.tokens);
      this.tokens = t;
    } else {
      const h = new Uint8Array(capacityFrames);
      h.set(this.hasData);
      this.hasData = h;
    }
  }

  /** Makes the frame read as all zeros. */
  zero(pfn: number): void {
    if (this.mode === 'tokens') this.tokens[pfn] = 0;
    else this.hasData[pfn] = 0;
  }

  /** Copies one frame's content to another (COW, migration). */
  copy(dstPfn: number, srcPfn: number): void {
    if (this.mode === 'tokens') {
      this.tokens[dstPfn] = this.tokens[srcPfn];
      return;
    }
    if (!this.hasData[srcPfn]) {
      this.hasData[dstPfn] = 0;
      return;
    }
    const dst = this.slot(dstPfn);
    const src = this.chunks[srcPfn >>> CHUNK_SHIFT]!;
    const srcOff = (srcPfn & CHUNK_MASK) * PAGE_SIZE;
    dst.chunk.set(src.subarray(srcOff, srcOff + PAGE_SIZE), dst.offset);
    this.hasData[dstPfn] = 1;
  }

  isZero(pfn: number): boolean {
    if (this.mode === 'tokens') return this.tokens[pfn] === 0;
    if (!this.hasData[pfn]) return true;
    const chunk = this.chunks[pfn >>> CHUNK_SHIFT]!;
    const off = (pfn & CHUNK_MASK) * PAGE_SIZE;
    for (let i = off; i < off + PAGE_SIZE; i++) if (chunk[i] !== 0) return false;
    return true;
  }

  /** The content token of a frame (tokens mode only). */
  token(pfn: number): number {
    this.requireMode('tokens');
    return this.tokens[pfn];
  }

  setToken(pfn: number, token: number): void {
    this.requireMode('tokens');
    this.tokens[pfn] = token >>> 0;
  }

  /** Copies `len` bytes at `offset` of a frame into `dst` at `dstOffset` (bytes mode only). */
  read(pfn: number, offset: number, dst: Uint8Array, dstOffset: number, len: number): void {
    this.requireMode('bytes');
    if (!this.hasData[pfn]) {
      dst.fill(0, dstOffset, dstOffset + len);
      return;
    }
    const chunk = this.chunks[pfn >>> CHUNK_SHIFT]!;
    const off = (pfn & CHUNK_MASK) * PAGE_SIZE + offset;
    dst.set(chunk.subarray(off, off + len), dstOffset);
  }

  /** Copies `len` bytes from `src` at `srcOffset` into a frame at `offset` (bytes mode only). */
  write(pfn: number, offset: number, src: Uint8Array, srcOffset: number, len: number): void {
    this.requireMode('bytes');
    const { chunk, offset: base } = this.materialize(pfn);
    chunk.set(src.subarray(srcOffset, srcOffset + len), base + offset);
  }

  /** Stores one little-endian 32-bit word into a frame at a 4-byte-aligned offset (bytes mode only). */
  writeU32(pfn: number, offset: number, value: number): void {
    const { chunk, offset: base } = this.materialize(pfn);
    const o = base + offset;
    chunk[o] = value & 0xff;
    chunk[o + 1] = (value >>> 8) & 0xff;
    chunk[o + 2] = (value >>> 16) & 0xff;
    chunk[o + 3] = (value >>> 24) & 0xff;
  }

  /** The storage slot of a frame, zero-filled first if the frame had no data yet. */
  private materialize(pfn: number): { chunk: Uint8Array; offset: number } {
    const s = this.slot(pfn);
    if (!this.hasData[pfn]) {
      s.chunk.fill(0, s.offset, s.offset + PAGE_SIZE);
      this.hasData[pfn] = 1;
    }
    return s;
  }

  private slot(pfn: number): { chunk: Uint8Array; offset: number } {
    const c = pfn >>> CHUNK_SHIFT;
    let chunk = this.chunks[c];
    if (chunk === undefined) {
      while (this.chunks.length < c) this.chunks.push(undefined);
      chunk = new Uint8Array(CHUNK_FRAMES * PAGE_SIZE);
      this.chunks[c] = chunk;
    }
    return { chunk, offset: (pfn & CHUNK_MASK) * PAGE_SIZE };
  }

  private requireMode(mode: ContentMode): void {
    if (this.mode !== mode) {
      throw new TypeError(
        `this operation needs content mode '${mode}', but memory runs in '${this.mode}' mode`,
      );
    }
  }
}
