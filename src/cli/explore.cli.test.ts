// End-to-end: `hetmem explore` as a user runs it, in child processes started from a temporary
// directory: a violation exits 1 with the shrunk schedule, the replay lines and a valid Trace Event
// file; the printed replay lines reproduce it; a clean scenario exits 0; --json prints one object;
// bad input exits 2 with file:line:col; the watchdog stops a driver that never yields and names it;
// a user driver in a .ts module loads through tsx. The processes run in parallel in beforeAll; the
// tests at the end guard fixed bugs (printed replay lines, --trace, the watchdog's false alarms).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateChromeTrace } from '../report/traceValidate.js';

const ROOT = join(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
// An absolute loader URL: `--import tsx` would be resolved from the temporary directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const example = (name: string) => join(ROOT, 'examples/explore', name);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `hetmem ARGS` in `cwd`. Unless the test is about the watchdog, its step timeout is raised:
 * with these processes sharing the CPUs, a step of a long shrink could otherwise look stuck.
 */
function hetmem(cwd: string, ...args: string[]): Promise<Run> {
  // Right after the command name, so that the arguments a test passes stay last, as printed.
  const full =
    args[0] === 'explore' && !args.includes('--step-timeout')
      ? ['explore', '--step-timeout', '120', ...args.slice(1)]
      : args;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...full], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The arguments of a printed `hetmem explore ...` line (the part after `hetmem`, before the note). */
function printedArgs(stdout: string, marker: string): string[] | null {
  const line = stdout.split('\n').find((l) => l.includes('hetmem explore') && l.includes(marker));
  if (line === undefined) return null;
  const command = line
    .slice(line.indexOf('hetmem explore') + 'hetmem '.length)
    .replace(/\s+\([^)]*\)\s*$/, '');
  return command.trim().split(/\s+/);
}

/** A printed command with `--trace FILE` put first, so the printed arguments stay last as printed. */
const withTrace = (args: readonly string[], file: string) => [args[0], '--trace', file, ...args.slice(1)];

/** The trace a run wrote: valid Trace Event JSON, with its slices and instants. */
function readTrace(file: string) {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { ph: string; name: string }[] };
  return { doc, problems: validateChromeTrace(doc) };
}

const KINDS =
  'stale-mirror|freed-frame|stale-permission|protocol|lock|deadlock|livelock|use-after-free|audit|pasid-reuse|driver-error';
/** The `KIND: message` line of a run's output. */
const violationLine = (stdout: string) =>
  stdout
    .split('\n')
    .find((l) => new RegExp(`^\\s*(${KINDS}): `).test(l))
    ?.trim();

