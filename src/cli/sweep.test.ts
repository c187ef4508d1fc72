// End-to-end: `hetmem sweep` and `hetmem sweep merge` as a user runs them, in child processes:
// every job once, resume after SIGKILL, shards from each batch system, merge, failing jobs, bad grids.

import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
// The children run in a scratch folder, where a bare `--import tsx` would not resolve.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The environment without any batch system's shard variables (the test may run inside one). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const k of Object.keys(env))
    if (/^(JOB_COMPLETION_INDEX|AWS_BATCH_JOB_ARRAY_|SLURM_ARRAY_|HETMEM_SHARDS)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

function hetmem(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: cleanEnv(env),
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// A tiny scenario (a 2 MiB buffer the CPU writes and a GPU reads) and a grid of 2 x 2 x 8 = 32 jobs.
const BASE = `name: tiny
machine:
  ram: 64MiB
  limits: { maxEvents: 1000000 }
  devices:
    - { kind: gpu, name: gpu0, memory: 4MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: buf, size: 2MiB }
      - { op: touch, region: buf, write: true }
      - { op: gpu, device: gpu0, region: buf, pattern: { kind: sequential, passes: 1 } }
expect:
  - { noLeaks: true }
`;

const GRID = `scenario: scenarios/tiny.yaml
seeds: { from: 1, count: 8 }
parameters:
  machine.devices[0].memory: [4MiB, 8MiB]
  processes[0].program[2].pattern.passes: [1, 2]
`;
const JOBS = 32;

interface Line {
  readonly hash: string;
  readonly index: number;
  readonly seed: number;
  readonly params: Record<string, unknown>;
  readonly summary?: { expectations: { ok: boolean }[] };
  readonly error?: { name: string; message: string };
}

function lines(file: string): Line[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

function byHash(ls: readonly Line[]): Map<string, Line> {
  return new Map(ls.map((l) => [l.hash, l]));
}

let dir: string;
/** The uninterrupted run: every later run is compared with it. */
let full: Map<string, Line>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hetmem-sweep-'));
  spawnSync('mkdir', ['-p', join(dir, 'scenarios')]);
  writeFileSync(join(dir, 'scenarios/tiny.yaml'), BASE);
  writeFileSync(join(dir, 'grid.yaml'), GRID);
  const r = hetmem(dir, ['sweep', 'grid.yaml', '-o', 'full.ndjson', '--workers', '1']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(
    `grid: ${JOBS} of ${JOBS} jobs: ${JOBS} run now, 0 already done; 0 failed, 0 missed expectations`,
  );
  full = byHash(lines(join(dir, 'full.ndjson')));
});

describe('hetmem sweep', () => {
  it('runs every job once, named by the hashes --list gives, in grid order', () => {
    const list = hetmem(dir, ['sweep', 'grid.yaml', '--list']);
    expect(list.code).toBe(0);
    const jobs = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(jobs.map((j) => j.index)).toEqual([...Array(JOBS).keys()]);
    expect(jobs[0].params).toEqual({
      'machine.devices[0].memory': '4MiB',
      'processes[0].program[2].pattern.passes': 1,
    });
    expect(jobs.slice(0, 9).map((j) => j.seed)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 1]);
    expect(full.size).toBe(JOBS);
    for (const j of jobs) {
      const l = full.get(j.hash)!;
      expect([l.index, l.seed, l.params]).toEqual([j.index, j.seed, j.params]);
      expect(l.summary!.expectations.every((e) => e.ok)).toBe(true);
    }
  });

  it('resumes after SIGKILL without redoing finished jobs; the result equals an uninterrupted run', async () => {
    const out = join(dir, 'grid.ndjson'); // the default: <grid name>.ndjson beside the grid
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'sweep', 'grid.yaml', '--workers', '2'], {
      cwd: dir,
      env: cleanEnv(),
      stdio: 'ignore',
    });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    // Kill it once a few results are on disk.
    const started = Date.now();
    while (!(existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 3)) {
      if (Date.now() - started > 60_000) throw new Error('no results after 60 s');
      if (child.exitCode !== null) throw new Error('the sweep ended before it could be killed');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    const before = readFileSync(out, 'utf8');
    const done = lines(out).length;
    expect(done).toBeGreaterThanOrEqual(3);
    expect(done).toBeLessThan(JOBS);
    // A line torn by the kill (the kill lands between writes here; make one as a kill mid-write would).
    appendFileSync(out, '{"hash":"0123abc","index":1');

    const r = hetmem(dir, ['sweep', 'grid.yaml', '--workers', '2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('removing an incomplete last line');
    expect(r.stderr).toContain(
      `${done} of ${JOBS} jobs already in grid.ndjson; running the other ${JOBS - done}`,
    );
    expect(r.stdout).toContain(`${JOBS - done} run now, ${done} already done`);
    const after = readFileSync(out, 'utf8');
    expect(after.startsWith(before)).toBe(true); // finished jobs were not redone or rewritten
    const all = lines(out); // every line parses: the torn one is gone
    expect(all.length).toBe(JOBS);
    expect(byHash(all).size).toBe(JOBS);
    for (const l of all) expect(l).toEqual(full.get(l.hash)); // worker threads = in-process, job for job

    const again = hetmem(dir, ['sweep', 'grid.yaml']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`0 run now, ${JOBS} already done`);
    expect(readFileSync(out, 'utf8')).toBe(after);
  });

  it('runs the shard each batch system names; merge of the shards equals the full run', () => {
    const k8s = hetmem(dir, ['sweep', 'grid.yaml', '--workers', '1'], {
      JOB_COMPLETION_INDEX: '0',
      HETMEM_SHARDS: '3',
    });
    const slurm = hetmem(dir, ['sweep', 'grid.yaml', '--workers', '1'], {
      SLURM_ARRAY_TASK_ID: '2',
      SLURM_ARRAY_TASK_MIN: '1',
      SLURM_ARRAY_TASK_MAX: '3',
      SLURM_ARRAY_TASK_COUNT: '3',
    });
    const aws = hetmem(dir, ['sweep', 'grid.yaml', '--workers', '1'], {
      AWS_BATCH_JOB_ARRAY_INDEX: '2',
      AWS_BATCH_JOB_ARRAY_SIZE: '3',
    });
    for (const r of [k8s, slurm, aws]) expect(r.code).toBe(0);
    expect(slurm.stdout).toContain(
      'shard 1/3 (SLURM_ARRAY_TASK_ID=2, 3 shards from SLURM_ARRAY_TASK_COUNT), 11 of 32 jobs',
    );
    const shards = [0, 1, 2].map((k) => lines(join(dir, `grid.shard-${k}-of-3.ndjson`)));
    const seen = new Set<number>();
    shards.forEach((ls, k) => {
      for (const l of ls) {
        expect(l.index % 3).toBe(k);
        expect(seen.has(l.index)).toBe(false);
        seen.add(l.index);
        expect(l).toEqual(full.get(l.hash));
      }
    });
    expect(seen.size).toBe(JOBS);

    const files = [0, 1, 2].map((k) => `grid.shard-${k}-of-3.ndjson`);
    const partial = hetmem(dir, [
      'sweep',
      'merge',
      'partial.ndjson',
      files[0],
      files[2],
      '--grid',
      'grid.yaml',
    ]);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toContain('11 job(s) missing:');
    expect(partial.stdout).toContain(
      '  job 1 (seed 2, machine.devices[0].memory=4MiB, processes[0].program[2].pattern.passes=1)',
    );

    // Shard files given twice and out of order: duplicates dropped, lines sorted by index.
    const merged = hetmem(dir, [
      'sweep',
      'merge',
      'merged.ndjson',
      files[2],
      files[0],
      files[1],
      files[0],
      '--grid',
      'grid.yaml',
    ]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toContain(`merged ${JOBS} of ${JOBS} jobs from 4 file(s) into merged.ndjson`);
    expect(merged.stdout).toContain(`(${shards[0].length} duplicate line(s) dropped)`);
    const single = hetmem(dir, ['sweep', 'merge', 'single.ndjson', 'full.ndjson']);
    expect(single.code).toBe(0);
    const text = readFileSync(join(dir, 'merged.ndjson'), 'utf8');
    expect(text).toBe(readFileSync(join(dir, 'single.ndjson'), 'utf8'));
    expect(lines(join(dir, 'merged.ndjson')).map((l) => l.index)).toEqual([...Array(JOBS).keys()]);
  });

  it('records a job that throws, goes on, and exits 1; failed expectations too', () => {
    writeFileSync(
      join(dir, 'limits.yaml'),
      `scenario: scenarios/tiny.yaml
seeds: [1]
parameters:
  machine.limits.maxEvents: [1000000, 20]
  expect[0]: [{ noLeaks: true }, { metric: pagesToDevice, min: 1000000 }]
output: results/limits-results.ndjson
`,
    );
    const r = hetmem(dir, ['sweep', 'limits.yaml', '--workers', '2']);
    expect(r.code).toBe(1);
    const ls = lines(join(dir, 'results/limits-results.ndjson')).sort((a, b) => a.index - b.index);
    expect(ls.map((l) => l.index)).toEqual([0, 1, 2, 3]);
    expect(ls[0].summary!.expectations.every((e) => e.ok)).toBe(true);
    expect(ls[1].summary!.expectations.some((e) => !e.ok)).toBe(true);
    for (const l of ls.slice(2)) {
      expect(l.summary).toBeUndefined();
      expect(l.error!.name).toBe('LimitError');
      expect(l.error!.message).toContain('limit of 20 events');
    }
    expect(r.stderr).toContain(
      'hetmem: job 1 (seed 1, machine.limits.maxEvents=1000000, expect[0]={"metric":"pagesToDevice","min":1000000}): expectations not met',
    );
    expect(r.stderr).toMatch(
      /hetmem: job 2 \(seed 1, machine\.limits\.maxEvents=20, .*\): LimitError: the run reached its limit of 20 events/,
    );
    expect(r.stdout).toContain('4 run now, 0 already done; 2 failed, 1 missed expectations');
    // Resumed: nothing left to run, and the failures still decide the exit code.
    const again = hetmem(dir, ['sweep', 'limits.yaml']);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('0 run now, 4 already done; 2 failed, 1 missed expectations');
  });

  it('refuses bad grids before running anything, with file, line, column and field (exit 2)', () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      `scenario: scenarios/tiny.yaml
seeds: [1]
parameters:
  machine.devices[0].memory: [4MiB, 3000]
  machine.gpus[0].memory: [4MiB]
`,
    );
    const r = hetmem(dir, ['sweep', 'bad.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'hetmem: bad.yaml:5:3: parameters["machine.gpus[0].memory"]: expected a path that exists in scenarios/tiny.yaml, got machine has no key "gpus" (it has ram, limits, devices)\n',
    );
    writeFileSync(
      join(dir, 'bad.yaml'),
      'scenario: scenarios/tiny.yaml\nseeds: [1]\nparameters:\n  machine.devices[0].memory: [4MiB, 3000]\n',
    );
    const v = hetmem(dir, ['sweep', 'bad.yaml']);
    expect(v.code).toBe(2);
    expect(v.stderr).toBe(
      'hetmem: bad.yaml:4:37: parameters["machine.devices[0].memory"][1]: expected a whole number of 4 KiB pages, got 3000\n',
    );
    writeFileSync(join(dir, 'bad.yaml'), 'scenario: nowhere.yaml\nseeds: [1]\n');
    const f = hetmem(dir, ['sweep', 'bad.yaml']);
    expect(f.code).toBe(2);
    expect(f.stderr).toBe(
      'hetmem: bad.yaml:1:11: scenario: expected a readable scenario file (relative to the grid file), got nowhere.yaml (ENOENT)\n',
    );
    expect(existsSync(join(dir, 'bad.ndjson'))).toBe(false);
    const shard = hetmem(dir, ['sweep', 'grid.yaml', '--shard', '3/3']);
    expect(shard.code).toBe(2);
    expect(shard.stderr).toContain('hetmem: command line: --shard: expected i/N with 0 <= i < N');
  });
});
