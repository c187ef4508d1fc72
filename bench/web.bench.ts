// Figures of the visualizer page, measured in headless chromium (Debian's package, driven by
// playwright-core): how long the page takes from navigation to the default scenario's page map
// drawn, and how long one full redraw of a 1 Mi-page map takes in the browser.
//
// Timing method: the page is built first when dist/web is missing or stale, and served once by
// `startServer` in this process. tinybench's loop does not fit (each repetition is asynchronous and
// needs a browser context), so each figure runs its repetitions itself and reports the median.

import type { Browser } from 'playwright-core';
import { startServer, visualizerRoot, type RunningServer } from '../src/cli/serve.js';
import { ensurePageBuilt, launchChromium, MAP_DRAWN_SELECTOR } from '../web/e2e/browserHarness.js';
import type { Figure } from './harness.js';

const VIEWPORT = { width: 1400, height: 1000 };
const FIRST_RENDER_WARMUP = 1;
const FIRST_RENDER_REPS = 5;
const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Builds the page if needed, serves it and launches chromium around `body`; always cleans up. */
async function withPage<T>(body: (server: RunningServer, browser: Browser) => Promise<T>): Promise<T> {
  ensurePageBuilt();
  const server = await startServer({ root: visualizerRoot(), port: 0 });
  try {
    const browser = await launchChromium();
    try {
      return await body(server, browser);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}

// ---- web.first_render_ms ----------------------------------------------------------------------------

const firstRenderMs: Figure = {
  name: 'web.first_render_ms',
  unit: 'ms',
  target: { max: 1500 },
  description: `navigation start to the default scenario's page map first drawn (the simulator run in the worker, the recording shown, map pixels on the canvas), in the page's clock, a fresh browser context each time; median of ${FIRST_RENDER_REPS} after ${FIRST_RENDER_WARMUP} warmup`,
  run: () =>
    withPage(async (server, browser) => {
      const samples: number[] = [];
      for (let i = -FIRST_RENDER_WARMUP; i < FIRST_RENDER_REPS; i++) {
        // A fresh context: no cache, no storage, a new worker; the browser process stays warm.
        const context = await browser.newContext({ viewport: VIEWPORT });
        try {
          const page = await context.newPage();
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(e.message));
          await page.goto(server.url);
          await page.locator(MAP_DRAWN_SELECTOR).first().waitFor({ timeout: 30_000 });
          // The page's own clock: navigation start to the first map pixels (PageMap marks it), so
          // Playwright's polling and messaging are not counted.
          const elapsed = await page.evaluate(
            () => performance.getEntriesByName('hetmem:page-map-drawn')[0]?.startTime ?? Number.NaN,
          );
          if (!Number.isFinite(elapsed)) throw new Error('the page map never marked its first drawing');
          // A run that ended in an error is no render at all.
          const status = await page.locator('[data-testid="status"]').getAttribute('data-status');
          if (status !== 'ready') throw new Error(`the default scenario ended with status ${status}`);
          if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
          if (i >= 0) samples.push(elapsed);
        } finally {
          await context.close();
        }
      }
      if (verbose) {
        const sorted = [...samples].sort((a, b) => a - b).map((ms) => ms.toFixed(0));
        process.stderr.write(`\n  web.first_render_ms: sorted ms [${sorted.join(', ')}]`);
      }
      return median(samples);
    }),
};

// ---- web.map_redraw_ms ------------------------------------------------------------------------------

/** The fields of `#bench-result` this figure reads (web/src/bench/mapRedraw.ts). */
interface MapRedrawResult {
  readonly medianMs: number;
  readonly zoomedMedianMs: number;
  readonly pages: number;
  readonly width: number;
  readonly height: number;
}

const mapRedrawMs: Figure = {
  name: 'web.map_redraw_ms',
  unit: 'ms',
  target: { max: 50 },
  description:
    'the page-map redraw benchmark in the page (?bench=map-redraw): one full redraw (rasterize + putImageData) of 1 Mi synthetic pages fitted into a 1200x600 canvas, median of 30',
  run: () =>
    withPage(async (server, browser) => {
      const context = await browser.newContext({ viewport: VIEWPORT });
      try {
        const page = await context.newPage();
        await page.goto(new URL('?bench=map-redraw', server.url).href);
        const text = await page.locator('#bench-result').textContent({ timeout: 60_000 });
        const result = JSON.parse(text ?? '') as MapRedrawResult;
        if (result.pages !== 1 << 20) throw new Error(`the benchmark drew ${result.pages} pages, not 1 Mi`);
        if (verbose) {
          process.stderr.write(
            `\n  web.map_redraw_ms: ${result.width}x${result.height}, whole ${result.medianMs.toFixed(2)} ms, zoomed ${result.zoomedMedianMs.toFixed(2)} ms`,
          );
        }
        return result.medianMs;
      } finally {
        await context.close();
      }
    }),
};

export const webFigures: readonly Figure[] = [firstRenderMs, mapRedrawMs];
