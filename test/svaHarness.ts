// The common setup of sva.md section 15: one VT-d-flavour IOMMU, accelerators A and B (PCIe,
// 2^20 PASIDs, ATS + PRI, PRG-response-PASID-required), each in its own group, each with a driver
// that binds on open() and, on release, stops the PASID and unbinds. Processes start PASID-less.
// Every setup also watches frame frees (R-SVA-93) and offers the between-steps audit.

import { expect } from 'vitest';
import { auditShutdown, auditSva, watchFrameFrees } from '../src/check/svaAudit.js';
import { DmaAccelerator, type DmaDescriptor, DmaJob } from '../src/devices/accel/accelerator.js';
import { AccelDriver, type AccelDriverOptions } from '../src/devices/accel/driver.js';
import { IommuCore } from '../src/iommu/core.js';
import type { DeviceOptions } from '../src/iommu/device.js';
import type { Iommu, IommuOptions } from '../src/iommu/iommu.js';
import type { SvaOptions } from '../src/iommu/options.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel, type KernelOptions } from '../src/mm/kernel.js';
import type { Task } from '../src/mm/task.js';

export interface SvaWorld {
  readonly kernel: Kernel;
  readonly core: IommuCore;
  readonly iommu: Iommu;
  readonly A: DmaAccelerator;
  readonly B: DmaAccelerator;
  readonly drvA: AccelDriver;
  readonly drvB: AccelDriver;
  /** Frames freed while a cache still translated to them (must stay empty). */
  readonly staleFrees: string[];
}

export interface SvaWorldOptions {
  readonly kernel?: KernelOptions;
  readonly sva?: SvaOptions;
  readonly iommu?: IommuOptions;
  readonly deviceA?: Partial<DeviceOptions>;
  readonly deviceB?: Partial<DeviceOptions>;
  readonly driver?: AccelDriverOptions;
}

/** The common setup of section 15. */
export function svaWorld(options: SvaWorldOptions = {}): SvaWorld {
  const kernel = new Kernel({ ramBytes: 256 * 1024 * 1024, ...options.kernel });
  const core = new IommuCore(kernel, options.sva ?? {});
  const iommu = core.addIommu({ flavour: 'vtd', recordCommands: true, ...options.iommu });
  const A = new DmaAccelerator(iommu.addDevice({ name: 'A', ...options.deviceA }));
  const B = new DmaAccelerator(iommu.addDevice({ name: 'B', ...options.deviceB }));
  return {
    kernel,
    core,
    iommu,
    A,
    B,
    drvA: new AccelDriver(A, options.driver),
    drvB: new AccelDriver(B, options.driver),
    staleFrees: watchFrameFrees(core),
  };
}

/** An anonymous read-write mapping of `pages` pages; returns its address. */
export function mapAnon(task: Task, pages: number, prot = PROT_READ | PROT_WRITE): number {
  const addr = task.mmap(0, pages * PAGE_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS);
  expect(addr, 'mmap').toBeGreaterThan(0);
  return addr;
}

/** Runs a DMA job to completion (the simulator until idle) and returns it. */
export function dma(accel: DmaAccelerator, desc: DmaDescriptor): DmaJob {
  const job = accel.run(desc);
  if (!(job instanceof DmaJob)) throw new Error(`DMA submit failed: ${job}`);
  return job;
}

/** The between-steps invariants hold and no frame was freed under a cached translation. */
export function expectClean(w: SvaWorld): void {
  expect(auditSva(w.core), 'SVA audit').toEqual([]);
  expect(w.staleFrees, 'frames freed under a cached translation').toEqual([]);
}

/** Shutdown: nothing leaked. */
export function expectNoLeaks(w: SvaWorld): void {
  w.core.runUntilIdle();
  expect(auditShutdown(w.kernel, w.core), 'shutdown audit').toEqual([]);
}
