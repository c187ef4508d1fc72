// Sweep results: one NDJSON line per finished job,
//
//   {"hash":"<sha256>","index":3,"seed":2,"params":{"machine.devices[0].memory":"16MiB"},"summary":{...}}
//
// or `"error": {"name", "message"}` instead of `"summary"` when the job threw (a limit reached, a
// failure the model refuses to model). The summary is `summaryJson`'s, on one line. Lines are
// appended as jobs finish, so a file is in completion order; `mergeResults` sorts by job index and
// keeps one line per hash. Lines are kept as written: merging never re-serializes a summary.

import { InputError } from '../../sim/errors.js';
import type { SweepJob } from './grid.js';

/** What running one job gave: its summary (as one-line JSON) or the error it threw. */
export type SweepOutcome =
  | { readonly kind: 'summary'; readonly summaryJson: string; readonly expectationsMet: boolean }
  | { readonly kind: 'error'; readonly error: { readonly name: string; readonly message: string } };

/** One line of a results file, checked. */
export interface SweepRecord {
  readonly hash: string;
  readonly index: number;
  readonly seed: number;
  readonly params: Readonly<Record<string, unknown>>;
  /** The run's summary (`RunSummary` as JSON), or null when the job threw. */
  readonly summary: Readonly<Record<string, unknown>> | null;
  readonly error: { readonly name: string; readonly message: string } | null;
  /** The job threw, or an expectation of its scenario failed. */
  readonly failed: boolean;
  /** The line as written, without its newline. */
  readonly text: string;
  /** Where it came from, for messages. */
  readonly file: string;
  readonly line: number;
}

const HASH = /^[0-9a-f]{64}$/;

/** The result line of a job (without the newline). */
export function formatResultLine(job: SweepJob, hash: string, outcome: SweepOutcome): string {
  const head = `{"hash":${JSON.stringify(hash)},"index":${job.index},"seed":${job.seed},"params":${JSON.stringify(job.variant.params)}`;
  return outcome.kind === 'summary'
    ? `${head},"summary":${outcome.summaryJson}}`
    : `${head},"error":${JSON.stringify({ name: outcome.error.name, message: outcome.error.message })}}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses one results line; throws InputError naming the file and line when it is not one. */
export function parseResultLine(text: string, file: string, line: number): SweepRecord {
  const bad = (expected: string, got: string) => new InputError({ file, line }, expected, got);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad('one JSON object per line', (e as Error).message);
  }
  if (!isRecord(v)) throw bad('a JSON object', text.slice(0, 40));
  const { hash, index, seed, params, summary, error } = v;
  if (typeof hash !== 'string' || !HASH.test(hash)) throw bad('"hash": 64 hex digits', JSON.stringify(hash));
  if (!Number.isSafeInteger(index) || (index as number) < 0)
    throw bad('"index": an integer >= 0', JSON.stringify(index));
  if (!Number.isSafeInteger(seed) || (seed as number) < 0)
    throw bad('"seed": an integer >= 0', JSON.stringify(seed));
  if (!isRecord(params)) throw bad('"params": an object', JSON.stringify(params));
  const hasSummary = summary !== undefined;
  if (hasSummary === (error !== undefined))
    throw bad('exactly one of "summary" and "error"', 'both or neither');
  if (hasSummary && !isRecord(summary)) throw bad('"summary": an object', JSON.stringify(summary));
  if (
    !hasSummary &&
    !(isRecord(error) && typeof error.name === 'string' && typeof error.message === 'string')
  )
    throw bad('"error": { "name", "message" }', JSON.stringify(error));
  const expectations = hasSummary ? (summary as Record<string, unknown>).expectations : undefined;
  const expectationsMet =
    !Array.isArray(expectations) || expectations.every((e) => !isRecord(e) || e.ok !== false);
  return {
    hash,
    index: index as number,
    seed: seed as number,
    params,
    summary: hasSummary ? (summary as Record<string, unknown>) : null,
    error: hasSummary ? null : (error as { name: string; message: string }),
    failed: !hasSummary || !expectationsMet,
    text,
    file,
    line,
  };
}

/** The lines of a results file's complete part (everything up to its last newline). */
export interface ParsedResults {
  readonly records: readonly SweepRecord[];
  /** Lines that are not result lines (kept in the file, never counted as done). */
  readonly malformed: readonly InputError[];
}

/**
 * Parses the complete lines of a results file (`text` must end at a newline or be empty; a torn
 * last line of a killed run is the caller's to cut off). Empty lines are skipped.
 */
export function parseResults(text: string, file: string): ParsedResults {
  const records: SweepRecord[] = [];
  const malformed: InputError[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    try {
      records.push(parseResultLine(lines[i], file, i + 1));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      malformed.push(e);
    }
  }
  return { records, malformed };
}

export interface MergeResult {
  /** One record per job, by job index (then hash). */
  readonly records: readonly SweepRecord[];
  /** Lines dropped because a line with the same hash was kept. */
  readonly duplicates: number;
  /** Jobs that have different lines under one hash (a deterministic job should not): the kept line first. */
  readonly conflicts: readonly (readonly SweepRecord[])[];
  /** Records whose hash is not a job of the grid (dropped; only with a grid). */
  readonly unknown: readonly SweepRecord[];
  /** Jobs of the grid with no record (only with a grid), by index. */
  readonly missing: readonly SweepJob[];
}

/**
 * Combines records from several files: one per hash (a summary is preferred to an error, else the
 * first one seen), sorted by job index. With `expected` (hash -> job of the grid), records of other
 * grids are dropped, ordering follows the grid's indexes, and the grid's jobs without a record are
 * listed as missing.
 */
export function mergeResults(
  records: Iterable<SweepRecord>,
  expected?: ReadonlyMap<string, SweepJob>,
): MergeResult {
  const kept = new Map<string, SweepRecord>();
  const variants = new Map<string, SweepRecord[]>();
  const unknown: SweepRecord[] = [];
  let duplicates = 0;
  for (const r of records) {
    if (expected !== undefined && !expected.has(r.hash)) {
      unknown.push(r);
      continue;
    }
    const prev = kept.get(r.hash);
    if (prev === undefined) {
      kept.set(r.hash, r);
      continue;
    }
    duplicates++;
    if (prev.text !== r.text) {
      const all = variants.get(r.hash) ?? [prev];
      all.push(r);
      variants.set(r.hash, all);
      if (prev.summary === null && r.summary !== null) kept.set(r.hash, r);
    }
  }
  const indexOf = (r: SweepRecord) => expected?.get(r.hash)?.index ?? r.index;
  const sorted = [...kept.values()].sort(
    (a, b) => indexOf(a) - indexOf(b) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0),
  );
  const conflicts = [...variants.entries()].map(([hash, all]) => {
    const first = kept.get(hash)!;
    return [first, ...all.filter((r) => r !== first)];
  });
  const missing: SweepJob[] = [];
  if (expected !== undefined) {
    for (const [hash, job] of expected) if (!kept.has(hash)) missing.push(job);
    missing.sort((a, b) => a.index - b.index);
  }
  return { records: sorted, duplicates, conflicts, unknown, missing };
}
