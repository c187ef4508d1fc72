// make_device_exclusive_range (6.12) and the revocation of device-exclusive entries against
// ../shared/spec/migrate-device.md section 10 (R-DEVX-1..10) and mmu-notifiers.md section 7.

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import { pteAt, TestDevice } from '../../test/testDevice.js';
import { auditMm } from '../check/mmAudit.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_VALID, HMM_PFN_WRITE } from '../hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../hmm/hmmRangeFault.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../notifier/interval.js';
import { EBUSY, EFAULT, EOPNOTSUPP } from '../sim/errno.js';
import { LimitError } from '../sim/errors.js';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MMU_NOTIFY_EXCLUSIVE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VPN_END_MAX,
} from './index.js';
import { makeDeviceExclusiveRange } from './deviceExclusive.js';
import { FOLL_GET, getUserPages } from './gup.js';
import { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import { PG_ANON_EXCLUSIVE, PG_DIRTY } from './physmem.js';
import { PTE_DEVICE_EXCLUSIVE, PTE_DIRTY, PTE_KIND_MASK, PTE_PRESENT, PTE_WRITE, PTE_YOUNG } from './pte.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

let kernel: Kernel;
let task: Task;
let mm: Mm;
let dev: TestDevice;
let rec: NotifyRecorder;
const OWNER_A = { device: 'A' };
const OWNER_B = { device: 'B' };

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes' });
  task = kernel.spawn();
  mm = task.mm!;
  dev = new TestDevice(kernel, { name: 'devP' });
  rec = NotifyRecorder.attach(mm);
});

function ownerName(o: unknown): string {
  if (o == null) return '';
  if (o === OWNER_A) return ' A';
  if (o === OWNER_B) return ' B';
  if (o === dev.owner) return ' P';
  return ' other';
}

function events(r: NotifyRecorder = rec): string[] {
  return r.log
    .filter((e) => e.kind === 'start')
    .map((e) => `${e.event} ${e.start - V} ${e.end - V}${ownerName(e.owner)}`);
}

function map(npages: number, at = 0, prot = RW, flags = ANON, t: Task = task): void {
  const addr = BASE + at * PAGE_SIZE;
  expect(t.mmap(addr, npages * PAGE_SIZE, prot, flags | MAP_FIXED)).toBe(addr);
}

function page(byte: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE).fill(byte);
  b[7] = byte ^ 0xff;
  return b;
}

function fill(p: number, byte: number, t: Task = task): void {
  expect(t.write(BASE + p * PAGE_SIZE, page(byte)).signal).toBe(0);
}

function readPage(p: number, t: Task = task): Uint8Array {
  const r = t.read(BASE + p * PAGE_SIZE, PAGE_SIZE);
  expect(r.signal).toBe(0);
  return r.data;
}

function pte(p: number, m: Mm = mm) {
  return pteAt(m, V + p);
}

function audit(extra: number[] = []): void {
  const refs = new Map<number, number>();
  for (const pfn of extra) refs.set(pfn, (refs.get(pfn) ?? 0) + 1);
  expect(auditMm(kernel, { extraRefs: refs })).toEqual([]);
}

const mem = () => kernel.mem;

/** Grants [first, first + n) to `owner`; returns the pages array (pfn or 0 per page) and the rc. */
function grant(
  first: number,
  n: number,
  owner: unknown = OWNER_A,
  m: Mm = mm,
): { rc: number; pages: number[] } {
  const pages: number[] = [];
  const rc = makeDeviceExclusiveRange(m, V + first, V + first + n, pages, owner);
  return { rc, pages };
}

/** The driver is done programming its atomic mappings: unlock and put every granted page. */
function release(pages: number[]): void {
  for (const pfn of pages) {
    if (pfn === 0) continue;
    mem().unlock(pfn);
    mem().put(pfn);
  }
}

