// A GPU's own memory: one device-private page map owned by the GPU (device frames in the same
// physical-memory model as RAM, holding their data themselves), the allocation order the driver
// evicts in, eviction with migrate_device_pfns (the driver does not know the pages' addresses),
// and migrate_to_ram for CPU faults on the GPU's pages.

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
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDevicePfns,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../mm/migrateDevice.js';
import { PG_LOCKED } from '../../mm/physmem.js';

/** What the memory needs from its GPU. */
export interface GpuMemoryOwner {
  readonly name: string;
  /** The page at `vpn` of `vma`'s mm left GPU memory: drop the GPU's mapping of it. */
  forget(mmId: number, vpn: number): void;
  /** Bytes moved device -> host over the link (for accounting and time). */
  noteToHost(pages: number): void;
}

export class GpuMemory {
  readonly pgmap: DevPagemap;
  readonly capacityPages: number;
  /** Pages in allocation order, the eviction candidates (stale entries are skipped). */
  private readonly order: number[] = [];
  private orderHead = 0;
  evictedPages = 0;
  private readonly src: Float64Array;
  private readonly dst: Float64Array;

  constructor(
    readonly kernel: Kernel,
    readonly owner: GpuMemoryOwner,
    capacityPages: number,
    readonly evictBatchPages: number,
  ) {
    this.capacityPages = capacityPages;
    this.pgmap = new DevPagemap({
      type: MEMORY_DEVICE_PRIVATE,
      owner,
      nrPages: capacityPages,
      name: `${owner.name}.vram`,
      ops: { pageFree: () => undefined, migrateToRam: (vmf) => this.migrateToRam(vmf) },
    });
    if (memremapPages(kernel, this.pgmap) < 0)
      throw new KernelBug(`GPU ${owner.name}: memremap_pages failed`);
    this.src = new Float64Array(evictBatchPages);
    this.dst = new Float64Array(evictBatchPages);
  }

  /** Pages in use. */
  get usedPages(): number {
    return this.pgmap.allocated;
  }

  /** A free GPU page (refcount 1, locked), evicting the oldest pages if memory is full; -1 if none. */
  alloc(): number {
    let pfn = zoneDevicePageInit(this.kernel, this.pgmap);
    if (pfn < 0 && this.evict() > 0) pfn = zoneDevicePageInit(this.kernel, this.pgmap);
    if (pfn >= 0) this.order.push(pfn);
    return pfn;
  }

  /** Moves up to `evictBatchPages` of the oldest pages back to system memory. Returns how many. */
  evict(): number {
    const mem = this.kernel.mem;
    const victims: number[] = [];
    while (victims.length < this.evictBatchPages && this.orderHead < this.order.length) {
      const pfn = this.order[this.orderHead++];
      if (mem.refcountOf(pfn) > 0 && !victims.includes(pfn)) victims.push(pfn);
    }
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
    if (victims.length === 0) return 0;
    const n = victims.length;
    const costs = this.kernel.costs;
    this.kernel.charge(costs.migrateCallNs + n * costs.migratePageNs);
    migrateDevicePfns(this.kernel, this.src, victims);
    let moved = 0;
    for (let i = 0; i < n; i++) {
      this.dst[i] = 0;
      const spage = migratePfnToPfn(this.src[i]);
      if (spage === 0 || !(this.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const dpage = mem.allocPage();
      if (dpage < 0) continue;
      mem.setPageFlag(dpage, PG_LOCKED);
      mem.content.copy(dpage, spage);
      this.dst[i] = migratePfn(dpage) + (this.src[i] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0);
      moved++;
    }
    if (moved > 0) this.kernel.charge(linkTransferNs(this.kernel.costs, moved * PAGE_SIZE));
    migrateDevicePages(this.kernel, this.src, this.dst, n);
    migrateDeviceFinalize(this.kernel, this.src, this.dst, n);
    this.evictedPages += moved;
    this.owner.noteToHost(moved);
    return moved;
  }

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
      const dpage = mem.allocPage();
      if (dpage >= 0) {
        mem.setPageFlag(dpage, PG_LOCKED);
        mem.content.copy(dpage, spage);
        args.dst[0] = migratePfn(dpage) + (args.src[0] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0);
        // The GPU's own migration is invisible to its notifier: it forgets the mapping itself.
        this.owner.forget(vmf.vma.mm.id, vmf.vpn);
        this.kernel.charge(linkTransferNs(this.kernel.costs, PAGE_SIZE));
        this.owner.noteToHost(1);
      }
    }
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return 0;
  }
}
