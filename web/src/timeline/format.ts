// Time text and axis ticks for the event timeline: simulated nanoseconds shown in the unit that
// fits (ns, µs, ms, s), and tick steps from the 1-2-5 sequence so the labels are round numbers at
// any zoom. Also the category palette, so a category keeps its colour across runs and reloads.

/** A display unit for simulated time. */
export interface TimeUnit {
  readonly name: 'ns' | 'µs' | 'ms' | 's';
  readonly ns: number;
  /** Decimals `formatNs` shows in this unit. */
  readonly decimals: number;
}

/**
 * Units smallest first. The decimals keep roughly three significant digits for µs and resolve a
 * microsecond in ms and s, which is the grain at which runs are usually read.
 */
export const TIME_UNITS: readonly TimeUnit[] = [
  { name: 'ns', ns: 1, decimals: 0 },
  { name: 'µs', ns: 1e3, decimals: 1 },
  { name: 'ms', ns: 1e6, decimals: 3 },
  { name: 's', ns: 1e9, decimals: 3 },
];

/** The largest unit not bigger than |ns| (ns for anything below a microsecond, including 0). */
export function unitFor(ns: number): TimeUnit {
  const abs = Math.abs(ns);
  let unit = TIME_UNITS[0];
  for (const candidate of TIME_UNITS) if (abs >= candidate.ns) unit = candidate;
  return unit;
}

/**
 * Simulated time as text in the unit that fits.
 * @example formatNs(850); // '850 ns'
 * @example formatNs(12_345); // '12.3 µs'
 * @example formatNs(1_500_000); // '1.500 ms'
 */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return String(ns);
  let u = TIME_UNITS.indexOf(unitFor(ns));
  let text = fixed(ns / TIME_UNITS[u].ns, TIME_UNITS[u].decimals);
  // Rounding can carry into the next unit (999_960 ns is '1000.0 µs'): say '1.000 ms' instead.
  if (Math.abs(Number(text)) >= 1000 && u + 1 < TIME_UNITS.length) {
    u++;
    text = fixed(ns / TIME_UNITS[u].ns, TIME_UNITS[u].decimals);
  }
  if (u === 0 && !Number.isInteger(ns)) text = fixed(ns, 1);
  return `${text} ${TIME_UNITS[u].name}`;
}

/** A number with `decimals` decimals and no negative zero. */
function fixed(value: number, decimals: number): string {
  const text = value.toFixed(decimals);
  return Number(text) === 0 ? (0).toFixed(decimals) : text;
}

/** Exact nanoseconds with thousands separators, for details where rounding would hide something. */
export function formatNsExact(ns: number): string {
  return `${ns.toLocaleString('en-US', { maximumFractionDigits: 3 })} ns`;
}

/** Smallest tick step the axis uses: sub-nanosecond ticks mean nothing in a model counting in ns. */
export const MIN_TICK_STEP_NS = 1;

/**
 * The smallest step of the 1-2-5 sequence (1, 2, 5, 10, 20, 50, ... ns) that cuts `rangeNs` into at
 * most `maxTicks` intervals.
 * @example niceStepNs(1_000_000, 10); // 100_000
 * @example niceStepNs(1_000_000, 4); // 500_000
 */
export function niceStepNs(rangeNs: number, maxTicks: number): number {
  if (!(rangeNs > 0) || !Number.isFinite(rangeNs)) return MIN_TICK_STEP_NS;
  const rough = rangeNs / Math.max(1, Math.floor(maxTicks));
  let decade = 10 ** Math.floor(Math.log10(rough));
  // log10 can land a hair off for exact powers of ten; step the decade back into range.
  if (decade > rough) decade /= 10;
  for (;;) {
    for (const mantissa of [1, 2, 5]) {
      const step = mantissa * decade;
      if (step >= rough && step >= MIN_TICK_STEP_NS) return step;
    }
    decade *= 10;
  }
}

/** True when `stepNs` is 1, 2 or 5 times a power of ten. */
export function isNiceStep(stepNs: number): boolean {
  if (!(stepNs > 0)) return false;
  const decade = 10 ** Math.floor(Math.log10(stepNs) + 1e-9);
  const mantissa = stepNs / decade;
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
}

export interface Ticks {
  readonly stepNs: number;
  /** Multiples of `stepNs` in [fromNs, toNs], ascending. */
  readonly valuesNs: readonly number[];
  /** The unit labels use, the same for every tick so the axis reads as one scale. */
  readonly unit: TimeUnit;
  /** Decimals labels need in `unit` to tell neighbouring ticks apart. */
  readonly decimals: number;
}

/**
 * Axis ticks for [fromNs, toNs]: every multiple of a 1-2-5 step in the range, at most `maxTicks`
 * intervals apart. Values are computed as k × step from integers k, so they do not drift.
 * @example ticks(0, 1000, 5).valuesNs; // [0, 200, 400, 600, 800, 1000]
 */
export function ticks(fromNs: number, toNs: number, maxTicks: number): Ticks {
  const lo = Math.min(fromNs, toNs);
  const hi = Math.max(fromNs, toNs);
  const stepNs = niceStepNs(hi - lo, maxTicks);
  const unit = unitFor(Math.max(Math.abs(lo), Math.abs(hi), stepNs));
  const decimals = Math.max(0, Math.ceil(-Math.log10(stepNs / unit.ns) - 1e-9));
  const valuesNs: number[] = [];
  const first = Math.ceil(lo / stepNs);
  const last = Math.floor(hi / stepNs);
  // The step keeps this at most maxTicks + 1 values; the bound guards against a NaN range.
  for (let k = first; k <= last && valuesNs.length <= maxTicks + 1; k++) valuesNs.push(k * stepNs);
  return { stepNs, valuesNs, unit, decimals };
}

/**
 * One tick's label in the axis's unit.
 * @example const t = ticks(0, 2_000_000, 4); formatTick(t.valuesNs[1], t); // '0.5 ms'
 */
export function formatTick(tNs: number, axis: Pick<Ticks, 'unit' | 'decimals'>): string {
  return `${fixed(tNs / axis.unit.ns, axis.decimals)} ${axis.unit.name}`;
}

/**
 * Categorical colours with enough contrast for white text on the darker ones. Order matters:
 * changing it recolours every category.
 */
export const CATEGORY_PALETTE: readonly string[] = [
  '#2563eb', // blue
  '#dc2626', // red
  '#16a34a', // green
  '#d97706', // amber
  '#7c3aed', // violet
  '#0891b2', // cyan
  '#db2777', // pink
  '#65a30d', // lime
  '#9333ea', // purple
  '#ea580c', // orange
  '#0d9488', // teal
  '#4b5563', // grey
];

/**
 * A category's colour: FNV-1a of its name picks from `CATEGORY_PALETTE`, so the same category has
 * the same colour in every run and every browser.
 * @example categoryColour('migrate') === categoryColour('migrate'); // true
 */
export function categoryColour(category: string): string {
  return CATEGORY_PALETTE[fnv1a(category) % CATEGORY_PALETTE.length];
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
