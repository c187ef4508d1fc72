// Checks the SVA invariants of sva.md from outside the model (R-SVA-19, R-SVA-24, R-SVA-44,
// R-SVA-93, R-SVA-106): no device can reach a frame through a stale PASID or a stale cached
// translation, a free PASID leaves nothing behind, no frame is freed while a cache still
// translates to it, and at shutdown nothing (mm, bond, PASID, fault group) is left over or held in
// a reference cycle. It reads the model's structures and trusts none of its counters.

import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from '../mm/pte.js';
import type { IommuCore } from '../iommu/core.js';
import type { Device } from '../iommu/device.js';
import { SvaDomain } from '../iommu/domain.js';
import { TC_HUGE, TC_WRITE } from '../iommu/translationCache.js';
import { buildRefGraph, refReport } from './refGraph.js';

/** What the page table of `mm` maps at `vpn` right now: pfn * 2 + writable, or -1. */
function currentMapping(mm: Mm, vpn: number): number {
  if (mm.torndown) return -1;
  const pt = mm.pt;
  const table = pt.pteTable(vpn);
  let f: number;
  let pfn: number;
  if (table !== null) {
    f = table.e[(vpn & 511) * 2];
    pfn = table.e[(vpn & 511) * 2 + 1];
  } else {
    f = pt.hugeFlags(vpn);
    pfn = pt.hugePfn(vpn) + (vpn & 511);
  }
  if ((f & PTE_KIND_MASK) !== PTE_PRESENT || f & PTE_PROTNONE) return -1;
  return pfn * 2 + (f & PTE_WRITE ? 1 : 0);
}

/** The mm an ATC entry of `dev` tagged `pasid` may translate for, or null (no live SVA entry). */
function mmBehind(dev: Device, pasid: number): Mm | null {
  const entry = dev.pasidTable?.peek(pasid) ?? null;
  if (entry === null || entry.state !== 'ACTIVE' || !(entry.domain instanceof SvaDomain)) return null;
  return entry.domain.mm;
}

/** Checks every cached translation against the page table it came from (call between operations). */
function auditCaches(core: IommuCore, problems: string[]): void {
  for (const dev of core.devices) {
    dev.atc?.forEach((pasid, baseVpn, value) => {
      const pages = value & TC_HUGE ? 512 : 1;
      const mm = mmBehind(dev, pasid);
      for (let i = 0; i < pages; i++) {
        const vpn = baseVpn + i;
        const pfn = Math.floor(value / 16) + i;
        const where = `${dev.name} ATC (PASID ${pasid}, page ${vpn})`;
        if (mm === null) {
          problems.push(`${where}: cached although the PASID has no active SVA entry`);
          return;
        }
        const now = currentMapping(mm, vpn);
        if (now < 0 || Math.floor(now / 2) !== pfn) {
          problems.push(
            `${where}: caches frame ${pfn}, the page table maps ${now < 0 ? 'nothing' : Math.floor(now / 2)}`,
          );
          return;
        }
        if (value & TC_WRITE && !(now & 1)) {
          problems.push(`${where}: caches write permission the page table no longer gives`);
          return;
        }
      }
    });
  }
  for (const iommu of core.iommus) {
    if (iommu.flavour === 'smmu') continue; // tags are ASIDs: checked through the ATCs and at frees
    iommu.iotlb.forEach((pasid, baseVpn, value) => {
      const dev = iommu.devices.find((d) => mmBehind(d, pasid) !== null);
      const mm = dev === undefined ? null : mmBehind(dev, pasid);
      const where = `${iommu.name} IOTLB (PASID ${pasid}, page ${baseVpn})`;
      if (mm === null) {
        problems.push(`${where}: cached although no device has an active SVA entry for the PASID`);
        return;
      }
      const now = currentMapping(mm, baseVpn);
      if (now < 0 || Math.floor(now / 2) !== Math.floor(value / 16)) problems.push(`${where}: stale frame`);
      else if (value & TC_WRITE && !(now & 1)) problems.push(`${where}: stale write permission`);
    });
  }
}

