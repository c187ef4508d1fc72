// How the IOMMU answers a device's accesses (sva.md section 6, R-SVA-112): untranslated requests go
// through the IOTLB and, on a miss, a walk of the PASID's page table; ATS translation requests walk
// and return the permissions the entry allows. What a PASID entry's state does to a request
// (ABSENT: abort and report; QUIESCED: abort silently; a miss under ACTIVE: recoverable, by PRI or
// stall) is decided here. Results are plain numbers so the DMA path allocates nothing.

import { VM_EXEC } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { PTE_DIRTY, PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE, PTE_YOUNG } from '../mm/pte.js';
import { ACCESS_EXEC, ACCESS_PRIV, ACCESS_READ, ACCESS_WRITE, IOMMU_NO_PASID } from './constants.js';
import type { Device } from './device.js';
import type { PagingDomain, SvaDomain } from './domain.js';
import { iotlbTag } from './flush.js';
import type { Iommu } from './iommu.js';
import { TC_EXEC, TC_HUGE, TC_PERM_MASK, TC_READ, TC_WRITE } from './translationCache.js';

/** The request was aborted (reported or not, as the entry says). */
export const XLATE_ABORT = -1;
/** A recoverable miss on a device with neither PRI nor stall: its own driver deals with it. */
export const XLATE_DEVICE_FAULT = -2;
const XLATE_STALL_BASE = -16;
/** ATS completion "unsupported request": the IOMMU cannot translate for this PASID at all. */
export const ATS_UR = -1;

/** Whether a translation result is a stalled transaction, and its stall tag. */
export function isStalled(result: number): boolean {
  return result <= XLATE_STALL_BASE;
}
export function stallTagOf(result: number): number {
  return XLATE_STALL_BASE - result;
}

/** The frame of a granted translation result (pfn * 16 + TC bits): the page's own frame, also in a block. */
export function resultPfn(result: number): number {
  return Math.floor(result / 16);
}

/** TC permission bits a request for `access` needs. */
function neededPerms(access: number): number {
  return (access & ACCESS_WRITE ? TC_WRITE : 0) | (access & ACCESS_EXEC ? TC_EXEC : 0) | TC_READ;
}

/**
 * Walks `mm`'s page table for `vpn` the way the IOMMU's first stage does (R-SVA-50..R-SVA-52) and
 * returns pfn * 16 + the TC bits granted (0 bits: nothing granted); in a 2 MiB block the pfn is
 * the page's own frame and TC_HUGE is set. `grantWrite` asks for write
 * permission (a write access, or an ATS request without the no-write hint).
 */
function walkMm(iommu: Iommu, mm: Mm, vpn: number, grantWrite: boolean, wantExec: boolean): number {
  iommu.walks++;
  iommu.core.kernel.charge(iommu.core.costs.iommuWalkNs);
  const pt = mm.pt;
  const table = pt.pteTable(vpn);
  let f: number;
  let pfn: number;
  let huge = false;
  if (table !== null) {
    const i = (vpn & 511) * 2;
    f = table.e[i];
    pfn = table.e[i + 1];
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT || f & PTE_PROTNONE) return 0;
    if (!iommu.hwAccessDirty) {
      if (!(f & PTE_YOUNG)) return 0;
    } else {
      table.e[i] = f | PTE_YOUNG | (grantWrite && f & PTE_WRITE ? PTE_DIRTY : 0);
    }
  } else {
    f = pt.hugeFlags(vpn);
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT || f & PTE_PROTNONE) return 0;
    pfn = pt.hugePfn(vpn) + (vpn & 511);
    huge = true;
    if (!iommu.hwAccessDirty) {
      if (!(f & PTE_YOUNG)) return 0;
    } else {
      pt.setHuge(vpn, f | PTE_YOUNG | (grantWrite && f & PTE_WRITE ? PTE_DIRTY : 0), pt.hugePfn(vpn));
    }
  }
  let perms = TC_READ;
  // Write is granted only with the dirty bit set (by this walk, or already, R-SVA-52).
  const dirtyOk = iommu.hwAccessDirty ? grantWrite : (f & PTE_DIRTY) !== 0;
  if (f & PTE_WRITE && dirtyOk) perms |= TC_WRITE;
  if (wantExec) {
    // x86's NX bit mirrors the VMA's execute permission.
    const vma = mm.vmas.find(vpn);
    if (vma !== null && vma.flags & VM_EXEC) perms |= TC_EXEC;
  }
  return pfn * 16 + perms + (huge ? TC_HUGE : 0);
}

function pagingLookup(domain: PagingDomain, vpn: number): number {
  return domain.mappings.get(vpn) ?? 0;
}

/**
 * An untranslated DMA request from `dev` for page `vpn` with `pasid` (undefined: no PASID prefix)
 * and ACCESS_* bits. Returns pfn * 16 + granted TC bits, XLATE_ABORT, XLATE_DEVICE_FAULT, or a
 * stall (isStalled / stallTagOf): the transaction waits for a RESUME.
 */