describe('R-DEVX-1/2/5: granting', () => {
  it('R-DEVX-1/2/5: write-faults the range, replaces each PTE by a writable device-exclusive entry under an EXCLUSIVE event with the caller owner, and returns the pages locked and referenced', () => {
    map(4);
    fill(0, 1);
    readPage(1); // zero page
    fill(3, 3);
    const rss = mm.rssAnon;
    rec.clear();
    const { rc, pages } = grant(0, 4);
    expect(rc).toBe(4);
    expect(events()).toEqual([
      'clear 1 2',
      'exclusive 0 1 A',
      'exclusive 1 2 A',
      'exclusive 2 3 A',
      'exclusive 3 4 A',
    ]);
    for (let i = 0; i < 4; i++) {
      const pfn = pages[i];
      expect(pfn).not.toBe(0);
      expect(pte(i).flags).toBe(PTE_DEVICE_EXCLUSIVE | PTE_WRITE);
      expect(pte(i).pfn).toBe(pfn);
      expect(mem().isLocked(pfn)).toBe(true);
      expect(mem().folioRefcount(pfn)).toBe(2); // the entry's and the caller's
      expect(mem().mapcountOf(pfn)).toBe(0); // 6.12: the entry is not counted as a mapping
      expect(mem().testPageFlag(pfn, PG_DIRTY)).toBe(true);
    }
    expect(mm.rssAnon).toBe(rss + 2);
    audit(pages);
    release(pages);
    for (const pfn of pages) expect(mem().folioRefcount(pfn)).toBe(1);
    audit();
  });

  it('R-DEVX-1: the GUP write faults break COW (the child keeps the old page) and bring device-private pages back first', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V + 1, V + 2);
    const child = task.fork();
    const old0 = pte(0).pfn;
    const { rc, pages } = grant(0, 2);
    expect(rc).toBe(2);
    expect(pages.every((p) => p !== 0)).toBe(true);
    expect(pages[0]).not.toBe(old0);
    expect(dev.faults.length).toBe(1);
    expect(pte(0).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(pte(1).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    // The child still maps the old page 0 and the system page that the device page became.
    const cm = child.mm!;
    expect(pte(0, cm).pfn).toBe(old0);
    expect(pte(0, cm).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(1, cm).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(1, cm).pfn).not.toBe(pages[1]);
    expect(dev.pgmap.allocated).toBe(0);
    audit(pages);
    release(pages);
    expect(readPage(0, child)).toEqual(page(1));
    expect(readPage(1, child)).toEqual(page(2));
    expect(readPage(0)).toEqual(page(1));
    expect(readPage(1)).toEqual(page(2));
    audit();
  });

  it('R-DEVX-1: no VMA and a read-only VMA are -EFAULT, a hugetlb VMA -EOPNOTSUPP; a range running past the VMA returns the pages obtained', () => {
    expect(grant(100, 1).rc).toBe(-EFAULT);
    map(1, 8, PROT_READ);
    expect(grant(8, 1).rc).toBe(-EFAULT);
    map(2, 16);
    const partial = grant(16, 4);
    expect(partial.rc).toBe(2);
    expect(partial.pages[0]).not.toBe(0);
    expect(partial.pages[1]).not.toBe(0);
    expect(pte(17).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    release(partial.pages);
    audit();
    const k = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes', hugetlbPages: 1 });
    const t = k.spawn();
    expect(t.mmap(BASE, 512 * PAGE_SIZE, RW, ANON | MAP_HUGETLB | MAP_FIXED)).toBe(BASE);
    expect(t.write(BASE, page(1)).signal).toBe(0);
    expect(grant(0, 1, OWNER_A, t.mm!).rc).toBe(-EOPNOTSUPP);
  });

  it('R-DEVX-1: a page whose lock is held elsewhere is put and reported NULL; its PTE stays present and no EXCLUSIVE event is sent for it', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const p0 = pte(0).pfn;
    const before = pte(0);
    expect(mem().trylock(p0)).toBe(true);
    rec.clear();
    const { rc, pages } = grant(0, 2);
    expect(rc).toBe(2);
    expect(pages[0]).toBe(0);
    expect(pages[1]).toBe(pte(1).pfn);
    expect(pte(0)).toEqual(before);
    expect(mem().folioRefcount(p0)).toBe(1);
    expect(events()).toEqual(['exclusive 1 2 A']);
    mem().unlock(p0);
    release(pages);
    audit();
  });

  it('R-DEVX-1/2: on a THP (PMD split by GUP) tail pages are put and NULL; the head grant converts every PTE of the folio under one EXCLUSIVE event for the folio range', () => {
    map(512);
    expect(task.madvise(BASE, 512 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    fill(0, 9);
    fill(5, 5);
    const head = mm.pt.hugePfn(V);
    expect(mem().isLargeFolio(head)).toBe(true);
    rec.clear();
    const { rc, pages } = grant(0, 4);
    expect(rc).toBe(4);
    expect(pages).toEqual([head, 0, 0, 0]);
    expect(events()).toEqual(['clear 0 512', 'exclusive 0 512 A']);
    for (const p of [0, 1, 5, 511]) {
      expect(pte(p).flags).toBe(PTE_DEVICE_EXCLUSIVE | PTE_WRITE);
      expect(pte(p).pfn).toBe(head + p);
    }
    expect(mem().folioMapcount(head)).toBe(0);
    audit([head]);
    release(pages);
    rec.clear();
    expect(readPage(5)).toEqual(page(5));
    expect(events()).toEqual(['exclusive 5 6']);
    expect(pte(5).kind).toBe(PTE_PRESENT);
    expect(pte(4).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    audit();
  });

  it('R-DEVX-2: a THP PTE-mapped in two VMAs (mprotect of its last page) is made exclusive in every VMA that maps it, with an EXCLUSIVE event per VMA', () => {
    map(512);
    expect(task.madvise(BASE, 512 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    fill(0, 1);
    fill(511, 2);
    const head = mm.pt.hugePfn(V);
    expect(mem().isLargeFolio(head)).toBe(true);
    expect(task.mprotect(BASE + 511 * PAGE_SIZE, PAGE_SIZE, RW | PROT_EXEC)).toBe(0);
    expect(mm.vmas.size).toBe(2);
    expect(pte(511).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(511).pfn).toBe(head + 511);
    rec.clear();
    const { rc, pages } = grant(0, 1);
    expect(rc).toBe(1);
    expect(events()).toEqual(['exclusive 0 511 A', 'exclusive 511 512 A']);
    expect(pages).toEqual([head]);
    for (const p of [0, 510, 511]) expect(pte(p).flags).toBe(PTE_DEVICE_EXCLUSIVE | PTE_WRITE);
    expect(mem().folioMapcount(head)).toBe(0);
    audit(pages);
    release(pages);
    expect(readPage(511)).toEqual(page(2));
    audit();
  });

  it('R-DEVX-2: a non-anonymous (shmem) folio cannot be made exclusive: NULL, no EXCLUSIVE event, PTE present, reference dropped', () => {
    map(1, 0, RW, MAP_SHARED | MAP_ANONYMOUS);
    fill(0, 4);
    const p0 = pte(0).pfn;
    const rc0 = mem().folioRefcount(p0);
    rec.clear();
    const { rc, pages } = grant(0, 1);
    expect(rc).toBe(1);
    expect(pages[0]).toBe(0);
    expect(events()).toEqual([]);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(mem().folioRefcount(p0)).toBe(rc0);
    expect(mem().isLocked(p0)).toBe(false);
    audit();
  });
});

describe('R-DEVX-4..9: revocation', () => {
  it('R-DEVX-5/8: a CPU or GUP access revokes: EXCLUSIVE event with no owner for that one page, the present PTE comes back old, writable and dirty, with its mapcount', () => {
    map(3);
    fill(0, 1);
    fill(1, 2);
    fill(2, 3);
    const { pages } = grant(0, 3);
    release(pages);
    rec.clear();
    // GUP (a kernel access) does not set the accessed bit: the restored PTE is visible as is.
    const got: number[] = [];
    expect(getUserPages(mm, V, 1, FOLL_GET, got)).toBe(1);
    expect(got[0]).toBe(pages[0]);
    expect(events()).toEqual(['exclusive 0 1']);
    expect(rec.log.find((e) => e.kind === 'start')!.owner).toBe(null);
    expect(pte(0).flags).toBe(PTE_PRESENT | PTE_WRITE | PTE_DIRTY);
    expect(pte(0).flags & PTE_YOUNG).toBe(0);
    expect(mem().mapcountOf(pages[0])).toBe(1);
    expect(mem().folioRefcount(pages[0])).toBe(2);
    mem().put(got[0]);
    rec.clear();
    expect(readPage(1)).toEqual(page(2));
    fill(2, 0x33);
    expect(events()).toEqual(['exclusive 1 2', 'exclusive 2 3']);
    for (let p = 0; p < 3; p++) {
      expect(pte(p).kind).toBe(PTE_PRESENT);
      expect(pte(p).pfn).toBe(pages[p]);
      expect(mem().mapcountOf(pages[p])).toBe(1);
      expect(mem().folioRefcount(pages[p])).toBe(1);
    }
    expect(readPage(2)).toEqual(page(0x33));
    audit();
  });

  it('R-DEVX-4: while the driver still holds the folio lock a CPU access cannot revoke (it does not complete); once unlocked it does', () => {
    map(1);
    fill(0, 6);
    const { pages } = grant(0, 1);
    expect(() => task.read(BASE, 16)).toThrow(LimitError);
    expect(pte(0).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(mem().folioRefcount(pages[0])).toBe(2);
    audit(pages);
    release(pages);
    expect(readPage(0)).toEqual(page(6));
    expect(pte(0).kind).toBe(PTE_PRESENT);
    audit();
  });

  it('R-DEVX-6: hmm_range_fault reports a device-exclusive entry as not present without a fault request and revokes it with one (EXCLUSIVE, no owner)', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const { pages } = grant(0, 2);
    release(pages);
    mm.notifier = null;
    const seen: string[] = [];
    const isub = new MmuIntervalNotifier({
      invalidate: (s, r, seq) => {
        seen.push(
          `${r.event === MMU_NOTIFY_EXCLUSIVE ? 'exclusive' : r.event} ${r.startVpn - V} ${r.owner === null ? '-' : 'owner'}`,
        );
        mmuIntervalSetSeq(s, seq);
        return true;
      },
    });
    expect(mmuIntervalNotifierInsert(isub, mm, 0, VPN_END_MAX - 1, isub.ops)).toBe(0);
    const snap = new HmmRange(isub, V, V + 2);
    snap.notifierSeq = mmuIntervalReadBegin(isub);
    expect(hmmRangeFault(snap)).toBe(0);
    expect([snap.flags[0], snap.flags[1]]).toEqual([0, 0]);
    expect(pte(0).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(seen).toEqual([]);
    const req = new HmmRange(isub, V, V + 1);
    req.defaultFlags = HMM_PFN_REQ_FAULT;
    req.pfnFlagsMask = 0;
    req.notifierSeq = mmuIntervalReadBegin(isub);
    let rc = hmmRangeFault(req);
    while (rc === -EBUSY) {
      req.notifierSeq = mmuIntervalReadBegin(isub);
      rc = hmmRangeFault(req);
    }
    expect(rc).toBe(0);
    expect(seen).toEqual(['exclusive 0 -']);
    expect(req.flags[0] & (HMM_PFN_VALID | HMM_PFN_WRITE)).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
    expect(req.pfns[0]).toBe(pages[0]);
    expect(pte(0).kind).toBe(PTE_PRESENT);
    expect(pte(1).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    audit();
  });

  it('R-DEVX-7: a second device grant first revokes the first device exclusivity (EXCLUSIVE, no owner), then grants with its own owner', () => {
    map(1);
    fill(0, 1);
    const first = grant(0, 1, OWNER_A);
    release(first.pages);
    rec.clear();
    const second = grant(0, 1, OWNER_B);
    expect(second.rc).toBe(1);
    expect(second.pages[0]).toBe(first.pages[0]);
    expect(events()).toEqual(['exclusive 0 1', 'exclusive 0 1 B']);
    expect(pte(0).flags).toBe(PTE_DEVICE_EXCLUSIVE | PTE_WRITE);
    release(second.pages);
    audit();
  });

  it('R-DEVX-9/R-PROT-1: mprotect downgrades writable device-exclusive entries under PROTECTION_VMA; a CPU read then restores a read-only PTE and a write upgrades it in place', () => {
    map(1);
    fill(0, 1);
    const { pages } = grant(0, 1);
    release(pages);
    rec.clear();
    expect(task.mprotect(BASE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(task.mprotect(BASE, PAGE_SIZE, RW)).toBe(0);
    expect(events()).toEqual(['protection_vma 0 1', 'protection_vma 0 1']);
    expect(pte(0).flags).toBe(PTE_DEVICE_EXCLUSIVE);
    rec.clear();
    expect(readPage(0)).toEqual(page(1));
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(events()).toEqual(['exclusive 0 1']);
    const cow = kernel.stats.get('mm.cow_copies');
    fill(0, 2);
    expect(pte(0).pfn).toBe(pages[0]);
    expect(pte(0).flags & PTE_WRITE).toBe(PTE_WRITE);
    expect(kernel.stats.get('mm.cow_copies')).toBe(cow);
    expect(mem().testPageFlag(pages[0], PG_ANON_EXCLUSIVE)).toBe(true);
    expect(events()).toEqual(['exclusive 0 1']);
    audit();
  });

  it('R-DEVX-9/R-FORK-6: munmap and exit zap device-exclusive entries: RSS drops, the page reference goes, the mapcount is untouched', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const { pages } = grant(0, 2);
    // The driver still holds its references: the pages survive the zap with only those.
    for (const pfn of pages) mem().unlock(pfn);
    const used = mem().usedPages();
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(mm.rssAnon).toBe(1);
    expect(mem().folioRefcount(pages[0])).toBe(1);
    expect(mem().mapcountOf(pages[0])).toBe(0);
    audit(pages);
    mem().put(pages[0]);
    expect(mem().usedPages()).toBe(used - 1);
    const child = task.fork();
    // fork restored the parent's entry (R-FORK-5); grant the child's copy instead.
    const cg = grant(1, 1, OWNER_A, child.mm!);
    expect(cg.rc).toBe(1);
    release(cg.pages);
    expect(pte(1, child.mm!).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    audit([pages[1]]);
    child.exit();
    expect(mem().folioRefcount(cg.pages[0])).toBe(0);
    mem().put(pages[1]);
    audit();
    task.exit();
    expect(mem().usedPages()).toBe(0);
  });
});
