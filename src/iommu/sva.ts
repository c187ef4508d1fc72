// Models drivers/iommu/iommu-sva.c: binding a process address space to a device through a PASID
// (iommu_sva_bind_device / iommu_sva_unbind_device / iommu_sva_get_pasid), the per-mm data and its
// single PASID, SVA domains built by the IOMMU drivers (each with an mmu notifier for release and
// secondary-TLB invalidation, holding mm_count but never mm_users, R-SVA-33, R-SVA-34), the
// global (non-mm) PASIDs, the kernel-range invalidation over every SVA mm, and the seed
// discussions' options (sva.md section 13), among them `bondHoldsMm: mm_users`, the pre-2016 bond
// that kept its mm's users.

import type { Mm } from '../mm/mm.js';
import {
  MmuNotifier,
  mmuNotifierPut,
  mmuNotifierRegister,
  mmuNotifierUnregister,
} from '../notifier/classic.js';
import { EBUSY, EINVAL, ENODEV, ENOSPC, EOPNOTSUPP, EOVERFLOW } from '../sim/errno.js';
import { InvariantError } from '../sim/errors.js';
import { iommuAttachDevicePasid, iommuDetachDevicePasid, svaDomainRelease } from './attach.js';
import { PASID_INVALID } from './constants.js';
import type { IommuCore } from './core.js';
import type { Device } from './device.js';
import { AttachHandle, type IommuSva, SvaDomain } from './domain.js';
import { domainInvalidateSecondaryTlbs, flushIotlb } from './flush.js';
import { svaIopfHandler } from './svaFault.js';
import { IommuMmData } from './mmData.js';

/** The mmu notifier an SVA domain registers on its mm. */
class SvaNotifier extends MmuNotifier {
  domain: SvaDomain | null = null;
}

const SVA_NOTIFIER_OPS = {
  release(sub: MmuNotifier): void {
    const domain = (sub as SvaNotifier).domain;
    if (domain !== null && !domain.freed) svaDomainRelease(domain);
  },
  archInvalidateSecondaryTlbs(sub: MmuNotifier, _mm: Mm, startVpn: number, endVpn: number): void {
    const domain = (sub as SvaNotifier).domain;
    if (domain !== null && !domain.freed) domainInvalidateSecondaryTlbs(domain, startVpn, endVpn);
  },
};

/** The per-mm SVA data, or null before the mm's first bind reached the allocation step. */
export function iommuMmData(core: IommuCore, mm: Mm): IommuMmData | null {
  return core.mmData.get(mm) ?? null;
}

/** The mm's PASID, or PASID_INVALID (mm_get_enqcmd_pasid / mm->iommu_mm->pasid). */
export function mmGetPasid(core: IommuCore, mm: Mm): number {
  return core.mmData.get(mm)?.pasid ?? PASID_INVALID;
}

/** mm_pasid_drop, run when the mm object is destroyed: the PASID goes back (R-SVA-13, R-SVA-23). */
function mmPasidDrop(core: IommuCore, mm: Mm): void {
  const data = core.mmData.get(mm);
  if (data === undefined) return;
  if (data.domains.length > 0) {
    throw new InvariantError('mm destroyed while SVA domains still use it', {
      mm: mm.id,
      domains: data.domains.length,
    });
  }
  core.mmData.delete(mm);
  core.svaMms.delete(data);
  core.pasids.free(data.pasid);
  core.stats.add(core.ctr.pasidFrees);
}

/** The iommu mm data for `mm`, allocating the PASID on first use; -ENOSPC when none is free. */
function mmDataFor(core: IommuCore, dev: Device, mm: Mm): IommuMmData | number {
  const existing = core.mmData.get(mm);
  if (existing !== undefined) return existing.pasid < dev.maxPasids ? existing : -EOVERFLOW;
  const pasid = core.pasids.alloc(1, dev.maxPasids - 1, { kind: 'mm', mm });
  if (pasid === PASID_INVALID) return -ENOSPC;
  core.stats.add(core.ctr.pasidAllocs);
  const data = new IommuMmData(mm, pasid);
  core.mmData.set(mm, data);
  mm.onFree.push((m) => mmPasidDrop(core, m));
  return data;
}

