// The oracle's data pattern and page checksum (../shared/oracle/FORMAT.md section 6).

export function patternWord(seed: number, page: number, word: number): number {
  if (seed === 0) return 0;
  let h = (Math.imul(seed, 0x9e3779b1) + Math.imul(page, 0x85ebca77) + Math.imul(word, 0xc2b2ae3d)) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Fills `dst` at `offset` with pattern(seed, page): 1024 little-endian words. */
export function fillPattern(dst: Uint8Array, offset: number, seed: number, page: number): void {
  const view = new DataView(dst.buffer, dst.byteOffset + offset, 4096);
  for (let w = 0; w < 1024; w++) view.setUint32(4 * w, patternWord(seed, page, w), true);
}

/** 32-bit FNV-1a of 4096 bytes at `offset`, as 8 lowercase hex digits. */
export function pageChecksum(data: Uint8Array, offset: number): string {
  let h = 0x811c9dc5;
  for (let i = offset; i < offset + 4096; i++) h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
