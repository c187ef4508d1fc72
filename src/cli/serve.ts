// `hetmem serve [SCENARIO]`: a small static web server for the visualizer page that Vite builds into
// dist/web/. It serves the files of that one folder and nothing else, on 127.0.0.1 unless told
// otherwise, and hands the page the scenario named on the command line at /api/scenario. It takes
// no uploads: only GET and HEAD without a body. Host code only; the page runs the model itself.

import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, sep } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { InputError } from '../sim/errors.js';

/** The largest scenario file served; the page applies the same limit to files opened in it. */
export const MAX_SCENARIO_BYTES = 1024 * 1024;

/** Longer request targets are answered 414: no file of the page has a path near this long. */
export const MAX_URL_CHARS = 2048;

/** Concurrent connections accepted; a browser opens about six per origin. */
const MAX_CONNECTIONS = 256;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8173;

/** The same policy as the page's `<meta http-equiv="Content-Security-Policy">` (web/index.html). */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'";

/** Sent with every response, errors included. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Host header names accepted when bound to loopback (a defense against DNS rebinding). */
const LOOPBACK_HOST_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface ServeScenario {
  /** The file's name; only its base name is ever sent to the page. */
  readonly file: string;
  readonly text: string;
}

export interface ServerOptions {
  /** The folder of built files (dist/web): the only files served. */
  readonly root: string;
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port; default 8173; 0 for any free port. */
  readonly port?: number;
  /** Served at /api/scenario; without one that answers 204 No Content. */
  readonly scenario?: ServeScenario | null;
}

export interface RunningServer {
  /** `http://HOST:PORT/` with the address actually bound. */
  readonly url: string;
  /** The address actually bound (`127.0.0.1` by default). */
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every open connection, keep-alive ones included. */
  close(): Promise<void>;
}

interface Site {
  /** The root with symbolic links resolved: every served file's real path lies under it. */
  readonly rootReal: string;
  /** The /api/scenario body, made once; null answers 204. */
  readonly scenarioJson: Buffer | null;
  /** Whether the Host header must name loopback (true when bound to a loopback address). */
  readonly checkHost: boolean;
}

/**
 * Starts the visualizer's web server.
 *
 * @example
 *   const server = await startServer({ root: 'dist/web', port: 0 });
 *   console.log(server.url); // http://127.0.0.1:41234/
 *   await server.close();
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const scenario = options.scenario ?? null;
  const site: Site = {
    rootReal: await realpath(options.root),
    scenarioJson:
      scenario === null
        ? null
        : Buffer.from(JSON.stringify({ file: basename(scenario.file), text: scenario.text }), 'utf8'),
    checkHost: isLoopback(host),
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res, site).catch(() => {
      // Nothing about the failure is sent: it could name files outside the root.
      if (!res.headersSent) sendStatus(req, res, 500);
      else res.destroy();
    });
  };
  const server = createServer(onRequest);
  // With a listener here Node does not answer `Expect: 100-continue` itself, so a client that
  // waits for it is refused (413) before it sends any of its body.
  server.on('checkContinue', onRequest);
  server.maxConnections = MAX_CONNECTIONS;
  await listen(server, host, port);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`,
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e === undefined ? resolve() : reject(e)));
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The Host header names this machine's loopback (any port): a rebound DNS name is refused. */
function hostHeaderIsLoopback(header: string | undefined): boolean {
  if (header === undefined) return false;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
  return LOOPBACK_HOST_NAMES.has(name.toLowerCase());
}

