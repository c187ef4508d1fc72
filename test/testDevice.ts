// A small device driver for the device-memory tests (migrate-device.md): one dev_pagemap of its own
// (device-private or device-coherent) whose pages hold their data in the device frame itself, a
// page_free that records every call, and a migrate_to_ram that brings the faulting page back with
// migrate_vma_setup/pages/finalize (R-DEVPTE-4). It does not depend on the dmirror device.

import { VM_FAULT_SIGBUS, VM_WRITE } from '../src/mm/constants.js';
import {
  DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  type VmFault,
  zoneDevicePageInit,
} from '../src/mm/devmap.js';
import type { Kernel } from '../src/mm/kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDevicePfns,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../src/mm/migrateDevice.js';
import type { Mm } from '../src/mm/mm.js';
import { PG_LOCKED } from '../src/mm/physmem.js';

export { pteAt, type PteView } from '../src/check/pteView.js';

export interface FaultRecord {
  readonly vmf: VmFault;
  /** The faulting page's refcount and lock state when migrate_to_ram was entered. */
  readonly refcount: number;
  readonly locked: boolean;
}

export interface TestDeviceOptions {
  readonly type?: number;
  readonly nrPages?: number;
  readonly name?: string;
  readonly owner?: object;
}

let deviceCount = 0;

export class TestDevice {
  readonly kernel: Kernel;
  readonly pgmap: DevPagemap;
  readonly owner: object;
  /** Every pfn page_free was called for, in order. */
  readonly freed: number[] = [];
  /** Every migrate_to_ram call. */
  readonly faults: FaultRecord[] = [];
  /** When set, runs instead of the default migrate_to_ram (which it may call itself). */
  onFault: ((vmf: VmFault) => number) | null = null;
  /** Called from page_free before it is recorded (to observe ordering). */
  onPageFree: ((pfn: number) => void) | null = null;

  constructor(kernel: Kernel, options: TestDeviceOptions = {}) {
    this.kernel = kernel;
    const type = options.type ?? MEMORY_DEVICE_PRIVATE;
    this.owner = options.owner ?? { device: `test-device-${++deviceCount}` };
    this.pgmap = new DevPagemap({
      type,
      owner: this.owner,
      nrPages: options.nrPages ?? 64,
      name: options.name ?? `testdev${deviceCount}`,
      ops: {
        pageFree: (pfn) => {
          this.onPageFree?.(pfn);
          this.freed.push(pfn);
        },
        migrateToRam: type === MEMORY_DEVICE_PRIVATE ? (vmf) => this.fault(vmf) : undefined,
      },
    });
    const rc = memremapPages(kernel, this.pgmap);
    if (rc !== 0) throw new Error(`memremap_pages failed: ${rc}`);
  }

  get isPrivate(): boolean {
    return this.pgmap.type === MEMORY_DEVICE_PRIVATE;
  }

  /** The select flag for migrations out of this device's memory. */
  get selectFlags(): number {
    return this.isPrivate ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
  }

  /** zone_device_page_init: a device page, refcount 1 and locked. Throws when none is left. */
  allocPage(): number {
    const pfn = zoneDevicePageInit(this.kernel, this.pgmap);
    if (pfn <= 0) throw new Error('test device out of pages');
    return pfn;
  }

  /** Device frames currently allocated (not freed). */
  allocatedPfns(): number[] {
    if (this.pgmap.zone === null) return [];
    return [...this.kernel.mem.allocatedFrames(this.pgmap.zone)];
  }

  /** Whether `pfn` belongs to this device. */
  owns(pfn: number): boolean {
    return this.kernel.mem.zone(pfn) === this.pgmap.zone;
  }

  /** A MigrateVma over [startVpn, endVpn) of the VMA containing startVpn, with this owner. */
  args(mm: Mm, startVpn: number, endVpn: number, flags: number): MigrateVma {
    const vma = mm.vmas.find(startVpn);
    if (vma === null) throw new Error(`no VMA at ${startVpn}`);
    const args = new MigrateVma(vma, startVpn, endVpn);
    args.pgmapOwner = this.owner;
    args.flags = flags;
    return args;
  }

