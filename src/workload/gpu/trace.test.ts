// The trace reader: statements, blocks (explicit and in runs of 256), a round trip through the
// writer, and errors that name the line, the column, what was expected and what was found.

import { describe, expect, it } from 'vitest';
import { InputError } from '../../sim/errors.js';
import { forEachBlock } from './inspect.js';
import { layoutArrays } from './layout.js';
import { buildGpuWorkload } from './registry.js';
import { formatGpuTrace, parseGpuTrace, TRACE_BLOCK_ACCESSES } from './trace.js';
import type { GpuWorkload } from './types.js';

/** Steps as comparable values: kernels as name and per-block access words. */
function stepsOf(w: GpuWorkload): unknown[] {
  const layout = layoutArrays(w.arrays);
  return [...w.steps(layout)].map((s) => {
    if (s.kind === 'host') return s;
    const blocks: number[][] = [];
    forEachBlock(s.grid, (_b, out) => blocks.push(Array.from(out.words.subarray(0, out.length))));
    return { name: s.name, blocks };
  });
}

/** The InputError a trace raises, as [line, column, message]. */
function errorOf(text: string): [number | undefined, number | undefined, string] {
  try {
    parseGpuTrace(text, 'bad.trace');
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    const { location, message } = e as InputError;
    return [location.line, location.column, message];
  }
  throw new Error('the trace was accepted');
}

describe('parseGpuTrace', () => {
  it('reads arrays, kernels, blocks and host steps', () => {
    const w = parseGpuTrace(
      [
        '# recorded by hand',
        'array a 8192 host   # two pages',
        'array b 0x1001',
        '',
        'kernel first',
        'R a 1',
        'W b 0x1',
        'block',
        'R a 0',
        'W a 0',
        'block',
        'host W b 0 1',
        'kernel second',
        'block',
        'R b 1',
      ].join('\n'),
      'hand.trace',
    );
    expect(w.name).toBe('hand.trace');
    expect(w.arrays).toEqual([
      { name: 'a', bytes: 8192, hostInit: true },
      { name: 'b', bytes: 4097, hostInit: false },
    ]);
    // b starts at page 512 (arrays are 2 MiB aligned); accesses are page * 2 + write.
    expect(stepsOf(w)).toEqual([
      { name: 'first', blocks: [[1 * 2, 513 * 2 + 1], [0, 1], []] },
      { kind: 'host', name: 'host b', firstPage: 512, lastPage: 513, write: true },
      { name: 'second', blocks: [[513 * 2]] },
    ]);
  });

  it('cuts a kernel without block lines into blocks of 256 accesses', () => {
    const accesses = Array.from({ length: 600 }, (_, i) => `R a ${i % 3}`);
    const w = parseGpuTrace(['array a 12288', 'kernel k', ...accesses, 'kernel empty'].join('\n'), 't');
    const [k, empty] = stepsOf(w) as { blocks: number[][] }[];
    expect(k.blocks.map((b) => b.length)).toEqual([TRACE_BLOCK_ACCESSES, TRACE_BLOCK_ACCESSES, 88]);
    expect(empty.blocks).toEqual([]);
  });

  it('round-trips a generated workload through formatGpuTrace', () => {
    for (const [name, params] of [
      ['nw', { size: 48 }],
      ['srad', { rows: 32, cols: 48, r2: 20, c2: 40, iterations: 2 }],
      ['bfs', { nodes: 700, edges: 4200, managedOver: true }],
    ] as const) {
      const w = buildGpuWorkload(name, params, 3);
      const text = formatGpuTrace(w);
      const back = parseGpuTrace(text, `${name}.trace`);
      expect(back.arrays).toEqual(w.arrays);
      const host = (s: unknown) => s as { kind?: string; name: string };
      // Host step names become `host <array>`; everything else is identical.
      const strip = (steps: unknown[]) =>
        steps.map((s) => (host(s).kind === 'host' ? { ...host(s), name: '' } : s));
      expect(strip(stepsOf(back))).toEqual(strip(stepsOf(w)));
      expect(formatGpuTrace(back)).toBe(text);
    }
  });

  it('reports mistakes with line, column, what was expected and what was found', () => {
    const head = 'array a 8192\nkernel k\n';
    expect(errorOf(head + 'R b 0')).toEqual([3, 3, 'bad.trace:3:3: expected a declared array (a), got "b"']);
    expect(errorOf(head + 'W a 2')).toEqual([
      3,
      5,
      'bad.trace:3:5: expected a page offset below 2 (array a has 2 pages), got "2"',
    ]);
    expect(errorOf(head + 'R a 1x')).toEqual([
      3,
      5,
      'bad.trace:3:5: expected a page offset (a decimal or 0x-hex integer), got "1x"',
    ]);
    expect(errorOf('array a 8192\nR a 0')).toEqual([
      2,
      1,
      'bad.trace:2:1: expected a `kernel <name>` line before the first access, got "R"',
    ]);
    expect(errorOf(head + 'host R a 0 1\n  W a 0')[0]).toBe(4);
    expect(errorOf(head + 'host R a 0 1\n  W a 0')[1]).toBe(3);
    expect(errorOf(head + 'host R a 0 1\n  W a 0')[2]).toMatch(/ended at the host step on line 3/);
    expect(errorOf(head + 'host R a 1 0')).toEqual([
      3,
      12,
      'bad.trace:3:12: expected a last page at or after the first (1), got "0"',
    ]);
    expect(errorOf(head + 'host X a 0 0')[2]).toBe('bad.trace:3:6: expected R or W, got "X"');
    expect(errorOf(head + 'read a 0')[2]).toBe(
      'bad.trace:3:1: expected a statement: array, kernel, block, R, W or host, got "read"',
    );
    expect(errorOf(head + 'R a')[2]).toBe('bad.trace:3:4: expected R <array> <page>, got end of line');
    expect(errorOf(head + 'R a 0 1')[2]).toBe(
      'bad.trace:3:7: expected end of line (a comment starts with #), got "1"',
    );
    expect(errorOf('array a 8192\narray a 10')[2]).toBe(
      'bad.trace:2:7: expected a new array name, got "a", declared before',
    );
    expect(errorOf('array a 0')[2]).toBe('bad.trace:1:9: expected a positive size in bytes, got "0"');
    expect(errorOf('array a 10 hots')[2]).toBe('bad.trace:1:12: expected `host` or end of line, got "hots"');
    expect(errorOf('block')[2]).toBe(
      'bad.trace:1:1: expected a `kernel <name>` line before the first `block`, got "block"',
    );
    expect(errorOf(head + 'R a   # no page')[2]).toBe(
      'bad.trace:3:4: expected R <array> <page>, got end of line',
    );
    expect(errorOf('array a 0x40000001000')[2]).toBe(
      'bad.trace:1:9: expected a size of at most 1073741824 pages, got "0x40000001000"',
    );
    // Each array fits, the two together do not (b starts on the next 2 MiB boundary).
    const [line, column, message] = errorOf(`array a ${2 ** 41 + 4096}\narray b ${2 ** 41}`);
    expect([line, column]).toEqual([undefined, undefined]);
    expect(message).toMatch(/^bad\.trace: expected arrays that fit in one region, got the arrays span/);
    expect(errorOf('kernel k\nR z 0')[2]).toBe(
      'bad.trace:2:3: expected a declared array (none declared yet), got "z"',
    );
  });
});
