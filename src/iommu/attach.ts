// Attaching a domain to a (device, PASID) and detaching it (drivers/iommu/iommu.c
// iommu_attach_device_pasid / iommu_detach_device_pasid, with each flavour's set_dev_pasid and
// remove_dev_pasid, sva.md R-SVA-31, R-SVA-43, R-SVA-120..122), and the SVA domain's release
// callback at mm exit, which quiesces the PASID entries without detaching anything (R-SVA-100).

import { EBUSY, EINVAL, ENODEV, EOPNOTSUPP } from '../sim/errno.js';
import { IOMMU_NO_PASID } from './constants.js';
import type { Device } from './device.js';
import type { AttachHandle, IommuDomain, SvaDomain } from './domain.js';
import { flushDevTlb, flushIotlb, flushPasidCache, flushPasidCaches, iotlbTag } from './flush.js';
import { iopfQueueAddDevice, iopfQueueFlushDev, iopfQueueRemoveDevice } from './iopf.js';

/** Whether `domain` (built by one IOMMU driver) can serve `dev` (R-SVA-32). */
export function domainServes(domain: IommuDomain, dev: Device): boolean {
  const iommu = dev.iommu;
  if (iommu === null || domain.iommu.flavour !== iommu.flavour) return false;
  // SMMU SVA domains carry an ASID of one SMMU; VT-d and AMD ones serve every unit of their kind.
  return iommu.flavour !== 'smmu' || domain.iommu === iommu;
}

function handlesFaults(domain: IommuDomain, dev: Device): boolean {
  return domain.iopfHandler !== null && dev.iommu!.usesCoreFaultPath(dev);
}

/** One device's part of an attach: preconditions, fault plumbing, the entry (set_dev_pasid). */
function setDevPasid(domain: IommuDomain, dev: Device, pasid: number): number {
  const iommu = dev.iommu!;
  if (domain.type === 'sva') {
    // VT-d needs PASID and ATS enabled for SVA; a device without PRI handles its own faults (R-SVA-5).
    if (iommu.flavour === 'vtd' && (!dev.ats || dev.maxPasids === 0)) return -EINVAL;
    // SMMUv3 cannot route stalls of a multi-stream device through one fault path (R-SVA-6).
    if (iommu.flavour === 'smmu' && dev.stall && dev.streamIds > 1 && domain.iopfHandler !== null)
      return -EOPNOTSUPP;
  }
  if (handlesFaults(domain, dev)) {
    if (dev.iopfRefcount === 0) {
      const rc = iopfQueueAddDevice(iommu.iopfQueue, dev);
      if (rc < 0) return rc;
      if (dev.pri) dev.priEnable();
    }
    dev.iopfRefcount++;
  }
  const entry = dev.pasidTable!.entry(pasid);
  entry.state = 'ACTIVE';
  entry.domain = domain;
  entry.mm = domain.type === 'sva' ? (domain as SvaDomain).mm : null;
  entry.reportsFaults = true;
  entry.stall = iommu.flavour === 'smmu' && dev.stall;
  iommu.command({ op: 'pasid-entry', dev: dev.name, pasid, detail: 'ACTIVE' });
  flushPasidCache(iommu, dev, pasid);
  domain.attachments.push({ dev, pasid });
  return 0;
}

/**
 * One device's part of a detach (remove_dev_pasid): the entry torn down with its caches in order,
 * pending page requests drained and answered, the fault plumbing dropped with the last
 * fault-handling attachment (R-SVA-43).
 */
function removeDevPasid(domain: IommuDomain, dev: Device, pasid: number): void {
  const iommu = dev.iommu!;
  const entry = dev.pasidTable!.entry(pasid);
  if (entry.state === 'ACTIVE') {
    // Translation stops first, then the PASID cache, the IOTLB and the device TLB (R-SVA-97).
    entry.state = 'ABSENT';
    flushPasidCaches(iommu, domain, dev, pasid);
  } else {
    // Already quiesced at exit (or cleared by AMD): only the remaining bits go.
    flushPasidCache(iommu, dev, pasid);
  }
  entry.clear();
  iommu.command({ op: 'pasid-entry', dev: dev.name, pasid, detail: 'ABSENT' });
  // Drain: everything the device already sent for the PASID is consumed and answered (R-SVA-77).
  iommu.drainPrq(dev, pasid);
  iopfQueueFlushDev(dev);
  if (iommu.flavour === 'vtd') {
    // The drain fence: invalidation wait with IOTLB and device-TLB invalidation for the PASID.
    flushIotlb(iommu, iotlbTag(domain, pasid), 0, Number.MAX_SAFE_INTEGER);
    flushDevTlb(iommu, dev, pasid, 0, Number.MAX_SAFE_INTEGER);
  }
  if (handlesFaults(domain, dev) && dev.iopfRefcount > 0) {
    dev.iopfRefcount--;
    if (dev.iopfRefcount === 0) {
      iopfQueueRemoveDevice(iommu.iopfQueue, dev);
      dev.priDisable();
    }
  }
  const i = domain.attachments.findIndex((a) => a.dev === dev && a.pasid === pasid);
  if (i >= 0) domain.attachments.splice(i, 1);
}

