// `hetmem serve`: the server answers the page's files and nothing else. Requests are made with raw
// http.request (and a raw socket where even that would clean the request up), because fetch
// normalizes `..` out of URLs before they are sent.

import { spawn, spawnSync } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { InputError } from '../sim/errors.js';
import {
  CONTENT_SECURITY_POLICY,
  MAX_SCENARIO_BYTES,
  parsePort,
  readServedScenario,
  serveCommand,
  startServer,
  visualizerRoot,
  type RunningServer,
} from './serve.js';

const PACKAGE = join(import.meta.dirname, '../..');
const SECRET = `TOP-SECRET-${process.pid}-${Date.now()}`;
const INDEX_HTML = '<!doctype html><title>hetmem visualizer</title><script src="./assets/app.js"></script>';
const APP_JS = 'console.log("hetmem page");\n';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with the target exactly as given (no normalization). */
function get(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Bytes written to a socket as they are, and everything the server sends until it closes. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(bytes, 'latin1');
  });
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

let dir: string;
let root: string;
let server: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hetmem-serve-'));
  root = join(dir, 'web');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), INDEX_HTML);
  writeFileSync(join(root, 'assets', 'app.js'), APP_JS);
  writeFileSync(join(root, 'assets', 'style.css'), 'body { margin: 0 }\n');
  writeFileSync(join(root, 'assets', 'app.js.map'), '{"version":3}');
  writeFileSync(join(root, 'assets', 'model.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
  writeFileSync(join(root, '.env'), SECRET);
  // Outside the root: a sibling folder and a file beside the root.
  mkdirSync(join(dir, 'private'));
  writeFileSync(join(dir, 'private', 'secret.txt'), SECRET);
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  symlinkSync(join(dir, 'secret.txt'), join(root, 'assets', 'link.txt'));
  symlinkSync(join(dir, 'private'), join(root, 'private'));
  server = await startServer({ root, port: 0 });
});

afterAll(async () => {
  await server.close();
});

