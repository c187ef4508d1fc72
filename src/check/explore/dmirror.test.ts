// The race finder on the real dmirror device (src/devices/dmirror): its fault path is a step
// program, so the explorer interleaves the device model's own code with CPU threads and the
// kernel's invalidation windows. The shipped driver passes; a variant of its range fault written
// here without the read_retry check (swapped in for the test) is caught.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Dmirror } from '../../devices/dmirror/dmirror.js';
import type { HmmRange } from '../../hmm/hmmRangeFault.js';
import { hmmRangeFault } from '../../hmm/hmmRangeFault.js';
import { mmuIntervalReadBeginTry } from '../../notifier/interval.js';
import { EBUSY } from '../../sim/errno.js';
import { type Program, step } from '../../sim/steps.js';
import { explore, type Strategy } from './explore.js';
import type { WorldSpec } from './world.js';

const spec: WorldSpec = {
  pages: 4,
  devices: [],
  dmirrors: ['dm0', 'dm1'],
  actors: [
    { name: 'read0', dmirror: 'dm0', fault: { first: 0, pages: 4, write: false } },
    {
      name: 'cpu',
      cpu: [
        { op: 'munmap', first: 1, pages: 2 },
        { op: 'touch', page: 0, write: true },
      ],
    },
    { name: 'write1', dmirror: 'dm1', fault: { first: 0, pages: 4, write: true } },
  ],
};

const STRATEGIES: readonly Strategy[] = ['random', 'pct', 'exhaustive'];

/** dmirror_range_fault without mmu_interval_read_retry: the snapshot is stored whatever happened. */
function* rangeFaultWithoutRetry(this: Dmirror, range: HmmRange): Program<number> {
  for (;;) {
    yield step('dmirror: mmu_interval_read_begin', {
      enabled: () => mmuIntervalReadBeginTry(range.notifier) >= 0,
    });
    range.notifierSeq = mmuIntervalReadBeginTry(range.notifier);
    yield step('dmirror: hmm_range_fault', { invalidates: true });
    const rc = hmmRangeFault(range);
    if (rc === -EBUSY) continue;
    if (rc !== 0) return rc;
    yield { kind: 'acquire', label: 'dmirror: mutex_lock', lock: this.mutex };
    yield step('dmirror: update device page table');
    const stored = (this as unknown as { doFault(r: HmmRange): number }).doFault(range);
    yield step('dmirror: mutex_unlock');
    this.mutex.holder = null;
    return stored;
  }
}

describe('the explorer on the real dmirror device', () => {
  afterEach(() => vi.restoreAllMocks());

  it('finds no violation in the shipped fault path under every strategy', () => {
    for (const strategy of STRATEGIES) {
      const r = explore(spec, { strategy, schedules: 1500, seed: 3 });
      expect(r.failure?.violation.message ?? null, strategy).toBeNull();
      expect(r.schedules).toBe(1500);
    }
  });

  it('catches the fault path without the read_retry check: the mirror reaches freed or stale frames', () => {
    vi.spyOn(
      Dmirror.prototype as unknown as { rangeFaultSteps: typeof rangeFaultWithoutRetry },
      'rangeFaultSteps',
    ).mockImplementation(rangeFaultWithoutRetry);
    for (const strategy of STRATEGIES) {
      const r = explore(spec, { strategy, schedules: 1500, seed: 3 });
      expect(['freed-frame', 'stale-mirror'], strategy).toContain(r.failure?.violation.kind);
      expect(r.failure!.violation.message).toMatch(/^dm[01]('s mirror maps| can reach)/);
    }
  });
});
