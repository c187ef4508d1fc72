// The HTML report of a run: one standalone file with the summary table and the plots, readable
// offline and with JavaScript disabled. Each plot is a Vega-Lite spec, compiled with vega-lite and
// rendered here to SVG by vega, then inlined; nothing is fetched, so the file can be mailed or
// archived as is. The specs and their data are embedded as JSON so users can re-plot them.
//
// Vega measures text with a canvas when one exists; there is none here, so it estimates widths from
// the font size. Labels and titles still render (as SVG <text>); only overlap removal and legend
// spacing are approximate.

import type { TopLevelSpec } from 'vega-lite';
import { formatDurationNs, summarySections } from './summaryText.js';
import type { Histogram, RunResult, TimeSeries } from './types.js';

/** Plots are drawn at this size (pixels, the data rectangle); CSS scales them down on narrow screens. */
const PLOT_WIDTH = 640;
const PLOT_HEIGHT = 220;
/** A series with more samples is thinned to this many points for drawing (min and max per bucket). */
export const MAX_PLOT_POINTS = 1000;

/** One plot: its spec (null when there is nothing to draw) and the text shown above it. */
export interface ReportPlot {
  readonly id: string;
  readonly title: string;
  readonly caption: string;
  readonly spec: TopLevelSpec | null;
}

/**
 * The report as one HTML document. Asynchronous because vega's `toSVG` is.
 *
 * @example
 * await writeFile('report.html', await renderHtmlReport(result, { title: 'hetmem: tour' }));
 */
export async function renderHtmlReport(result: RunResult, options: { title: string }): Promise<string> {
  const plots = reportPlots(result);
  // Loaded here, not at the top: the two packages take about 250 ms to import, which every user of
  // the package index (and every CLI command) would otherwise pay for a report they may never ask for.
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const render: Renderer = { vega, compile: vegaLite.compile };
  const figures: string[] = [];
  // One at a time: vega numbers clip paths with a global counter, reset before each render below.
  for (const plot of plots) {
    figures.push(figure(plot, plot.spec === null ? null : await renderSvg(render, plot.spec, plot)));
  }
  const data = {
    format: 'hetmem-report/1',
    specFormat: 'vega-lite@6',
    title: options.title,
    summary: result.summary,
    plots: plots.map(({ id, title, caption, spec }) => ({ id, title, caption, spec })),
    series: result.series.map(embeddedSeries),
    histograms: result.histograms,
  };
  const s = result.summary;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(options.title)}</h1>
