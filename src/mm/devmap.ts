// Models struct dev_pagemap and mm/memremap.c: device memory (device-private, which the CPU cannot
// address, and device-coherent, which it can) registered as frames of its own zone, with the
// owner cookie that hmm_range_fault and migration filter on, the driver's page_free and
// migrate_to_ram callbacks, and memunmap_pages, which can only finish once every page is free.

import { EINVAL } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import type { Kernel } from './kernel.js';
import { type DevPagemapLike, type Zone, ZONE_DEVICE_COHERENT, ZONE_DEVICE_PRIVATE } from './physmem.js';
import type { Vma } from './vma.js';

export const MEMORY_DEVICE_PRIVATE = 1;
export const MEMORY_DEVICE_COHERENT = 2;

/** What a CPU fault on a device-private entry hands to migrate_to_ram (struct vm_fault). */
export interface VmFault {
  readonly vma: Vma;
  readonly vpn: number;
  /** The device page the entry points to (vmf->page). */
  readonly pfn: number;
  readonly flags: number;
}

export interface DevPagemapOps {
  /** The page's refcount reached zero (required). */
  pageFree(pfn: number): void;
  /** A CPU fault on a device-private entry (required for device-private memory): a VM_FAULT code. */
  migrateToRam?(vmf: VmFault): number;
}

export class DevPagemap implements DevPagemapLike {
  readonly type: number;
  readonly owner: unknown;
  readonly ops: DevPagemapOps;
  readonly nrPages: number;
  readonly name: string;
  /** Peer-to-peer interconnect id (the 2025 proposal): peers in one cluster may reach these pages. */
  p2pCluster: unknown = null;
  zone: Zone | null = null;
  /** Between memremap_pages and memunmap_pages' kill (get_dev_pagemap works). */
  live = false;
  /** Pages handed out and not yet freed (each holds a pgmap reference). */
  allocated = 0;
  private onDrained: (() => void) | null = null;

  constructor(options: { type: number; owner: unknown; ops: DevPagemapOps; nrPages: number; name: string }) {
    this.type = options.type;
    this.owner = options.owner;
    this.ops = options.ops;
    this.nrPages = options.nrPages;
    this.name = options.name;
  }

  /** @internal Called by the zone when one of its pages is freed. */
  pageFreed(kernel: Kernel, pfn: number): void {
    this.allocated--;
    this.ops.pageFree(pfn);
    if (this.live) kernel.mem.returnToZone(pfn);
    else if (this.allocated === 0 && this.onDrained !== null) {
      const done = this.onDrained;
      this.onDrained = null;
      done();
    }
  }

  /** @internal memunmap_pages waits for this. */
  whenDrained(done: () => void): void {
    if (this.allocated === 0) done();
    else this.onDrained = done;
  }
}

/**
 * memremap_pages: validates the page map (R-PGMAP-4) and gives it a zone of `nrPages` free
 * frames. Returns 0 or -EINVAL.
 */
export function memremapPages(kernel: Kernel, pgmap: DevPagemap): number {
  if (pgmap.nrPages <= 0) return -EINVAL;
  if (pgmap.type === MEMORY_DEVICE_PRIVATE) {
    if (!pgmap.ops.migrateToRam || !pgmap.ops.pageFree || pgmap.owner == null) return -EINVAL;
  } else if (pgmap.type === MEMORY_DEVICE_COHERENT) {
    if (!pgmap.ops.pageFree || pgmap.owner == null) return -EINVAL;
  } else {
    return -EINVAL;
  }
  const kind = pgmap.type === MEMORY_DEVICE_PRIVATE ? ZONE_DEVICE_PRIVATE : ZONE_DEVICE_COHERENT;
  const zone = kernel.mem.addZone(kind, pgmap.name, pgmap.nrPages);
  zone.owner = pgmap.owner;
  zone.pgmap = pgmap;
  zone.onFree = (pfn) => pgmap.pageFreed(kernel, pfn);
  pgmap.zone = zone;
  pgmap.live = true;
  return 0;
}

/**
 * zone_device_page_init: hands out a free page of the map, refcount 1 and locked, with a pgmap
 * reference. Returns its pfn, or -ENOMEM when every page is in use. Using a killed map is a bug.
 */
export function zoneDevicePageInit(kernel: Kernel, pgmap: DevPagemap): number {
  if (!pgmap.live || pgmap.zone === null) {
    throw new KernelBug(`zone_device_page_init on ${pgmap.name}, whose page map was killed`);
  }
  const pfn = kernel.mem.allocDevicePage(pgmap.zone);
  if (pfn >= 0) pgmap.allocated++;
  return pfn;
}

/**
 * memunmap_pages: kills the map (no new pages), then completes once every page has been freed.
 * `done` runs then; if pages are still held, it runs when the last one goes. Returns the number of
 * pages still held at the call: a caller that cannot wait reports non-zero as a deadlock.
 */
export function memunmapPages(pgmap: DevPagemap, done: () => void): number {
  pgmap.live = false;
  const held = pgmap.allocated;
  pgmap.whenDrained(done);
  return held;
}

/** The device page map a frame belongs to, or null for RAM (page_pgmap). */
export function pagePgmap(kernel: Kernel, pfn: number): DevPagemap | null {
  const pgmap = kernel.mem.zone(pfn).pgmap;
  return pgmap instanceof DevPagemap ? pgmap : null;
}
