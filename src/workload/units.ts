// Sizes and durations as scenario files write them: "64MiB", "4KiB", "2GB", "10us", "1.5ms", or
// plain numbers (bytes, nanoseconds). Binary prefixes are powers of 1024, decimal ones of 1000.

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

const TIME_UNITS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1_000,
  µs: 1_000,
  ms: 1_000_000,
  s: 1_000_000_000,
};

export const SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$/;
export const TIME_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*$/;

/** Bytes for a size string or number; NaN when it does not parse or is not a whole number of bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : NaN;
  const m = SIZE_PATTERN.exec(v);
  if (m === null) return NaN;
  const bytes = Number(m[1]) * SIZE_UNITS[m[2] ?? 'B'];
  return Number.isInteger(bytes) ? bytes : NaN;
}

/** Nanoseconds for a duration string or number (rounded to a whole ns); NaN when it does not parse. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v) : NaN;
  const m = TIME_PATTERN.exec(v);
  if (m === null) return NaN;
  return Math.round(Number(m[1]) * TIME_UNITS[m[2] ?? 'ns']);
}

/** "4 KiB", "1.5 MiB": a size for people (rounded first, so 1048575 B is "1 MiB", not "1024.0 KiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (u < units.length - 1 && Math.round(v * 10) / 10 >= 1024) {
    v /= 1024;
    u++;
  }
  const r = Math.round(v * 10) / 10;
  return `${Number.isInteger(v) ? v : r.toFixed(1)} ${units[u]}`;
}

/** "250 ns", "12.5 us", "3.20 ms", "1.250 s": a duration for people (rounded before the unit is chosen). */
export function formatDuration(ns: number): string {
  if (ns < 1_000) return `${ns} ns`;
  if (Math.round(ns / 100) / 10 < 1_000) return `${(ns / 1_000).toFixed(1)} us`;
  if (Math.round(ns / 10_000) / 100 < 1_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1_000_000_000).toFixed(3)} s`;
}