  /**
   * Driver step towards this device: a device page for every MIGRATE entry (copy of the source,
   * zeros for a hole), unless `decline(i)` says no. dst gets WRITE like the source (or VM_WRITE for
   * holes) unless `dstWrite` overrides it.
   */
  fillToDevice(
    args: MigrateVma,
    opts: { decline?: (i: number) => boolean; copy?: boolean; dstWrite?: boolean } = {},
  ): number {
    const mem = this.kernel.mem;
    let n = 0;
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      if (opts.decline?.(i)) continue;
      const spage = migratePfnToPfn(args.src[i]);
      const dpage = this.allocPage();
      if (spage !== 0 && opts.copy !== false) mem.content.copy(dpage, spage);
      const write =
        opts.dstWrite ??
        (spage !== 0 ? (args.src[i] & MIGRATE_PFN_WRITE) !== 0 : (args.vma.flags & VM_WRITE) !== 0);
      args.dst[i] = migratePfn(dpage) + (write ? MIGRATE_PFN_WRITE : 0);
      n++;
    }
    return n;
  }

  /** Driver step towards system RAM: a locked system page with a copy for every MIGRATE page. */
  fillToRam(args: { src: Float64Array; dst: Float64Array; npages: number }): number {
    return fillRam(this.kernel, args.src, args.dst, args.npages);
  }

  /** The whole migrate_vma sequence into this device. Returns the args after finalize. */
  migrateToDevice(mm: Mm, startVpn: number, endVpn: number, flags = MIGRATE_VMA_SELECT_SYSTEM): MigrateVma {
    const args = this.args(mm, startVpn, endVpn, flags);
    const rc = migrateVmaSetup(args);
    if (rc !== 0) throw new Error(`migrate_vma_setup: ${rc}`);
    this.fillToDevice(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return args;
  }

  /** The whole migrate_vma sequence from this device back to RAM (own pages only). */
  migrateToRam(mm: Mm, startVpn: number, endVpn: number): MigrateVma {
    const args = this.args(mm, startVpn, endVpn, this.selectFlags);
    const rc = migrateVmaSetup(args);
    if (rc !== 0) throw new Error(`migrate_vma_setup: ${rc}`);
    this.fillToRam(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return args;
  }

  /**
   * Eviction (migrate_device_pfns / pages / finalize) of `pfns` (default: every allocated page).
   * Returns src and dst as they were after migrate_device_pages.
   */
  evict(pfns: number[] = this.allocatedPfns()): { src: Float64Array; dst: Float64Array } {
    const src = new Float64Array(pfns.length);
    const dst = new Float64Array(pfns.length);
    migrateDevicePfns(this.kernel, src, pfns);
    fillRam(this.kernel, src, dst, pfns.length);
    migrateDevicePages(this.kernel, src, dst, pfns.length);
    const after = { src: src.slice(), dst: dst.slice() };
    migrateDeviceFinalize(this.kernel, src, dst, pfns.length);
    return after;
  }

  /** page_map.ops.migrate_to_ram. */
  private fault(vmf: VmFault): number {
    const mem = this.kernel.mem;
    this.faults.push({ vmf, refcount: mem.folioRefcount(vmf.pfn), locked: mem.isLocked(vmf.pfn) });
    if (this.onFault !== null) return this.onFault(vmf);
    return this.defaultMigrateToRam(vmf);
  }

  /** R-DEVPTE-4: migrate the faulting page to RAM; SIGBUS when migrate_vma_setup refuses. */
  defaultMigrateToRam(vmf: VmFault): number {
    const args = new MigrateVma(vmf.vma, vmf.vpn, vmf.vpn + 1);
    args.pgmapOwner = this.owner;
    args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
    args.faultPage = vmf.pfn;
    if (migrateVmaSetup(args) < 0) return VM_FAULT_SIGBUS;
    this.fillToRam(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return 0;
  }
}

/** A locked system page holding a copy of every MIGRATE source page (dst WRITE like the source). */
export function fillRam(kernel: Kernel, src: Float64Array, dst: Float64Array, npages: number): number {
  const mem = kernel.mem;
  let n = 0;
  for (let i = 0; i < npages; i++) {
    const spage = migratePfnToPfn(src[i]);
    if (spage === 0 || !(src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = mem.allocPage();
    if (dpage < 0) throw new Error('out of RAM');
    mem.setPageFlag(dpage, PG_LOCKED);
    mem.content.copy(dpage, spage);
    dst[i] = migratePfn(dpage) + (src[i] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0);
    n++;
  }
  return n;
}

export { MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_PRIVATE };
