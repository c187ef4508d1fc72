// Models device-exclusive access as 6.12 has it (make_device_exclusive_range in mm/rmap.c): a device
// that wants to do atomics on anonymous pages faults them in for write (breaking COW, bringing
// device-private pages back), then every CPU mapping of each page becomes a device-exclusive entry,
// announced by an EXCLUSIVE invalidation carrying the caller's owner cookie. Any later CPU access
// revokes it (fault.ts, removeDeviceExclusiveEntry).

import { HPAGE_PMD_NR } from './constants.js';
import { FOLL_GET, FOLL_SPLIT_PMD, FOLL_WRITE, getUserPages } from './gup.js';
import type { Mm } from './mm.js';
import {
  flushTlbRange,
  invalidateRangeEnd,
  invalidateRangeStart,
  MMU_NOTIFY_EXCLUSIVE,
} from './mmuNotify.js';
import { PG_ANON, PG_DIRTY, PG_HUGETLB, PG_TAIL } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_WRITE,
} from './pte.js';
import { folioNotMapped, folioStartIn, rmapWalk } from './rmapWalk.js';
import type { Vma } from './vma.js';

/**
 * make_device_exclusive_range: makes [startVpn, endVpn) of `mm` exclusive to a device. Returns the
 * number of pages GUP obtained (or its -errno). `pages[i]` is the pfn of each page now exclusive,
 * locked and referenced for the caller (who must unlock and put it), or 0 where it failed.
 */
export function makeDeviceExclusiveRange(
  mm: Mm,
  startVpn: number,
  endVpn: number,
  pages: number[],
  owner: unknown,
): number {
  const mem = mm.kernel.mem;
  const n = getUserPages(mm, startVpn, endVpn - startVpn, FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD, pages);
  if (n < 0) return n;
  for (let i = 0; i < n; i++) {
    const pfn = pages[i];
    if (mem.testPageFlag(pfn, PG_TAIL) || !mem.trylock(pfn)) {
      mem.put(pfn);
      pages[i] = 0;
      continue;
    }
    if (!folioMakeDeviceExclusive(mm, pfn, startVpn + i, owner)) {
      mem.unlock(pfn);
      mem.put(pfn);
      pages[i] = 0;
    }
  }
  return n;
}

/** rmap_walk_control.arg of a folio_make_device_exclusive walk (make_exclusive_args). */
class ExclusiveArgs {
  mm: Mm | null = null;
  vpn = 0;
  owner: unknown = null;
  /** The requested address was found mapped writable by `mm`. */
  valid = false;
}

/** One ExclusiveArgs reused by every walk (a walk inside a walk gets a fresh one). */
let spareArgs: ExclusiveArgs | null = new ExclusiveArgs();

/**
 * folio_make_device_exclusive: every mapping of the folio becomes a device-exclusive entry.
 * Succeeds iff `mm` mapped it writable at `vpn` and no mapping remains.
 */
function folioMakeDeviceExclusive(mm: Mm, pfn: number, vpn: number, owner: unknown): boolean {
  const mem = mm.kernel.mem;
  const head = mem.folioHead(pfn);
  if (!mem.testPageFlag(head, PG_ANON) || mem.testPageFlag(head, PG_HUGETLB)) return false;
  const args = spareArgs ?? new ExclusiveArgs();
  spareArgs = null;
  args.mm = mm;
  args.vpn = vpn;
  args.owner = owner;
  args.valid = false;
  try {
    rmapWalk(mem, head, makeDeviceExclusiveOne, folioNotMapped, args);
    return args.valid && mem.folioMapcount(head) === 0;
  } finally {
    args.mm = null;
    args.owner = null;
    spareArgs = args;
  }
}

/**
 * page_make_device_exclusive_one: an EXCLUSIVE invalidation with the caller's owner over
 * [vpn, min(vma end, vpn + folio size)), then every present PTE of a page of the folio in the VMA
 * becomes a device-exclusive entry. A device-private or device-exclusive entry of the folio ends
 * the whole walk.
 */
function makeDeviceExclusiveOne(head: number, vma: Vma, vpn: number, args: ExclusiveArgs): boolean {
  const vmm = vma.mm;
  const mem = vmm.kernel.mem;
  const folioPages = mem.isLargeFolio(head) ? HPAGE_PMD_NR : 1;
  // The pages of the folio inside this VMA end at vma_address_end.
  const folioEnd = Math.min(vma.end, folioStartIn(vma, mem.indexOf(head), true) + folioPages);
  const range = invalidateRangeStart(
    vmm,
    MMU_NOTIFY_EXCLUSIVE,
    vpn,
    Math.min(vma.end, vpn + folioPages),
    args.owner,
  );
  let ret = true;
  for (let v = vpn; v < folioEnd; v++) {
    const table = vmm.pt.pteTable(v);
    if (table === null) continue;
    const i = (v & 511) * 2;
    const f = table.e[i];
    const p = table.e[i + 1];
    if (p < head || p >= head + folioPages) continue;
    const kind = f & PTE_KIND_MASK;
    if (kind !== PTE_PRESENT) {
      if (kind === PTE_DEVICE_PRIVATE || kind === PTE_DEVICE_EXCLUSIVE) {
        ret = false;
        break;
      }
      continue;
    }
    if (f & PTE_SPECIAL) continue;
    if (f & PTE_DIRTY) mem.setPageFlag(head, PG_DIRTY);
    if (vmm === args.mm && v === args.vpn && f & PTE_WRITE) args.valid = true;
    table.e[i] = PTE_DEVICE_EXCLUSIVE | (f & (PTE_WRITE | PTE_SOFT_DIRTY));
    flushTlbRange(vmm, v, v + 1);
    // The entry keeps the mapping's reference but not its mapcount (6.12).
    mem.addMapcount(p, -1);
  }
  invalidateRangeEnd(range);
  return ret;
}
