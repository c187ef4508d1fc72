// Where a worker thread's module is and how to start it: the `.ts` file under tsx (a source
// checkout), the `.js` file when built.

import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The module `name` beside `importMetaUrl`'s, and whether it is TypeScript source. */
export function workerModule(importMetaUrl: string, name: string): { url: string; source: boolean } {
  const ext = extname(fileURLToPath(importMetaUrl));
  return { url: new URL(`./${name}${ext}`, importMetaUrl).href, source: ext === '.ts' };
}

/** execArgv for a Piscina pool on a `.ts` module when this process did not start under tsx. */
export function piscinaExecArgv(source: boolean): string[] | undefined {
  const inheritsTsx = process.execArgv.some((a) => a.includes('tsx'));
  return source && !inheritsTsx ? ['--import', tsxLoaderUrl()] : undefined;
}

/**
 * Starts a worker on module `name` beside `importMetaUrl`'s. A `.ts` module is loaded through
 * tsx's API from a small bootstrap: loader hooks of this thread do not reach workers.
 */
export function startWorker(importMetaUrl: string, name: string, options: WorkerOptions): Worker {
  const { url, source } = workerModule(importMetaUrl, name);
  if (!source) return new Worker(new URL(url), options);
  const api = pathToFileURL(join(dirname(fileURLToPath(tsxLoaderUrl())), 'esm/api/index.mjs')).href;
  const bootstrap = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** The tsx loader's URL. */
function tsxLoaderUrl(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    return pathToFileURL(join(dirname(pkg), 'dist/loader.mjs')).href;
  }
}
