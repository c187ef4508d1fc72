// The policy interfaces of the GPU driver: what decides which pages a fault migrates along
// (prefetch), which pages leave a full GPU memory (eviction), when a page bouncing between
// memories stops moving (thrashing), and when remote accesses pull a region in (access counters).
// Each is a small object created from validated parameters; docs/POLICIES.md shows how to write one.

import type { z } from 'zod';
import type { Rng } from '../../../sim/rng.js';
import type { VaBlock } from '../vaBlock.js';

/** One VA block with the pages a fault batch wants migrated to the GPU. */
export interface PrefetchRequest {
  readonly block: VaBlock;
  /** The faulting VMA's part of the block: pages [firstIndex, endIndex). Nothing outside moves. */
  readonly firstIndex: number;
  readonly endIndex: number;
  /** faulted[i] = 1: page i faulted in this batch and is not resident. */
  readonly faulted: Uint8Array;
  /**
   * select[i] = 1: page i migrates. It starts as the faulted pages grown to the GPU's migration
   * granularity; the policy adds pages (resident ones are ignored). It must not remove any.
   */
  readonly select: Uint8Array;
  /** The run's random stream for this GPU (a policy must not use any other randomness). */
  readonly rng: Rng;
}

export interface PrefetchPolicy {
  readonly name: string;
  prefetch(request: PrefetchRequest): void;
}

/** What an eviction policy may ask GPU memory about its slots (pages of GPU memory). */
export interface GpuMemoryView {
  readonly capacityPages: number;
  /** The VA block whose page a slot holds, or null for a free slot. */
  blockOf(slot: number): VaBlock | null;
  /** The page's index in its block. */
  indexOf(slot: number): number;
  /** The page must stay (pinned by the thrashing policy). */
  isPinned(slot: number): boolean;
}

export interface EvictionPolicy {
  readonly name: string;
  /** A page arrived in `slot` (migrated in). */
  inserted(slot: number): void;
  /** The GPU accessed the page in `slot`. Called on every local access: keep it cheap. */
  accessed(slot: number): void;
  /** The page in `slot` left (evicted, migrated back, or freed). */
  removed(slot: number): void;
  /**
   * Appends the slots to evict to `out`: at least `pages` of them unless fewer are evictable
   * (pinned pages are not). More is allowed (a policy evicting whole blocks).
   */
  selectVictims(pages: number, out: number[]): void;
}

/** How the driver serves a GPU fault on a page. */
export const THRASHING_MIGRATE = 0;
/** Leave the page in system memory and map it remotely (thrashing mitigation). */
export const THRASHING_REMOTE = 1;

export interface ThrashingPolicy {
  readonly name: string;
  /** Page `index` of `block` migrated because of a fault (to the GPU, or back on a CPU fault). */
  migrated(block: VaBlock, index: number, nowNs: number): void;
  /** How to serve a GPU fault on the page now: THRASHING_MIGRATE or THRASHING_REMOTE. */
  hint(block: VaBlock, index: number, nowNs: number): number;
  /** Whether eviction must leave the page in GPU memory now. */
  isPinned(block: VaBlock, index: number, nowNs: number): boolean;
}

export interface AccessCounterPolicy {
  readonly name: string;
  /** Pages per counted region (a power of two). */
  readonly regionPages: number;
  /**
   * A remote access by the GPU to `vpn` of the address space `spaceIndex`. Returns the first vpn
   * of a region whose counter just reached its threshold (the driver migrates it), or -1.
   */
  remoteAccess(spaceIndex: number, vpn: number): number;
}

/** What every policy factory gets besides its parameters. */
export interface PolicyContext {
  readonly memory: GpuMemoryView;
  /** The current simulated time (eviction policies ask whether a pin has expired). */
  readonly nowNs: () => number;
}

/** A named policy: its parameters (a zod schema with defaults) and how to make one. */
export interface PolicyDefinition<T, P = Record<string, unknown>> {
  readonly name: string;
  /** One line saying what the policy does (docs, listings). */
  readonly description: string;
  readonly params: z.ZodType<P>;
  create(params: P, context: PolicyContext): T;
}
