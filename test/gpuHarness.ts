// Test support for the GPU model (src/devices/gpu): a machine with one GPU and one process built
// through the library, kernels over explicit page lists, an engine stepped by hand with a check
// after every event, and a checker that looks at the GPU's state from outside (its page table,
// TLB, VA blocks, page map, and the process's CPU page table) and reports what disagrees. It also
// runs small YAML scenarios. The model never imports this file.

import { GpuDevice, type GpuOptions } from '../src/devices/gpu/gpu.js';
import type { GpuKernel } from '../src/devices/gpu/kernel.js';
import type { GpuTlb } from '../src/devices/gpu/tlb.js';
import { VA_BLOCK_PAGES } from '../src/devices/gpu/vaBlock.js';
import { GPU_ATTR_LOCAL, GPU_ATTR_WRITE, type GpuVaSpace } from '../src/devices/gpu/vaSpace.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Mm } from '../src/mm/mm.js';
import { ZONE_RAM } from '../src/mm/physmem.js';
import { PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_WRITE } from '../src/mm/pte.js';
import type { Task } from '../src/mm/task.js';
import type { AccessStream } from '../src/sim/accessStream.js';
import type { Actor, StepResult } from '../src/sim/engine.js';
import type { RunResult } from '../src/report/types.js';
import { loadScenario } from '../src/workload/scenario/load.js';
import { runScenario } from '../src/workload/scenario/runner.js';
import { pteAt } from './testDevice.js';

/** A 2 MiB-aligned address well inside the user address space, as a page number. */
export const BASE_VPN = 0x4000_0000;

export interface GpuRig {
  readonly kernel: Kernel;
  readonly gpu: GpuDevice;
  readonly task: Task;
  readonly mm: Mm;
}

export type RigOptions = Omit<GpuOptions, 'name' | 'memoryBytes'> & {
  readonly memoryPages: number;
  readonly ramPages?: number;
  readonly seed?: number;
};

/** A kernel with `ramPages` of RAM (default 16384), a GPU named `g`, and one process. */
export function gpuRig(options: RigOptions): GpuRig {
  const { memoryPages, ramPages = 16384, seed = 1, ...gpuOptions } = options;
  const kernel = new Kernel({ ramBytes: ramPages * PAGE_SIZE, contentMode: 'tokens', seed });
  const gpu = new GpuDevice(kernel, { ...gpuOptions, name: 'g', memoryBytes: memoryPages * PAGE_SIZE });
  const task = kernel.spawn();
  return { kernel, gpu, task, mm: task.mm! };
}

/** Maps `npages` of private anonymous memory at `vpn` (MAP_FIXED), read-write. */
export function mapAt(task: Task, vpn: number, npages: number): void {
  const addr = task.mmap(
    vpn * PAGE_SIZE,
    npages * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
  );
  if (addr !== vpn * PAGE_SIZE) throw new Error(`mmap at vpn ${vpn} failed: ${addr}`);
}

/** CPU accesses to pages `first .. first + npages - 1`; throws on a signal. */
export function cpuTouch(task: Task, vpn: number, npages: number, write: boolean): void {
  for (let v = vpn; v < vpn + npages; v++) {
    const r = task.touch(v * PAGE_SIZE, PAGE_SIZE, write);
    if (r.signal !== 0) throw new Error(`CPU touch of vpn ${v} failed: ${String(r.signal)}`);
  }
}

/** A stream over a fixed list of page offsets. */
export function listStream(offsets: readonly number[]): AccessStream {
  let i = 0;
  return { next: () => (i < offsets.length ? offsets[i++] : -1) };
}