/**
 * iommu_attach_device_pasid: `domain` on `pasid` for every PASID-capable device of `dev`'s group,
 * `handle` in the group's slot. Returns 0, -EINVAL (PASID 0, beyond a device's width, a plain
 * PASID, a domain of another IOMMU), -EBUSY (slot taken, group resetting), -ENODEV (no group), or
 * a device's precondition error. On failure nothing is left behind.
 */
export function iommuAttachDevicePasid(
  domain: IommuDomain,
  dev: Device,
  pasid: number,
  handle: AttachHandle,
): number {
  const group = dev.group;
  if (group === null) return -ENODEV;
  if (pasid === IOMMU_NO_PASID || dev.maxPasids === 0 || pasid < 0) return -EINVAL;
  for (const d of group.devices) if (d.maxPasids > 0 && pasid >= d.maxPasids) return -EINVAL;
  if (dev.core.pasids.owner(pasid)?.kind === 'plain') return -EINVAL;
  if (group.resetting || group.pasidSlots.has(pasid)) return -EBUSY;
  if (!domainServes(domain, dev)) return -EINVAL;
  const done: Device[] = [];
  for (const d of group.devices) {
    if (d.maxPasids === 0) continue;
    const rc = setDevPasid(domain, d, pasid);
    if (rc < 0) {
      for (const x of done) removeDevPasid(domain, x, pasid);
      return rc;
    }
    done.push(d);
  }
  handle.domain = domain;
  group.pasidSlots.set(pasid, handle);
  return 0;
}

/** iommu_detach_device_pasid: the reverse of attach, for every device of the group. */
export function iommuDetachDevicePasid(domain: IommuDomain, dev: Device, pasid: number): void {
  const group = dev.group!;
  for (const d of group.devices) {
    if (d.maxPasids > 0 && domain.attachments.some((a) => a.dev === d && a.pasid === pasid))
      removeDevPasid(domain, d, pasid);
  }
  group.pasidSlots.delete(pasid);
}

/**
 * The SVA domain's mmu-notifier release callback (mm exit, before any page table is cleared): for
 * every attachment the entry is quiesced as the flavour (or exitQuiesceMode) says and the caches
 * for the PASID are emptied. No driver code runs, nothing is drained or detached (R-SVA-100).
 */
export function svaDomainRelease(domain: SvaDomain): void {
  const core = domain.iommu.core;
  const mode = core.options.exitQuiesceMode;
  for (const { dev, pasid } of domain.attachments) {
    const iommu = dev.iommu!;
    const entry = dev.pasidTable!.entry(pasid);
    if (entry.state === 'ABSENT') continue;
    const how =
      mode !== 'flavour' ? mode : iommu.flavour === 'amd' ? 'clearReporting' : 'notPresentSuppressed';
    if (how === 'clearReporting') {
      entry.clear();
    } else if (how === 'dummyRoot') {
      entry.state = 'DUMMY_ROOT';
      entry.reportsFaults = core.options.dummyRootReports;
    } else {
      entry.state = 'QUIESCED';
      entry.reportsFaults = false;
      // SMMU's quiet descriptor keeps stalling only when the SMMU forces it (R-SVA-89).
      entry.stall = iommu.flavour === 'smmu' && dev.stall && iommu.forceStall;
    }
    iommu.command({ op: 'pasid-entry', dev: dev.name, pasid, detail: entry.state });
    flushPasidCaches(iommu, domain, dev, pasid);
  }
  if (core.options.legacyMmExit) queueLegacyMmExit(domain);
}

/** [OPT:legacyMmExit]: the 2018 driver notification, deferred until after the release callback. */
function queueLegacyMmExit(domain: SvaDomain): void {
  const kernel = domain.iommu.core.kernel;
  for (const { dev, pasid } of domain.attachments) {
    const handle = dev.group?.handle(pasid) ?? null;
    const cb = handle?.mmExit ?? null;
    if (handle === null || cb === null || handle.dev !== dev) continue;
    kernel.events.schedule(0, `${dev.name}/mm-exit`, () => cb(dev, pasid, handle.drvdata));
  }
}
