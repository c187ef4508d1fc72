// The text and JSON summaries: every number with its unit, colour only when asked, stable JSON.

import { describe, expect, it } from 'vitest';
import { emptySummary, sampleSummary } from '../../test/reportFixtures.js';
import { formatBytes, formatDurationNs, formatSummary, summaryJson } from './summaryText.js';
import type { RunSummary } from './types.js';

const ESC = '\u001b[';

describe('formatSummary', () => {
  const text = formatSummary(sampleSummary(), { color: false });

  it('shows the simulated time with a unit and exactly', () => {
    expect(text).toMatch(/simulated time +29\.990 ms \(29990000 ns\)/);
    expect(text).toMatch(/events +5123\n/);
  });

  it('shows faults, migrations, links with units, and invalidations by event with a total', () => {
    expect(text).toMatch(/faults\n +cpu +121\n +device +43\n/);
    expect(text).toMatch(/pages migrated\n +to device +512\n +to host +64\n/);
    expect(text).toMatch(/nvlink:gpu1 +1000 B \(1000 B\)\n +pcie:gpu0 +2\.25 MiB \(2359296 B\)\n/);
    expect(text).toMatch(/clear +12\n +migrate +4\n +unmap +3\n +total +19\n/);
  });

  it('shows PASID, bond, I/O fault group and notifier retry counts', () => {
    expect(text).toMatch(/PASIDs +2 allocated, 1 freed/);
    expect(text).toMatch(/bonds +5 bound, 4 unbound/);
    expect(text).toMatch(/I\/O page-fault groups +9\n/);
    expect(text).toMatch(/sequence retries +6\n/);
  });

  it('shows busy time per actor with units', () => {
    expect(text).toMatch(/cpu0 +1\.500 ms busy, 40 steps, done\n/);
    expect(text).toMatch(/gpu0 +800 ns busy, 12 steps, not done\n/);
  });

  it('marks each expectation pass or fail with what was measured, and lists leaks', () => {
    expect(text).toContain('expectations (1 passed, 1 failed)');
    expect(text).toContain('PASS  faults.cpu >= 100 (actual: 121)');
    expect(text).toContain('FAIL  leaks == 0 </script><!-- (actual: 1)');
    expect(text).toContain('leak  mm 3: 1 user, no thread');
    expect(text).toMatch(/operations that failed\n +trainer op 4 +mmap 8 GiB: ENOMEM\n/);
  });

  it('aligns the values of plain rows in one column', () => {
    const lines = text.split('\n');
    const valueColumn = (label: string) => {
      const line = lines.find((l) => l.startsWith(`  ${label} `))!;
      return line.length - line.slice(2 + label.length).trimStart().length;
    };
    const columns = ['cpu', 'to host', 'pcie:gpu0', 'sequence retries', 'I/O page-fault groups'].map(
      valueColumn,
    );
    expect(new Set(columns).size).toBe(1);
  });

  it('has no escape codes without colour, and colours PASS/FAIL with it', () => {
    expect(text).not.toContain(ESC);
    const coloured = formatSummary(sampleSummary(), { color: true });
    expect(coloured).toContain(`${ESC}32mPASS`);
    expect(coloured).toContain(`${ESC}31mFAIL`);
    // Same words once the codes are stripped.
    const stripped = coloured
      .split('\u001b')
      .map((part) => part.replace(/^\[\d+m/, ''))
      .join('');
    expect(stripped).toBe(text);
  });

  it('renders an empty run: zeros, "none" for empty lists, no leaks', () => {
    const empty = formatSummary(emptySummary(), { color: false });
    expect(empty).toMatch(/simulated time +0 ns \(0 ns\)/);
    expect(empty).toMatch(/bytes per link\n +none\n/);
    expect(empty).toMatch(/expectations \(0 passed, 0 failed\)\n +none\n/);
    expect(empty).toMatch(/operations that failed\n +none\n/);
    expect(empty).toMatch(/leaks\n +none\n$/);
  });
});

describe('units', () => {
  it('formats durations in the largest unit that keeps them at least 1', () => {
    expect(formatDurationNs(999)).toBe('999 ns');
    expect(formatDurationNs(1000)).toBe('1.000 µs');
    expect(formatDurationNs(1_234_000)).toBe('1.234 ms');
    expect(formatDurationNs(61_500_000_000)).toBe('61.500 s');
  });

  it('formats bytes in binary units', () => {
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1_572_864)).toBe('1.50 MiB');
    expect(formatBytes(3 * 2 ** 40)).toBe('3.00 TiB');
  });
});

describe('summaryJson', () => {
  it('round-trips the summary', () => {
    expect(JSON.parse(summaryJson(sampleSummary()))).toEqual(sampleSummary());
  });

  it('has a stable key order whatever order the records were filled in', () => {
    const a = sampleSummary();
    const reversed = (r: Readonly<Record<string, number>>) => Object.fromEntries(Object.entries(r).reverse());
    const b: RunSummary = {
      failures: a.failures.map((f) => ({ why: f.why, what: f.what, op: f.op, process: f.process })),
      leaks: a.leaks,
      expectations: a.expectations.map((e) => ({ actual: e.actual, ok: e.ok, text: e.text })),
      actors: a.actors.map((x) => ({ done: x.done, busyNs: x.busyNs, steps: x.steps, name: x.name })),
      counters: reversed(a.counters),
      table: {
        ...a.table,
        bytesPerLink: reversed(a.table.bytesPerLink),
        invalidations: reversed(a.table.invalidations),
      },
      seed: a.seed,
      scenario: a.scenario,
    };
    expect(summaryJson(b)).toBe(summaryJson(a));
    const keys = Object.keys(JSON.parse(summaryJson(b)) as object);
    expect(keys).toEqual([
      'scenario',
      'seed',
      'table',
      'counters',
      'actors',
      'expectations',
      'leaks',
      'failures',
    ]);
    expect(summaryJson(b)).toMatch(/"process": "trainer",\n\s+"op": 4,\n\s+"what"/);
    expect(summaryJson(a)).toMatch(/"clear": 12,\n\s+"migrate": 4,\n\s+"unmap": 3/);
  });
});