async function handle(req: IncomingMessage, res: ServerResponse, site: Site): Promise<void> {
  const target = req.url ?? '';
  if (target.length > MAX_URL_CHARS) return sendStatus(req, res, 414);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendStatus(req, res, 405, { Allow: 'GET, HEAD' });
  }
  // No uploads: the body is never read, and the connection is closed after the answer.
  const contentLength = req.headers['content-length'];
  if (
    (contentLength !== undefined && contentLength !== '0') ||
    req.headers['transfer-encoding'] !== undefined
  ) {
    return sendStatus(req, res, 413);
  }
  if (site.checkHost && !hostHeaderIsLoopback(req.headers.host)) return sendStatus(req, res, 403);
  // Only origin-form targets (`/path?query`); absolute-form and `*` are refused.
  if (!target.startsWith('/')) return sendStatus(req, res, 400);
  const end = target.search(/[?#]/);
  const pathname = end === -1 ? target : target.slice(0, end);
  if (pathname === '/api/scenario') return sendScenario(req, res, site);
  if (pathname === '/') return sendFile(req, res, site, ['index.html']);
  const segments = decodeSegments(pathname);
  if (segments === 'malformed') return sendStatus(req, res, 400);
  if (segments === null || segments[0] === 'api') return sendStatus(req, res, 404);
  return sendFile(req, res, site, segments);
}

/**
 * The path's segments, percent-decoded one by one so an encoded `/` cannot make a new one. Null
 * (404) for anything that is not a plain relative file name: empty segments (`//x`, a trailing
 * `/`, so directories), names starting with a dot (`.`, `..`, hidden files), and separators or NUL
 * inside a segment. 'malformed' (400) when the percent-encoding is broken.
 */
function decodeSegments(pathname: string): string[] | null | 'malformed' {
  const segments: string[] = [];
  for (const raw of pathname.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return 'malformed';
    }
    if (segment === '' || segment.startsWith('.') || /[/\\\0]/.test(segment)) return null;
    segments.push(segment);
  }
  return segments;
}

/** Whether `path` is `root` itself or lies under it (both absolute and normalized). */
function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel.split(sep)[0] !== '..');
}

async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  site: Site,
  segments: readonly string[],
): Promise<void> {
  const candidate = join(site.rootReal, ...segments);
  if (!isInside(site.rootReal, candidate)) return sendStatus(req, res, 404);
  // The real path decides: a symbolic link inside the root that leads out of it is not served.
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return sendStatus(req, res, 404);
  }
  if (real === site.rootReal || !isInside(site.rootReal, real)) return sendStatus(req, res, 404);
  let handle;
  try {
    handle = await open(real, 'r');
  } catch {
    return sendStatus(req, res, 404);
  }
  let sizeBytes: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return sendStatus(req, res, 404);
    }
    sizeBytes = st.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'Content-Type': CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': sizeBytes,
  });
  if (req.method === 'HEAD') {
    await handle.close();
    res.end();
    return;
  }
  const stream = handle.createReadStream();
  stream.on('error', () => res.destroy());
  // A client that goes away mid-file must not leave the file open.
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

function sendScenario(req: IncomingMessage, res: ServerResponse, site: Site): void {
  if (site.scenarioJson === null) {
    res.writeHead(204, COMMON_HEADERS);
    res.end();
    return;
  }
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': site.scenarioJson.length,
  });
  res.end(req.method === 'HEAD' ? undefined : site.scenarioJson);
}

