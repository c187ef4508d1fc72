// A GPU's own memory: one device-private page map owned by the GPU (device frames in the same
// physical-memory model as RAM, holding their data themselves). Each frame in use has a slot (kept
// in the page's zone_device_data, as drivers keep their per-page data) recording which page of
// which VA block it holds; the eviction policy orders the slots, and eviction moves its victims
// back to system memory with migrate_device_pfns (the driver evicts by physical page, without
// knowing the addresses). A CPU touching a GPU page brings it back through migrate_to_ram.

import { KernelBug } from '../../sim/errors.js';
import { linkTransferNs } from '../../sim/costModel.js';
import { PAGE_SIZE, VM_FAULT_SIGBUS } from '../../mm/constants.js';
import {
  DevPagemap,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  type VmFault,
  zoneDevicePageInit,
} from '../../mm/devmap.js';
import type { Kernel } from '../../mm/kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDevicePfns,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  copyToNewSystemPage,
} from '../../mm/migrateDevice.js';
import type { EvictionPolicy, GpuMemoryView, ThrashingPolicy } from './policies/types.js';
import { VA_BLOCK_PAGES, type VaBlock } from './vaBlock.js';

/** What the memory needs from its GPU. */
export interface GpuMemoryOwner {
  readonly name: string;
  /** A CPU fault moved the page at `vpn` of `mmId` back: drop the GPU's mapping of it. */
  forget(mmId: number, vpn: number): void;
  /** Pages moved device -> host (for accounting). */
  noteToHost(pages: number): void;
  /** Pages evicted (for accounting). */
  noteEvicted(pages: number): void;
  /** A DMA copy of `ns` over the link, to the host or to the device; returns when it lands (0: now). */
  chargeTransfer(ns: number, toHost: boolean): number;
}

/** Evictions a single reservation may run before it gives up (every page pinned, say). */
const EVICTION_ROUNDS_MAX = 64;

export class GpuMemory implements GpuMemoryView {
  readonly pgmap: DevPagemap;
  readonly capacityPages: number;
  evictedPages = 0;
  /** When the last copy into this memory lands: until then some pages are in flight. */
  latestLandingNs = 0;
  /** Set once the policies exist (they need this memory as their view). */
  eviction!: EvictionPolicy;
  thrashing!: ThrashingPolicy;
  /** The VA block and page index each slot holds (null: free, or allocated but not placed). */
  private readonly slotBlock: (VaBlock | null)[];
  private readonly slotIndex: Int16Array;
  private readonly slotPfn: Float64Array;
  private readonly slotLandsAtNs: Float64Array;
  private readonly freeSlots: Int32Array;
  private freeTop: number;
  private readonly victims: number[] = [];
  private src: Float64Array;
  private dst: Float64Array;

  constructor(
    readonly kernel: Kernel,
    readonly owner: GpuMemoryOwner,
    capacityPages: number,
  ) {
    this.capacityPages = capacityPages;
    this.pgmap = new DevPagemap({
      type: MEMORY_DEVICE_PRIVATE,
      owner,
      nrPages: capacityPages,
      name: `${owner.name}.vram`,
      ops: { pageFree: (pfn) => this.pageFree(pfn), migrateToRam: (vmf) => this.migrateToRam(vmf) },
    });
    if (memremapPages(kernel, this.pgmap) < 0)
      throw new KernelBug(`GPU ${owner.name}: memremap_pages failed`);
    this.slotBlock = new Array<VaBlock | null>(capacityPages).fill(null);
    this.slotIndex = new Int16Array(capacityPages);
    this.slotPfn = new Float64Array(capacityPages);
    this.slotLandsAtNs = new Float64Array(capacityPages);
    this.freeSlots = new Int32Array(capacityPages);
    for (let i = 0; i < capacityPages; i++) this.freeSlots[i] = capacityPages - 1 - i;
    this.freeTop = capacityPages;
    this.src = new Float64Array(64);
    this.dst = new Float64Array(64);
  }

  /** Pages in use. */
  get usedPages(): number {
    return this.pgmap.allocated;
  }

  get freePages(): number {
    return this.capacityPages - this.pgmap.allocated;
  }

  // ---- GpuMemoryView ----------------------------------------------------------------------------

  blockOf(slot: number): VaBlock | null {
    return this.slotBlock[slot];
  }

  indexOf(slot: number): number {
    return this.slotIndex[slot];
  }

  isPinned(slot: number): boolean {
    const block = this.slotBlock[slot];
    if (block === null) return false;
    const now = this.kernel.engine.nowNs;
    return this.slotLandsAtNs[slot] > now || this.thrashing.isPinned(block, this.slotIndex[slot], now);
  }

  // ---- allocation and placement -----------------------------------------------------------------

  /**
   * Evicts until `pages` pages are free (or nothing more can go). Returns whether they are. The
   * driver reserves before it starts a migration, so the migration itself never waits.
   */
  reserve(pages: number): boolean {
    const want = Math.min(pages, this.capacityPages);
    for (let round = 0; this.freePages < want && round < EVICTION_ROUNDS_MAX; round++)
      if (this.evict(want - this.freePages) === 0) break;
    return this.freePages >= want;
  }

  /** A free GPU page (refcount 1, locked) with a slot, evicting if memory is full; -1 if none. */
  alloc(): number {
    let pfn = zoneDevicePageInit(this.kernel, this.pgmap);
    if (pfn < 0 && this.evict(1) > 0) pfn = zoneDevicePageInit(this.kernel, this.pgmap);
    if (pfn < 0) return -1;
    const slot = this.freeSlots[--this.freeTop];
    this.slotPfn[slot] = pfn;
    this.kernel.mem.setZoneDeviceData(pfn, slot + 1);
    return pfn;
  }

