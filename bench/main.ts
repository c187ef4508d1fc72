// `npm run bench`: runs the registered figures, prints a table (name, value, unit, target, pass or
// fail) and, with --json, a last line `{"figures": {...}}` for scripts and CI.
//
//   npm run bench                      every figure
//   npm run bench -- --only mm.        figures whose name starts with a prefix (repeatable)
//   npm run bench -- --json            table, then one JSON line (last line of stdout)
//   npm run bench -- --check           exit 1 when a figure misses its target
//   npm run bench -- --verbose         also print every repetition's time (stderr)
//   npm run bench -- --in-process      run every figure in this process (default: each in a fresh
//                                      child process, so one figure's heap cannot slow the next)
//
// Progress goes to stderr, so stdout holds only the table and the JSON line.

import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pc from 'picocolors';
import { describeTarget, type Figure, formatNumber, meetsTarget, setVerbose } from './harness.js';
import { engineFigures } from './engine.bench.js';
import { exploreFigures } from './explore.bench.js';
import { gpuFigures } from './gpu.bench.js';
import { hmmFigures } from './hmm.bench.js';
import { migrateFigures } from './migrate.bench.js';
import { mmFigures } from './mm.bench.js';
import { notifierFigures } from './notifier.bench.js';
import { svaFigures } from './sva.bench.js';
import { sweepFigures } from './sweep.bench.js';
import { webFigures } from './web.bench.js';

/** Every layer's figures, in run order. A new layer adds its `<layer>.bench.ts` list here. */
export const LAYERS: readonly (readonly Figure[])[] = [
  mmFigures,
  notifierFigures,
  hmmFigures,
  migrateFigures,
  svaFigures,
  engineFigures,
  gpuFigures,
  sweepFigures,
  exploreFigures,
  webFigures,
];

interface Outcome {
  readonly figure: Figure;
  readonly value: number | null;
  readonly error: string | null;
  readonly seconds: number;
}

const USAGE = `usage: npm run bench -- [--only PREFIX]... [--json] [--check] [--list] [--verbose]

  --only PREFIX  run only figures whose name starts with PREFIX (repeatable)
  --json         after the table, print {"figures": {NAME: value}} as the last line
  --check        exit with status 1 if a figure misses its target
  --list         list the figures and exit
  --verbose, -v  print each measured repetition's time to stderr
  --in-process   run every figure in this process (default: each in a fresh child process)
  --help         this text`;

function allFigures(): Figure[] {
  const figures = LAYERS.flat();
  const seen = new Set<string>();
  for (const f of figures) {
    if (seen.has(f.name)) throw new Error(`duplicate figure name ${f.name}`);
    seen.add(f.name);
  }
  return figures;
}

interface CpuSnapshot {
  readonly wallMs: number;
  /** Non-idle CPU time of the whole machine, ms. */
  readonly busyMs: number;
  readonly own: NodeJS.CpuUsage;
}

function cpuSnapshot(): CpuSnapshot {
  let busyMs = 0;
  for (const cpu of os.cpus()) busyMs += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return { wallMs: performance.now(), busyMs, own: process.cpuUsage() };
}

/** CPUs' worth of time that processes other than this one used since `start` (machine-wide). */
function otherCpuLoad(start: CpuSnapshot): number {
  const end = cpuSnapshot();
  const own = process.cpuUsage(start.own);
  const otherMs = end.busyMs - start.busyMs - (own.user + own.system) / 1000 - childCpuMs;
  return Math.max(0, otherMs / (end.wallMs - start.wallMs));
}

/** CPU time the figures' child processes used (not "other processes" for the load line). */
let childCpuMs = 0;

/**
 * Runs one figure in a fresh child process (this script with `--figure NAME`): the heap and the
 * compiled code other figures left behind do not change its result.
 */
function runFigureIsolated(figure: Figure, verbose: boolean): { value: number | null; error: string | null } {
  const script = fileURLToPath(import.meta.url);
  const loader = process.execArgv.filter((a, i, all) => a !== '--eval' && all[i - 1] !== '--eval');
  const args = [...loader, script, '--figure', figure.name, ...(verbose ? ['--verbose'] : [])];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const r2 = JSON.parse(last) as { value: number | null; error: string | null; cpuMs: number };
    childCpuMs += r2.cpuMs;
    return r2;
  } catch {
    return { value: null, error: `child process exited ${r.status} without a result: ${last.slice(0, 200)}` };
  }
}

