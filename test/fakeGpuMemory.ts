// A stand-in for GPU memory in the policy tests: numbered slots holding pages of VA blocks, a set
// of pinned slots, and the calls GPU memory makes on its eviction policy (inserted when a page is
// placed, accessed on a GPU access, removed before the page leaves its block), in the same order
// as gpuMemory.ts makes them. Test support only: no model code imports it.

import { InvariantError } from '../src/sim/errors.js';
import type { VaBlock } from '../src/devices/gpu/vaBlock.js';
import type { EvictionPolicy, GpuMemoryView } from '../src/devices/gpu/policies/types.js';

export class FakeGpuMemory implements GpuMemoryView {
  private readonly blocks: (VaBlock | null)[];
  private readonly indexes: Int32Array;
  private readonly pinned = new Set<number>();
  /** Free slots, lowest on top, so placements are deterministic. */
  private readonly free: number[] = [];
  private policy: EvictionPolicy | null = null;

  constructor(readonly capacityPages: number) {
    this.blocks = new Array<VaBlock | null>(capacityPages).fill(null);
    this.indexes = new Int32Array(capacityPages).fill(-1);
    for (let s = capacityPages - 1; s >= 0; s--) this.free.push(s);
  }

  /** The eviction policy told of placements, accesses and removals. */
  attach(policy: EvictionPolicy): void {
    this.policy = policy;
  }

  blockOf(slot: number): VaBlock | null {
    return this.blocks[slot];
  }

  indexOf(slot: number): number {
    return this.indexes[slot];
  }

  isPinned(slot: number): boolean {
    return this.pinned.has(slot);
  }

  get freePages(): number {
    return this.free.length;
  }

  /** Places page `index` of `block` in the lowest free slot and tells the policy. Returns the slot. */
  place(block: VaBlock, index: number): number {
    const slot = this.free.pop();
    if (slot === undefined) throw new InvariantError('fake GPU memory is full', { index });
    this.blocks[slot] = block;
    this.indexes[slot] = index;
    block.place(index, slot);
    this.policy?.inserted(slot);
    return slot;
  }

  /** Places pages [first, end) of `block` in index order. */
  placeRange(block: VaBlock, first: number, end: number): void {
    for (let i = first; i < end; i++) this.place(block, i);
  }

  /** A GPU access to page `index` of `block` (which must be resident). */
  access(block: VaBlock, index: number): void {
    this.policy?.accessed(this.slotOf(block, index));
  }

  /** The slot of a resident page. */
  slotOf(block: VaBlock, index: number): number {
    const slot = block.slot[index];
    if (slot < 0) throw new InvariantError('page is not resident', { firstVpn: block.firstVpn, index });
    return slot;
  }

  /** The slots of the resident pages [first, end) of `block`. */
  slotsOf(block: VaBlock, first: number, end: number): number[] {
    const slots: number[] = [];
    for (let i = first; i < end; i++) if (block.slot[i] >= 0) slots.push(block.slot[i]);
    return slots;
  }

  pin(block: VaBlock, index: number): void {
    this.pinned.add(this.slotOf(block, index));
  }

  unpin(block: VaBlock, index: number): void {
    this.pinned.delete(this.slotOf(block, index));
  }

  /** The page in `slot` leaves GPU memory (policy first, then the block, as page_free does). */
  remove(slot: number): void {
    const block = this.blocks[slot];
    if (block === null) throw new InvariantError('slot is free', { slot });
    this.policy?.removed(slot);
    block.remove(this.indexes[slot]);
    this.blocks[slot] = null;
    this.indexes[slot] = -1;
    this.pinned.delete(slot);
    this.free.push(slot);
  }

  /** The policy's selectVictims itself: appends to `out`. */
  selectInto(pages: number, out: number[]): void {
    this.policy!.selectVictims(pages, out);
  }

  /** Asks the policy for victims (at least `pages` if it can) without removing them. */
  victims(pages: number): number[] {
    const out: number[] = [];
    this.policy!.selectVictims(pages, out);
    return out;
  }

  /** Asks the policy for victims and removes them, as an eviction round does. Returns them. */
  evict(pages: number): number[] {
    const out = this.victims(pages);
    for (const slot of out) this.remove(slot);
    return out;
  }

  /** Resident slots that eviction may take. */
  evictableSlots(): number[] {
    const slots: number[] = [];
    for (let s = 0; s < this.capacityPages; s++)
      if (this.blocks[s] !== null && !this.pinned.has(s)) slots.push(s);
    return slots;
  }
}