/** The driver's domain_alloc_sva: a new SVA domain for `mm` on `dev`'s IOMMU, or -errno. */
function domainAllocSva(dev: Device, data: IommuMmData): SvaDomain | number {
  const iommu = dev.iommu!;
  const core = iommu.core;
  if (!iommu.svaCapable) return iommu.flavour === 'vtd' ? -ENODEV : -EOPNOTSUPP;
  const injected = core.inject.takeDomainAllocFailure();
  if (injected !== 0) return -injected;
  let asid = 0;
  if (iommu.flavour === 'smmu') {
    asid = iommu.allocAsid();
    if (asid === 0) return -EBUSY;
  }
  const notifier = new SvaNotifier(SVA_NOTIFIER_OPS);
  const domain = new SvaDomain(iommu, data.mm, data, notifier);
  notifier.domain = domain;
  domain.asid = asid;
  domain.iopfHandler = svaIopfHandler;
  const rc = mmuNotifierRegister(notifier, data.mm);
  if (rc < 0) {
    iommu.freeAsid(asid);
    return rc;
  }
  // The domain keeps the mm object (never its contents) on top of its notifier's count.
  data.mm.mmgrab();
  return domain;
}

/**
 * iommu_domain_free for an SVA domain: its direct mm_count goes now, its notifier after a grace
 * period (AMD unregisters synchronously instead); SMMU flushes and returns the ASID (R-SVA-42).
 */
function svaDomainFree(domain: SvaDomain): void {
  const iommu = domain.iommu;
  const mm = domain.mm;
  domain.freed = true;
  mm.mmdrop();
  if (iommu.flavour === 'smmu') {
    if (!iommu.smmuSharedCpuAsid) flushIotlb(iommu, domain.asid, 0, Number.MAX_SAFE_INTEGER);
    iommu.freeAsid(domain.asid);
  }
  if (iommu.flavour === 'amd') mmuNotifierUnregister(domain.notifier, mm);
  else mmuNotifierPut(domain.notifier);
}

/** Attaches an existing SVA domain of the mm that the device's driver accepts, else a new one. */
function attachSomeDomain(dev: Device, data: IommuMmData, handle: AttachHandle): number {
  for (const domain of data.domains) {
    if (iommuAttachDevicePasid(domain, dev, handle.pasid, handle) === 0) {
      domain.users++;
      return 0;
    }
  }
  const domain = domainAllocSva(dev, data);
  if (typeof domain === 'number') return domain;
  const rc = iommuAttachDevicePasid(domain, dev, handle.pasid, handle);
  if (rc < 0) {
    svaDomainFree(domain);
    return rc;
  }
  domain.users = 1;
  data.domains.unshift(domain);
  dev.core.svaMms.add(data);
  return 0;
}

/**
 * iommu_sva_bind_device: binds `mm` to `dev` and returns the bond, or -errno (R-SVA-30): -ENODEV
 * (no IOMMU group, or an incapable VT-d unit), -EINVAL (mm already torn down, device preconditions),
 * -EBUSY (page tables not DMA-compatible, PASID slot taken, SMMU ASIDs exhausted), -EOVERFLOW (the
 * mm's PASID is beyond the device's width), -ENOSPC (no PASID free), -EOPNOTSUPP, -ENOMEM.
 * Binding the same (device, mm) again returns the same bond with one more user.
 *
 * @example
 *   const bond = iommuSvaBindDevice(dev, task.mm!);
 *   if (typeof bond === 'number') throw new Error(errnoName(-bond));
 *   const pasid = iommuSvaGetPasid(bond); // 1 for the first process
 */
export function iommuSvaBindDevice(dev: Device, mm: Mm, drvdata: unknown = null): IommuSva | number {
  const core = dev.core;
  const group = dev.group;
  if (group === null || dev.iommu === null) return -ENODEV;
  if (mm.users <= 0 || mm.torndown) return -EINVAL;
  if (mm.dmaIncompatible) return -EBUSY;
  const data = mmDataFor(core, dev, mm);
  if (typeof data === 'number') return data;
  const pasid = data.pasid;
  const existing = group.handle(pasid);
  if (existing !== null) {
    if (existing.domain.type === 'sva' && (existing.domain as SvaDomain).mm === mm && !existing.extra) {
      existing.users++;
      core.stats.add(core.ctr.binds);
      return existing;
    }
    return -EBUSY;
  }
  return newBond(dev, data, pasid, drvdata, false);
}