describe('startServer', () => {
  it('binds 127.0.0.1 by default and says so in its URL', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
    // Not reachable on this machine's other addresses (when it has any).
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
    if (external !== undefined) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: external.address, port: server.port });
        socket.on('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    }
  });

  it('GET / answers index.html as text/html with the security headers', async () => {
    const r = await get(server.port, '/');
    expect(r.status).toBe(200);
    expect(r.body).toBe(INDEX_HTML);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(r.headers['cache-control']).toBe('no-cache');
    expect((await get(server.port, '/?scenario=x')).body).toBe(INDEX_HTML);
    expect((await get(server.port, '/index.html')).body).toBe(INDEX_HTML);
  });

  it('answers assets with their content types', async () => {
    const js = await get(server.port, '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.body).toBe(APP_JS);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(server.port, '/assets/style.css')).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
    expect((await get(server.port, '/assets/app.js.map')).headers['content-type']).toBe(
      'application/json; charset=utf-8',
    );
    expect((await get(server.port, '/assets/model.wasm')).headers['content-type']).toBe('application/wasm');
    expect((await get(server.port, '/assets/%61pp.js')).body).toBe(APP_JS);
  });

  it('HEAD answers the headers of GET without a body', async () => {
    const r = await get(server.port, '/assets/app.js', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(APP_JS)));
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('never answers a file outside the root: traversal is 4xx and leaks nothing', async () => {
    const attempts = [
      '/../secret.txt',
      '/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/..\\secret.txt',
      '/assets/..\\..\\secret.txt',
      '//etc/passwd',
      `/${join(dir, 'secret.txt')}`,
      `/${encodeURIComponent(join(dir, 'secret.txt'))}`,
      '/assets/link.txt',
      '/private/secret.txt',
      '/secret.txt%00.js',
      '/.env',
      '/%2eenv',
      '/%ff%fe',
      '/%zz',
    ];
    for (const path of attempts) {
      const r = await get(server.port, path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
      expect(r.body, path).not.toContain(SECRET);
      expect(r.body, path).not.toContain('root:');
    }
    expect((await get(server.port, '/%zz')).status).toBe(400);
    expect((await get(server.port, '/../secret.txt')).status).toBe(404);
  });

  it('refuses request targets that http.request would clean up (NUL, absolute-form)', async () => {
    for (const target of ['/secret.txt\0', `http://127.0.0.1/../secret.txt`, '/..\\..\\secret.txt', '*']) {
      const response = await raw(
        server.port,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(response), target).toBeGreaterThanOrEqual(400);
      expect(statusOf(response), target).toBeLessThan(500);
      expect(response).not.toContain(SECRET);
    }
  });

  it('answers 404 for unknown files and for directories other than /', async () => {
    for (const path of [
      '/missing.js',
      '/assets/',
      '/assets',
      '/assets//app.js',
      '/index.html/',
      '/api/other',
    ]) {
      const r = await get(server.port, path);
      expect(r.status, path).toBe(404);
      expect(r.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY);
    }
  });

  it('answers other methods 405 with Allow: GET, HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await get(server.port, '/', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow, method).toBe('GET, HEAD');
      expect(r.body, method).not.toContain(INDEX_HTML);
    }
  });

  it('refuses requests with a body (413) without waiting for it', async () => {
    const withLength = await get(server.port, '/', { headers: { 'Content-Length': '5' }, body: 'hello' });
    expect(withLength.status).toBe(413);
    expect(withLength.body).not.toContain(INDEX_HTML);
    const chunked = await get(server.port, '/', {
      headers: { 'Transfer-Encoding': 'chunked' },
      body: 'hello',
    });
    expect(chunked.status).toBe(413);
    // 100 MB announced, none sent: the answer comes at once and the server closes the connection.
    const announced = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n',
    );
    expect(statusOf(announced)).toBe(413);
    // A client that waits for 100 Continue is never invited to send its body.
    const expecting = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(statusOf(expecting)).toBe(413);
    expect(expecting).not.toContain('100 Continue');
  });

  it('answers URLs longer than 2048 characters 414', async () => {
    expect((await get(server.port, `/${'a'.repeat(2100)}`)).status).toBe(414);
    expect((await get(server.port, `/${'a'.repeat(2000)}`)).status).toBe(404);
  });

  it('refuses a Host header that does not name loopback (DNS rebinding)', async () => {
    const r = await get(server.port, '/', { headers: { Host: `evil.example:${server.port}` } });
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(INDEX_HTML);
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`]) {
      expect((await get(server.port, '/', { headers: { Host: host } })).status, host).toBe(200);
    }
  });

  it('/api/scenario is 204 without a scenario', async () => {
    const r = await get(server.port, '/api/scenario');
    expect(r.status).toBe(204);
    expect(r.body).toBe('');
  });

  it('/api/scenario answers the scenario as JSON, naming only its base name', async () => {
    const text = 'name: story\nprocesses: []\n';
    const withScenario = await startServer({
      root,
      port: 0,
      scenario: { file: join(dir, 'story.yaml'), text },
    });
    try {
      const r = await get(withScenario.port, '/api/scenario');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(r.body)).toEqual({ file: 'story.yaml', text });
      const head = await get(withScenario.port, '/api/scenario', { method: 'HEAD' });
      expect(head.body).toBe('');
      expect(head.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
    } finally {
      await withScenario.close();
    }
  });

  it('close() closes kept-alive connections too', async () => {
    const s = await startServer({ root, port: 0 });
    const socket = connect({ host: '127.0.0.1', port: s.port });
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await s.close();
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it("matches the page's meta Content-Security-Policy", () => {
    const html = readFileSync(join(PACKAGE, 'web', 'index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(html);
    expect(meta?.[1]).toBe(CONTENT_SECURITY_POLICY);
  });
});

describe('serve command', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('finds dist/web both from src/cli and from the compiled dist/cli', () => {
    expect(visualizerRoot(join('/pkg', 'src', 'cli'))).toBe(join('/pkg', 'dist', 'web'));
    expect(visualizerRoot(join('/pkg', 'dist', 'cli'))).toBe(join('/pkg', 'dist', 'web'));
    expect(visualizerRoot()).toBe(join(PACKAGE, 'dist', 'web'));
  });

  it('--port accepts 0 to 65535 only', () => {
    expect(parsePort('0')).toBe(0);
    expect(parsePort('65535')).toBe(65535);
    for (const bad of ['-1', '65536', '1.5', 'x', '', '0x10', '1e3', ' 80', '000000']) {
      expect(() => parsePort(bad), bad).toThrow(InputError);
    }
    expect(() => parsePort('x')).toThrow(
      '(command line): --port: expected an integer from 0 to 65535, got "x"',
    );
  });

  it('reads the scenario once, refusing missing and oversized files by name', async () => {
    const small = join(dir, 'small.yaml');
    writeFileSync(small, 'name: small\n');
    expect(await readServedScenario(small)).toEqual({ file: small, text: 'name: small\n' });
    const exact = join(dir, 'exact.yaml');
    writeFileSync(exact, 'x'.repeat(MAX_SCENARIO_BYTES));
    expect((await readServedScenario(exact)).text.length).toBe(MAX_SCENARIO_BYTES);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, 'x'.repeat(MAX_SCENARIO_BYTES + 1));
    await expect(readServedScenario(big)).rejects.toThrow(
      `${big}: expected a scenario file of at most 1 MiB, got ${MAX_SCENARIO_BYTES + 1} bytes`,
    );
    await expect(readServedScenario(join(dir, 'none.yaml'))).rejects.toThrow(
      `${join(dir, 'none.yaml')}: expected a readable scenario file, got ENOENT`,
    );
    await expect(readServedScenario(dir)).rejects.toThrow(InputError);
  });

  it('says how to build the page when dist/web has no index.html (exit 2)', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const empty = mkdtempSync(join(tmpdir(), 'hetmem-serve-empty-'));
    expect(await serveCommand(undefined, { port: 0 }, { root: empty })).toBe(2);
    expect(String(stderr.mock.calls[0]?.[0])).toContain(
      'hetmem: the visualizer page is not built: run `npm run build` (or `npx vite build`)',
    );
  });

  it('prints the URL and the scenario, serves it, and stops when asked', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const scenario = join(dir, 'story.yaml');
    writeFileSync(scenario, 'name: story\n');
    const stop = new AbortController();
    const done = serveCommand(scenario, { port: 0 }, { root, signal: stop.signal });
    await vi.waitFor(() => expect(stdout).toHaveBeenCalledTimes(2));
    const url = /^hetmem visualizer at (http:\/\/127\.0\.0\.1:(\d+)\/)\n$/.exec(
      String(stdout.mock.calls[0][0]),
    );
    expect(url).not.toBeNull();
    expect(stdout.mock.calls[1][0]).toBe('scenario: story.yaml\n');
    const r = await get(Number(url![2]), '/api/scenario');
    expect(JSON.parse(r.body)).toEqual({ file: 'story.yaml', text: 'name: story\n' });
    stop.abort();
    expect(await done).toBe(0);
    await expect(get(Number(url![2]), '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('Ctrl-C stops a running server cleanly (exit 0)', async () => {
    const script = join(dir, 'serve-child.mjs');
    writeFileSync(
      script,
      `import { serveCommand } from ${JSON.stringify(join(PACKAGE, 'src/cli/serve.ts'))};\n` +
        `process.exitCode = await serveCommand(undefined, { port: 0 }, { root: process.argv[2] });\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, root], { cwd: PACKAGE });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const m = /at http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
        if (m !== null) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    expect((await get(port, '/')).body).toBe(INDEX_HTML);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toContain('hetmem: visualizer stopped');
  });

  describe('as a command', () => {
    function hetmem(...args: string[]): { code: number; stderr: string } {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(PACKAGE, 'src/cli/main.ts'), ...args], {
        cwd: PACKAGE,
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { code: r.status ?? -1, stderr: r.stderr };
    }

    it('refuses a bad --port with exit 2', () => {
      for (const port of ['x', '70000', '-5']) {
        const r = hetmem('serve', '--port', port);
        expect(r.code, port).toBe(2);
        expect(r.stderr, port).toContain(
          `hetmem: (command line): --port: expected an integer from 0 to 65535, got "${port}"`,
        );
      }
    });

    it('refuses an oversized or missing scenario with exit 2, naming the file', () => {
      const big = join(dir, 'huge.yaml');
      writeFileSync(big, 'x'.repeat(MAX_SCENARIO_BYTES + 10));
      const r = hetmem('serve', '--port', '0', big);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`hetmem: ${big}: expected a scenario file of at most 1 MiB`);
      const missing = hetmem('serve', '--port', '0', join(dir, 'absent.yaml'));
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(
        `hetmem: ${join(dir, 'absent.yaml')}: expected a readable scenario file`,
      );
    });
  });
});
