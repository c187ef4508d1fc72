// The machine one explored schedule runs on: a small kernel, one process with one anonymous
// region the CPU has written, mirror devices over the region, and the actors (driver programs and
// CPU threads). Built afresh for every schedule, so schedules never share state.
//
// Worlds with PASID accelerators have more processes (each with its own written region) and one
// IOMMU. Accelerators come as step-program twins of the protocol (`accels`, accelPort.ts) or as
// the real device and driver of src/devices/accel (`dmaAccels`), whose work runs as the kernel's
// events. GPUs (`gpus`) are the real device of src/devices/gpu: its driver's service thread is an
// actor, and GPU threads' accesses fault into its buffer (gpu.ts).

import { Kernel } from '../../mm/kernel.js';
import { doMadvise } from '../../mm/madvise.js';
import { cpuAccessPage } from '../../mm/cpuAccess.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import { doMmap } from '../../mm/mmap.js';
import type { Mm } from '../../mm/mm.js';
import { doMprotect } from '../../mm/mprotect.js';
import { doMunmap } from '../../mm/munmap.js';
import type { Task } from '../../mm/task.js';
import { DmirrorDevice, DmirrorDriver } from '../../devices/dmirror/device.js';
import type { Dmirror } from '../../devices/dmirror/dmirror.js';
import { DmaAccelerator } from '../../devices/accel/accelerator.js';
import { AccelDriver } from '../../devices/accel/driver.js';
import { IommuCore } from '../../iommu/core.js';
import type { Iommu } from '../../iommu/iommu.js';
import type { DriverLock } from '../../sim/steps.js';
import { AccelPort } from './accelPort.js';
import { buildGpu, type GpuAccess, type GpuSpec, gpuThread, type WorldGpu } from './gpu.js';
import { accelUser } from './drivers.js';
import { MirrorDevice, standardInvalidate, type InvalidateCallback } from './mirrorDevice.js';
import { type Program, step } from './program.js';

/** A CPU thread's operation on the region (pages are indices into it). */
export type CpuOp =
  | { readonly op: 'munmap'; readonly first: number; readonly pages: number }
  | {
      readonly op: 'mprotect';
      readonly first: number;
      readonly pages: number;
      readonly prot: 'r' | 'rw' | 'none';
    }
  | { readonly op: 'dontneed'; readonly first: number; readonly pages: number }
  | { readonly op: 'touch'; readonly page: number; readonly write: boolean };

/** Everything a driver program may use. */
export interface DriverEnv {
  readonly dev: MirrorDevice;
  readonly mm: Mm;
  /** The region's first vpn and its size in pages. */
  readonly startVpn: number;
  readonly pages: number;
}

/** A driver program: a generator function over the driver's environment. */
export type DriverProgram = (env: DriverEnv) => Program;

/** What an accelerator driver program may use: the port, and the process it works for. */
export interface AccelEnv {
  readonly port: AccelPort;
  readonly process: string;
  readonly task: Task;
  readonly mm: Mm;
  readonly startVpn: number;
  readonly pages: number;
}

/** An accelerator driver program. */
export type AccelProgram = (env: AccelEnv) => Program;

/** What a process does with a real accelerator, each through its driver's step programs. */
export type DmaAccelOp =
  /** open(): the bind (the process's PASID). dma and close use the latest open file. */
  | { readonly op: 'open' }
  /** Queues a DMA job on `pages` (default 1) of the process's region from `page`. */
  | { readonly op: 'dma'; readonly page: number; readonly pages?: number; readonly write?: boolean }
  /** Waits until every job the process queued has finished (done or failed). */
  | { readonly op: 'wait' }
  /** close() of the latest open file: its release (stop the PASID, drain errors, unbind). */
  | { readonly op: 'close' }
  /** exit(2): the address space goes, then the files (their releases run within the step). */
  | { readonly op: 'exit' };

/** A real accelerator (src/devices/accel) and its driver. */
export interface DmaAccel {
  readonly accel: DmaAccelerator;
  readonly driver: AccelDriver;
}

/** A process of the world and its written region. */
export interface WorldProcess {
  readonly name: string;
  readonly task: Task;
  readonly mm: Mm;
  readonly startVpn: number;
}

export interface ActorSpec {
  readonly name: string;
  /** A driver program on `device`, or a CPU thread's operations. */
  readonly driver?: DriverProgram;
  readonly device?: string;
  readonly cpu?: readonly CpuOp[];
  /** An accelerator driver program on accelerator `accel`, working for `process`. */
  readonly accelDriver?: AccelProgram;
  readonly accel?: string;
  readonly process?: string;
  /** The real dmirror device's fault path (test_hmm's twin) on mirror `dmirror`, over pages. */
  readonly dmirror?: string;
  readonly fault?: { readonly first: number; readonly pages: number; readonly write: boolean };
  /** A process (`process`, default the first) using the real accelerator `dmaAccel`. */
  readonly dmaAccel?: string;
  readonly dmaOps?: readonly DmaAccelOp[];
  /** A GPU thread's accesses through GPU `gpu` (its real driver serves the faults). */
  readonly gpu?: string;
  readonly accesses?: readonly GpuAccess[];
}

