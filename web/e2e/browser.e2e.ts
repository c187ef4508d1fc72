// End-to-end tests of the visualizer page: the page built into dist/web, served by `startServer` as
// `hetmem serve` does, driven in headless chromium. They run the built-in default scenario
// (src/workload/scenario/builtin.ts): region `data` (32 MiB, 8192 pages) is written by the CPU, then
// one prefetch event moves all of it to gpu0; later regions `scratch` (8 MiB) and `out` (4 MiB)
// follow, dsa0 binds the process by PASID, and the process exits.
//
// Screenshots go to web-test-output/ (not in git). Every test opens a fresh browser context, and
// after each test the page must have had no uncaught error and no console error other than the
// expected failed loads (browserHarness.ts).

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, visualizerRoot, type RunningServer } from '../../src/cli/serve.js';
import {
  collectPageErrors,
  ensurePageBuilt,
  launchChromium,
  MAP_DRAWN_SELECTOR,
  REPO_ROOT,
} from './browserHarness.js';

const OUTPUT_DIR = join(REPO_ROOT, 'web-test-output');
const VIEWPORT = { width: 1400, height: 1000 };
const PAGE_BYTES = 4096;
/** Region `data` of the default scenario. */
const DATA_PAGES = (32 << 20) / PAGE_BYTES;
/** Every page the default scenario's process ever maps: data, scratch and out. */
const ALL_PAGES = ((32 + 8 + 4) << 20) / PAGE_BYTES;
const DEFAULT_FILE = 'default-story.yaml';

let server: RunningServer | undefined;
let browser: Browser | undefined;
let session: { context: BrowserContext; errors: string[] } | null = null;

beforeAll(async () => {
  ensurePageBuilt();
  mkdirSync(OUTPUT_DIR, { recursive: true });
  server = await startServer({ root: visualizerRoot(), port: 0 });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

afterEach(async () => {
  if (session === null) return;
  const { context, errors } = session;
  session = null;
  await context.close();
  expect(errors, 'uncaught page errors or unexpected console errors').toEqual([]);
});

const byTestId = (id: string): string => `[data-testid="${id}"]`;

/** Retries `read` until the matcher passes (the page renders after events, not during them). */
function poll<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 15_000, interval: 50 });
}

/**
 * Opens `url` (the main server's page by default) in a fresh context; its errors are checked after
 * the test. `expectedFailedLoads` matches paths whose failed loads are part of the test.
 */
async function openPage(url = server!.url, expectedFailedLoads?: RegExp): Promise<Page> {
  const context = await browser!.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  session = { context, errors: collectPageErrors(page, expectedFailedLoads) };
  await page.goto(url);
  return page;
}

/** Waits until a recording is shown and the map drawn from it. */
async function waitForRun(page: Page): Promise<void> {
  await page.locator(`${byTestId('status')}[data-status="ready"]`).waitFor();
  await page.locator(MAP_DRAWN_SELECTOR).first().waitFor();
}

async function frameOf(page: Page): Promise<number> {
  return Number(await page.locator(byTestId('frame')).getAttribute('data-frame'));
}

async function lastFrameOf(page: Page): Promise<number> {
  return Number(await page.locator(byTestId('seek')).getAttribute('max'));
}

async function waitForFrame(page: Page, frame: number): Promise<void> {
  await page.locator(`${byTestId('frame')}[data-frame="${frame}"]`).waitFor();
}

/** Moves playback with the slider (an `input` event, as dragging it sends). */
async function seekTo(page: Page, frame: number): Promise<void> {
  await page.locator(byTestId('seek')).fill(String(frame));
  await waitForFrame(page, frame);
}

/** Clicks `next-migration` and returns the frame it moved to. */
async function nextMigration(page: Page): Promise<number> {
  const before = await frameOf(page);
  await page.locator(byTestId('next-migration')).click();
  await page.locator(`${byTestId('frame')}:not([data-frame="${before}"])`).waitFor();
  return frameOf(page);
}

/** The map of the shown process (not a device's mirror of it). */
function mainCanvas(page: Page): Locator {
  return page.locator(`${byTestId('page-map')} ${byTestId('page-map-canvas')}`);
}

/** Legend rows under `scope` whose test id starts with `prefix`, as test id → page count. */
async function legendCounts(scope: Page | Locator, prefix: string): Promise<Record<string, number>> {
  const rows = scope.locator(`[data-testid^="${prefix}"]`);
  const counts: Record<string, number> = {};
  for (const row of await rows.all()) {
    counts[(await row.getAttribute('data-testid'))!] = Number(await row.getAttribute('data-count'));
  }
  return counts;
}

