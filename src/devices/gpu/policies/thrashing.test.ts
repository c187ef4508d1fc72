// The thrashing policies against NVIDIA UVM's detector (uvm_perf_thrashing.c, thrashing_event_cb;
// docs/research/ganguly2019.md §5): defaults threshold 3, lapse 500 µs, pin 300 lapses = 150 ms,
// epoch 2000 lapses = 1 s. A page's first migration only records its time; each later migration at
// most a lapse after the previous one is a thrashing event, and the page is thrashing when its
// events reach the threshold. `pin` then keeps it in GPU memory, `remote` leaves it in system
// memory mapped remotely, both for the pin time.

import { describe, expect, it } from 'vitest';
import { VaBlock } from '../vaBlock.js';
import { FakeGpuMemory } from '../../../../test/fakeGpuMemory.js';
import { createPolicy, type PolicyChoice } from './registry.js';
import { THRASHING_MIGRATE, THRASHING_REMOTE, type ThrashingPolicy } from './types.js';

const US = 1000;
const MS = 1_000_000;
const S = 1_000_000_000;

function detector(choice: PolicyChoice): ThrashingPolicy {
  return createPolicy('thrashing', choice, { memory: new FakeGpuMemory(1), nowNs: () => 0 });
}

/** Migrates page `index` at each time; returns whether it was pinned right after each. */
function migrateAt(
  policy: ThrashingPolicy,
  block: VaBlock,
  index: number,
  timesNs: readonly number[],
): boolean[] {
  return timesNs.map((t) => {
    policy.migrated(block, index, t);
    return policy.isPinned(block, index, t);
  });
}

/** `count` times `gapNs` apart from `startNs`. */
function times(startNs: number, gapNs: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => startNs + k * gapNs);
}

