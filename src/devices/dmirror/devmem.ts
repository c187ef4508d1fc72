// The dmirror device's memory (lib/test_hmm.c, R-DMIR-3..7, 30..33): chunks of 256 MiB, each a
// device page map owned by the device; device-private pages are backed by hidden system pages that
// hold their data (BACKING), device-coherent pages hold it themselves. Eviction brings every page
// of a chunk back to system memory, in every process; RELEASE then removes the chunks.

import { KernelBug } from '../../sim/errors.js';
import {
  DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  type VmFault,
  zoneDevicePageInit,
} from '../../mm/devmap.js';
import type { Kernel } from '../../mm/kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
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
import { SECTION_FRAMES, ZONE_DEVICE_PRIVATE } from '../../mm/physmem.js';
import { VM_FAULT_SIGBUS } from '../../mm/constants.js';

/** Pages per chunk (256 MiB). */
export const DMIRROR_CHUNK_PAGES = 65536;

/** BACKING_PAGE: where a device page's data lives (its hidden system page if device-private). */
export function backingPfn(kernel: Kernel, pfn: number): number {
  return kernel.mem.zone(pfn).kind === ZONE_DEVICE_PRIVATE ? kernel.mem.zoneDeviceDataOf(pfn) : pfn;
}

/** What devmem needs from its device: the owner cookie, its type, and the mirrors by id. */
export interface DevmemOwner {
  readonly unit: number;
  readonly private: boolean;
  readonly p2pCluster: unknown;
  /** The mirror that migrated a page in, by the id recorded in its backing page. */
  mirrorById(id: number): DevmemMirror | undefined;
}

export interface DevmemMirror {
  readonly id: number;
  /** Erases this mirror's entry for `vpn` (migrate_to_ram does this for the mirror of the page). */
  erase(vpn: number): void;
}

export class DmirrorDevmem {
  readonly chunks: DevPagemap[] = [];
  /** Bound on chunks (kernel: unbounded for private devices, one for coherent ones). */
  readonly maxChunks: number;
  calloc = 0;
  cfree = 0;

  constructor(
    readonly kernel: Kernel,
    readonly device: DevmemOwner,
    maxChunks = Number.POSITIVE_INFINITY,
  ) {
    this.maxChunks = device.private ? maxChunks : 1;
  }

  /** dmirror_allocate_chunk: a new 256 MiB page map; false when no more may exist. */
  private addChunk(): DevPagemap | null {
    if (this.chunks.length >= this.maxChunks) return null;
    const pgmap = new DevPagemap({
      type: this.device.private ? MEMORY_DEVICE_PRIVATE : MEMORY_DEVICE_COHERENT,
      owner: this.device,
      nrPages: DMIRROR_CHUNK_PAGES,
      name: `hmm_dmirror${this.device.unit}.chunk${this.chunks.length}`,
      ops: {
        pageFree: (pfn) => this.pageFree(pfn),
        migrateToRam: this.device.private ? (vmf) => this.migrateToRam(vmf) : undefined,
      },
    });
    pgmap.p2pCluster = this.device.p2pCluster;
    if (memremapPages(this.kernel, pgmap) < 0) return null;
    this.chunks.push(pgmap);
    return pgmap;
  }

  /**
   * dmirror_devmem_alloc_page: a device page (refcount 1, locked) with its backing system page for
   * a private device. Returns the pfn, or 0 when memory ran out.
   */
  allocPage(): number {
    const mem = this.kernel.mem;
    let backing = 0;
    if (this.device.private) {
      backing = mem.allocPage();
      if (backing < 0) return 0;
    }
    let dpage = -1;
    for (const chunk of this.chunks) {
      if (!chunk.live || chunk.allocated >= chunk.nrPages) continue;
      dpage = zoneDevicePageInit(this.kernel, chunk);
      if (dpage > 0) break;
    }
    if (dpage <= 0) {
      const chunk = this.addChunk();
      if (chunk !== null) dpage = zoneDevicePageInit(this.kernel, chunk);
    }
    if (dpage <= 0) {
      if (backing > 0) mem.put(backing);
      return 0;
    }
    this.calloc++;
    mem.setZoneDeviceData(dpage, backing);
    return dpage;
  }

