// The GPU in an explored world: the real GPU device and its driver's service thread (the same step
// program the engine runs in `hetmem run`), a GPU thread whose accesses raise faults into the
// fault buffer and wait for them to be served, and the check of the GPU's table, TLB and memory
// against the CPU's page table after every step.

import { gpuProblems } from '../gpuAudit.js';
import { FAULT_ATOMIC, FAULT_MIRROR, FAULT_WRITE } from '../../devices/gpu/faultBuffer.js';
import { GpuDevice } from '../../devices/gpu/gpu.js';
import type { GpuVaSpace } from '../../devices/gpu/vaSpace.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import { checkNotFreed, invalidationsSettled } from './invariants.js';
import { type Program, step } from './program.js';
import { Violation } from './violation.js';

/** One access of a GPU thread to a page of the region. */
export interface GpuAccess {
  readonly page: number;
  readonly write: boolean;
  /** An atomic (served with device-exclusive access when the page stays in system memory). */
  readonly atomic?: boolean;
}

export interface GpuSpec {
  readonly name: string;
  /** migrate: faulted pages move into GPU memory; mirror: they stay where they are. */
  readonly mode?: 'migrate' | 'mirror';
  /** GPU memory in pages (small memories make the driver evict). */
  readonly memoryPages?: number;
  /** Thrashing mitigation (src/devices/gpu/policies/thrashing.ts; default none). */
  readonly thrashing?: 'none' | 'pin' | 'remote';
}

/** A GPU of the world, mirroring the region of the first process. */
export interface WorldGpu {
  readonly gpu: GpuDevice;
  readonly space: GpuVaSpace;
}

/** More faults on one access than this is a livelock (the driver never makes the page usable). */
const FAULT_LIMIT = 16;

/** The GPU `spec` over `mm`. Its driver is an actor of the world, never of the engine. */
export function buildGpu(kernel: Kernel, mm: Mm, spec: GpuSpec): WorldGpu {
  const gpu = new GpuDevice(kernel, {
    name: spec.name,
    mode: spec.mode ?? 'migrate',
    memoryBytes: (spec.memoryPages ?? 64) * PAGE_SIZE,
    // Access counters would wake the driver on the engine; the explored world has none.
    policies: { accessCounters: 'none', thrashing: spec.thrashing ?? 'none' },
  });
  return { gpu, space: gpu.vaSpace(mm) };
}

/**
 * A GPU thread: each access is a step; one the GPU's table does not allow raises a fault and waits
 * until the driver's pass has served it, then tries again. A fault the driver could not serve
 * (the page is gone, or the access is not allowed) ends the thread, as it ends a GPU kernel.
 */
export function* gpuThread(
  { gpu, space }: WorldGpu,
  name: string,
  startVpn: number,
  accesses: readonly GpuAccess[],
): Program {
  const mirror = gpu.mode === 'mirror' ? FAULT_MIRROR : 0;
  for (const a of accesses) {
    const vpn = startVpn + a.page;
    const what = `${a.atomic === true ? 'atomic' : a.write ? 'write' : 'read'} page ${a.page}`;
    for (let faults = 0; ; faults++) {
      yield step(`${name}: ${what}`);
      if (gpu.access(space, vpn, a.write, a.atomic === true)) break;
      if (faults > 0 && space.fatal.has(vpn)) return;
      if (faults === FAULT_LIMIT)
        throw new Violation(
          'livelock',
          `${name}'s ${what} faulted ${FAULT_LIMIT} times: the driver never made it usable`,
        );
      const flags = (a.write ? FAULT_WRITE : 0) | (a.atomic === true ? FAULT_ATOMIC : 0) | mirror;
      gpu.raiseFault(space, vpn, flags);
      yield step(`${name}: wait for the fault on page ${a.page}`, {
        enabled: () => !space.pendingFaults.has(vpn),
      });
    }
  }
}

/** Throws a Violation when a GPU can reach a freed frame, or disagrees with the CPU once settled. */
export function checkGpus(gpus: Iterable<WorldGpu>, startVpn: number, pages: number): void {
  for (const { gpu, space } of gpus) {
    const mem = gpu.kernel.mem;
    for (const [vpn, pfn] of space.table.entries())
      checkNotFreed(mem, `${gpu.name} can reach frame ${pfn} through its page table`, pfn, vpn - startVpn);
    if (!invalidationsSettled(space.mm)) continue;
    const problems = gpuProblems(gpu, space, startVpn, startVpn + pages);
    if (problems.length === 0) continue;
    const p = problems[0];
    const kind = p.kind === 'stale' ? 'stale-mirror' : p.kind === 'permission' ? 'stale-permission' : 'audit';
    throw new Violation(kind, `${gpu.name}: ${p.message}`);
  }
}
