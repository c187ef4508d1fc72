// What the browser tests (web/e2e/*.e2e.ts) and the web figures (bench/web.bench.ts) share: building
// the page when dist/web is missing or older than its sources, launching Debian's chromium through
// playwright-core (`npx playwright install` downloads browsers and does not work here), and
// collecting a page's uncaught errors and console errors. Host code: runs in Node, drives the page.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

/** The repository's root folder (this file is web/e2e/browserHarness.ts). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Debian's chromium package; `HETMEM_CHROMIUM` names another build. */
export const CHROMIUM_PATH = process.env.HETMEM_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that keep a headless chromium off the network and away from the GPU and the sandbox. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Files and folders the built page is made from: a newer one means dist/web is stale. */
const PAGE_SOURCES = ['web/src', 'web/index.html', 'src', 'examples', 'vite.config.ts'];

/** Newest modification time (ms) of a file or of any file under a folder; 0 when missing. */
function newestMtimeMs(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * Builds the page (`npx vite build` into dist/web) unless dist/web/index.html exists and is newer
 * than every source of the page. Returns whether it built.
 *
 * @example ensurePageBuilt() // false when dist/web is up to date
 */
export function ensurePageBuilt(): boolean {
  const index = join(REPO_ROOT, 'dist', 'web', 'index.html');
  const builtMs = existsSync(index) ? statSync(index).mtimeMs : -1;
  const sourcesMs = Math.max(...PAGE_SOURCES.map((p) => newestMtimeMs(join(REPO_ROOT, p))));
  if (builtMs > sourcesMs) return false;
  // Vite's output is kept off stdout (the bench's child processes report there) and shown on failure.
  try {
    execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`vite build failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: e });
  }
  if (!existsSync(index)) throw new Error('vite build finished without writing dist/web/index.html');
  return true;
}

/**
 * Launches headless chromium from CHROMIUM_PATH with CHROMIUM_ARGS.
 *
 * @example const browser = await launchChromium(); ... await browser.close();
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install chromium) or set HETMEM_CHROMIUM`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
}

/** Resources whose failed loads the page expects: no served scenario (204, or 404 without a
 * server API). The page declares an empty icon, so no favicon request may fail. */
const EXPECTED_FAILED_LOADS = ['/api/scenario'];

function isExpectedConsoleError(message: ConsoleMessage, alsoExpected: RegExp | undefined): boolean {
  if (!message.text().startsWith('Failed to load resource')) return false;
  const url = message.location().url;
  if (url === '') return false;
  const path = new URL(url).pathname;
  return EXPECTED_FAILED_LOADS.includes(path) || (alsoExpected?.test(path) ?? false);
}

/**
 * Records a page's uncaught exceptions (`pageerror`) and console errors, except the failed loads
 * every page has and those whose path matches `alsoExpected`.
 *
 * @example const errors = collectPageErrors(page); ...; expect(errors).toEqual([]);
 */
export function collectPageErrors(page: Page, alsoExpected?: RegExp): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.stack ?? e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !isExpectedConsoleError(m, alsoExpected)) {
      errors.push(`console.error: ${m.text()} (${m.location().url})`);
    }
  });
  return errors;
}

/** The canvas of the page map shows this process's map once drawn (PageMap sets these on draw). */
export const MAP_DRAWN_SELECTOR = '.app[data-ready="true"] [data-testid="page-map-canvas"][data-total-rows]';