/** Runs one figure; a throw or a non-finite result becomes an error instead of a value. */
async function runFigure(figure: Figure): Promise<{ value: number | null; error: string | null }> {
  try {
    const value = await figure.run();
    if (!Number.isFinite(value)) throw new Error(`measured a non-finite value ${value}`);
    return { value, error: null };
  } catch (e) {
    return { value: null, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
}

function pad(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function printTable(outcomes: readonly Outcome[], colour: boolean): void {
  const c = colour ? pc : pc.createColors(false);
  const header = ['figure', 'value', 'unit', 'target', 'result', 'time'];
  const rows = outcomes.map((o) => [
    o.figure.name,
    o.value === null ? 'error' : formatNumber(o.value),
    o.figure.unit,
    describeTarget(o.figure.target),
    o.value === null ? 'ERROR' : meetsTarget(o.value, o.figure.target) ? 'pass' : 'FAIL',
    `${o.seconds.toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const rightAligned = [false, true, false, false, false, true];
  const line = (cells: string[], style: (s: string, i: number) => string = (s) => s) =>
    cells.map((cell, i) => style(pad(cell, widths[i], rightAligned[i]), i)).join('  ');
  console.log(c.bold(line(header)));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) {
    console.log(
      line(row, (s, i) => {
        if (i !== 4) return s;
        return row[4] === 'pass' ? c.green(s) : c.red(c.bold(s));
      }),
    );
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
      'in-process': { type: 'boolean', default: false },
      figure: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  setVerbose(values.verbose);
  if (values.figure !== undefined) {
    // Child mode: one figure, its outcome as the last line of stdout.
    const figure = allFigures().find((f) => f.name === values.figure);
    if (figure === undefined) throw new Error(`no figure named ${values.figure}`);
    const outcome = await runFigure(figure);
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ ...outcome, cpuMs: (cpu.user + cpu.system) / 1000 }));
    return 0;
  }
  const prefixes = values.only ?? [];
  const figures = allFigures().filter(
    (f) => prefixes.length === 0 || prefixes.some((prefix) => f.name.startsWith(prefix)),
  );
  if (values.list) {
    for (const f of figures)
      console.log(`${f.name} (${f.unit}, ${describeTarget(f.target)}): ${f.description}`);
    return 0;
  }
  if (figures.length === 0) {
    console.error(`no figure name starts with ${prefixes.map((p) => JSON.stringify(p)).join(' or ')}`);
    return 2;
  }

  const load0 = cpuSnapshot();
  const outcomes: Outcome[] = [];
  for (const figure of figures) {
    process.stderr.write(`bench: ${figure.name} ...`);
    const t0 = performance.now();
    const isolate = !values['in-process'] && figures.length > 1;
    const { value, error } = isolate ? runFigureIsolated(figure, values.verbose) : await runFigure(figure);
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(
      value === null ? ` error (${seconds.toFixed(1)} s)\n` : ` ${formatNumber(value)} ${figure.unit}\n`,
    );
    if (error !== null) console.error(`${figure.name} failed:\n${error}`);
    outcomes.push({ figure, value, error, seconds });
  }

  printTable(outcomes, !values.json);

  const errors = outcomes.filter((o) => o.value === null).length;
  const misses = outcomes.filter((o) => o.value !== null && !meetsTarget(o.value, o.figure.target)).length;
  console.log(
    `\n${outcomes.length - errors - misses} of ${outcomes.length} figures meet their targets` +
      (misses > 0 ? `, ${misses} missed` : '') +
      (errors > 0 ? `, ${errors} failed to run` : ''),
  );
  // Wall-clock figures depend on what else runs: show how much CPU other processes took meanwhile.
  const others = otherCpuLoad(load0);
  console.log(
    `other processes used ${others.toFixed(2)} of ${os.cpus().length} CPUs during the run; node ${process.version}` +
      (others > 0.25 ? ' (busy machine: figures may read low)' : ''),
  );
  if (values.json) {
    const out: Record<string, number> = {};
    for (const o of outcomes) if (o.value !== null) out[o.figure.name] = Number(o.value.toPrecision(6));
    console.log(JSON.stringify({ figures: out }));
  }
  if (errors > 0) return 1;
  return values.check && misses > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const usageError =
      e instanceof Error && String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    console.error(e instanceof Error ? (usageError ? e.message : (e.stack ?? e.message)) : e);
    if (usageError) console.error(USAGE);
    process.exitCode = 2;
  },
);
