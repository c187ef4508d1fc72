// The checks run after every explored step, from outside the model: what a device can reach
// through its mirror must be what the CPU's page table maps, once no invalidation is in progress,
// and never a freed frame. (The protocol checks — lock held, read_retry under the lock — are made by
// the mirror device's primitives as they run; reference counts by auditMm at the end.) And, as a
// real accelerator translates, that its work reaches only the address space it was queued for.

import type { DmaAccelerator, DmaJob, DmaObserver } from '../../devices/accel/accelerator.js';
import type { Mm } from '../../mm/mm.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import { PG_ALLOCATED, type PhysMem } from '../../mm/physmem.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_PRESENT, PTE_WRITE } from '../../mm/pte.js';
import { pteAt } from '../pteView.js';
import { MmuNotifierSubscriptions } from '../../notifier/subscriptions.js';
import { DPT_ATTR_WRITE } from '../../devices/dmirror/uapi.js';
import { MIRROR_WRITE } from './mirrorDevice.js';
import { Violation } from './violation.js';
import type { World } from './world.js';

/** No invalidation of `mm` is in progress: device tables must agree with its page table now. */
export function invalidationsSettled(mm: Mm): boolean {
  const subs = MmuNotifierSubscriptions.of(mm);
  return mm.invalidateDepth === 0 && (subs === null || subs.activeInvalidateRanges === 0);
}

/** A `freed-frame` violation when frame `pfn`, which `reaches` (at page `page`), was freed. */
export function checkNotFreed(mem: PhysMem, reaches: string, pfn: number, page: number): void {
  if ((mem.pageFlags(pfn) & PG_ALLOCATED) === 0)
    throw new Violation('freed-frame', `${reaches} at page ${page}, but the frame was freed`);
}

/** Throws a Violation when a device's mirror disagrees with memory. */
export function checkMirrors(world: World): void {
  const mem = world.kernel.mem;
  const mm = world.mm;
  const settled = invalidationsSettled(mm);
  const tables = [
    ...world.devices
      .filter((d) => !d.dead)
      .map((d) => ({ name: d.name, table: d.mirror, write: MIRROR_WRITE })),
    ...[...world.dmirrors].map(([name, m]) => ({ name, table: m.pt, write: DPT_ATTR_WRITE })),
  ];
  for (const { name, table: mirror, write } of tables) {
    for (const [vpn, pfn, attr] of mirror.entries()) {
      checkNotFreed(mem, `${name} can reach frame ${pfn} through its mirror`, pfn, vpn - world.startVpn);
      if (!settled) continue;
      const { flags, pfn: mapped, kind } = pteAt(mm, vpn);
      const reaches = (kind === PTE_PRESENT || kind === PTE_DEVICE_EXCLUSIVE) && mapped === pfn;
      if (!reaches) {
        throw new Violation(
          'stale-mirror',
          `${name}'s mirror maps page ${vpn - world.startVpn} to frame ${pfn} after the invalidation covering it completed; the CPU's page table ${kind === PTE_PRESENT ? `maps frame ${mapped}` : 'maps nothing there'}`,
        );
      }
      if ((attr & write) === write && kind === PTE_PRESENT && !(flags & PTE_WRITE)) {
        throw new Violation(
          'stale-permission',
          `${name}'s mirror lets the device write page ${vpn - world.startVpn}, which the CPU may no longer write`,
        );
      }
    }
  }
}

/**
 * pasid-reuse on a real accelerator: a job translates only in the address space its PASID named
 * when it was queued. Another address space behind the PASID means the PASID was freed and given
 * to another process while the job was still queued (a release that unbound without stopping the
 * PASID on the device). A PASID bound to nothing is harmless: the translation fails.
 */
export function watchPasidReuse(world: World, accel: DmaAccelerator): DmaObserver {
  const queuedFor = new Map<DmaJob, Mm>();
  const boundMm = (pasid: number | undefined): Mm | null => {
    const entry = pasid === undefined ? null : (accel.dev.pasidTable?.peek(pasid) ?? null);
    return entry === null || entry.state !== 'ACTIVE' ? null : entry.mm;
  };
  const processOf = (mm: Mm) => [...world.processes.values()].find((p) => p.mm === mm) ?? null;
  const who = (mm: Mm): string => `${processOf(mm)?.name ?? 'a process'} (mm ${mm.id})`;
  const where = (mm: Mm, vpn: number): string => {
    const p = processOf(mm);
    return p === null ? `address 0x${(vpn * PAGE_SIZE).toString(16)}` : `page ${vpn - p.startVpn}`;
  };
  return {
    submitted(job) {
      const mm = boundMm(job.desc.pasid);
      if (mm !== null) queuedFor.set(job, mm);
    },
    translating(job, vpn) {
      const then = queuedFor.get(job);
      const now = boundMm(job.desc.pasid);
      if (then === undefined || now === null || now === then) return;
      throw new Violation(
        'pasid-reuse',
        `${accel.name} translates ${where(then, vpn)} for job ${job.id}, queued for ${who(then)} with PASID ${job.desc.pasid}, but PASID ${job.desc.pasid} now stands for ${who(now)}: the DMA reaches the wrong process`,
      );
    },
  };
}
