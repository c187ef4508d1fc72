// The HTML report: standalone (no URL, no script to load), one SVG per plot with text in it, the
// data embedded as JSON, graceful with no data, deterministic.

import { describe, expect, it } from 'vitest';
import { emptySummary, sampleResult } from '../../test/reportFixtures.js';
import { MAX_PLOT_POINTS, renderHtmlReport, reportPlots } from './html.js';
import type { RunResult } from './types.js';

interface Embedded {
  format: string;
  plots: { id: string; title: string; spec: { data: { values: unknown[] } } | null }[];
  series: { name: string; values: number[] }[];
  histograms: { name: string; counts: number[] }[];
  summary: { scenario: string };
}

function embedded(html: string): Embedded {
  const match = /<script type="application\/json" id="hetmem-report-data">([\s\S]*?)<\/script>/.exec(html);
  expect(match).not.toBeNull();
  return JSON.parse(match![1]) as Embedded;
}

const svgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];

describe('renderHtmlReport', async () => {
  const result = sampleResult();
  const html = await renderHtmlReport(result, { title: 'hetmem <report>' });

  it('is one document with the escaped title and the summary table', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<title>hetmem &#60;report&#62;</title>');
    expect(html).toContain('<table class="summary">');
    expect(html).toContain('<td>cpu</td><td>121</td>');
    expect(html).toContain('<td>pcie:gpu0</td><td>2.25 MiB (2359296 B)</td>');
    expect(html).toContain('<tr class="fail"><td>FAIL</td>');
    expect(html).toContain('<td>trainer op 4</td><td>mmap 8 GiB: ENOMEM</td>');
  });

  it('has one SVG per plot with data, under each plot title', () => {
    // faults, resident, bytes, latency.iopf; latency.dma_job has no samples.
    expect(svgs(html)).toHaveLength(4);
    for (const title of [
      'Faults over time',
      'Resident pages per memory over time',
      'Bytes moved per link (cumulative)',
      'Latency: latency.iopf',
      'Latency: latency.dma_job',
    ]) {
      expect(html).toContain(`<h3>${title}</h3>`);
    }
    expect(html).toMatch(/<h3>Latency: latency\.dma_job<\/h3>\n<p class="nodata">no data<\/p>/);
  });

  it('renders text inside the SVGs even without a canvas (axis titles, legend labels)', () => {
    const all = svgs(html).join('\n');
    expect(all).toMatch(/<text[^>]*>simulated time \(ms\)<\/text>/);
    expect(all).toMatch(/<text[^>]*>bytes moved \(MiB\)<\/text>/);
    expect(all).toMatch(/<text[^>]*>cpu<\/text>/);
    expect(all).toMatch(/<text[^>]*>gpu0<\/text>/);
    expect(all).toMatch(/<text[^>]*>2\.05 µs<\/text>/);
  });

  it('is standalone: no URL, no external script, font or stylesheet', () => {
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    expect(html).not.toMatch(/<link\b/);
    expect(html).not.toMatch(/@import|@font-face|url\((?!#)/);
    // The only script is the inert JSON block.
    expect(html.match(/<script\b/g)).toHaveLength(1);
  });

  it('embeds the specs and the raw series as JSON that parses, safely escaped', () => {
    const data = embedded(html);
    expect(data.format).toBe('hetmem-report/1');
    expect(data.summary.scenario).toBe('gpu-migrate');
    expect(data.series.map((s) => s.name)).toEqual(result.series.map((s) => s.name));
    expect(data.series[4].values).toEqual(result.series[4].values);
    expect(data.histograms.map((h) => h.name)).toEqual(['latency.iopf', 'latency.dma_job']);
    // The fixture has no migration series: that plot says 'no data'.
    expect(data.plots.map((p) => p.spec === null)).toEqual([false, false, true, false, false, true]);
    expect(data.plots[0].spec!.data.values.length).toBe(400);
    // An expectation text holding "</script><!--" must not end the block early.
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).not.toContain('<!--');
  });

  it('is deterministic, and gives plots distinct element ids', async () => {
    expect(await renderHtmlReport(sampleResult(), { title: 'hetmem <report>' })).toBe(html);
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('a run with no data', async () => {
  const empty: RunResult = { summary: emptySummary(), series: [], histograms: [], trace: null };
  const html = await renderHtmlReport(empty, { title: 'nothing' });

  it('renders every section with "no data" and no SVG', () => {
    expect(svgs(html)).toHaveLength(0);
    expect(html.match(/<p class="nodata">no data<\/p>/g)).toHaveLength(5);
    expect(html).toContain('<h3>Latency histograms</h3>');
    expect(embedded(html).series).toEqual([]);
  });

  it('treats series without samples as no data', async () => {
    const hollow: RunResult = {
      ...empty,
      series: [{ name: 'faults.cpu', unit: 'faults', group: 'faults', tNs: [], values: [] }],
    };
    expect(svgs(await renderHtmlReport(hollow, { title: 'hollow' }))).toHaveLength(0);
  });
});

/** 100 000 samples over 100 ms with one spike up and one down, far from any bucket edge. */
function longRun(): RunResult {
  const tNs = Array.from({ length: 100_000 }, (_, i) => i * 1000);
  const values = tNs.map((_, i) => (i === 54_321 ? 1e6 : i === 77_777 ? -5 : i % 100));
  return {
    summary: emptySummary(),
    series: [{ name: 'faults.cpu', unit: 'faults', group: 'faults', tNs, values }],
    histograms: [],
    trace: null,
  };
}

describe('reportPlots', () => {
  it('thins long series for drawing but keeps the first, last, lowest and highest samples', () => {
    const spec = reportPlots(longRun())[0].spec as unknown as {
      data: { values: { t: number; value: number }[] };
    };
    const rows = spec.data.values;
    expect(rows.length).toBeLessThanOrEqual(MAX_PLOT_POINTS + 2);
    expect(rows[0].t).toBe(0);
    expect(rows[rows.length - 1].t).toBe(99.999); // ms
    expect(rows.map((r) => r.value)).toContain(1e6);
    expect(rows.map((r) => r.value)).toContain(-5);
    expect(rows.map((r) => r.t)).toEqual([...rows.map((r) => r.t)].sort((a, b) => a - b));
  });
});

describe('the embedded data of a long run', async () => {
  const html = await renderHtmlReport(longRun(), { title: 'long' });

  it('stays small: series are thinned like their plot and say how many samples there were', () => {
    const [series] = embedded(html).series as unknown as {
      samples: number;
      tNs: number[];
      values: number[];
    }[];
    expect(series.samples).toBe(100_000);
    expect(series.values.length).toBeLessThanOrEqual(MAX_PLOT_POINTS + 2);
    expect(series.tNs.length).toBe(series.values.length);
    expect(series.values).toContain(1e6);
    expect(html.length).toBeLessThan(200_000);
  });
});
