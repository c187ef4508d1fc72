// Builds the machine a scenario describes: the kernel (RAM, content mode, THP, hugetlb, cost
// profile, engine limits, trace), the IOMMU subsystem and its instances, GPUs, and PASID
// accelerators with their drivers.

import { DmaAccelerator } from '../../devices/accel/accelerator.js';
import { AccelDriver } from '../../devices/accel/driver.js';
import { GpuDevice } from '../../devices/gpu/gpu.js';
import { IommuCore } from '../../iommu/core.js';
import type { Iommu } from '../../iommu/iommu.js';
import { Kernel } from '../../mm/kernel.js';
import { costModel } from '../../sim/costModel.js';
import { TraceRecorder } from '../../sim/trace.js';
import type { Scenario } from './model.js';

export interface Accel {
  readonly accel: DmaAccelerator;
  readonly driver: AccelDriver;
}

export interface Machine {
  readonly kernel: Kernel;
  readonly core: IommuCore | null;
  readonly iommus: ReadonlyMap<string, Iommu>;
  readonly gpus: ReadonlyMap<string, GpuDevice>;
  readonly accels: ReadonlyMap<string, Accel>;
}

export function buildMachine(s: Scenario, seed: number, trace: boolean): Machine {
  const m = s.machine;
  const kernel = new Kernel({
    ramBytes: m.ramBytes,
    contentMode: m.contentMode,
    thp: m.thp,
    hugetlbPages: m.hugetlbPages,
    p2p: m.p2p,
    seed,
    costs: costModel(m.costProfile, m.costOverrides),
    limits: m.limits,
    trace: new TraceRecorder({ enabled: trace }),
  });
  const needsIommu = m.iommus.length > 0;
  const core = needsIommu
    ? new IommuCore(kernel, {
        pasidReuse: m.sva.pasidReuse,
        pasidQuarantineNs: m.sva.pasidQuarantineNs,
        pasidQuarantineNeedsAck: m.sva.pasidQuarantineNeedsAck,
        exitQuiesceMode: m.sva.exitQuiesceMode,
        dummyRootReports: m.sva.dummyRootReports,
        strictUnbind: m.sva.strictUnbind,
        bondHoldsMm: m.sva.bondHoldsMm,
      })
    : null;
  const iommus = new Map<string, Iommu>();
  for (const spec of m.iommus) iommus.set(spec.name, core!.addIommu(spec));
  const gpus = new Map<string, GpuDevice>();
  const accels = new Map<string, Accel>();
  for (const d of m.devices) {
    if (d.kind === 'gpu') {
      gpus.set(d.name, new GpuDevice(kernel, { ...d, memoryBytes: d.memoryBytes, p2pCluster: d.cluster }));
    } else {
      const iommu = iommus.get(d.iommu)!;
      const dev = iommu.addDevice({
        name: d.name,
        bus: d.bus,
        maxPasids: d.maxPasids,
        ats: d.ats,
        pri: d.pri,
        prgRespPasidRequired: d.prgRespPasidRequired,
        priAllocation: d.priAllocation,
        stall: d.stall,
        atcEntries: d.atcEntries,
      });
      const accel = new DmaAccelerator(dev, { pagesPerGroup: d.pagesPerGroup });
      accels.set(d.name, { accel, driver: new AccelDriver(accel) });
    }
  }
  return { kernel, core, iommus, gpus, accels };
}