let dir = '';
const runs: Record<string, Run> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hetmem-explore-'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(
    join(dir, 'bad.yaml'),
    [
      'name: bad',
      'pages: 4',
      'devices:',
      '  - { name: m0 }',
      'actors:',
      '  - { name: a, device: m9, driver: dmirror-fault }',
      '',
    ].join('\n'),
  );
  // A driver that takes a reference and then spins without ever yielding again.
  writeFileSync(
    join(dir, 'hang.mjs'),
    'export function* spin({ dev }) {\n  yield* dev.get();\n  for (;;) {}\n}\n',
  );
  writeFileSync(
    join(dir, 'hang.yaml'),
    [
      'name: hang',
      'pages: 2',
      'devices: [{ name: m0 }]',
      'actors:',
      '  - { name: cpu, cpu: [{ op: touch, page: 0 }] }',
      '  - { name: spinner, device: m0, driver: { module: ./hang.mjs, export: spin } }',
      '',
    ].join('\n'),
  );
  // A TypeScript driver (type annotations and all) that returns holding its lock.
  writeFileSync(
    join(dir, 'leaky.ts'),
    [
      'interface Env {',
      '  readonly dev: { takeLock(): Generator<unknown, void, undefined> };',
      '}',
      'export function* leaky({ dev }: Env): Generator<unknown, void, undefined> {',
      '  yield* dev.takeLock();',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'ts.yaml'),
    [
      'name: ts',
      'pages: 2',
      'devices: [{ name: m0 }]',
      'actors:',
      '  - { name: tsdrv, device: m0, driver: { module: ./leaky.ts, export: leaky } }',
      '',
    ].join('\n'),
  );
  // A correct driver in a module whose import takes 2 s (a big module, a cold compile cache).
  writeFileSync(
    join(dir, 'slow-import.mjs'),
    [
      'const until = Date.now() + 2000;',
      'while (Date.now() < until) {}',
      'export function* quick({ dev }) {',
      '  yield* dev.takeLock();',
      '  yield* dev.dropLock();',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'slow-import.yaml'),
    [
      'name: slow-import',
      'pages: 2',
      'devices: [{ name: m0 }]',
      'actors:',
      '  - { name: q, device: m0, driver: { module: ./slow-import.mjs, export: quick } }',
      '',
    ].join('\n'),
  );
  // A driver whose failing schedules are over 2,500 steps long: shrinking them takes seconds.
  writeFileSync(
    join(dir, 'slow-shrink.mjs'),
    [
      'export function* slowNoRetry({ dev, startVpn, pages }) {',
      '  for (let i = 0; i < 600; i++) yield* dev.readBegin();',
      '  const seq = yield* dev.readBegin();',
      '  const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);',
      '  if (rc !== 0) return;',
      '  for (let i = 0; i < 600; i++) yield* dev.readRetry(seq);',
      '  yield* dev.takeLock();',
      '  for (let i = 0; i < pages; i++) if (range.flags[i] >>> 31) dev.mirror.set(startVpn + i, range.pfns[i], 1);',
      '  yield* dev.dropLock();',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'slow-shrink.yaml'),
    [
      'name: slow-shrink',
      'pages: 4',
      'devices: [{ name: m0 }]',
      'actors:',
      '  - { name: drv, device: m0, driver: { module: ./slow-shrink.mjs, export: slowNoRetry } }',
      '  - name: cpu',
      `    cpu: [${Array<string>(700).fill('{ op: touch, page: 0 }').join(', ')}, { op: dontneed, first: 0, pages: 4 }]`,
      'explore: { strategy: random, maxSteps: 5000 }',
      '',
    ].join('\n'),
  );

  // Stage 1, in parallel: the runs that need nothing but their files.
  const [found, json, clean, badScenario, badStrategy, ts, emptySchedule, badTrace] = await Promise.all([
    hetmem(dir, 'explore', example('mirror-read-begin-hoisted.yaml')),
    hetmem(
      dir,
      'explore',
      example('mirror-update-outside-lock.yaml'),
      '--json',
      '--trace',
      'out/custom.json',
    ),
    hetmem(dir, 'explore', example('mirror-retry-check.yaml'), '--schedules', '300'),
    hetmem(dir, 'explore', 'bad.yaml'),
    hetmem(dir, 'explore', example('mirror-retry-check.yaml'), '--strategy', 'dfs'),
    hetmem(dir, 'explore', 'ts.yaml', '--json', '--trace', 'out/ts.json'),
    hetmem(dir, 'explore', example('exclusive-ignores-owner.yaml'), '--trace', 'out/exclusive.json'),
    hetmem(
      dir,
      'explore',
      example('mirror-read-begin-hoisted.yaml'),
      '--trace',
      join(dir, 'no-such-dir/x.json'),
    ),
  ]);
  Object.assign(runs, { found, json, clean, badScenario, badStrategy, ts, emptySchedule, badTrace });

  // Stage 2: the replay lines the violation printed, run as printed (with their own trace files),
  // and the watchdog's known false alarms.
  const bySeed = printedArgs(found.stdout, '--replay');
  const bySchedule = printedArgs(found.stdout, '--schedule');
  const [seedRun, scheduleRun, slowImport, slowShrink] = await Promise.all([
    bySeed === null ? null : hetmem(dir, ...withTrace(bySeed, 'out/seed.json')),
    bySchedule === null ? null : hetmem(dir, ...withTrace(bySchedule, 'out/schedule.json')),
    hetmem(dir, 'explore', 'slow-import.yaml', '--step-timeout', '1'),
    hetmem(dir, 'explore', 'slow-shrink.yaml', '--step-timeout', '1', '--trace', 'out/slow.json'),
  ]);
  if (seedRun !== null) runs.seedRun = seedRun;
  if (scheduleRun !== null) runs.scheduleRun = scheduleRun;
  Object.assign(runs, { slowImport, slowShrink });

  // Stage 3, alone: the watchdog arms once the scenario is loaded, so a short timeout is safe.
  runs.hang = await hetmem(dir, 'explore', 'hang.yaml', '--step-timeout', '2');
}, 120_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('hetmem explore', () => {
  it('a violation: exit 1, the shrunk schedule, how to replay it, and a valid trace in NAME.failure.json', () => {
    const r = runs.found;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /^mirror-read-begin-hoisted: [\d,]+ schedules? \(pct, seed 1\) in [\d.]+ s: VIOLATION\n/,
    );
    expect(r.stdout).toMatch(/\n {2}livelock: fault[01] retried 17 times/);
    expect(r.stdout).toMatch(/The failing schedule, shrunk to \d+ steps \(found with \d+\):/);
    expect(r.stdout).toMatch(
      /\nreplay: {2}hetmem explore \S+mirror-read-begin-hoisted\.yaml --strategy pct --replay \d+ --depth 3 {3}\(as found\)\n/,
    );
    expect(r.stdout).toMatch(/\n {9}hetmem explore \S+ --schedule [\w,]+ {3}\(shrunk\)\n/);
    expect(r.stdout).toContain('trace:   mirror-read-begin-hoisted.failure.json');
    const shrunk = Number(/shrunk to (\d+) steps/.exec(r.stdout)![1]);
    const { doc, problems } = readTrace(join(dir, 'mirror-read-begin-hoisted.failure.json'));
    expect(problems).toEqual([]);
    expect(doc.traceEvents.filter((e) => e.ph === 'B')).toHaveLength(shrunk);
    expect(doc.traceEvents.filter((e) => e.ph === 'i').map((e) => e.name)).toEqual(['livelock']);
  });

  it('--replay SEED and --schedule, as printed, reproduce the violation (exit 1)', () => {
    const found = runs.found;
    expect(runs.seedRun, 'no --replay line printed').toBeDefined();
    expect(runs.scheduleRun, 'no --schedule line printed').toBeDefined();
    expect(runs.seedRun.code, runs.seedRun.stderr).toBe(1);
    expect(runs.seedRun.stdout).toMatch(/\nlivelock: fault[01] retried 17 times/);
    // The shrunk schedule replays step for step, with the same violation.
    const s = runs.scheduleRun;
    expect(s.code, s.stderr).toBe(1);
    const stepsOf = (out: string) => out.split('\n').filter((l) => /^\s+\d+\s+\S+\s+\S/.test(l));
    expect(stepsOf(s.stdout)).toEqual(stepsOf(found.stdout));
    expect(violationLine(s.stdout)).toBeDefined();
    expect(violationLine(s.stdout)).toBe(violationLine(found.stdout));
    for (const f of ['out/seed.json', 'out/schedule.json'])
      expect(readTrace(join(dir, f)).problems, f).toEqual([]);
  });

  it('--json prints one JSON object with the failure; --trace FILE is where the trace goes', () => {
    const r = runs.json;
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]) as Record<string, unknown> & { failure: Record<string, unknown> };
    expect(out).toMatchObject({
      scenario: 'mirror-update-outside-lock',
      strategy: 'pct',
      seed: 1,
      exhausted: false,
    });
    expect(out.failure.kind).toBe('protocol');
    expect(out.failure.message).toMatch(/updates mirror0's page table without holding mirror0\.lock/);
    expect(Array.isArray(out.failure.schedule)).toBe(true);
    expect(out.failure.replaySeed).toBeTypeOf('number');
    expect(readTrace(join(dir, 'out/custom.json')).problems).toEqual([]);
    expect(existsSync(join(dir, 'mirror-update-outside-lock.failure.json'))).toBe(false);
  });

  it('a clean scenario: exit 0, "no violation", no trace written', () => {
    const r = runs.clean;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^mirror-retry-check: 300 schedules \(pct, seed 1\) in [\d.]+ s: no violation\n$/,
    );
    expect(existsSync(join(dir, 'mirror-retry-check.failure.json'))).toBe(false);
  });

  it('bad input exits 2 with the place: a scenario at file:line:col, a bad --strategy by its flag', () => {
    expect(runs.badScenario.code).toBe(2);
    expect(runs.badScenario.stderr).toBe(
      'hetmem: bad.yaml:6:24: actors[0].device: expected one of the devices (m0), got m9\n',
    );
    expect(runs.badStrategy.code).toBe(2);
    expect(runs.badStrategy.stderr).toBe(
      'hetmem: (command line): --strategy: expected one of random, pct, exhaustive, got dfs\n',
    );
  });

  it('the watchdog stops a driver step that never yields and names the actor and the step (exit 1)', () => {
    const r = runs.hang;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe(
      'driver-error: spinner did not yield for 2 s at "m0: get reference": a loop with no yield in it? (stopped)\n',
    );
  });

  it('a user driver in a .ts module loads through tsx and is explored', () => {
    const r = runs.ts;
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { failure: { kind: string; message: string } };
    expect(out.failure).toMatchObject({ kind: 'lock', message: 'm0.lock is still held by tsdrv at the end' });
  });

  // When shrinking leaves no choices (the first-enabled schedule already fails), the printed line
  // must still run: `--schedule ""`.
  it('the printed --schedule line replays even when the shrunk schedule is empty', async () => {
    const r = runs.emptySchedule;
    expect(r.code, r.stderr).toBe(1);
    const args = printedArgs(r.stdout, '--schedule')!;
    const replay = await hetmem(dir, ...withTrace(args, 'out/empty.json'));
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('livelock: atomic0 retried 17 times');
  });

  // writeTrace runs before anything is printed and its error is not an InputError: an unwritable
  // --trace path crashes the worker with a stack trace and exit 1 (the code of "violation found"),
  // and the violation itself is never shown.
  it('a --trace path in a folder that does not exist is bad input (exit 2 naming the file) before anything runs', () => {
    const r = runs.badTrace;
    expect(r.stdout).not.toContain('VIOLATION');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hetmem: .*no-such-dir\/x\.json/);
  });

  // Loading the model and the scenario's modules is not a step: the watchdog arms after it.
  it('the time before the first step (loading modules) is not taken for a driver that never yields', () => {
    const r = runs.slowImport;
    expect(r.stdout).not.toContain('did not yield');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^slow-import: [\d,]+ schedules? .*: no violation\n$/);
  });

  // The heartbeat (the onStep hook) also beats during shrinking and the CLI's final replay, so a
  // shrink longer than --step-timeout is not taken for a step that never returns.
  it('a long shrink is not taken for a driver that never yields', () => {
    const r = runs.slowShrink;
    expect(r.stdout).not.toContain('did not yield');
    expect(r.stdout).toMatch(/^slow-shrink: 1 schedule \(random, seed 1\) in [\d.]+ s: VIOLATION\n/);
    expect(r.code).toBe(1);
  });
});