/** Rows of the page legend (not mirror rows). */
async function pageLegend(page: Page): Promise<Record<string, number>> {
  const all = await legendCounts(page.locator(byTestId('page-map')).locator('..'), 'legend-');
  return Object.fromEntries(Object.entries(all).filter(([id]) => !id.startsWith('legend-mirror-')));
}

function mirrorLegend(page: Page, device: string): Promise<Record<string, number>> {
  return legendCounts(page.locator(byTestId(`mirror-${device}`)), 'legend-mirror-');
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** The colour of a legend row's swatch as [r, g, b] (from its inline style). */
async function swatchRgb(page: Page, rowTestId: string): Promise<[number, number, number]> {
  const style = (await page.locator(byTestId(rowTestId)).locator('span').first().getAttribute('style')) ?? '';
  const rgb = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(style);
  if (rgb !== null) return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])];
  const hex = /#([0-9a-f]{6})\b/i.exec(style);
  if (hex === null) throw new Error(`no swatch colour in style ${JSON.stringify(style)} of ${rowTestId}`);
  const n = parseInt(hex[1], 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

/** What these tests use of an HTMLCanvasElement (Node's type checker has no DOM library). */
interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray };
  } | null;
}

/** Pixels of a canvas that are not the white background, and those of exactly colour `rgb`. */
function canvasPixels(
  canvas: Locator,
  rgb: readonly number[] | null,
): Promise<{ total: number; nonBackground: number; matching: number }> {
  return canvas.evaluate((el: CanvasLike, colour: readonly number[] | null) => {
    const data = el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data;
    let nonBackground = 0;
    let matching = 0;
    for (let i = 0; i < data.length; i += 4) {
      const r = data[i];
      const g = data[i + 1];
      const b = data[i + 2];
      if (r !== 255 || g !== 255 || b !== 255) nonBackground++;
      if (colour !== null && r === colour[0] && g === colour[1] && b === colour[2]) matching++;
    }
    return { total: data.length / 4, nonBackground, matching };
  }, rgb);
}

/** Opens a scenario file from disk through the page's hidden file input. */
async function openScenarioFile(page: Page, name: string, contents: string | Buffer): Promise<void> {
  await page.locator(byTestId('file-input')).setInputFiles({
    name,
    mimeType: 'application/yaml',
    buffer: typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents,
  });
}

