import { describe, expect, it } from 'vitest';
import { DriverLock, type Program, runToCompletion, step } from './steps.js';

describe('runToCompletion', () => {
  it('runs a step program straight through, taking its locks as the owner, and returns its value', () => {
    const lock = new DriverLock('l');
    const seen: (string | null)[] = [];
    function* program(): Program<number> {
      yield step('a');
      yield { kind: 'acquire', label: 'take', lock };
      seen.push(lock.holder);
      yield step('b', { enabled: () => true });
      lock.holder = null;
      return 42;
    }
    expect(runToCompletion(program(), 'me')).toBe(42);
    expect(seen).toEqual(['me']);
    expect(lock.holder).toBeNull();
  });

  it('refuses to wait: a held lock or a step that is not enabled is a bug of a sequential caller', () => {
    const lock = new DriverLock('l');
    lock.holder = 'other';
    function* takes(): Program {
      yield { kind: 'acquire', label: 'take', lock };
    }
    expect(() => runToCompletion(takes(), 'me')).toThrow('l is held by other: would sleep forever');
    function* waits(): Program {
      yield step('wait for it', { enabled: () => false });
    }
    expect(() => runToCompletion(waits(), 'me')).toThrow(
      '"wait for it" would wait forever in a sequential run',
    );
  });
});