  /**
   * The page `pfn` now holds page `index` of `block` (its migration committed). A faulted page
   * whose copy is in flight until `landsAtNs` cannot be evicted before then (as in UVMSmart):
   * otherwise faults needing more room than memory has would evict each other's pages before
   * their lanes could use them, forever.
   */
  place(pfn: number, block: VaBlock, index: number, landsAtNs = 0): void {
    const slot = this.kernel.mem.zoneDeviceDataOf(pfn) - 1;
    this.slotBlock[slot] = block;
    this.slotIndex[slot] = index;
    this.slotLandsAtNs[slot] = landsAtNs;
    if (landsAtNs > this.latestLandingNs) this.latestLandingNs = landsAtNs;
    block.place(index, slot);
    this.eviction.inserted(slot);
  }

  /** The GPU accessed its page `pfn` (the eviction policy's recency). */
  accessed(pfn: number): void {
    const slot = this.kernel.mem.zoneDeviceDataOf(pfn) - 1;
    if (this.slotBlock[slot] !== null) this.eviction.accessed(slot);
  }

  /** page_free: the frame's last reference went; its slot and residency go with it. */
  private pageFree(pfn: number): void {
    const slot = this.kernel.mem.zoneDeviceDataOf(pfn) - 1;
    if (slot < 0) return;
    const block = this.slotBlock[slot];
    if (block !== null) {
      this.eviction.removed(slot);
      block.remove(this.slotIndex[slot]);
      this.slotBlock[slot] = null;
    }
    this.freeSlots[this.freeTop++] = slot;
  }

  // ---- eviction ---------------------------------------------------------------------------------

  /** Moves the policy's victims (at least `pages` if it can) back to system memory. Returns how many moved. */
  evict(pages: number): number {
    const victims = this.victims;
    victims.length = 0;
    this.eviction.selectVictims(pages, victims);
    const n = victims.length;
    if (n === 0) return 0;
    if (this.src.length < n) {
      this.src = new Float64Array(n);
      this.dst = new Float64Array(n);
    }
    // Write-back runs: pages of one block at consecutive indexes go in one transfer.
    victims.sort((a, b) => this.runOrder(a) - this.runOrder(b));
    const pfns = victims.map((s) => this.slotPfn[s]);
    const kernel = this.kernel;
    const mem = kernel.mem;
    const costs = kernel.costs;
    kernel.charge(costs.migrateCallNs + n * costs.migratePageNs);
    migrateDevicePfns(kernel, this.src, pfns);
    let moved = 0;
    let runPages = 0;
    let prevOrder = -2;
    for (let i = 0; i < n; i++) {
      this.dst[i] = 0;
      const spage = migratePfnToPfn(this.src[i]);
      if (spage === 0 || !(this.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      this.dst[i] = copyToNewSystemPage(mem, this.src[i], spage);
      if (this.dst[i] === 0) continue;
      moved++;
      const order = this.runOrder(victims[i]);
      if (order !== prevOrder + 1 && runPages > 0) {
        this.owner.chargeTransfer(linkTransferNs(costs, runPages * PAGE_SIZE), true);
        runPages = 0;
      }
      runPages++;
      prevOrder = order;
    }
    if (runPages > 0) this.owner.chargeTransfer(linkTransferNs(costs, runPages * PAGE_SIZE), true);
    migrateDevicePages(kernel, this.src, this.dst, n);
    migrateDeviceFinalize(kernel, this.src, this.dst, n);
    this.evictedPages += moved;
    this.owner.noteToHost(moved);
    this.owner.noteEvicted(moved);
    return moved;
  }

  /** A slot's position in address order: (space, vpn) as one number. */
  private runOrder(slot: number): number {
    const b = this.slotBlock[slot];
    return b === null ? -1 : b.spaceIndex * 2 ** 36 + b.firstVpn + this.slotIndex[slot];
  }

  // ---- CPU faults on GPU pages ------------------------------------------------------------------

  /** A CPU touched a GPU page: bring it back with migrate_vma_* (the page map's migrate_to_ram). */
  private migrateToRam(vmf: VmFault): number {
    const mem = this.kernel.mem;
    const args = new MigrateVma(vmf.vma, vmf.vpn, vmf.vpn + 1);
    args.pgmapOwner = this.owner;
    args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
    args.faultPage = vmf.pfn;
    if (migrateVmaSetup(args) < 0) return VM_FAULT_SIGBUS;
    if (args.src[0] & MIGRATE_PFN_MIGRATE) {
      const spage = migratePfnToPfn(args.src[0]);
      args.dst[0] = copyToNewSystemPage(mem, args.src[0], spage);
      if (args.dst[0] !== 0) {
        // The GPU's own migration is invisible to its notifier: it forgets the mapping itself.
        this.owner.forget(vmf.vma.mm.id, vmf.vpn);
        const slot = mem.zoneDeviceDataOf(spage) - 1;
        const block = slot >= 0 ? this.slotBlock[slot] : null;
        if (block !== null)
          this.thrashing.migrated(block, vmf.vpn - block.firstVpn, this.kernel.engine.nowNs);
        this.owner.chargeTransfer(linkTransferNs(this.kernel.costs, PAGE_SIZE), true);
        this.owner.noteToHost(1);
      }
    }
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return 0;
  }
}

export { VA_BLOCK_PAGES };