describe('the visualizer page in chromium', () => {
  it('runs the default scenario, draws its page map and saves screenshots', async () => {
    const page = await openPage();
    await waitForRun(page);
    expect(await page.locator(byTestId('scenario-select')).inputValue()).toBe(DEFAULT_FILE);
    expect(await frameOf(page)).toBe(0);
    const canvas = mainCanvas(page);
    // At the first event every page is unmapped, drawn light grey on white: about half the canvas
    // (8192 + 2048 + 1024 cells with one-pixel gaps) is not background.
    const first = await canvasPixels(canvas, null);
    expect(first.total).toBeGreaterThan(0);
    expect(first.nonBackground / first.total).toBeGreaterThan(0.1);
    await page.locator(`${byTestId('charts')}[data-ready="true"]`).waitFor();
    await page.screenshot({ path: join(OUTPUT_DIR, 'default-view.png'), fullPage: true });

    await nextMigration(page);
    // The migrated pages are drawn in the legend's device-private colour: one cell each when the
    // map shows one page per cell (cells of 4 px and more keep a one-pixel gap).
    const rgb = await swatchRgb(page, 'legend-device-private-gpu0');
    const cellPx = Number(await canvas.getAttribute('data-cell-px'));
    const pagesPerPixel = Number(await canvas.getAttribute('data-pages-per-pixel'));
    const sidePx = cellPx - (cellPx >= 4 ? 1 : 0);
    const expectedPx = pagesPerPixel === 1 ? DATA_PAGES * sidePx * sidePx : 1;
    // Segment labels are drawn over a few cells; the redraw happens on the next animation frame.
    await expect
      .poll(async () => (await canvasPixels(canvas, rgb)).matching, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(Math.floor(expectedPx * 0.8));
    expect((await canvasPixels(canvas, rgb)).matching).toBeLessThanOrEqual(expectedPx);
    await page.screenshot({ path: join(OUTPUT_DIR, 'after-migration.png'), fullPage: true });
  });

  it('counts pages per state in the legend at the migration, one event before it and after exit', async () => {
    const page = await openPage();
    await waitForRun(page);
    expect(await pageLegend(page)).toEqual({ 'legend-unmapped': ALL_PAGES });

    const migration = await nextMigration(page);
    expect(migration).toBeGreaterThan(0);
    const at = await pageLegend(page);
    expect(at['legend-device-private-gpu0']).toBe(DATA_PAGES);
    expect(sum(at)).toBe(ALL_PAGES);
    const mirrorAt = await mirrorLegend(page, 'gpu0');
    expect(mirrorAt['legend-mirror-device-memory']).toBe(DATA_PAGES);
    expect(sum(mirrorAt)).toBe(ALL_PAGES);

    await page.locator(byTestId('step-back')).click();
    await waitForFrame(page, migration - 1);
    const before = await pageLegend(page);
    expect(before['legend-ram']).toBe(DATA_PAGES);
    expect(before['legend-device-private-gpu0'] ?? 0).toBe(0);
    expect(sum(before)).toBe(ALL_PAGES);
    expect((await mirrorLegend(page, 'gpu0'))['legend-mirror-device-memory'] ?? 0).toBe(0);

    // The last event: the process has exited, nothing is mapped and gpu0 mirrors nothing.
    await seekTo(page, await lastFrameOf(page));
    expect(await pageLegend(page)).toEqual({ 'legend-unmapped': ALL_PAGES });
    expect(await mirrorLegend(page, 'gpu0')).toEqual({ 'legend-mirror-no-entry': ALL_PAGES });
  });

  it('advances frames while playing and stops when paused', async () => {
    const page = await openPage();
    await waitForRun(page);
    const play = page.locator(byTestId('play'));
    expect(await frameOf(page)).toBe(0);
    await play.click();
    await poll(() => play.textContent()).toMatch(/pause/);
    await page.locator(`${byTestId('frame')}:not([data-frame="0"])`).waitFor();
    const moving = await frameOf(page);
    await page.locator(`${byTestId('frame')}:not([data-frame="${moving}"])`).waitFor();
    expect(await frameOf(page)).toBeGreaterThan(moving);

    await play.click();
    await poll(() => play.textContent()).toMatch(/play/);
    // One more render may still be on its way when the click lands; after that the frame stays.
    await page.waitForTimeout(200);
    const paused = await frameOf(page);
    // At the default 30 events/s, playback would have moved about 25 frames in this time.
    await page.waitForTimeout(800);
    expect(await frameOf(page)).toBe(paused);
    expect(paused).toBeLessThan(await lastFrameOf(page));
  });

  it('shows a clicked page and its history, including its time in device-private memory', async () => {
    const page = await openPage();
    await waitForRun(page);
    await nextMigration(page);
    const canvas = mainCanvas(page);
    const box = (await canvas.boundingBox())!;
    const widthPx = Number(await canvas.evaluate((el: CanvasLike) => el.width));
    const dpr = widthPx / box.width;
    const cellPx = Number(await canvas.getAttribute('data-cell-px'));
    const totalRows = Number(await canvas.getAttribute('data-total-rows'));
    const scrollPx = Number(await canvas.getAttribute('data-scroll-px'));
    expect(cellPx).toBeGreaterThan(0);
    expect(totalRows).toBeGreaterThan(0);
    const details = page.locator(byTestId('page-details'));
    const hint = details.locator('p.hint');
    // Click the third cell of each row, last row first, until a page of region `data` is selected
    // (rows of other regions, and the blank rows between regions, select something else or nothing).
    let found = false;
    for (let row = totalRows - 1; row >= 0 && !found; row--) {
      const y = ((row + 0.5) * cellPx - scrollPx) / dpr;
      if (y <= 0 || y >= box.height) continue;
      await canvas.click({ position: { x: (2.5 * cellPx) / dpr, y } });
      if ((await details.count()) === 0) continue;
      found = /^data\b/.test((await hint.textContent()) ?? '');
    }
    expect(found, 'no click on the map selected a page of region data').toBe(true);
    await poll(() => details.locator(byTestId('page-state')).textContent()).toBe('device-private on gpu0');

    const rows = details.locator(`${byTestId('page-history')} tbody tr`);
    const history = await rows.evaluateAll((trs: { readonly textContent: string | null }[]) =>
      trs.map((tr) => tr.textContent ?? ''),
    );
    const lives = await details
      .locator(`${byTestId('page-history')} tbody tr td:last-child`)
      .allTextContents();
    expect(lives, history.join('\n')).toContain('device-private on gpu0');
    expect(lives).toContain('RAM');
    expect(lives.indexOf('RAM')).toBeLessThan(lives.indexOf('device-private on gpu0'));
    // Each row is a change at an event, in order of events.
    const events = (
      await details.locator(`${byTestId('page-history')} tbody tr td:first-child`).allTextContents()
    ).map(Number);
    expect(events).toEqual([...events].sort((a, b) => a - b));

    // A history row seeks to its event: the page lives in RAM there.
    const ramRow = rows.nth(lives.indexOf('RAM'));
    const ramEvent = Number(await ramRow.locator('td').first().textContent());
    await ramRow.click();
    await waitForFrame(page, ramEvent);
    await poll(() => details.locator(byTestId('page-state')).textContent()).toBe('RAM');
  });

  it('lists an ACTIVE PASID entry of app on dsa0 between bind and exit', async () => {
    const page = await openPage();
    await waitForRun(page);
    const tables = page.locator(byTestId('pasid-tables'));
    const entries = tables.locator('[data-testid^="pasid-dsa0-"]');
    await tables.locator(byTestId('pasid-empty-dsa0')).waitFor();
    const last = await lastFrameOf(page);
    // Coarse scan for an event with a live entry; the bind lasts hundreds of events.
    const step = Math.max(1, Math.floor(last / 128));
    let bound = -1;
    for (let f = step; f <= last && bound < 0; f += step) {
      await seekTo(page, f);
      if ((await entries.count()) > 0) bound = f;
    }
    expect(bound, 'no event shows a live PASID entry on dsa0').toBeGreaterThan(0);
    // Bisect for the first event with an entry (the bind): before `bound` the table was empty.
    let lo = Math.max(0, bound - step);
    let hi = bound;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      await seekTo(page, mid);
      if ((await entries.count()) > 0) hi = mid;
      else lo = mid + 1;
    }
    for (const f of [lo, bound]) {
      await seekTo(page, f);
      expect(await entries.count()).toBe(1);
      const [pasid, state, process] = await entries.first().locator('td').allTextContents();
      expect(Number(pasid)).toBeGreaterThan(0);
      expect(state).toBe('ACTIVE');
      expect(process).toBe('app');
    }
    await seekTo(page, lo - 1);
    await tables.locator(byTestId('pasid-empty-dsa0')).waitFor();
    // After the process exits the binding is gone.
    await seekTo(page, last);
    await tables.locator(byTestId('pasid-empty-dsa0')).waitFor();
    expect(await entries.count()).toBe(0);
  });

  it('shows problems of scenario files opened from disk with their line and column', async () => {
    const page = await openPage();
    await waitForRun(page);
    const problems = page.locator(byTestId('problems'));
    const problem = problems.locator(byTestId('problem'));
    const status = page.locator(byTestId('status'));

    // A value of the wrong kind: `size: lots` on line 7.
    const badSize = [
      '# A scenario whose one mapping has no usable size.',
      'name: bad-size',
      'machine:',
      '  ram: 64MiB',
      'processes:',
      '  - name: app',
      '    program: [{ op: mmap, name: buf, size: lots }]',
      '',
    ].join('\n');
    const sizeColumn = badSize.split('\n')[6].indexOf('lots') + 1;
    await openScenarioFile(page, 'bad-size.yaml', badSize);
    await poll(() => status.getAttribute('data-status')).toBe('error');
    await poll(() => problem.count()).toBe(1);
    await poll(() => problem.getAttribute('data-line')).toBe('7');
    await poll(() => problem.getAttribute('data-column')).toBe(String(sizeColumn));
    await poll(() => problem.textContent()).toContain(`bad-size.yaml:7:${sizeColumn}`);
    await poll(() => problem.locator('.message').textContent()).toContain('size');
    await poll(() => problem.locator('.message').textContent()).toContain('lots');
    // Not a blank page: the scenario bar stays, so another scenario can be chosen.
    await page.locator('header.bar').waitFor();
    await page.locator(byTestId('scenario-select')).waitFor();
    await page.locator(byTestId('open-file')).waitFor();
    await poll(() => page.locator('.app').getAttribute('data-ready')).toBe('false');

    // YAML that does not parse: a stray `}` on line 6, column 14.
    const badSyntax = [
      'name: bad-syntax',
      'machine:',
      '  ram: 64MiB',
      'processes:',
      '  - name: app',
      '    program: }',
      '',
    ].join('\n');
    await openScenarioFile(page, 'bad-syntax.yaml', badSyntax);
    await poll(() => problem.first().textContent()).toContain('bad-syntax.yaml');
    await poll(() => status.getAttribute('data-status')).toBe('error');
    await poll(() => problem.first().getAttribute('data-line')).toBe('6');
    await poll(() => problem.first().getAttribute('data-column')).toBe('14');
    await poll(() => problem.first().textContent()).toContain('bad-syntax.yaml:6:14');

    // Larger than 1 MiB: refused before it is read or run.
    const huge = Buffer.alloc((1 << 20) + 1, '#');
    await openScenarioFile(page, 'huge.yaml', huge);
    await poll(() => problem.first().textContent()).toContain('huge.yaml');
    await poll(() => problem.count()).toBe(1);
    await poll(() => problem.first().locator('.message').textContent()).toContain('at most 1024 KiB');
    await poll(() => status.getAttribute('data-status')).toBe('error');
    await page.locator('header.bar').waitFor();

    // And the page recovers: choosing the default scenario runs it.
    await page.locator(byTestId('scenario-select')).selectOption(DEFAULT_FILE);
    await waitForRun(page);
    await poll(() => problems.count()).toBe(0);
  });

  it('names a refused oversized file in the problems heading and the scenario select', async () => {
    const page = await openPage();
    await waitForRun(page);
    await openScenarioFile(page, 'huge.yaml', Buffer.alloc((1 << 20) + 1, '#'));
    const problems = page.locator(byTestId('problems'));
    await poll(() => problems.locator(byTestId('problem')).first().textContent()).toContain('huge.yaml');
    expect(await problems.locator('h2').textContent()).toContain('huge.yaml');
    expect(await page.locator(byTestId('scenario-select')).inputValue()).toBe('');
    expect(await page.locator(`${byTestId('scenario-select')} option:checked`).textContent()).toBe(
      'huge.yaml',
    );
  });

  it('runs first the scenario the server was started with', async () => {
    const text = [
      'name: served-check',
      'description: the scenario handed to the server',
      'seed: 3',
      'machine:',
      '  ram: 64MiB',
      'processes:',
      '  - name: served-proc',
      '    program:',
      '      - { op: mmap, name: buf, size: 1MiB }',
      '      - { op: touch, region: buf, write: true }',
      '',
    ].join('\n');
    const served = await startServer({
      root: visualizerRoot(),
      port: 0,
      scenario: { file: '/somewhere/else/served-check.yaml', text },
    });
    try {
      const page = await openPage(served.url);
      await waitForRun(page);
      expect(await page.locator(byTestId('scenario-select')).inputValue()).toBe('served-check.yaml');
      await page.locator(byTestId('process-tab-served-proc')).waitFor();
      await poll(() => page.locator('p.description').textContent()).toBe('the scenario handed to the server');
      // Its one process maps 1 MiB; the default scenario's maps 44 MiB.
      await poll(() => page.locator('section.maps h2').first().textContent()).toMatch(
        /served-proc\s+256 pages/,
      );
      // The built-in scenarios are still offered after it.
      const options = await page.locator(`${byTestId('scenario-select')} option`).allTextContents();
      expect(options[0]).toBe('served-check.yaml');
      expect(options).toContain(DEFAULT_FILE);
    } finally {
      await served.close();
    }
  });

  it('serves nothing outside dist/web to the page, whatever the path', async () => {
    const page = await openPage(undefined, /package\.json$/);
    await waitForRun(page);
    const paths = [
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/%2e%2e%2fpackage.json',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
    ];
    const answers = await page.evaluate(
      (list: string[]) =>
        Promise.all(
          list.map(async (path) => {
            const res = await fetch(path);
            return { path, url: res.url, status: res.status, body: await res.text() };
          }),
        ),
      paths,
    );
    const packageJson = readFileSync(join(REPO_ROOT, 'package.json'), 'utf8');
    expect(packageJson).toContain('"devDependencies"');
    for (const a of answers) {
      expect(a.status, `${a.path} (${a.url})`).toBeGreaterThanOrEqual(400);
      expect(a.status, `${a.path} (${a.url})`).toBeLessThan(500);
      expect(a.body, a.path).not.toContain('"devDependencies"');
      expect(a.body, a.path).not.toContain('"hetmem"');
    }
  });

  it('plays a whole run with no page error or console error', async () => {
    const page = await openPage();
    await waitForRun(page);
    const last = await lastFrameOf(page);
    await page.locator('.controls select').selectOption('3000');
    await page.locator(byTestId('play')).click();
    await waitForFrame(page, last);
    await poll(() => page.locator(byTestId('play')).textContent()).toMatch(/play/);
    await poll(() => page.locator(`${byTestId('charts')}[data-ready="true"]`).count()).toBe(1);
    await page.locator(byTestId('timeline-canvas')).waitFor();
    // Keyboard: Home and End jump (focus is on the play button, not a text field).
    await page.keyboard.press('Home');
    await waitForFrame(page, 0);
    await page.keyboard.press('End');
    await waitForFrame(page, last);
    expect(session!.errors).toEqual([]);
  });
});
