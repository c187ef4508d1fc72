// End-to-end: the `hetmem` command as a user runs it, in a child process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outcomeMatches, parseOutFile } from '../workload/oracle/outcome.js';

const ROOT = join(import.meta.dirname, '../..');
const CORPUS = join(ROOT, '../shared/oracle/corpus');

function hetmem(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('hetmem run', () => {
  it('runs the built-in story, says what happened, meets its expectations, and leaks nothing', () => {
    const r = hetmem('run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('A process shares memory with a GPU');
    expect(r.stdout).toMatch(/to device\s+10240/);
    expect(r.stdout).toContain('expectations (5 passed, 0 failed)');
    expect(r.stdout).toMatch(/dma job \d+ on dsa0: STOPPED/);
    expect(r.stdout.includes('\u001b[')).toBe(false);
  });

  it('is deterministic: same seed, same JSON; the seed is reported', () => {
    const a = hetmem('run', '--json', '--seed', '5');
    const b = hetmem('run', '--json', '--seed', '5');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout).seed).toBe(5);
  });

  it('rejects bad input with exit 2 and a message', () => {
    const seed = hetmem('run', '--seed', 'x');
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain("option '--seed <n>' argument 'x' is invalid");
    const file = hetmem('run', 'no-such-scenario.yaml');
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(
      /^hetmem: no-such-scenario\.yaml: expected a readable scenario file, got ENOENT/,
    );
    expect(hetmem('frobnicate').code).toBe(2);
  });
});

describe('hetmem oracle', () => {
  it('replay prints the kernel outcome lines for a recorded sequence', () => {
    const r = hetmem('oracle', 'replay', join(CORPUS, 'mirror_s40001.ops'));
    expect(r.code).toBe(0);
    const want = parseOutFile(readFileSync(join(CORPUS, 'mirror_s40001.out'), 'utf8'));
    const got = r.stdout.trim().split('\n');
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(outcomeMatches(want[i], got[i]), got[i]).toBe(true);
  });

  it('a malformed line is exit 2 with file, line and column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetmem-'));
    const file = join(dir, 'bad.ops');
    writeFileSync(file, 'p0 open d0 0\np0 mmap b0 anon eight rw\n');
    const r = hetmem('oracle', 'replay', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`hetmem: ${file}:2:17: expected a non-negative decimal number, got "eight"\n`);
    const missing = hetmem('oracle', 'replay', join(dir, 'none.ops'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('expected a readable file, got ENOENT');
  });
});

describe('hetmem reproduce', () => {
  it('ganguly2019 prints our figures beside the paper: on-demand faults equal the published ones', () => {
    const r = hetmem(
      'reproduce',
      'ganguly2019',
      '--benchmarks',
      'hotspot',
      '--configs',
      'od,tbnp',
      '--workers',
      '1',
    );
    expect(r.code).toBe(0);
    // hotspot touches 3072 pages; on-demand paging faults each once, as in the authors' log.
    expect(r.stdout).toMatch(/\| hotspot \| [\d.]+ \(3072\) \| 144226\.4 \(3072\) \| 1\.0\d \| 1\.00 \|/);
    expect(r.stdout).toContain('### Tree-based neighborhood (TBNp) (`tbnp`)');
    expect(r.stdout).toMatch(/\| tbnp \| hotspot \| [\d.]+× \| 42\.44× \|/);
    expect(r.stderr).toContain('[2/2]');
  });

  it('an unknown benchmark or study is exit 2 listing the valid ones', () => {
    const bench = hetmem('reproduce', 'ganguly2019', '--benchmarks', 'lud');
    expect(bench.code).toBe(2);
    expect(bench.stderr).toContain(
      'expected one or more of backprop, bfs, fdtd, hotspot, nw, pathfinder, srad, got "lud"',
    );
    expect(hetmem('reproduce', 'smith2020').code).toBe(2);
  });
});
