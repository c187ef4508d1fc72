// The oracle's fill pattern and checksum (../shared/oracle/FORMAT.md section 6), shared by tests.

export function patternWord(seed: number, page: number, word: number): number {
  if (seed === 0) return 0;
  let h = (Math.imul(seed, 0x9e3779b1) + Math.imul(page, 0x85ebca77) + Math.imul(word, 0xc2b2ae3d)) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export function patternPage(seed: number, page: number): Uint8Array {
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  for (let w = 0; w < 1024; w++) v.setUint32(4 * w, patternWord(seed, page, w), true);
  return b;
}

export function fnv1a(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