  /** dmirror_devmem_free (page_free): the backing page goes; the frame returns to its chunk. */
  private pageFree(pfn: number): void {
    const mem = this.kernel.mem;
    const backing = this.device.private ? mem.zoneDeviceDataOf(pfn) : 0;
    if (backing !== 0) {
      mem.setZoneDeviceData(pfn, 0);
      mem.put(backing);
    }
    this.cfree++;
  }

  /** The mirror recorded in a device page's backing page (R-DMIR-7), if it still exists. */
  mirrorOfPage(pfn: number): DevmemMirror | undefined {
    const id = this.kernel.mem.zoneDeviceDataOf(backingPfn(this.kernel, pfn));
    return this.device.mirrorById(id);
  }

  /**
   * dmirror_devmem_fault (R-DMIR-30): migrate the faulting page back to RAM with migrate_vma_*,
   * erasing the entry of the mirror that migrated it in.
   */
  private migrateToRam(vmf: VmFault): number {
    const mirror = this.mirrorOfPage(vmf.pfn);
    const args = new MigrateVma(vmf.vma, vmf.vpn, vmf.vpn + 1);
    args.pgmapOwner = this.device;
    args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
    args.faultPage = vmf.pfn;
    if (migrateVmaSetup(args) < 0) return VM_FAULT_SIGBUS;
    this.allocAndCopyToRam(args, mirror);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return 0;
  }

  /**
   * dmirror_devmem_fault_alloc_and_copy: a system page for every migrating device page, with the
   * mirror's entry at that address erased. Returns nothing: pages that get no system page stay.
   */
  allocAndCopyToRam(args: MigrateVma, mirror: DevmemMirror | undefined): void {
    const mem = this.kernel.mem;
    for (let i = 0; i < args.npages; i++) {
      const spage = migratePfnToPfn(args.src[i]);
      if (spage === 0 || !(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const dst = copyToNewSystemPage(mem, args.src[i], backingPfn(this.kernel, spage));
      if (dst === 0) continue;
      mirror?.erase(args.start + i);
      args.dst[i] = dst;
    }
  }

  /** The select flag for migrations out of this device's memory. */
  get selectFlags(): number {
    return this.device.private ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
  }

  /** Every frame a chunk has ever handed out (the pfn range migrate_device_range walks). */
  private chunkPfns(chunk: DevPagemap): number[] {
    const pfns: number[] = [];
    for (const base of chunk.zone!.sections) {
      for (let p = base; p < base + SECTION_FRAMES; p++) if (this.kernel.mem.refcountOf(p) > 0) pfns.push(p);
    }
    return pfns;
  }

  /** dmirror_device_evict_chunk (R-DMIR-33): every page of the chunk back to system memory. */
  evictChunk(chunk: DevPagemap): void {
    const mem = this.kernel.mem;
    const pfns = this.chunkPfns(chunk);
    if (pfns.length === 0) return;
    const src = new Float64Array(pfns.length);
    const dst = new Float64Array(pfns.length);
    migrateDevicePfns(this.kernel, src, pfns);
    for (let i = 0; i < pfns.length; i++) {
      const spage = migratePfnToPfn(src[i]);
      if (spage === 0 || !(src[i] & MIGRATE_PFN_MIGRATE)) continue;
      dst[i] = copyToNewSystemPage(mem, src[i], backingPfn(this.kernel, spage));
      if (dst[i] === 0) throw new KernelBug('eviction could not allocate a system page (__GFP_NOFAIL)');
    }
    migrateDevicePages(this.kernel, src, dst, pfns.length);
    migrateDeviceFinalize(this.kernel, src, dst, pfns.length);
  }

  /** Close of the last file: evict every chunk, keep them (R-DMIR-11). */
  evictAll(): void {
    for (const chunk of this.chunks) this.evictChunk(chunk);
  }

  /**
   * dmirror_device_remove_chunks (RELEASE, R-DMIR-31): each chunk is killed, evicted and unmapped;
   * unmapping waits for every page to be freed, so a page that cannot leave is a deadlock.
   */
  removeChunks(): void {
    for (const chunk of this.chunks) {
      chunk.live = false;
      this.evictChunk(chunk);
      let finished = false;
      const held = memunmapPages(chunk, () => {
        finished = true;
      });
      if (!finished) {
        throw new KernelBug(
          `RELEASE of hmm_dmirror${this.device.unit} blocks forever: ${held} device pages are still held`,
        );
      }
    }
    this.chunks.length = 0;
  }
}
