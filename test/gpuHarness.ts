// Test support for the GPU model (src/devices/gpu): a machine with one GPU and one process built
// through the library, kernels over explicit page lists, an engine stepped by hand with a check
// after every event, and a checker that looks at the GPU's state from outside (its page table,
// TLB, VA blocks, page map, and the process's CPU page table) and reports what disagrees
// (src/check/gpuAudit.ts). It also runs small YAML scenarios. The model never imports this file.

import { GpuDevice, type GpuOptions } from '../src/devices/gpu/gpu.js';
import type { GpuKernel } from '../src/devices/gpu/kernel.js';
import type { GpuTlb } from '../src/devices/gpu/tlb.js';
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
import type { Task } from '../src/mm/task.js';
import type { AccessStream } from '../src/sim/accessStream.js';
import type { Actor, StepResult } from '../src/sim/engine.js';
import type { RunResult } from '../src/report/types.js';
import { loadScenario } from '../src/workload/scenario/load.js';
import { runScenario } from '../src/workload/scenario/runner.js';

export { gpuViolations } from '../src/check/gpuAudit.js';

/** Every translation the GPU's TLB caches. */
export function tlbEntries(tlb: GpuTlb): { space: number; vpn: number; pfn: number; attr: number }[] {
  return [...tlb.cached()];
}

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