function newBond(
  dev: Device,
  data: IommuMmData,
  pasid: number,
  drvdata: unknown,
  extra: boolean,
): IommuSva | number {
  const core = dev.core;
  const handle = new AttachHandle(core.nextObjectId(), dev, pasid);
  handle.extra = extra;
  const rc = attachSomeDomain(dev, data, handle);
  if (rc < 0) return rc;
  handle.users = 1;
  // [OPT:bondHoldsMm] mm_users: the 2015 VT-d SVM bond kept the address space (get_task_mm).
  if (core.options.bondHoldsMm === 'mm_users') data.mm.mmget();
  if (core.options.drvdataLookup) handle.drvdata = drvdata;
  for (const d of dev.group!.devices) {
    core.noteBound(d, pasid);
    d.startPasid(pasid);
  }
  core.stats.add(core.ctr.binds);
  const trace = core.kernel.trace;
  if (trace.enabled)
    trace.asyncBegin(core.kernel.engine.nowNs, dev.name, 'sva', 'bond', handle.id, { pasid, mm: data.mm.id });
  return handle;
}

/**
 * iommu_sva_unbind_device: drops one reference; the last detaches the PASID from the device's
 * group (synchronously draining its page requests) and frees the domain when no attachment uses it
 * (R-SVA-41..R-SVA-44). The PASID stays with the mm. Unbinding more often than bound throws.
 */
export function iommuSvaUnbindDevice(bond: IommuSva): void {
  if (bond.detached || bond.users <= 0) {
    throw new InvariantError('unbinding an SVA bond more often than it was bound (R-SVA-45)', {
      dev: bond.dev.name,
      pasid: bond.pasid,
    });
  }
  const core = bond.dev.core;
  core.stats.add(core.ctr.unbinds);
  bond.users--;
  if (bond.users > 0) return;
  const domain = bond.domain as SvaDomain;
  iommuDetachDevicePasid(domain, bond.dev, bond.pasid);
  bond.detached = true;
  const trace = core.kernel.trace;
  if (trace.enabled)
    trace.asyncEnd(core.kernel.engine.nowNs, bond.dev.name, 'sva', 'bond', bond.id, { pasid: bond.pasid });
  for (const d of bond.dev.group!.devices) core.noteUnbound(d, bond.pasid, domain.mm);
  domain.users--;
  if (domain.users === 0) {
    const data = domain.mmData;
    data.domains.splice(data.domains.indexOf(domain), 1);
    if (data.domains.length === 0) core.svaMms.delete(data);
    svaDomainFree(domain);
  }
  if (bond.extra) {
    domain.mmData.extraPasids.delete(bond.pasid);
    core.pasids.free(bond.pasid);
    core.stats.add(core.ctr.pasidFrees);
  }
  // [OPT:bondHoldsMm] mm_users: the last one may run the exit teardown only now (R-SVA-106).
  if (core.options.bondHoldsMm === 'mm_users') domain.mm.mmput();
}

/** iommu_sva_get_pasid: the PASID the driver programs into the device (R-SVA-36). */
export function iommuSvaGetPasid(bond: IommuSva): number {
  return bond.detached ? PASID_INVALID : bond.pasid;
}

// ---- global (non-mm) PASIDs, R-SVA-17 and R-SVA-49 ---------------------------------------------

/** iommu_alloc_global_pasid: the smallest free value in [1, maxPasids - 1], tied to no mm. */
export function iommuAllocGlobalPasid(dev: Device): number {
  if (dev.maxPasids === 0) return PASID_INVALID;
  const pasid = dev.core.pasids.alloc(1, dev.maxPasids - 1, { kind: 'global', deviceName: dev.name });
  if (pasid !== PASID_INVALID) dev.core.stats.add(dev.core.ctr.pasidAllocs);
  return pasid;
}

/** iommu_free_global_pasid: back at once; PASID_INVALID (or a PASID it did not hand out) warns. */
export function iommuFreeGlobalPasid(core: IommuCore, pasid: number): void {
  if (pasid === PASID_INVALID || core.pasids.owner(pasid)?.kind !== 'global') {
    core.kernel.warn(`iommu_free_global_pasid(${pasid}): not a global PASID`);
    return;
  }
  core.pasids.free(pasid);
  core.stats.add(core.ctr.pasidFrees);
}