/** Offsets 0 .. n - 1, in order. */
export function sequentialOffsets(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Launches a kernel over `offsets` (pages relative to `baseVpn`). */
export function launchList(
  rig: GpuRig,
  baseVpn: number,
  offsets: readonly number[],
  write = false,
  mode?: 'migrate' | 'mirror',
): GpuKernel {
  return rig.gpu.launch({ mm: rig.mm, baseVpn, stream: listStream(offsets), write, mode });
}

/** A CPU thread touching a list of pages, one per step, `gapNs` apart (overlaps GPU kernels). */
export class CpuToucher implements Actor {
  readonly name: string;
  private i = 0;
  failures = 0;

  constructor(
    private readonly task: Task,
    private readonly vpns: readonly number[],
    private readonly write: boolean,
    private readonly gapNs: number,
    name = 'cpu',
  ) {
    this.name = name;
  }

  step(): StepResult {
    if (this.i >= this.vpns.length) return 'done';
    const r = this.task.touch(this.vpns[this.i++] * PAGE_SIZE, PAGE_SIZE, this.write);
    if (r.signal !== 0) this.failures++;
    return this.gapNs;
  }
}

/** Events one checked run may take before it is called a hang. */
const CHECKED_EVENTS_MAX = 2_000_000;

/**
 * Runs the engine one event at a time until it is idle, calling `check` after every event, then
 * the kernel's idle hooks (as runUntilIdle does). Returns the number of events.
 */
export function runChecked(kernel: Kernel, check: () => void): number {
  const engine = kernel.engine;
  let n = 0;
  for (;;) {
    while (engine.events.pending > 0) {
      if (n >= CHECKED_EVENTS_MAX) throw new Error(`no idle after ${CHECKED_EVENTS_MAX} events`);
      engine.step();
      n++;
      check();
    }
    n += kernel.runUntilIdle();
    if (engine.events.pending === 0) return n;
  }
}

/** The value of counter `gpu.g.<name>`. */
export function gpuCounter(rig: GpuRig, name: string): number {
  return rig.kernel.stats.get(`gpu.${rig.gpu.name}.${name}`);
}

/** RAM pages in use. */
export function ramUsedPages(kernel: Kernel): number {
  return kernel.mem.zones.filter((z) => z.kind === ZONE_RAM).reduce((n, z) => n + z.usedPages, 0);
}

/** The TLB's live entries, read from its arrays (a lookup would refresh their LRU stamps). */
export function tlbEntries(tlb: GpuTlb): { space: number; vpn: number; pfn: number; attr: number }[] {
  const t = tlb as unknown as { tag: Float64Array; pfn: Float64Array; attr: Uint32Array };
  const out: { space: number; vpn: number; pfn: number; attr: number }[] = [];
  for (let w = 0; w < t.tag.length; w++) {
    if (t.tag[w] < 0) continue;
    const space = Math.floor(t.tag[w] / 2 ** 36);
    out.push({ space, vpn: t.tag[w] - space * 2 ** 36, pfn: t.pfn[w], attr: t.attr[w] });
  }
  return out;
}

/**
 * What must hold between any two engine events for one address space and the pages
 * [firstVpn, endVpn) it may use. Returns the violations (empty: consistent):
 * - GPU memory in use never exceeds its capacity, and every frame in use holds a placed page
 *   (frames in use = resident pages of the VA blocks);
 * - every table entry maps the frame the CPU maps at that address (LOCAL: the device-private
 *   entry's frame; remote: the present page), writable only if the CPU's entry is;
 * - a LOCAL table entry maps a frame of this GPU whose slot holds that very page of that VA block;
 * - a resident page of a VA block is mapped by the process's CPU page table as a device-private
 *   entry to the frame of its slot, and the GPU table has either no entry for it (an
 *   invalidation such as mprotect removed it: the next access faults and maps it again) or the
 *   LOCAL entry to that frame, never a remote one;
 * - every device-private CPU entry to this GPU's memory is a resident page of its VA block;
 * - every TLB entry equals the table's entry (no stale translation survives an update).
 */
export function gpuViolations(gpu: GpuDevice, space: GpuVaSpace, firstVpn: number, endVpn: number): string[] {
  const out: string[] = [];
  const kernel = gpu.kernel;
  const mem = kernel.mem;
  const memory = gpu.memory;
  if (memory.usedPages > memory.capacityPages)
    out.push(`GPU memory holds ${memory.usedPages} pages, capacity ${memory.capacityPages}`);
  let resident = 0;
  const firstBlock = firstVpn - (firstVpn % VA_BLOCK_PAGES);
  for (let b = firstBlock; b < endVpn; b += VA_BLOCK_PAGES) {
    const block = space.findBlock(b);
    if (block !== undefined) resident += block.residentPages;
  }
  if (resident !== memory.usedPages)
    out.push(`${memory.usedPages} GPU frames in use but ${resident} pages resident in VA blocks`);
  for (const [vpn, pfn, attr] of space.table.entries()) {
    // Every entry maps what the CPU maps now (a remote one the CPU's own page), and is writable
    // only where the CPU's entry is: an invalidation must have removed anything older.
    const cpu = pteAt(space.mm, vpn);
    const kind = attr & GPU_ATTR_LOCAL ? PTE_DEVICE_PRIVATE : PTE_PRESENT;
    if (cpu.kind !== kind || cpu.pfn !== pfn)
      out.push(`vpn ${vpn}: GPU maps pfn ${pfn}, the CPU entry is kind ${cpu.kind} pfn ${cpu.pfn}`);
    else if (attr & GPU_ATTR_WRITE && !(cpu.flags & PTE_WRITE))
      out.push(`vpn ${vpn}: the GPU may write pfn ${pfn}, the CPU's entry is read-only`);
    if (!(attr & GPU_ATTR_LOCAL)) continue;
    const block = space.findBlock(vpn);
    const index = vpn % VA_BLOCK_PAGES;
    const slot = mem.zone(pfn).owner === gpu ? mem.zoneDeviceDataOf(pfn) - 1 : -2;
    if (slot < 0) out.push(`vpn ${vpn}: LOCAL entry to pfn ${pfn}, not a placed frame of this GPU`);
    else if (block === undefined || block.slot[index] !== slot)
      out.push(`vpn ${vpn}: LOCAL entry to slot ${slot}, the VA block has ${block?.slot[index]}`);
    else if (memory.blockOf(slot) !== block || memory.indexOf(slot) !== index)
      out.push(`vpn ${vpn}: slot ${slot} holds index ${memory.indexOf(slot)} of another block`);
  }
  for (let vpn = firstVpn; vpn < endVpn; vpn++) {
    const block = space.findBlock(vpn);
    const index = vpn % VA_BLOCK_PAGES;
    const pte = pteAt(space.mm, vpn);
    const ours = pte.kind === PTE_DEVICE_PRIVATE && mem.zone(pte.pfn).owner === gpu;
    const slot = block === undefined ? -1 : block.slot[index];
    if (slot < 0) {
      if (ours) out.push(`vpn ${vpn}: CPU maps GPU pfn ${pte.pfn} but the VA block has no page`);
      continue;
    }
    if (!ours || mem.zoneDeviceDataOf(pte.pfn) - 1 !== slot) {
      out.push(`vpn ${vpn}: resident in slot ${slot} but the CPU entry is kind ${pte.kind} pfn ${pte.pfn}`);
      continue;
    }
    const attr = space.table.attr(vpn);
    if (attr !== 0 && (!(attr & GPU_ATTR_LOCAL) || space.table.pfn(vpn) !== pte.pfn))
      out.push(`vpn ${vpn}: resident on the GPU but its table entry is ${attr.toString(16)}`);
  }
  for (const e of tlbEntries(gpu.tlb)) {
    if (e.space !== space.index) continue;
    if (space.table.attr(e.vpn) !== e.attr || space.table.pfn(e.vpn) !== e.pfn)
      out.push(`vpn ${e.vpn}: TLB caches pfn ${e.pfn} attr ${e.attr.toString(16)}, the table differs`);
  }
  return out;
}

/** Ends the process and releases the GPU's view of it (as the driver's file release does). */
export function exitProcess(rig: GpuRig): void {
  rig.task.exit();
  rig.gpu.releaseMm(rig.mm);
  rig.kernel.runUntilIdle();
}

/** What is left after exit: GPU frames, RAM frames, address spaces. Empty: no leak. */
export function leaksAfterExit(rig: GpuRig): string[] {
  const out: string[] = [];
  if (rig.gpu.memory.usedPages > 0) out.push(`${rig.gpu.memory.usedPages} GPU pages in use`);
  const ram = ramUsedPages(rig.kernel);
  if (ram > 0) out.push(`${ram} RAM pages in use`);
  if (rig.kernel.mms.size > 0) out.push(`${rig.kernel.mms.size} address spaces alive`);
  if (rig.gpu.running.size > 0) out.push(`${rig.gpu.running.size} kernels still running`);
  return out;
}

// ---- scenarios ----------------------------------------------------------------------------------

/**
 * Runs a one-process scenario with one GPU `g`: `device` is the inside of the GPU's flow mapping
 * after `kind`, `name` (e.g. `memory: 4MiB, mode: mirror`), `program` one flow mapping per op.
 */
export function runGpuScenario(
  device: string,
  program: readonly string[],
  options: { seed?: number; ram?: string; maxEvents?: number } = {},
): RunResult {
  // A tight event limit turns a livelock into a LimitError at once instead of minutes later.
  const yaml = `name: gpu-test
machine:
  ram: ${options.ram ?? '256MiB'}
  limits: { maxEvents: ${options.maxEvents ?? 2_000_000} }
  devices:
    - { kind: gpu, name: g, ${device} }
processes:
  - name: app
    program:
${program.map((op) => `      - ${op}\n`).join('')}`;
  return runScenario(loadScenario(yaml, 'gpu-test.yaml'), { seed: options.seed });
}

/** Counter `gpu.g.<name>` of a scenario run. */
export function counter(result: RunResult, name: string): number {
  const v = result.summary.counters[`gpu.g.${name}`];
  if (v === undefined) throw new Error(`no counter gpu.g.${name}`);
  return v;
}