export interface DeviceSpec {
  readonly name: string;
  readonly invalidate?: InvalidateCallback;
}

export interface WorldSpec {
  readonly pages: number;
  readonly devices: readonly DeviceSpec[];
  readonly actors: readonly ActorSpec[];
  /** PASID accelerators behind one IOMMU (each device is an actor that runs queued work). */
  readonly accels?: readonly string[];
  /** More processes, each with its own written region of `pages` (the first is the mirrored one). */
  readonly processes?: readonly string[];
  /** Mirrors of the first process opened on the dmirror device (the model of test_hmm). */
  readonly dmirrors?: readonly string[];
  /** Real PASID accelerators with their drivers (src/devices/accel) behind the same IOMMU. */
  readonly dmaAccels?: readonly string[];
  /** GPUs mirroring the first process (each driver's service thread is an actor). */
  readonly gpus?: readonly GpuSpec[];
}

export interface Actor {
  readonly name: string;
  /** What the program returns (a driver's return code) is not looked at. */
  readonly program: Program<unknown>;
  /** The device whose `current` must name this actor while it runs (drivers), or null. */
  readonly device: MirrorDevice | null;
  /** A device's own engine: waiting with nothing to do at the end is no deadlock. */
  readonly daemon?: boolean;
}

export interface World {
  readonly kernel: Kernel;
  readonly task: Task;
  readonly mm: Mm;
  readonly startVpn: number;
  readonly pages: number;
  readonly devices: readonly MirrorDevice[];
  readonly ports: readonly AccelPort[];
  /** Real dmirror mirrors, by name. */
  readonly dmirrors: ReadonlyMap<string, Dmirror>;
  /** Real accelerators with their drivers, by name. */
  readonly dmaAccels: ReadonlyMap<string, DmaAccel>;
  /** GPUs with their real driver, by name. */
  readonly gpus: ReadonlyMap<string, WorldGpu>;
  /** Every process, by name (the first is `task`). */
  readonly processes: ReadonlyMap<string, WorldProcess>;
  /** Every driver lock of the world (invalidating steps wait until the others' are free). */
  readonly locks: readonly DriverLock[];
  /** The IOMMU subsystem when the world has accelerators (its [INV] rules are checked). */
  readonly core: IommuCore | null;
  readonly actors: readonly Actor[];
}

const PROTS = { r: PROT_READ, rw: PROT_READ | PROT_WRITE, none: 0 } as const;

