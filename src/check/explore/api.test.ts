// The race finder through the package's public API, as the README shows it: a driver written
// from scratch that stores its snapshot without mmu_interval_read_retry is caught, and the same
// driver with the check passes.

import { describe, expect, it } from 'vitest';
import { explore, type DriverEnv, type Program, type WorldSpec } from '../../index.js';

function mirrorDriver(checkRetry: boolean) {
  return function* ({ dev, startVpn, pages }: DriverEnv): Program {
    for (;;) {
      const seq = yield* dev.readBegin();
      const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
      if (rc !== 0) return;
      yield* dev.takeLock();
      if (checkRetry && (yield* dev.readRetry(seq))) {
        yield* dev.dropLock();
        continue;
      }
      yield* dev.commit(range);
      yield* dev.dropLock();
      return;
    }
  };
}

const world = (checkRetry: boolean): WorldSpec => ({
  pages: 2,
  devices: [{ name: 'dev0' }],
  actors: [
    { name: 'drv', device: 'dev0', driver: mirrorDriver(checkRetry) },
    { name: 'cpu', cpu: [{ op: 'dontneed', first: 0, pages: 2 }] },
  ],
});

describe('the README example', () => {
  it('catches the careless driver as a protocol violation and passes the careful one', () => {
    const careless = explore(world(false), { strategy: 'pct', schedules: 2000 });
    expect(careless.failure?.violation.kind).toBe('protocol');
    expect(careless.failure!.violation.message).toMatch(
      /^drv updates dev0's page table without mmu_interval_read_retry\(seq 1\)/,
    );
    const careful = explore(world(true), { strategy: 'pct', schedules: 2000 });
    expect(careful.failure).toBeNull();
    expect(careful.schedules).toBe(2000);
  });
});