export function iommuDmaTranslate(
  dev: Device,
  pasid: number | undefined,
  vpn: number,
  access: number,
): number {
  const iommu = dev.iommu;
  if (iommu === null || !dev.present) return XLATE_ABORT;
  const core = iommu.core;
  core.stats.add(core.ctr.translations);
  const p = pasid ?? IOMMU_NO_PASID;
  const entry = dev.pasidTable!.peek(p);
  if (entry === null || entry.state !== 'ACTIVE') {
    if (entry !== null && entry.stall && entry.state === 'QUIESCED')
      return stall(iommu, dev, pasid, vpn, access);
    if (entry === null || entry.state === 'ABSENT' || entry.reportsFaults) {
      iommu.recordFault(
        dev,
        p,
        vpn,
        access,
        entry?.state === 'DUMMY_ROOT' ? 'translation miss (dummy root)' : 'PASID entry not present',
      );
    }
    if (pasid !== undefined) core.noteDeviceUse(dev, pasid, 'DMA');
    return XLATE_ABORT;
  }
  const need = neededPerms(access);
  if (access & ACCESS_PRIV) {
    // Supervisor requests are not supported for SVA (R-SVA-51).
    iommu.recordFault(dev, p, vpn, access, 'privileged request');
    return XLATE_ABORT;
  }
  const domain = entry.domain!;
  if (domain.type !== 'sva') {
    // Kernel paging domains translate through their own mappings; user-owned tables are not modeled.
    const v = domain.type === 'paging' ? pagingLookup(domain as PagingDomain, vpn) : 0;
    if ((v & need) === need) return v;
    iommu.recordFault(dev, p, vpn, access, 'no IOVA mapping');
    return XLATE_ABORT;
  }
  const tag = iotlbTag(domain, p);
  const cached = iommu.iotlb.lookup(tag, vpn);
  if (cached >= 0 && (cached & need) === need) return cached;
  const w = walkMm(
    iommu,
    (domain as SvaDomain).mm,
    vpn,
    (access & ACCESS_WRITE) !== 0,
    (access & ACCESS_EXEC) !== 0,
  );
  if ((w & need) === need) {
    iommu.iotlb.insert(tag, vpn, w);
    return w;
  }
  // A recoverable miss (R-SVA-55).
  if (entry.stall) return stall(iommu, dev, pasid, vpn, access);
  if (dev.pri) {
    // A PRI device should have asked ATS first: its untranslated miss is not recoverable.
    iommu.recordFault(dev, p, vpn, access, 'untranslated request missed');
    return XLATE_ABORT;
  }
  return XLATE_DEVICE_FAULT;
}

function stall(iommu: Iommu, dev: Device, pasid: number | undefined, vpn: number, access: number): number {
  const tag = iommu.nextStallTag();
  iommu.reportStall(dev, pasid, vpn, accessToFaultPerm(access), tag);
  return XLATE_STALL_BASE - tag;
}

/** IOMMU_FAULT_PERM_* for ACCESS_* (the same bit layout). */
export function accessToFaultPerm(access: number): number {
  return access & (ACCESS_READ | ACCESS_WRITE | ACCESS_EXEC | ACCESS_PRIV);
}

/**
 * An ATS translation request (R-SVA-112): pfn * 16 + the TC bits granted (no permission bits: not
 * granted, the device may page-request), or ATS_UR when the PASID cannot be translated at all.
 * `noWrite` is the request's no-write hint.
 */
export function iommuAtsTranslate(
  dev: Device,
  pasid: number | undefined,
  vpn: number,
  access: number,
  noWrite: boolean,
): number {
  const iommu = dev.iommu;
  if (iommu === null || !dev.present || !dev.ats) return ATS_UR;
  const core = iommu.core;
  core.stats.add(core.ctr.atsTranslations);
  core.kernel.charge(core.costs.atsTranslationNs);
  dev.atsTranslationRequests++;
  const p = pasid ?? IOMMU_NO_PASID;
  const entry = dev.pasidTable!.peek(p);
  if (entry === null || entry.state === 'ABSENT' || entry.state === 'QUIESCED') {
    if (entry === null || entry.state === 'ABSENT')
      iommu.recordFault(dev, p, vpn, access, 'PASID entry not present');
    if (pasid !== undefined) core.noteDeviceUse(dev, pasid, 'ATS translation request');
    return ATS_UR;
  }
  if (entry.state === 'DUMMY_ROOT' || access & ACCESS_PRIV) return 0;
  const domain = entry.domain!;
  if (domain.type === 'paging') return pagingLookup(domain as PagingDomain, vpn);
  if (domain.type === 'user') return 0;
  return walkMm(iommu, (domain as SvaDomain).mm, vpn, !noWrite, (access & ACCESS_EXEC) !== 0);
}

/** Whether a translation result grants `access`. */
export function grants(result: number, access: number): boolean {
  const need = neededPerms(access);
  return result >= 0 && (result & TC_PERM_MASK & need) === need;
}
