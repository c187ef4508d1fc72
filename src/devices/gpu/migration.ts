// The GPU driver's migrations, each through the modeled kernel's migrate_vma_* and
// make_device_exclusive: a run of system pages into GPU memory (placed in its VA block, mapped
// local), GPU pages back to system memory (an explicit prefetch to the host), and exclusive access
// for atomics on pages left in system memory. A run is one DMA transfer over the link.

import { linkTransferNs } from '../../sim/costModel.js';
import { PAGE_SIZE, VM_WRITE } from '../../mm/constants.js';
import { makeDeviceExclusiveRange } from '../../mm/deviceExclusive.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  copyToNewSystemPage,
} from '../../mm/migrateDevice.js';
import type { Kernel } from '../../mm/kernel.js';
import type { GpuMemory } from './gpuMemory.js';
import type { VaBlock } from './vaBlock.js';
import {
  GPU_ATTR_ATOMIC,
  GPU_ATTR_LOCAL,
  GPU_ATTR_VALID,
  GPU_ATTR_WRITE,
  type GpuVaSpace,
} from './vaSpace.js';

/** What the migrations need from their GPU. */
export interface MigrationHost {
  readonly name: string;
  readonly kernel: Kernel;
  readonly memory: GpuMemory;
  /** Accounting: pages and bytes moved each way. */
  noteToDevice(pages: number, bytes: number): void;
  noteToHost(pages: number): void;
  /** A DMA copy of `ns` over the link, to the host or to the device; returns when it lands (0: now). */
  chargeTransfer(ns: number, toHost: boolean): number;
  /** Ids of migration spans in the trace (per GPU, so runs repeat exactly). */
  nextMigrationId: number;
}

type Vma = MigrateVma['vma'];

/**
 * Moves the system pages of [startVpn, endVpn), inside one VMA and one VA block, into GPU memory
 * (the caller reserved room). `faulted` (block-indexed, or null) marks the pages whose migration
 * a fault caused: the thrashing policy counts those. Returns the pages placed.
 */
export function migrateToGpu(
  gpu: MigrationHost,
  space: GpuVaSpace,
  vma: Vma,
  block: VaBlock,
  startVpn: number,
  endVpn: number,
  faulted: Uint8Array | null,
): number {
  const kernel = gpu.kernel;
  const mem = kernel.mem;
  const memory = gpu.memory;
  const args = new MigrateVma(vma, startVpn, endVpn);
  args.flags = MIGRATE_VMA_SELECT_SYSTEM;
  args.pgmapOwner = gpu;
  const trace = kernel.trace;
  const track = `${gpu.name}/driver`;
  const spanId = gpu.nextMigrationId++;
  if (trace.enabled)
    trace.asyncBegin(kernel.engine.nowNs, track, 'migrate', 'to device', spanId, {
      startVpn,
      pages: endVpn - startVpn,
    });
  if (migrateVmaSetup(args) < 0) {
    if (trace.enabled) trace.asyncEnd(kernel.engine.nowNs, track, 'migrate', 'to device', spanId);
    return 0;
  }
  let copied = 0;
  for (let i = 0; i < args.npages; i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = memory.alloc();
    if (dpage < 0) continue;
    const spage = migratePfnToPfn(args.src[i]);
    if (spage !== 0) mem.content.copy(dpage, spage);
    else mem.content.zero(dpage);
    const writable = args.src[i] & MIGRATE_PFN_WRITE || (spage === 0 && vma.flags & VM_WRITE);
    args.dst[i] = migratePfn(dpage) + (writable ? MIGRATE_PFN_WRITE : 0);
    // A page never populated on the host is zero-filled on the GPU: nothing crosses the link.
    if (spage !== 0) copied++;
  }
  const landsAtNs =
    copied > 0 ? gpu.chargeTransfer(linkTransferNs(kernel.costs, copied * PAGE_SIZE), false) : 0;
  migrateVmaPages(args);
  space.lock.holder = gpu.name;
  let placed = 0;
  const now = kernel.engine.nowNs;
  for (let i = 0; i < args.npages; i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE) || args.dst[i] === 0) continue;
    const dpage = migratePfnToPfn(args.dst[i]);
    const vpn = startVpn + i;
    const index = vpn - block.firstVpn;
    // A page a lane waits on cannot be evicted before its copy lands and the lane retries.
    const faultedHere = faulted !== null && faulted[index] === 1;
    memory.place(dpage, block, index, faultedHere ? landsAtNs : 0);
    const attr = GPU_ATTR_VALID | GPU_ATTR_LOCAL | (args.dst[i] & MIGRATE_PFN_WRITE ? GPU_ATTR_WRITE : 0);
    space.setEntry(vpn, dpage, attr);
    if (faultedHere) memory.thrashing.migrated(block, index, now);
    placed++;
  }
  space.lock.holder = null;
  gpu.noteToDevice(placed, copied * PAGE_SIZE);
  migrateVmaFinalize(args);
  if (trace.enabled)
    trace.asyncEnd(kernel.engine.nowNs, track, 'migrate', 'to device', spanId, { pages: placed });
  return placed;
}

/** This GPU's pages of [startVpn, endVpn) back to system memory (SELECT_DEVICE_PRIVATE). */
export function migrateToHost(
  gpu: MigrationHost,
  space: GpuVaSpace,
  vma: Vma,
  startVpn: number,
  endVpn: number,
): number {
  const kernel = gpu.kernel;
  const mem = kernel.mem;
  const args = new MigrateVma(vma, startVpn, endVpn);
  args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
  args.pgmapOwner = gpu;
  if (migrateVmaSetup(args) < 0) return 0;
  let moved = 0;
  for (let i = 0; i < args.npages; i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    args.dst[i] = copyToNewSystemPage(mem, args.src[i], migratePfnToPfn(args.src[i]));
    if (args.dst[i] === 0) continue;
    // The GPU's own migration does not reach its notifier: it clears its entry itself.
    space.clearRange(startVpn + i, startVpn + i + 1);
    moved++;
  }
  if (moved > 0) gpu.chargeTransfer(linkTransferNs(kernel.costs, moved * PAGE_SIZE), true);
  gpu.noteToHost(moved);
  migrateVmaPages(args);
  migrateVmaFinalize(args);
  return moved;
}

/**
 * Grants the GPU exclusive access to [startVpn, endVpn) for atomics (make_device_exclusive, as
 * nouveau does): the CPU's entries become device-exclusive; a CPU access revokes them. Pages that
 * cannot be made exclusive are added to the space's fatal set.
 */
export function makeExclusive(gpu: MigrationHost, space: GpuVaSpace, startVpn: number, endVpn: number): void {
  const mem = gpu.kernel.mem;
  const pages: number[] = [];
  for (let vpn = startVpn; vpn < endVpn; vpn += 64) {
    const next = Math.min(endVpn, vpn + 64);
    pages.length = 0;
    const n = makeDeviceExclusiveRange(space.mm, vpn, next, pages, gpu);
    if (n <= 0) {
      for (let v = vpn; v < next; v++) space.fatal.add(v);
      continue;
    }
    space.lock.holder = gpu.name;
    for (let i = 0; i < n; i++)
      if (pages[i] !== 0)
        space.setEntry(vpn + i, pages[i], GPU_ATTR_VALID | GPU_ATTR_WRITE | GPU_ATTR_ATOMIC);
    space.lock.holder = null;
    for (let i = 0; i < n; i++) {
      if (pages[i] !== 0) {
        mem.unlock(pages[i]);
        mem.put(pages[i]);
      }
    }
  }
}
