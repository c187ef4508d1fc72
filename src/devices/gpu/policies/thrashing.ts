// Thrashing detection (NVIDIA UVM's uvm_perf_thrashing.c): a page whose fault-driven migrations
// come at most `lapseUs` apart `threshold` times in a row is thrashing (the driver counts a gap
// equal to the lapse); the driver then either pins it in GPU memory (eviction leaves it alone) or
// leaves it in system memory and maps it remotely, for `pinMs` (0: for good, as the driver's
// uvm_perf_thrashing_pin = 0). A block with no thrashing event for `epochMs` starts afresh.
// Eviction-caused migrations are not counted, as in the driver.

import { z } from 'zod';
import { ThrashState, type VaBlock } from '../vaBlock.js';
import { type PolicyDefinition, THRASHING_MIGRATE, THRASHING_REMOTE, type ThrashingPolicy } from './types.js';

export interface ThrashingParams {
  readonly threshold: number;
  readonly lapseUs: number;
  /** How long a thrashing page stays pinned (or remote); 0 is for good, as in the driver. */
  readonly pinMs: number;
  readonly epochMs: number;
}

const params = z.strictObject({
  threshold: z.number().int().min(1).max(7).default(3),
  lapseUs: z.number().min(1).max(1_000_000).default(500),
  pinMs: z.number().min(0).max(3_600_000).default(150),
  epochMs: z.number().min(1).max(3_600_000).default(1000),
});

class ThrashingDetector implements ThrashingPolicy {
  private readonly lapseNs: number;
  private readonly pinNs: number;
  private readonly epochNs: number;

  constructor(
    readonly name: string,
    private readonly mitigation: 'pin' | 'remote',
    private readonly p: ThrashingParams,
  ) {
    this.lapseNs = p.lapseUs * 1000;
    this.pinNs = p.pinMs === 0 ? Infinity : p.pinMs * 1_000_000;
    this.epochNs = p.epochMs * 1_000_000;
  }

  migrated(block: VaBlock, index: number, nowNs: number): void {
    const t = block.thrashState();
    if (t.lastEventNs > 0 && nowNs - t.lastEventNs > this.epochNs) this.reset(t);
    const last = t.lastNs[index];
    t.lastNs[index] = nowNs;
    if (last < 0 || nowNs - last > this.lapseNs) {
      t.events[index] = 0;
      return;
    }
    t.lastEventNs = nowNs;
    if (++t.events[index] >= this.p.threshold) {
      t.events[index] = 0;
      t.pinnedUntilNs[index] = nowNs + this.pinNs;
    }
  }

  hint(block: VaBlock, index: number, nowNs: number): number {
    if (this.mitigation !== 'remote' || block.thrash === null) return THRASHING_MIGRATE;
    return block.thrash.pinnedUntilNs[index] > nowNs ? THRASHING_REMOTE : THRASHING_MIGRATE;
  }

  isPinned(block: VaBlock, index: number, nowNs: number): boolean {
    return this.mitigation === 'pin' && block.thrash !== null && block.thrash.pinnedUntilNs[index] > nowNs;
  }

  private reset(t: ThrashState): void {
    t.events.fill(0);
    t.lastNs.fill(-1);
    t.lastEventNs = 0;
  }
}

const none: PolicyDefinition<ThrashingPolicy> = {
  name: 'none',
  description: 'no thrashing detection: pages migrate on every fault',
  params: z.strictObject({}),
  create: () => ({
    name: 'none',
    migrated: () => undefined,
    hint: () => THRASHING_MIGRATE,
    isPinned: () => false,
  }),
};

const pin: PolicyDefinition<ThrashingPolicy, ThrashingParams> = {
  name: 'pin',
  description: 'a thrashing page is pinned in GPU memory for pinMs, 0 for good (eviction skips it)',
  params,
  create: (p) => new ThrashingDetector('pin', 'pin', p),
};

const remote: PolicyDefinition<ThrashingPolicy, ThrashingParams> = {
  name: 'remote',
  description: 'a thrashing page stays in system memory and the GPU maps it remotely for pinMs, 0 for good',
  params,
  create: (p) => new ThrashingDetector('remote', 'remote', p),
};

export const THRASHING_POLICIES: readonly PolicyDefinition<ThrashingPolicy, never>[] = [
  none,
  pin,
  remote,
] as never;
