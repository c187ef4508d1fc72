// The access-counter policies against NVIDIA UVM's defaults (uvm_gpu_access_counters.c;
// docs/research/ganguly2019.md §5): a counter per 2 MiB region of each address space, a
// notification on the 256th remote access, after which the counter starts again from zero.

import { describe, expect, it } from 'vitest';
import { FakeGpuMemory } from '../../../../test/fakeGpuMemory.js';
import { createPolicy, type PolicyChoice } from './registry.js';
import type { AccessCounterPolicy } from './types.js';

function counters(choice: PolicyChoice): AccessCounterPolicy {
  return createPolicy('accessCounters', choice, { memory: new FakeGpuMemory(1), nowNs: () => 0 });
}

/** The results of `count` remote accesses to vpns first, first + 1, ... wrapping in the region. */
function accesses(policy: AccessCounterPolicy, space: number, firstVpn: number, count: number): number[] {
  const results: number[] = [];
  for (let k = 0; k < count; k++) results.push(policy.remoteAccess(space, firstVpn + (k % 37)));
  return results;
}

describe('access counters migrate (defaults: threshold 256, 2 MiB)', () => {
  it('returns the region on its 256th remote access, then starts counting again', () => {
    const policy = counters('migrate');
    expect(policy.regionPages).toBe(512);
    // Region 3 covers vpns [1536, 2048); accesses land on different pages of it.
    const first = accesses(policy, 0, 1536 + 100, 256);
    expect(first.slice(0, 255).every((r) => r === -1)).toBe(true);
    expect(first[255]).toBe(1536);
    const second = accesses(policy, 0, 1536 + 400, 256);
    expect(second.slice(0, 255).every((r) => r === -1)).toBe(true);
    expect(second[255]).toBe(1536);
  });

  it('counts other regions and other address spaces separately', () => {
    const policy = counters('migrate');
    const regions: [number, number][] = [
      [0, 0],
      [0, 512],
      [1, 0],
      [2, 2 ** 35],
    ];
    for (const [space, vpn] of regions)
      expect(new Set(accesses(policy, space, vpn, 255))).toEqual(new Set([-1]));
    for (const [space, vpn] of regions) expect(policy.remoteAccess(space, vpn + 5)).toBe(vpn);
  });

  it('takes the region size from `granularity`', () => {
    const small = counters({ name: 'migrate', granularity: '64KiB', threshold: 2 });
    expect(small.regionPages).toBe(16);
    expect(small.remoteAccess(0, 0x1234)).toBe(-1);
    expect(small.remoteAccess(0, 0x123f)).toBe(0x1230);
    const large = counters({ name: 'migrate', granularity: '16MiB', threshold: 2 });
    expect(large.regionPages).toBe(4096);
    expect(large.remoteAccess(0, 0x1234)).toBe(-1);
    expect(large.remoteAccess(0, 0x1fff)).toBe(0x1000);
  });

  it('uses its threshold: 1 migrates on every access', () => {
    const policy = counters({ name: 'migrate', threshold: 1 });
    expect(policy.remoteAccess(0, 1000)).toBe(512);
    expect(policy.remoteAccess(0, 1000)).toBe(512);
  });
});

describe('access counters none', () => {
  it('never asks for a migration', () => {
    const policy = counters('none');
    expect(new Set(accesses(policy, 0, 0, 1000))).toEqual(new Set([-1]));
  });
});
