// The summary of a run for people (an aligned text table) and for programs (JSON with a stable key
// order). `summarySections` is the one place that decides what the summary shows; the text table
// here and the HTML report both render it, so they never disagree.

import pc from 'picocolors';
import type { ActorSummary, ExpectationResult, OperationFailure, RunSummary, SummaryTable } from './types.js';

export interface SummaryRow {
  readonly label: string;
  readonly value: string;
  /** Pass/fail marks for expectations and leaks; rendered in colour when colour is on. */
  readonly status?: 'pass' | 'fail';
}

export interface SummarySection {
  readonly title: string;
  readonly rows: readonly SummaryRow[];
}

/** The summary as titled sections of label/value rows, in reading order. */
export function summarySections(summary: RunSummary): SummarySection[] {
  const t = summary.table;
  const passed = summary.expectations.filter((e) => e.ok).length;
  const failed = summary.expectations.length - passed;
  return [
    {
      title: 'run',
      rows: [
        { label: 'scenario', value: summary.scenario },
        { label: 'seed', value: String(summary.seed) },
        { label: 'simulated time', value: `${formatDurationNs(t.simNs)} (${t.simNs} ns)` },
        { label: 'events', value: String(t.events) },
      ],
    },
    {
      title: 'faults',
      rows: [
        { label: 'cpu', value: String(t.cpuFaults) },
        { label: 'device', value: String(t.deviceFaults) },
      ],
    },
    {
      title: 'pages migrated',
      rows: [
        { label: 'to device', value: String(t.pagesToDevice) },
        { label: 'to host', value: String(t.pagesToHost) },
      ],
    },
    {
      title: 'bytes per link',
      rows: recordRows(t.bytesPerLink, (bytes) => `${formatBytes(bytes)} (${bytes} B)`),
    },
    { title: 'invalidations by event', rows: invalidationRows(t) },
    {
      title: 'sva',
      rows: [
        { label: 'PASIDs', value: `${t.pasidAllocs} allocated, ${t.pasidFrees} freed` },
        { label: 'bonds', value: `${t.binds} bound, ${t.unbinds} unbound` },
        { label: 'I/O page-fault groups', value: String(t.iopfGroups) },
      ],
    },
    { title: 'notifier', rows: [{ label: 'sequence retries', value: String(t.notifierSeqRetries) }] },
    { title: 'actors (busy time)', rows: summary.actors.map(actorRow) },
    {
      title: `expectations (${passed} passed, ${failed} failed)`,
      rows: summary.expectations.map(expectationRow),
    },
    // Refusals are outcomes, not verdicts (an oversubscription scenario expects ENOMEM), so they
    // are listed without a pass/fail mark; expectations judge them.
    { title: 'operations that failed', rows: summary.failures.map(failureRow) },
    {
      title: 'leaks',
      rows:
        summary.leaks.length === 0
          ? [{ label: 'none', value: '', status: 'pass' }]
          : summary.leaks.map((leak) => ({ label: 'leak', value: leak, status: 'fail' as const })),
    },
  ];
}

/**
 * The summary as an aligned text table, ending with a newline. Colour is the caller's decision
 * (the CLI honours NO_COLOR and non-TTY output); with `color: false` the text has no escape codes.
 *
 * @example
 * process.stdout.write(formatSummary(result.summary, { color: pc.isColorSupported }));
 */