export function buildWorld(spec: WorldSpec): World {
  const kernel = new Kernel({ ramBytes: 16 * 1024 * 1024, contentMode: 'tokens', faultAroundPages: 1 });
  const task = kernel.spawn();
  const mm = task.mm!;
  const startVpn = writtenRegion(mm, spec.pages);
  const devices = spec.devices.map(
    (d) => new MirrorDevice(d.name, mm, startVpn, startVpn + spec.pages, d.invalidate ?? standardInvalidate),
  );
  const firstProcess = spec.processes?.[0] ?? 'app';
  const processes = new Map<string, WorldProcess>();
  processes.set(firstProcess, { name: firstProcess, task, mm, startVpn });
  for (const name of (spec.processes ?? []).slice(1)) {
    const t = kernel.spawn();
    processes.set(name, { name, task: t, mm: t.mm!, startVpn: writtenRegion(t.mm!, spec.pages) });
  }
  const ports: AccelPort[] = [];
  const dmaAccels = new Map<string, DmaAccel>();
  let core: IommuCore | null = null;
  if ((spec.accels ?? []).length > 0 || (spec.dmaAccels ?? []).length > 0) {
    core = new IommuCore(kernel);
    const iommu = core.addIommu({ name: 'iommu0', flavour: 'vtd' });
    for (const name of spec.accels ?? []) ports.push(new AccelPort(name, iommu.addDevice({ name })));
    for (const name of spec.dmaAccels ?? []) dmaAccels.set(name, realAccel(iommu, name));
  }
  const dmirrors = new Map<string, Dmirror>();
  if ((spec.dmirrors ?? []).length > 0) {
    const driver = new DmirrorDriver(kernel);
    for (const name of spec.dmirrors!) {
      const fd = driver.open(task, 0);
      if (fd < 0) throw new Error(`open of the dmirror device failed (${fd})`);
      dmirrors.set(name, DmirrorDevice.mirrorOf(task.fds.get(fd)!));
    }
  }
  const gpus = new Map<string, WorldGpu>();
  for (const g of spec.gpus ?? []) gpus.set(g.name, buildGpu(kernel, mm, g));
  const actors: Actor[] = spec.actors.map((a) => {
    if (a.gpu !== undefined) {
      const g = gpus.get(a.gpu);
      if (g === undefined) throw new Error(`actor ${a.name}: no GPU ${a.gpu}`);
      return { name: a.name, program: gpuThread(g, a.name, startVpn, a.accesses ?? []), device: null };
    }
    if (a.dmirror !== undefined && a.fault !== undefined) {
      const mirror = dmirrors.get(a.dmirror);
      if (mirror === undefined) throw new Error(`actor ${a.name}: no dmirror ${a.dmirror}`);
      const first = startVpn + a.fault.first;
      return {
        name: a.name,
        program: mirror.faultSteps(first, first + a.fault.pages, a.fault.write),
        device: null,
      };
    }
    if (a.cpu !== undefined)
      return { name: a.name, program: cpuThread(kernel, mm, startVpn, a.name, a.cpu), device: null };
    if (a.dmaAccel !== undefined) {
      const accel = dmaAccels.get(a.dmaAccel);
      const proc = processes.get(a.process ?? firstProcess);
      if (accel === undefined || proc === undefined)
        throw new Error(`actor ${a.name}: no accelerator ${a.dmaAccel} or process ${a.process}`);
      return { name: a.name, program: accelUser(a.name, accel.driver, proc, a.dmaOps ?? []), device: null };
    }
    if (a.accelDriver !== undefined) {
      const port = ports.find((p) => p.name === a.accel);
      const proc = processes.get(a.process ?? '');
      if (port === undefined || proc === undefined)
        throw new Error(`actor ${a.name}: no accelerator ${a.accel} or process ${a.process}`);
      const env = {
        port,
        process: a.process!,
        task: proc.task,
        mm: proc.mm,
        startVpn: proc.startVpn,
        pages: spec.pages,
      };
      return { name: a.name, program: a.accelDriver(env), device: null };
    }
    const dev = devices.find((d) => d.name === a.device);
    if (dev === undefined || a.driver === undefined)
      throw new Error(`actor ${a.name}: no driver or no device ${a.device}`);
    return { name: a.name, program: a.driver({ dev, mm, startVpn, pages: spec.pages }), device: dev };
  });
  for (const port of ports)
    actors.push({ name: `${port.name}/engine`, program: port.device(), device: null, daemon: true });
  for (const { gpu } of gpus.values())
    actors.push({ name: `${gpu.name}/driver`, program: gpu.serviceThread(), device: null, daemon: true });
  const locks = [
    ...devices.map((d) => d.lock),
    ...[...dmirrors.values()].map((m) => m.mutex),
    ...[...gpus.values()].map((g) => g.space.lock),
  ];
  return {
    kernel,
    task,
    mm,
    startVpn,
    pages: spec.pages,
    devices,
    ports,
    dmirrors,
    dmaAccels,
    gpus,
    processes,
    locks,
    core,
    actors,
  };
}

/** A real accelerator on `iommu` with its driver: PCIe with ATS and PRI, as the IOMMU defaults. */
function realAccel(iommu: Iommu, name: string): DmaAccel {
  const accel = new DmaAccelerator(iommu.addDevice({ name }));
  return { accel, driver: new AccelDriver(accel) };
}

/** Maps `pages` of anonymous memory in `mm` and writes every page; returns the first vpn. */
function writtenRegion(mm: Mm, pages: number): number {
  const addr = doMmap(mm, 0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (addr < 0) throw new Error(`mmap of ${pages} pages failed (${addr})`);
  const startVpn = addr / PAGE_SIZE;
  for (let i = 0; i < pages; i++) cpuAccessPage(mm, startVpn + i, true);
  return startVpn;
}

/** A CPU thread: each operation is one step; invalidation ends stay open until the kernel runs them. */
function* cpuThread(kernel: Kernel, mm: Mm, startVpn: number, name: string, ops: readonly CpuOp[]): Program {
  for (const op of ops) {
    // Any of them may call the notifiers (a write fault breaking COW, say).
    yield step(`${name}: ${describeCpuOp(op)}`, { invalidates: true });
    kernel.withWindow(name, () => {
      switch (op.op) {
        case 'munmap':
          return doMunmap(mm, (startVpn + op.first) * PAGE_SIZE, op.pages * PAGE_SIZE);
        case 'mprotect':
          return doMprotect(mm, (startVpn + op.first) * PAGE_SIZE, op.pages * PAGE_SIZE, PROTS[op.prot]);
        case 'dontneed':
          return doMadvise(mm, (startVpn + op.first) * PAGE_SIZE, op.pages * PAGE_SIZE, MADV_DONTNEED);
        case 'touch':
          return cpuAccessPage(mm, startVpn + op.page, op.write);
      }
    });
  }
}

export function describeCpuOp(op: CpuOp): string {
  switch (op.op) {
    case 'touch':
      return `${op.write ? 'write' : 'read'} page ${op.page}`;
    case 'mprotect':
      return `mprotect(${op.prot}) pages ${op.first}..${op.first + op.pages - 1}`;
    default:
      return `${op.op} pages ${op.first}..${op.first + op.pages - 1}`;
  }
}
