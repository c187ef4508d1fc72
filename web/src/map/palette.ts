// Colours of the page map: one per page state byte (kind, and device slot for the device kinds) and
// one per device-mirror class. Each colour exists twice: packed for writing straight into a
// Uint32Array view of an ImageData (byte order R, G, B, A in memory), and as a CSS string for
// legends and tooltips, so the canvas and the legend can never disagree.

import {
  MIRROR_ATOMIC,
  MIRROR_LOCAL,
  MIRROR_VALID,
  MIRROR_WRITE,
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_MIGRATING,
  PAGE_NOT_PRESENT,
  PAGE_OTHER,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
  pageDevice,
  pageKind,
} from '../../../src/view/pageState.js';

export type Rgb = readonly [r: number, g: number, b: number];

// ImageData stores R, G, B, A in that byte order. A Uint32Array view reads those four bytes in the
// platform's byte order: on little-endian machines (all browsers in practice) the packed value is
// 0xAABBGGRR. The big-endian branch keeps the packing right anywhere else at no cost per pixel.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x01020304]).buffer)[0] === 0x04;

/**
 * One pixel as a Uint32Array-of-ImageData element.
 * @example pixels[i] = packRgba(37, 99, 235); // RAM blue
 */
export function packRgba(r: number, g: number, b: number, a = 255): number {
  return LITTLE_ENDIAN
    ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0
    : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

export function rgbCss([r, g, b]: Rgb): string {
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

/** Canvas background: gaps between cells, separator rows, space past the last page. White. */
export const BACKGROUND_RGB: Rgb = [255, 255, 255];
export const BACKGROUND_RGBA = packRgba(...BACKGROUND_RGB);
export const BACKGROUND_CSS = rgbCss(BACKGROUND_RGB);

const FIXED_KIND_RGB: Readonly<Record<number, Rgb>> = {
  [PAGE_UNMAPPED]: [240, 241, 243],
  [PAGE_NOT_PRESENT]: [203, 207, 214],
  [PAGE_RAM]: [37, 99, 235],
  [PAGE_ZERO]: [147, 197, 253],
  [PAGE_MIGRATING]: [220, 38, 38],
  [PAGE_OTHER]: [17, 17, 17],
};

// Each device kind is a hue family; slots step both hue and lightness within the family (slots
// past the fourth repeat the lightness at a quarter-step hue), so gpu0 and gpu1 differ visibly
// while both still read as "device-private".
const DEVICE_FAMILY: Readonly<
  Record<number, { hueDeg: number; hueStepDeg: number; saturation: number; lightness: number }>
> = {
  [PAGE_DEVICE_PRIVATE]: { hueDeg: 24, hueStepDeg: 8, saturation: 0.88, lightness: 0.5 }, // orange .. amber
  [PAGE_DEVICE_COHERENT]: { hueDeg: 140, hueStepDeg: -12, saturation: 0.6, lightness: 0.4 }, // green .. olive
  [PAGE_EXCLUSIVE]: { hueDeg: 272, hueStepDeg: 14, saturation: 0.7, lightness: 0.52 }, // violet .. magenta
};

function hslRgb(hueDeg: number, saturation: number, lightness: number): Rgb {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n: number): number => {
    const k = (n + hueDeg / 30) % 12;
    return Math.round(255 * (lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [channel(0), channel(8), channel(4)];
}

/** Colour of one page state byte (unknown kinds draw as "other"). */
export function pageStateRgb(state: number): Rgb {
  const kind = pageKind(state);
  const family = DEVICE_FAMILY[kind];
  if (family !== undefined) {
    const slot = pageDevice(state);
    const lightness = family.lightness + [0, -0.13, 0.1, -0.2][slot % 4];
    const hueDeg = family.hueDeg + family.hueStepDeg * ((slot % 4) + (slot >> 2) / 4);
    return hslRgb((hueDeg + 360) % 360, family.saturation, lightness);
  }
  return FIXED_KIND_RGB[kind] ?? FIXED_KIND_RGB[PAGE_OTHER];
}

export function pageStateCss(state: number): string {
  return rgbCss(pageStateRgb(state));
}

function tableOf(rgbOf: (state: number) => Rgb): Uint32Array {
  const table = new Uint32Array(256);
  for (let state = 0; state < 256; state++) table[state] = packRgba(...rgbOf(state));
  return table;
}

/** Packed colour for each of the 256 page state bytes: the `colours` argument of the page map. */
export const PAGE_COLOURS: Uint32Array = tableOf(pageStateRgb);

// A device's mirror entry, as the map shows it: five classes ordered by what the device may do.
export const MIRROR_CLASS_NO_ENTRY = 0;
export const MIRROR_CLASS_SYSTEM_READ = 1;
export const MIRROR_CLASS_SYSTEM_WRITE = 2;
export const MIRROR_CLASS_DEVICE_MEMORY = 3;
export const MIRROR_CLASS_ATOMIC = 4;
export const MIRROR_CLASS_NAMES: readonly string[] = [
  'no entry',
  'system read-only',
  'system read-write',
  'device memory',
  'atomic',
];
const MIRROR_CLASS_RGB: readonly Rgb[] = [
  [240, 241, 243],
  [147, 197, 253],
  [37, 99, 235],
  [234, 88, 12],
  [124, 58, 237],
];

/** Which of the five mirror classes a mirror byte (MIRROR_* flags) falls in. */
export function mirrorClass(state: number): number {
  if ((state & MIRROR_VALID) === 0) return MIRROR_CLASS_NO_ENTRY;
  if (state & MIRROR_ATOMIC) return MIRROR_CLASS_ATOMIC;
  if (state & MIRROR_LOCAL) return MIRROR_CLASS_DEVICE_MEMORY;
  return state & MIRROR_WRITE ? MIRROR_CLASS_SYSTEM_WRITE : MIRROR_CLASS_SYSTEM_READ;
}

export function mirrorStateRgb(state: number): Rgb {
  return MIRROR_CLASS_RGB[mirrorClass(state)];
}

export function mirrorStateCss(state: number): string {
  return rgbCss(mirrorStateRgb(state));
}

export function mirrorClassCss(mirrorClassIndex: number): string {
  return rgbCss(MIRROR_CLASS_RGB[mirrorClassIndex]);
}

/** Packed colour for each of the 256 mirror bytes: pass as `colours` to draw a device's mirror. */
export const MIRROR_COLOURS: Uint32Array = tableOf(mirrorStateRgb);