/** R-SVA-19, R-SVA-24: PASID ownership agrees everywhere; a free PASID left nothing behind. */
function auditPasids(core: IommuCore, problems: string[]): void {
  for (const iommu of core.iommus) {
    for (const dev of iommu.devices) {
      for (const entry of dev.pasidTable!.live()) {
        const owner = core.pasids.owner(entry.pasid);
        if (owner === undefined)
          problems.push(
            `${dev.name}: PASID table entry ${entry.pasid} is ${entry.state} but the PASID is free`,
          );
        else if (
          entry.mm !== null &&
          (owner.kind === 'mm' || owner.kind === 'extra') &&
          owner.mm !== entry.mm
        ) {
          problems.push(
            `${dev.name}: PASID ${entry.pasid} points at mm ${entry.mm.id} but mm ${owner.mm.id} owns it`,
          );
        }
      }
      for (const group of dev.iopf?.faults ?? []) {
        const pasid = group.lastFault.pasid;
        if (core.pasids.owner(pasid) === undefined)
          problems.push(`${dev.name}: fault group pending for free PASID ${pasid}`);
      }
      dev.atc?.forEach((pasid) => {
        if (core.pasids.owner(pasid) === undefined)
          problems.push(`${dev.name}: ATC holds an entry for free PASID ${pasid}`);
      });
    }
    if (iommu.flavour !== 'smmu') {
      iommu.iotlb.forEach((pasid) => {
        if (core.pasids.owner(pasid) === undefined)
          problems.push(`${iommu.name}: IOTLB holds an entry for free PASID ${pasid}`);
      });
    }
  }
  for (const [pasid, owner] of core.pasids.ownedValues()) {
    if (owner.kind !== 'mm') continue;
    if (core.mmData.get(owner.mm)?.pasid !== pasid)
      problems.push(`PASID ${pasid} is owned by mm ${owner.mm.id}, whose SVA data says otherwise`);
  }
}

/** The invariants that must hold between any two operations. Returns the problems found. */
export function auditSva(core: IommuCore): string[] {
  const problems: string[] = [];
  auditCaches(core, problems);
  auditPasids(core, problems);
  return problems;
}

/**
 * R-SVA-93 at the moment it matters: from now on, every folio freed is checked against every IOTLB
 * and ATC; a cache that still translates to it is recorded in the returned list.
 */
export function watchFrameFrees(core: IommuCore): string[] {
  const problems: string[] = [];
  core.kernel.mem.freeWatcher = (head, nr) => {
    const hit = (where: string) => (_tag: number, baseVpn: number, value: number) => {
      const pfn = Math.floor(value / 16);
      const span = value & TC_HUGE ? 512 : 1;
      if (pfn < head + nr && pfn + span > head)
        problems.push(`frame ${head} freed while ${where} still translates page ${baseVpn} to it`);
    };
    for (const dev of core.devices) dev.atc?.forEach(hit(`${dev.name}'s ATC`));
    for (const iommu of core.iommus) iommu.iotlb.forEach(hit(`${iommu.name}'s IOTLB`));
  };
  return problems;
}

/**
 * At shutdown (every process exited, the simulator idle): every object no live thread reaches (mm,
 * address space, VMA, file, driver context, bond, domain, notifier, PASID) with one path of
 * references that keeps it, every reference cycle among them as a cycle (R-SVA-106: the 2016
 * file -> bond -> mm -> VMA -> file cycle when bonds hold mm_users), and fault groups never
 * answered. See refGraph.ts.
 */
export function auditShutdown(kernel: Kernel, core: IommuCore): string[] {
  const problems = [...refReport(buildRefGraph(kernel, core)).lines];
  for (const dev of core.devices) {
    const n = dev.iopf?.faults.size ?? 0;
    if (n > 0) problems.push(`${dev.name}: ${n} fault group(s) never answered`);
  }
  return problems;
}
