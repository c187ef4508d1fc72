// Result lines: written and read back, rejected when malformed, merged one per hash by index.

import { describe, expect, it } from 'vitest';
import type { SweepJob, SweepVariant } from './grid.js';
import {
  formatResultLine,
  mergeResults,
  parseResultLine,
  parseResults,
  type SweepOutcome,
  type SweepRecord,
} from './results.js';

const variant: SweepVariant = {
  index: 0,
  params: { 'machine.ram': '64MiB' },
  scenario: {},
  canonicalScenario: '{}',
};
const job = (index: number, seed = index): SweepJob => ({ index, seed, variant });
const hash = (n: number) => n.toString(16).padStart(64, '0');
const summary = (ok: boolean): SweepOutcome => ({
  kind: 'summary' as const,
  summaryJson: `{"scenario":"x","expectations":[{"text":"t","ok":${ok},"actual":"1"}]}`,
  expectationsMet: ok,
});

function record(
  index: number,
  h: number,
  outcome: SweepOutcome = summary(true),
  file = 'a.ndjson',
): SweepRecord {
  return parseResultLine(formatResultLine(job(index), hash(h), outcome), file, index + 1);
}

describe('result lines', () => {
  it('round-trip: hash, index, seed, params, then the summary or the error', () => {
    const line = formatResultLine(job(3, 7), hash(1), summary(true));
    expect(line).toBe(
      `{"hash":"${hash(1)}","index":3,"seed":7,"params":{"machine.ram":"64MiB"},"summary":{"scenario":"x","expectations":[{"text":"t","ok":true,"actual":"1"}]}}`,
    );
    const r = parseResultLine(line, 'f', 1);
    expect([r.hash, r.index, r.seed, r.failed, r.error]).toEqual([hash(1), 3, 7, false, null]);
    expect(record(0, 2, summary(false)).failed).toBe(true);
    const err = record(1, 3, {
      kind: 'error',
      error: { name: 'LimitError', message: 'too many events' },
    } as never);
    expect([err.summary, err.error, err.failed]).toEqual([
      null,
      { name: 'LimitError', message: 'too many events' },
      true,
    ]);
  });

  it('reject what is not a result line, naming file and line', () => {
    const bad = (text: string) => () => parseResultLine(text, 'r.ndjson', 4);
    expect(bad('{"hash":')).toThrow(/^r\.ndjson:4: expected one JSON object per line/);
    expect(bad('{"hash":"abc","index":0,"seed":1,"params":{},"summary":{}}')).toThrow(
      /"hash": 64 hex digits/,
    );
    expect(bad(`{"hash":"${hash(1)}","index":-1,"seed":1,"params":{},"summary":{}}`)).toThrow(
      /"index": an integer >= 0/,
    );
    expect(bad(`{"hash":"${hash(1)}","index":0,"seed":1,"params":{}}`)).toThrow(
      /exactly one of "summary" and "error"/,
    );
    const { records, malformed } = parseResults(
      `${formatResultLine(job(0), hash(1), summary(true))}\n\nnot json\n`,
      'r',
    );
    expect(records.length).toBe(1);
    expect(malformed.map((m) => m.location.line)).toEqual([3]);
  });
});

describe('merge', () => {
  it('keeps one line per hash (a summary over an error), sorted by index', () => {
    const error: SweepOutcome = { kind: 'error', error: { name: 'WorkerError', message: 'died' } };
    const m = mergeResults([
      record(2, 12),
      record(0, 10),
      record(1, 11, error),
      record(0, 10),
      record(1, 11),
    ]);
    expect(m.records.map((r) => [r.index, r.error === null])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    expect(m.duplicates).toBe(2);
    expect(m.conflicts.length).toBe(1);
    expect(m.conflicts[0][0].summary).not.toBeNull();
  });

  it('with the grid: drops foreign lines, orders by the grid, lists the missing jobs', () => {
    const expected = new Map<string, SweepJob>([
      [hash(10), job(0)],
      [hash(11), job(1)],
      [hash(12), job(2)],
    ]);
    const m = mergeResults([record(2, 12), record(5, 99), record(0, 10)], expected);
    expect(m.records.map((r) => r.index)).toEqual([0, 2]);
    expect(m.unknown.map((r) => r.hash)).toEqual([hash(99)]);
    expect(m.missing.map((j) => j.index)).toEqual([1]);
  });
});