<p class="meta">scenario <b>${escapeHtml(s.scenario)}</b>, seed <b>${s.seed}</b>, simulated time <b>${escapeHtml(formatDurationNs(s.table.simNs))}</b></p>
<h2>Summary</h2>
${summaryTable(result)}
<h2>Plots</h2>
${figures.join('\n')}
<script type="application/json" id="hetmem-report-data">${jsonForScript(data)}</script>
</body>
</html>
`;
}

/** The plots of a run, in page order: faults, resident pages, bytes per link, one per histogram. */
export function reportPlots(result: RunResult): ReportPlot[] {
  const group = (name: string) => result.series.filter((s) => s.group === name);
  const plots: ReportPlot[] = [
    seriesPlot('faults', 'Faults over time', group('faults'), 'faults'),
    seriesPlot('resident', 'Resident pages per memory over time', group('resident'), 'resident pages'),
    seriesPlot('migrations', 'Pages migrated per GPU (cumulative)', group('migrations'), 'pages migrated'),
    // Link series are the runner's running totals (counters sampled over time), drawn as they come.
    seriesPlot('bytes', 'Bytes moved per link (cumulative)', group('bytes'), 'bytes moved', true),
  ];
  if (result.histograms.length === 0) {
    plots.push({ id: 'latency', title: 'Latency histograms', caption: 'no histograms recorded', spec: null });
  }
  result.histograms.forEach((h, i) => plots.push(histogramPlot(`latency-${i}`, h)));
  return plots;
}

function seriesPlot(
  id: string,
  title: string,
  series: readonly TimeSeries[],
  yTitle: string,
  bytes = false,
): ReportPlot {
  const maxNs = Math.max(0, ...series.map((s) => s.tNs[s.tNs.length - 1] ?? 0));
  const time = timeUnit(maxNs);
  // A loop, not Math.max(...values): spreading a million samples overflows the call stack.
  let maxValue = 0;
  for (const s of series) for (const v of s.values) if (v > maxValue && Number.isFinite(v)) maxValue = v;
  const yUnit = bytes ? binaryUnit(maxValue) : { name: unitOf(series), divisor: 1 };
  const rows: { t: number; value: number; series: string }[] = [];
  let longest = 0;
  for (const s of series) {
    const label = s.name.startsWith(`${s.group}.`) ? s.name.slice(s.group.length + 1) : s.name;
    const kept = decimate(s, MAX_PLOT_POINTS);
    longest = Math.max(longest, kept.length);
    for (const i of kept)
      rows.push({ t: s.tNs[i] / time.divisor, value: s.values[i] / yUnit.divisor, series: label });
  }
  if (rows.length === 0) return { id, title, caption: 'no data', spec: null };
  const spec: TopLevelSpec = {
    ...BASE,
    description: title,
    data: { values: rows },
    // Samples are states held until the next sample, hence steps; markers make short series visible.
    mark: { type: 'line', interpolate: 'step-after', point: longest <= 30 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: `simulated time (${time.name})` },
      y: { field: 'value', type: 'quantitative', title: withUnit(yTitle, yUnit.name) },
      color: { field: 'series', type: 'nominal', title: null, sort: null },
    },
  };
  const names = series.map((s) => s.name).join(', ');
  return { id, title, caption: `${series.length} series: ${names}`, spec };
}

function histogramPlot(id: string, h: Histogram): ReportPlot {
  const title = `Latency: ${h.name}`;
  const first = h.counts.findIndex((n) => n > 0);
  if (h.count === 0 || first < 0) return { id, title, caption: 'no data', spec: null };
  let last = h.counts.length - 1;
  while (h.counts[last] === 0) last--;
  const rows = [];
  for (let i = first; i <= last; i++) rows.push({ bucket: bucketLabel(i), count: h.counts[i] });
  const mean = h.sumNs / h.count;
  const caption =
    `${h.count} samples; mean ${formatDurationNs(Math.round(mean))}, ` +
    `min ${formatDurationNs(h.minNs)}, max ${formatDurationNs(h.maxNs)}`;
  const spec: TopLevelSpec = {
    ...BASE,
    height: 180,
    description: title,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: {
        field: 'bucket',
        type: 'ordinal',
        sort: rows.map((r) => r.bucket),
        title: 'latency (power-of-two buckets, lower bound)',
        axis: { labelAngle: -45 },
      },
      y: { field: 'count', type: 'quantitative', title: 'samples' },
    },
  };
  return { id, title, caption, spec };
}

const BASE = {
  width: PLOT_WIDTH,
  height: PLOT_HEIGHT,
  background: 'white',
  // A local generic family: no font is fetched, and the estimate of text widths assumes it.
  config: { font: 'sans-serif' },
} as const;

/** Bucket i holds [2^(i-1), 2^i) ns; bucket 0 holds what is below 1 ns. */
function bucketLabel(i: number): string {
  if (i === 0) return '<1 ns';
  const ns = 2 ** (i - 1);
  if (ns < 1e3) return `${ns} ns`;
  if (ns < 1e6) return `${Number((ns / 1e3).toPrecision(3))} µs`;
  if (ns < 1e9) return `${Number((ns / 1e6).toPrecision(3))} ms`;
  return `${Number((ns / 1e9).toPrecision(3))} s`;
}

function timeUnit(maxNs: number): { name: string; divisor: number } {
  if (maxNs < 1e4) return { name: 'ns', divisor: 1 };
  if (maxNs < 1e7) return { name: 'µs', divisor: 1e3 };
  if (maxNs < 1e10) return { name: 'ms', divisor: 1e6 };
  return { name: 's', divisor: 1e9 };
}

function binaryUnit(max: number): { name: string; divisor: number } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let k = 0;
  while (k < units.length - 1 && max >= 1024 ** (k + 1)) k++;
  return { name: units[k], divisor: 1024 ** k };
}

/** `faults`, `bytes moved (MiB)`: the unit is added unless the title already says it. */
function withUnit(title: string, unit: string): string {
  return unit === '' || title.split(' ').includes(unit) ? title : `${title} (${unit})`;
}

/** The series' common unit, or none when they differ (the legend names the series anyway). */
function unitOf(series: readonly TimeSeries[]): string {
  const units = new Set(series.map((s) => s.unit));
  return units.size === 1 ? [...units][0] : '';
}

/**
 * A series as embedded in the page: thinned like its plot, so the file stays small however long the
 * run was (`samples` says how many there were; the JSON summary and the runner keep them all).
 */
function embeddedSeries(s: TimeSeries): TimeSeries & { samples: number } {
  const kept = decimate(s, MAX_PLOT_POINTS);
  const n = Math.min(s.tNs.length, s.values.length);
  const thinned = kept.length < n;
  return {
    name: s.name,
    unit: s.unit,
    group: s.group,
    samples: n,
    tNs: thinned ? kept.map((i) => s.tNs[i]) : s.tNs,
    values: thinned ? kept.map((i) => s.values[i]) : s.values,
  };
}

/**
 * Indices of the samples to draw: all of them when few, else the first, the last, and the lowest
 * and highest of each bucket in time order, so spikes survive the thinning. Non-finite samples are
 * dropped (vega would break the line there anyway).
 */
function decimate(s: TimeSeries, maxPoints: number): number[] {
  const n = Math.min(s.tNs.length, s.values.length);
  const ok = (i: number) => Number.isFinite(s.tNs[i]) && Number.isFinite(s.values[i]);
  const all: number[] = [];
  if (n <= maxPoints) {
    for (let i = 0; i < n; i++) if (ok(i)) all.push(i);
    return all;
  }
  const bucket = Math.ceil(n / Math.floor(maxPoints / 2));
  const kept = [];
  for (let start = 0; start < n; start += bucket) {
    let lo = -1;
    let hi = -1;
    for (let i = start; i < Math.min(n, start + bucket); i++) {
      if (!ok(i)) continue;
      if (lo < 0 || s.values[i] < s.values[lo]) lo = i;
      if (hi < 0 || s.values[i] > s.values[hi]) hi = i;
    }
    if (lo >= 0) kept.push(...(lo === hi ? [lo] : [Math.min(lo, hi), Math.max(lo, hi)]));
  }
  if (ok(0) && kept[0] !== 0) kept.unshift(0);
  if (ok(n - 1) && kept[kept.length - 1] !== n - 1) kept.push(n - 1);
  return kept;
}

interface Renderer {
  readonly vega: typeof import('vega');
  readonly compile: typeof import('vega-lite').compile;
}

async function renderSvg({ vega, compile }: Renderer, spec: TopLevelSpec, plot: ReportPlot): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Error });
  let svg: string;
  try {
    vega.resetSVGDefIds();
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  // Inline SVG in HTML needs no namespace declarations; dropping them keeps the page free of URLs.
  // Ids (clip paths) get the plot's prefix so several plots on one page never share one.
  return svg
    .replace(/ xmlns(:xlink)?="[^"]*"/g, '')
    .replace(/ id="([^"]*)"/g, ` id="${plot.id}-$1"`)
    .replace(/url\(#([^)]*)\)/g, `url(#${plot.id}-$1)`)
    .replace('<svg ', `<svg role="img" aria-label="${escapeHtml(plot.title)}" `);
}

