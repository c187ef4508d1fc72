import { describe, expect, it } from 'vitest';
import { InputError } from '../../sim/errors.js';
import { parseOpsFile } from './opsFile.js';
import { outcomeMatches, rle } from './outcome.js';

function error(text: string): InputError {
  try {
    parseOpsFile(text, 'x.ops');
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an input error');
}

describe('operation files', () => {
  it('parses operations, skipping comments and blank lines, numbering ops from 0', () => {
    const ops = parseOpsFile('# c\n\np0 open d0 0\n  p0 mmap b0 anon 8 rw\np0 dread d0 b0 0 8\n', 'x.ops');
    expect(ops.map((o) => [o.index, o.line, o.name])).toEqual([
      [0, 3, 'open'],
      [1, 4, 'mmap'],
      [2, 5, 'dread'],
    ]);
    expect(ops[1].op).toEqual({ kind: 'mmap', buf: 0, type: 'anon', npages: 8, prot: 'rw', dev: -1 });
  });

  it('names file, line, column and what was expected for a malformed line', () => {
    expect(error('p0 mmap b0 anon 8 rwx').message).toBe(
      'x.ops:1:19: expected a protection (none, r, rw), got "rwx"',
    );
    expect(error('p0 open d0').message).toBe(
      'x.ops:1:1: expected 2 arguments for open, got the end of the line',
    );
    expect(error('p0 mmap b0 anon 08 rw').message).toMatch(
      /^x.ops:1:17: expected a non-negative decimal number/,
    );
    expect(error('p0 frobnicate').message).toMatch(/^x.ops:1:4: expected an operation/);
    expect(error('p40 exit').message).toMatch(/^x.ops:1:1: expected a p handle below p32/);
  });

  it('enforces the validity rules of section 2.1', () => {
    expect(error('p1 exit').message).toMatch(/expected a live process, got p1/);
    expect(error('p0 read b0 0 1').message).toMatch(/expected a buffer of p0, got b0/);
    expect(error('p0 mmap b0 anon 1 rw\np0 mmap b0 anon 1 rw').message).toMatch(
      /^x.ops:2: expected a buffer handle not used before/,
    );
    expect(error('p0 open d0 0\np0 open d1 0').message).toMatch(/no second own handle for unit 0/);
    // A child may open the unit its inherited handle refers to: that handle is not its own.
    expect(() => parseOpsFile('p0 open d0 0\np0 fork p1\np1 open d1 0', 'x.ops')).not.toThrow();
  });
});

describe('outcome lines', () => {
  it('run-length encodes canonically', () => {
    expect(rle(['a', 'a', 'a', 'b', 'a'])).toBe('a*3,b,a');
    expect(rle([])).toBe('');
  });

  it('matches KEY=? fields and nondet lines as FORMAT.md says, and nothing else', () => {
    expect(
      outcomeMatches(
        '3 p0 dread rc=0 cpages=4 faults=0 sums=?',
        '3 p0 dread rc=0 cpages=4 faults=0 sums=a,b',
      ),
    ).toBe(true);
    expect(
      outcomeMatches('3 p0 dread rc=0 cpages=4 faults=0 sums=?', '3 p0 dread rc=0 cpages=4 faults=1 sums=a'),
    ).toBe(false);
    expect(outcomeMatches('3 p0 dread nondet', '3 p0 dread rc=-EFAULT')).toBe(true);
    expect(outcomeMatches('3 p0 dread rc=0', '3 p0 dread rc=0 cpages=1')).toBe(false);
  });
});
