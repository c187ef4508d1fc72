import { describe, expect, it } from 'vitest';
import {
  advanceToEngineStep,
  DriverLock,
  type Program,
  runToCompletion,
  step,
  stepEnabled,
} from './steps.js';

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

describe('advanceToEngineStep', () => {
  it('stops only where an engine step ends: locks are taken and points within a step passed', () => {
    const lock = new DriverLock('l');
    const done: string[] = [];
    let work = 0;
    const wait = step('wait for work', { enabled: () => work > 0 });
    function* thread(): Program<never> {
      for (;;) {
        yield wait;
        done.push('snapshot');
        yield step('commit');
        yield { kind: 'acquire', label: 'take', lock };
        done.push(`update under ${lock.holder}`);
        lock.holder = null;
        yield step('fix-ups', { withinEngineStep: true });
        done.push('fix-ups');
        work--;
      }
    }
    const t = thread();
    t.next();
    work = 1;
    const commit = advanceToEngineStep(t, 'drv');
    expect(commit.label).toBe('commit');
    expect(done).toEqual(['snapshot']);
    expect(advanceToEngineStep(t, 'drv')).toBe(wait);
    expect(done).toEqual(['snapshot', 'update under drv', 'fix-ups']);
    expect(stepEnabled(wait)).toBe(false);
  });

  it('refuses a lock held inside one engine step', () => {
    const lock = new DriverLock('l');
    lock.holder = 'cpu';
    function* thread(): Program<never> {
      for (;;) yield { kind: 'acquire', label: 'take', lock };
    }
    expect(() => advanceToEngineStep(thread(), 'drv')).toThrow('l is held by cpu inside one engine step');
    expect(stepEnabled({ kind: 'acquire', label: 'take', lock })).toBe(false);
  });
});
