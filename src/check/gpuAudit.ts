// The GPU's state checked from outside: its page table, TLB, VA blocks and memory against the
// process's CPU page table. The GPU tests check it after every engine event; the race finder after
// every explored step. The model never imports this file.

import type { GpuDevice } from '../devices/gpu/gpu.js';
import { VA_BLOCK_PAGES } from '../devices/gpu/vaBlock.js';
import { GPU_ATTR_ATOMIC, GPU_ATTR_LOCAL, GPU_ATTR_WRITE, type GpuVaSpace } from '../devices/gpu/vaSpace.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_WRITE } from '../mm/pte.js';
import { pteAt } from './pteView.js';

/**
 * What must hold between any two steps of the GPU's driver (engine events, or the race finder's
 * steps) for one address space and the pages [firstVpn, endVpn) it may use. Returns the violations (empty: consistent):
 * - GPU memory in use never exceeds its capacity, and every frame in use holds a placed page
 *   (frames in use = resident pages of the VA blocks);
 * - every table entry maps the frame the CPU maps at that address (LOCAL: the device-private
 *   entry's frame; ATOMIC: the device-exclusive entry's; remote: the present page), writable only
 *   if the CPU's entry is;
 * - a LOCAL table entry maps a frame of this GPU whose slot holds that very page of that VA block;
 * - a resident page of a VA block is mapped by the process's CPU page table as a device-private
 *   entry to the frame of its slot, and the GPU table has either no entry for it (an
 *   invalidation such as mprotect removed it: the next access faults and maps it again) or the
 *   LOCAL entry to that frame, never a remote one;
 * - every device-private CPU entry to this GPU's memory is a resident page of its VA block;
 * - every TLB entry equals the table's entry (no stale translation survives an update).
 */
export function gpuViolations(gpu: GpuDevice, space: GpuVaSpace, firstVpn: number, endVpn: number): string[] {
  return gpuProblems(gpu, space, firstVpn, endVpn).map((p) => p.message);
}

/** What broke: a table entry to the wrong frame, one with too much permission, or other state. */
export interface GpuProblem {
  readonly kind: 'stale' | 'permission' | 'state';
  readonly message: string;
}

/** `gpuViolations`, each with its kind. */
export function gpuProblems(
  gpu: GpuDevice,
  space: GpuVaSpace,
  firstVpn: number,
  endVpn: number,
): GpuProblem[] {
  const problems: GpuProblem[] = [];
  const state = (message: string): void => {
    problems.push({ kind: 'state', message });
  };
  const kernel = gpu.kernel;
  const mem = kernel.mem;
  const memory = gpu.memory;
  if (memory.usedPages > memory.capacityPages)
    state(`GPU memory holds ${memory.usedPages} pages, capacity ${memory.capacityPages}`);
  let resident = 0;
  const firstBlock = firstVpn - (firstVpn % VA_BLOCK_PAGES);
  for (let b = firstBlock; b < endVpn; b += VA_BLOCK_PAGES) {
    const block = space.findBlock(b);
    if (block !== undefined) resident += block.residentPages;
  }
  if (resident !== memory.usedPages)
    state(`${memory.usedPages} GPU frames in use but ${resident} pages resident in VA blocks`);
  for (const [vpn, pfn, attr] of space.table.entries()) {
    // Every entry maps what the CPU maps now (a remote one the CPU's own page), and is writable
    // only where the CPU's entry is: an invalidation must have removed anything older.
    const cpu = pteAt(space.mm, vpn);
    const kind =
      attr & GPU_ATTR_LOCAL
        ? PTE_DEVICE_PRIVATE
        : attr & GPU_ATTR_ATOMIC
          ? PTE_DEVICE_EXCLUSIVE
          : PTE_PRESENT;
    // A remote entry may also reach a peer GPU's device-private page (P2P).
    const peer = kind === PTE_PRESENT && cpu.kind === PTE_DEVICE_PRIVATE && mem.zone(pfn).owner !== gpu;
    if ((cpu.kind !== kind && !peer) || cpu.pfn !== pfn)
      problems.push({
        kind: 'stale',
        message: `vpn ${vpn}: GPU maps pfn ${pfn}, the CPU entry is kind ${cpu.kind} pfn ${cpu.pfn}`,
      });
    else if (attr & GPU_ATTR_WRITE && !(cpu.flags & PTE_WRITE))
      problems.push({
        kind: 'permission',
        message: `vpn ${vpn}: the GPU may write pfn ${pfn}, the CPU's entry is read-only`,
      });
    if (!(attr & GPU_ATTR_LOCAL)) continue;
    const block = space.findBlock(vpn);
    const index = vpn % VA_BLOCK_PAGES;
    const slot = mem.zone(pfn).owner === gpu ? mem.zoneDeviceDataOf(pfn) - 1 : -2;
    if (slot < 0) state(`vpn ${vpn}: LOCAL entry to pfn ${pfn}, not a placed frame of this GPU`);
    else if (block === undefined || block.slot[index] !== slot)
      state(`vpn ${vpn}: LOCAL entry to slot ${slot}, the VA block has ${block?.slot[index]}`);
    else if (memory.blockOf(slot) !== block || memory.indexOf(slot) !== index)
      state(`vpn ${vpn}: slot ${slot} holds index ${memory.indexOf(slot)} of another block`);
  }
  for (let vpn = firstVpn; vpn < endVpn; vpn++) {
    const block = space.findBlock(vpn);
    const index = vpn % VA_BLOCK_PAGES;
    const pte = pteAt(space.mm, vpn);
    const ours = pte.kind === PTE_DEVICE_PRIVATE && mem.zone(pte.pfn).owner === gpu;
    const slot = block === undefined ? -1 : block.slot[index];
    if (slot < 0) {
      if (ours) state(`vpn ${vpn}: CPU maps GPU pfn ${pte.pfn} but the VA block has no page`);
      continue;
    }
    if (!ours || mem.zoneDeviceDataOf(pte.pfn) - 1 !== slot) {
      state(`vpn ${vpn}: resident in slot ${slot} but the CPU entry is kind ${pte.kind} pfn ${pte.pfn}`);
      continue;
    }
    const attr = space.table.attr(vpn);
    if (attr !== 0 && (!(attr & GPU_ATTR_LOCAL) || space.table.pfn(vpn) !== pte.pfn))
      state(`vpn ${vpn}: resident on the GPU but its table entry is ${attr.toString(16)}`);
  }
  for (const e of gpu.tlb.cached()) {
    if (e.space !== space.index) continue;
    if (space.table.attr(e.vpn) !== e.attr || space.table.pfn(e.vpn) !== e.pfn)
      state(`vpn ${e.vpn}: TLB caches pfn ${e.pfn} attr ${e.attr.toString(16)}, the table differs`);
  }
  return problems;
}