function sendStatus(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  extra: Record<string, string> = {},
): void {
  const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
  const headers: Record<string, string | number> = {
    ...COMMON_HEADERS,
    ...extra,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  // A refused request may have a body still on the way: closing the connection after the answer
  // keeps Node from reading and discarding it for the next request on the same connection.
  if (status === 405 || status === 413 || status === 414) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The built page's folder: dist/web beside src/ (running from source under tsx) or beside
 * dist/cli/ (running the compiled command); both are the package's dist/web.
 *
 * @example visualizerRoot('/pkg/src/cli') // '/pkg/dist/web'; visualizerRoot('/pkg/dist/cli') too
 */
export function visualizerRoot(moduleDir: string = import.meta.dirname): string {
  return basename(dirname(moduleDir)) === 'dist'
    ? join(moduleDir, '..', 'web')
    : join(moduleDir, '..', '..', 'dist', 'web');
}

/**
 * Reads a scenario file to serve, once: a missing, unreadable, non-UTF-8 or larger than
 * MAX_SCENARIO_BYTES file is an InputError naming it. The page validates the scenario itself.
 *
 * @example await readServedScenario('examples/story.yaml') // { file: 'examples/story.yaml', text: '…' }
 */
export async function readServedScenario(file: string): Promise<ServeScenario> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new InputError({ file }, 'a readable scenario file', 'a directory or device');
      if (st.size > MAX_SCENARIO_BYTES) {
        throw new InputError({ file }, 'a scenario file of at most 1 MiB', `${st.size} bytes`);
      }
      // One byte more than the limit: a file that grew since the stat is still caught.
      bytes = Buffer.alloc(MAX_SCENARIO_BYTES + 1);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      if (bytesRead > MAX_SCENARIO_BYTES) {
        throw new InputError({ file }, 'a scenario file of at most 1 MiB', 'a larger file');
      }
      bytes = bytes.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(
      { file },
      'a readable scenario file',
      (e as NodeJS.ErrnoException).code ?? String(e),
    );
  }
  try {
    return { file, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    throw new InputError({ file }, 'a UTF-8 text file', 'bytes that are not UTF-8');
  }
}

/** `--port`: an integer from 0 (any free port) to 65535. */
export function parsePort(value: string): number {
  // Decimal digits only: Number() would also take '0x10', '1e3' and ' 80 '.
  const n = /^\d{1,5}$/.test(value) ? Number(value) : -1;
  if (n < 0 || n > 65535) {
    throw new InputError(
      { file: '(command line)', field: '--port' },
      'an integer from 0 to 65535',
      JSON.stringify(value),
    );
  }
  return n;
}

export interface ServeOptions {
  readonly port?: number;
  readonly host?: string;
}

/** What the CLI decides and tests replace: the built page's folder, and a way to stop. */
export interface ServeEnvironment {
  readonly root?: string;
  /** Stops the server like Ctrl-C does. */
  readonly signal?: AbortSignal;
}

/**
 * serve [SCENARIO]: serves the built page until Ctrl-C (or SIGTERM). Exit code 0 after a clean
 * stop, 2 when the page is not built; bad input throws InputError (exit 2 through main).
 */
export async function serveCommand(
  file: string | undefined,
  options: ServeOptions,
  env: ServeEnvironment = {},
): Promise<number> {
  const scenario = file === undefined ? null : await readServedScenario(file);
  const root = env.root ?? visualizerRoot();
  const index = join(root, 'index.html');
  const built = await stat(index).then(
    (st) => st.isFile(),
    () => false,
  );
  if (!built) {
    process.stderr.write(
      `hetmem: the visualizer page is not built: run \`npm run build\` (or \`npx vite build\`) (no ${index})\n`,
    );
    return 2;
  }
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  let server: RunningServer;
  try {
    server = await startServer({ root, host, port, scenario });
  } catch (e) {
    throw listenError(e as NodeJS.ErrnoException, host, port);
  }
  process.stdout.write(`hetmem visualizer at ${server.url}\n`);
  if (scenario !== null) process.stdout.write(`scenario: ${basename(scenario.file)}\n`);
  if (!isLoopback(host)) {
    process.stderr.write(`hetmem: warning: listening on ${host}: other machines may reach this server\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      env.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (env.signal?.aborted) stop();
    else env.signal?.addEventListener('abort', stop);
  });
  await server.close();
  process.stderr.write('hetmem: visualizer stopped\n');
  return 0;
}

/** A failed listen as the user's input error: the port or the address they chose. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = { file: '(command line)' };
  switch (e.code) {
    case 'EADDRINUSE':
      return new InputError({ ...where, field: '--port' }, 'a free port', `${port}, in use (try --port 0)`);
    case 'EACCES':
      return new InputError({ ...where, field: '--port' }, 'a port this user may open', `${port} (EACCES)`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new InputError(
        { ...where, field: '--host' },
        'an address of this machine',
        `${host} (${e.code})`,
      );
    default:
      return e;
  }
}

/** Adds `serve` to the `hetmem` program. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the visualizer page (built into dist/web) on http://127.0.0.1:8173/')
    .argument('[scenario]', 'scenario file the page opens at start (at most 1 MiB)')
    .option('--port <n>', `port, 0 for any free one (default: ${DEFAULT_PORT})`, parsePort)
    .option('--host <addr>', `address to listen on (default: ${DEFAULT_HOST}; others expose the server)`)
    .action(async (scenario, options) => {
      process.exitCode = await serveCommand(scenario, options);
    });
}