describe('thrashing pin (defaults: threshold 3, lapse 500 µs, pin 150 ms, epoch 1 s)', () => {
  it('pins a page on its 4th migration 100 µs apart, the 3rd thrashing event', () => {
    // Migration 1 at 0 only records a time (UVM: last_time_stamp was 0). Migrations 2, 3 and 4
    // are events 1, 2 and 3; UVM marks the page thrashing when num_thrashing_events reaches the
    // threshold (3), so the 4th migration, at 300 µs, pins it.
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    expect(migrateAt(policy, block, 7, times(0, 100 * US, 4))).toEqual([false, false, false, true]);
    expect(policy.hint(block, 7, 300 * US)).toBe(THRASHING_MIGRATE);
    // Other pages of the block are not affected.
    expect(policy.isPinned(block, 8, 300 * US)).toBe(false);
  });

  it('keeps the page pinned for 150 ms, then lets it go', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    migrateAt(policy, block, 7, times(0, 100 * US, 4));
    expect(policy.isPinned(block, 7, 300 * US + 150 * MS - 1)).toBe(true);
    expect(policy.isPinned(block, 7, 300 * US + 150 * MS)).toBe(false);
    expect(policy.isPinned(block, 7, 10 * S)).toBe(false);
  });

  it('needs a fresh run of events after a pin', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    migrateAt(policy, block, 7, times(0, 100 * US, 4));
    // Past the pin: three more events 100 µs apart pin it again, on the third.
    const after = 300 * US + 200 * MS;
    expect(migrateAt(policy, block, 7, times(after, 100 * US, 4))).toEqual([false, false, false, true]);
  });

  it('never pins migrations 600 µs apart, nor 501 µs apart', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    expect(migrateAt(policy, block, 1, times(0, 600 * US, 50))).not.toContain(true);
    expect(migrateAt(policy, block, 2, times(0, 501 * US, 50))).not.toContain(true);
  });

  it('counts a gap of exactly the lapse as thrashing, as UVM does (<= lapse)', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    expect(migrateAt(policy, block, 1, times(0, 500 * US, 4))).toEqual([false, false, false, true]);
  });

  it('starts counting again after a slow migration (the events must come in a row)', () => {
    // This policy's rule, as its header says. UVM's thrashing_event_cb differs: a slow migration
    // resets the count only of a page already thrashing, so there the migration at 1300 µs (a
    // third event in all) would already mark the page.
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    // Two events, a 1 ms gap, then two more events: never three in a row.
    const t = [0, 100 * US, 200 * US, 1200 * US, 1300 * US, 1400 * US];
    expect(migrateAt(policy, block, 3, t)).not.toContain(true);
    expect(migrateAt(policy, block, 3, [1500 * US])).toEqual([true]);
  });

  it('tracks pages separately', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    // Pages 1 and 2 alternate 100 µs apart: each page sees gaps of 200 µs.
    for (let k = 0; k < 3; k++) {
      policy.migrated(block, 1, 2 * k * 100 * US);
      policy.migrated(block, 2, (2 * k + 1) * 100 * US);
    }
    expect(policy.isPinned(block, 1, 600 * US)).toBe(false);
    policy.migrated(block, 1, 600 * US);
    expect(policy.isPinned(block, 1, 600 * US)).toBe(true);
    expect(policy.isPinned(block, 2, 600 * US)).toBe(false);
  });

  it('resets a block after an epoch without thrashing events', () => {
    // The per-page lapse hides the epoch with the defaults (a gap of 1 s is a slow migration
    // anyway), so a lapse longer than the epoch shows it: 10 ms lapse, 5 ms epoch.
    const choice = { name: 'pin', lapseUs: 10_000, epochMs: 5 };
    // Events at 1 and 2 ms; at 8 ms the block has been quiet 6 ms > 5 ms: forgotten, so the
    // migration at 8 ms is a first one again, and the page pins at 11 ms, not at 8 ms.
    const policy = detector(choice);
    const block = new VaBlock(0, 0);
    expect(migrateAt(policy, block, 4, [0, 1 * MS, 2 * MS, 8 * MS, 9 * MS, 10 * MS, 11 * MS])).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
    // Without the quiet epoch (events 4 ms apart) the third event pins.
    const busy = detector(choice);
    const other = new VaBlock(0, 0);
    expect(migrateAt(busy, other, 4, [0, 4 * MS, 8 * MS, 12 * MS])).toEqual([false, false, false, true]);
  });

  it('clears every page of the block at an epoch reset, with the defaults too', () => {
    const policy = detector('pin');
    const block = new VaBlock(0, 0);
    migrateAt(policy, block, 5, [0, 100 * US, 200 * US]);
    expect(block.thrash!.events[5]).toBe(2);
    // Another page of the block migrates after more than 1 s without an event: page 5 is reset.
    policy.migrated(block, 6, 200 * US + S + 1);
    expect(block.thrash!.events[5]).toBe(0);
    expect(block.thrash!.lastNs[5]).toBe(-1);
    // Within the epoch nothing is reset.
    const kept = new VaBlock(0, 0);
    migrateAt(policy, kept, 5, [0, 100 * US, 200 * US]);
    policy.migrated(kept, 6, 200 * US + S);
    expect(kept.thrash!.events[5]).toBe(2);
  });

  it('uses its parameters: threshold 1 pins on the first event, pin 0 ms pins for good', () => {
    const block = new VaBlock(0, 0);
    expect(migrateAt(detector({ name: 'pin', threshold: 1 }), block, 0, [0, 100 * US])).toEqual([
      false,
      true,
    ]);
    // UVM's uvm_perf_thrashing_pin = 0: pinned forever.
    const forever = detector({ name: 'pin', pinMs: 0 });
    migrateAt(forever, block, 9, times(0, 100 * US, 4));
    expect(forever.isPinned(block, 9, 3600 * S)).toBe(true);
    const short = detector({ name: 'pin', pinMs: 1 });
    migrateAt(short, block, 10, times(0, 100 * US, 4));
    expect(short.isPinned(block, 10, 300 * US + MS - 1)).toBe(true);
    expect(short.isPinned(block, 10, 300 * US + MS)).toBe(false);
  });
});

describe('thrashing remote', () => {
  it('hints THRASHING_REMOTE for 150 ms from the 4th close migration, and never pins', () => {
    const policy = detector('remote');
    const block = new VaBlock(0, 0);
    const hints = times(0, 100 * US, 4).map((t) => {
      policy.migrated(block, 7, t);
      return policy.hint(block, 7, t);
    });
    expect(hints).toEqual([THRASHING_MIGRATE, THRASHING_MIGRATE, THRASHING_MIGRATE, THRASHING_REMOTE]);
    expect(policy.isPinned(block, 7, 300 * US)).toBe(false);
    expect(policy.hint(block, 7, 300 * US + 150 * MS - 1)).toBe(THRASHING_REMOTE);
    expect(policy.hint(block, 7, 300 * US + 150 * MS)).toBe(THRASHING_MIGRATE);
    expect(policy.hint(block, 8, 300 * US)).toBe(THRASHING_MIGRATE);
  });

  it('hints migrate for a block that never migrated', () => {
    expect(detector('remote').hint(new VaBlock(0, 0), 0, 0)).toBe(THRASHING_MIGRATE);
  });
});

describe('thrashing none', () => {
  it('never pins, never hints remote, and keeps no state', () => {
    const policy = detector('none');
    const block = new VaBlock(0, 0);
    for (const t of times(0, 10 * US, 100)) {
      policy.migrated(block, 7, t);
      expect(policy.isPinned(block, 7, t)).toBe(false);
      expect(policy.hint(block, 7, t)).toBe(THRASHING_MIGRATE);
    }
    expect(block.thrash).toBeNull();
  });
});