/** iommu_sva_invalidate_kva_range: kernel page tables changed; every SVA mm's caches go (R-SVA-99). */
export function iommuSvaInvalidateKvaRange(core: IommuCore, startVpn: number, endVpn: number): void {
  if (!core.options.kvaInvalidation) return;
  for (const data of core.svaMms) {
    for (const domain of data.domains) domainInvalidateSecondaryTlbs(domain, startVpn, endVpn);
  }
}

// ---- seed-discussion options (R-SVA-130..R-SVA-135) --------------------------------------------

function requireOption(core: IommuCore, name: keyof IommuCore['options'], call: string): void {
  if (!core.options[name]) throw new RangeError(`${call} needs the ${name} option`);
}

/** [OPT:pasidReuse]=quarantine with acknowledgement: the driver is done with a freed PASID. */
export function iommuPasidReleaseDone(core: IommuCore, pasid: number): boolean {
  return core.pasids.releaseDone(pasid);
}

/** [OPT:drvdataLookup]: the driver data of the bond on (dev, pasid), or null. */
export function iommuSvaFindDrvdata(dev: Device, pasid: number): unknown {
  requireOption(dev.core, 'drvdataLookup', 'iommuSvaFindDrvdata');
  const handle = dev.group?.handle(pasid) ?? null;
  return handle === null || handle.domain.type !== 'sva' ? null : handle.drvdata;
}

/**
 * [OPT:drvdataLookup]: the mm owning `pasid` with a temporary user reference (the caller mmputs
 * it), or null when no live address space owns it.
 */
export function iommuSvaFindMm(core: IommuCore, pasid: number): Mm | null {
  requireOption(core, 'drvdataLookup', 'iommuSvaFindMm');
  const owner = core.pasids.owner(pasid);
  if (owner === undefined || (owner.kind !== 'mm' && owner.kind !== 'extra')) return null;
  return owner.mm.mmgetNotZero() ? owner.mm : null;
}

/**
 * [OPT:multiPasidPerMm]: one more PASID for `mm` on `dev`, with its own bond (same page tables,
 * same notifier). The extra PASID is freed when that bond is unbound.
 */
export function iommuSvaBindDeviceExtra(dev: Device, mm: Mm): IommuSva | number {
  const core = dev.core;
  requireOption(core, 'multiPasidPerMm', 'iommuSvaBindDeviceExtra');
  if (dev.group === null || dev.iommu === null) return -ENODEV;
  if (mm.users <= 0 || mm.torndown) return -EINVAL;
  const data = core.mmData.get(mm);
  if (data === undefined) return iommuSvaBindDevice(dev, mm);
  const pasid = core.pasids.alloc(1, dev.maxPasids - 1, { kind: 'extra', mm });
  if (pasid === PASID_INVALID) return -ENOSPC;
  core.stats.add(core.ctr.pasidAllocs);
  data.extraPasids.add(pasid);
  const bond = newBond(dev, data, pasid, null, true);
  if (typeof bond === 'number') {
    data.extraPasids.delete(pasid);
    core.pasids.free(pasid);
  }
  return bond;
}

/** [OPT:pasidWithoutIommu]: a PASID from the shared space for a device without an IOMMU. */
export function pasidAllocPlain(core: IommuCore, min: number, max: number): number {
  requireOption(core, 'pasidWithoutIommu', 'pasidAllocPlain');
  return core.pasids.alloc(min, max, { kind: 'plain' });
}

export function pasidFreePlain(core: IommuCore, pasid: number): void {
  requireOption(core, 'pasidWithoutIommu', 'pasidFreePlain');
  if (core.pasids.owner(pasid)?.kind !== 'plain') {
    core.kernel.warn(`pasid_free_plain(${pasid}): not a plain PASID`);
    return;
  }
  core.pasids.free(pasid);
}

/**
 * [OPT:legacyMmExit]: `cb(dev, pasid, drvdata)` runs as deferred work after the mm's exit release
 * (never from inside it); the PASID stays until the driver unbinds.
 */
export function iommuSvaSetMmExit(
  bond: IommuSva,
  cb: (dev: Device, pasid: number, drvdata: unknown) => void,
): void {
  requireOption(bond.dev.core, 'legacyMmExit', 'iommuSvaSetMmExit');
  bond.mmExit = cb;
}