export function formatSummary(summary: RunSummary, options: { color: boolean }): string {
  const c = pc.createColors(options.color);
  const sections = summarySections(summary);
  // One label column for every section, so values line up down the whole table.
  const labels = sections.flatMap((s) => s.rows.filter((r) => !r.status).map((r) => r.label.length));
  const width = Math.max(...labels, 8) + 2;
  const lines = [c.bold('hetmem run summary')];
  for (const section of sections) {
    lines.push('', c.bold(section.title));
    if (section.rows.length === 0) lines.push(`  ${c.dim('none')}`);
    for (const row of section.rows) {
      // Marked rows (PASS/FAIL, leaks) read as sentences; the others as an aligned table.
      const text =
        row.value === ''
          ? row.label
          : `${row.status ? `${row.label}  ` : row.label.padEnd(width)}${row.value}`;
      lines.push(
        `  ${row.status === 'pass' ? c.green(text) : row.status === 'fail' ? c.red(text) : text}`.trimEnd(),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The summary as JSON (2-space indent, no trailing newline) with a fixed key order: fields in the
 * order `types.ts` declares them, records (links, event types, counters) sorted by key. Two runs
 * that agree give identical text, whatever order the runner filled the records in.
 */
export function summaryJson(summary: RunSummary): string {
  return JSON.stringify(canonicalSummary(summary), null, 2);
}

// The key lists are checked against the interfaces: a field added to `types.ts` and not here
// fails to compile instead of silently vanishing from the JSON.
type Complete<T, K extends readonly (keyof T)[]> = Exclude<keyof T, K[number]> extends never ? true : never;
// prettier-ignore
const SUMMARY_KEYS = [
  'scenario', 'seed', 'table', 'counters', 'actors', 'expectations', 'leaks', 'failures',
] as const;
// prettier-ignore
const TABLE_KEYS = [
  'simNs', 'events', 'cpuFaults', 'deviceFaults', 'pagesToDevice', 'pagesToHost', 'bytesPerLink',
  'invalidations', 'pasidAllocs', 'pasidFrees', 'binds', 'unbinds', 'iopfGroups', 'notifierSeqRetries',
] as const;
const ACTOR_KEYS = ['name', 'steps', 'busyNs', 'done'] as const;
const EXPECTATION_KEYS = ['text', 'ok', 'actual'] as const;
const FAILURE_KEYS = ['process', 'op', 'what', 'why'] as const;
const _complete: [
  Complete<RunSummary, typeof SUMMARY_KEYS>,
  Complete<SummaryTable, typeof TABLE_KEYS>,
  Complete<ActorSummary, typeof ACTOR_KEYS>,
  Complete<ExpectationResult, typeof EXPECTATION_KEYS>,
  Complete<OperationFailure, typeof FAILURE_KEYS>,
] = [true, true, true, true, true];

function canonicalSummary(summary: RunSummary): Record<string, unknown> {
  const table = pick(summary.table, TABLE_KEYS);
  table.bytesPerLink = sortedRecord(summary.table.bytesPerLink);
  table.invalidations = sortedRecord(summary.table.invalidations);
  const out = pick(summary, SUMMARY_KEYS);
  out.table = table;
  out.counters = sortedRecord(summary.counters);
  out.actors = summary.actors.map((a) => pick(a, ACTOR_KEYS));
  out.expectations = summary.expectations.map((e) => pick(e, EXPECTATION_KEYS));
  out.failures = summary.failures.map((f) => pick(f, FAILURE_KEYS));
  return out;
}

function pick<T extends object>(from: T, keys: readonly (keyof T)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key as string] = from[key];
  return out;
}

function sortedRecord(record: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

function recordRows(record: Readonly<Record<string, number>>, format: (n: number) => string): SummaryRow[] {
  return Object.keys(record)
    .sort()
    .map((key) => ({ label: key, value: format(record[key]) }));
}

function invalidationRows(t: SummaryTable): SummaryRow[] {
  const rows = recordRows(t.invalidations, String);
  if (rows.length === 0) return rows;
  const total = Object.values(t.invalidations).reduce((a, b) => a + b, 0);
  return [...rows, { label: 'total', value: String(total) }];
}

function actorRow(actor: ActorSummary): SummaryRow {
  const state = actor.done ? 'done' : 'not done';
  return {
    label: actor.name,
    value: `${formatDurationNs(actor.busyNs)} busy, ${actor.steps} steps, ${state}`,
  };
}

function failureRow(f: OperationFailure): SummaryRow {
  return { label: `${f.process} op ${f.op}`, value: `${f.what}: ${f.why}` };
}

function expectationRow(e: ExpectationResult): SummaryRow {
  return {
    label: e.ok ? 'PASS' : 'FAIL',
    value: `${e.text} (actual: ${e.actual})`,
    status: e.ok ? 'pass' : 'fail',
  };
}

/**
 * A duration in the largest unit that keeps it at least 1, with three decimals.
 *
 * @example
 * formatDurationNs(1_234_000); // '1.234 ms'
 */
export function formatDurationNs(ns: number): string {
  const abs = Math.abs(ns);
  if (abs < 1e3) return `${ns} ns`;
  if (abs < 1e6) return `${(ns / 1e3).toFixed(3)} µs`;
  if (abs < 1e9) return `${(ns / 1e6).toFixed(3)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}

/**
 * A byte count in binary units, with two decimals above 1 KiB.
 *
 * @example
 * formatBytes(1_572_864); // '1.50 MiB'
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${units[unit]}`;
}