function figure(plot: ReportPlot, svg: string | null): string {
  const body = svg ?? '<p class="nodata">no data</p>';
  const caption = svg === null ? '' : `<p class="caption">${escapeHtml(plot.caption)}</p>`;
  return `<figure id="${plot.id}">\n<h3>${escapeHtml(plot.title)}</h3>\n${caption}${body}\n</figure>`;
}

function summaryTable(result: RunResult): string {
  const rows: string[] = [];
  for (const section of summarySections(result.summary)) {
    rows.push(`<tr><th colspan="2">${escapeHtml(section.title)}</th></tr>`);
    if (section.rows.length === 0) rows.push('<tr><td class="none" colspan="2">none</td></tr>');
    for (const row of section.rows) {
      const cls = row.status === undefined ? '' : ` class="${row.status}"`;
      rows.push(`<tr${cls}><td>${escapeHtml(row.label)}</td><td>${escapeHtml(row.value)}</td></tr>`);
    }
  }
  return `<table class="summary">\n${rows.join('\n')}\n</table>`;
}

/**
 * JSON that is safe inside a <script> element: `<` is written as \u003c, so neither `</script>`
 * nor `<!--` in a name or an expectation can end the block early.
 */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const CSS = `
body{font:15px/1.45 system-ui,sans-serif;color:#222;max-width:760px;margin:2em auto;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:0 0 .3em}
.meta,.caption,.nodata,.none{color:#666}
.nodata{font-style:italic}
table.summary{border-collapse:collapse;font-variant-numeric:tabular-nums}
.summary th{text-align:left;padding:.7em 0 .1em}
.summary td{padding:.05em 1.5em .05em .8em;vertical-align:top}
.pass{color:#116611}
.fail{color:#b00020;font-weight:600}
figure{margin:1.6em 0}
svg{max-width:100%;height:auto}
`;
