// migrate_vma_* and migrate_device_* against ../shared/spec/migrate-device.md (R-MIG-1..15,
// R-DEVPTE-1..4, R-EVICT-1..5), with a small driver of our own (test/testDevice.ts).

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import { fillRam, MEMORY_DEVICE_COHERENT, pteAt, TestDevice } from '../../test/testDevice.js';
import { auditMm } from '../check/mmAudit.js';
import { EBUSY, EFAULT, EINVAL } from '../sim/errno.js';
import { LimitError } from '../sim/errors.js';
import {
  FAULT_FLAG_WRITE,
  GUP_PIN_COUNTING_BIAS,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_DONTEXPAND,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_MIXEDMAP,
  VM_PFNMAP,
} from './constants.js';
import { SIGSEGV } from './cpuAccess.js';
import { makeDeviceExclusiveRange } from './deviceExclusive.js';
import { Inode, OpenFile } from './file.js';
import { FOLL_GET, FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE, getUserPages } from './gup.js';
import { Kernel } from './kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migrateDeviceCoherentFolio,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDevicePfns,
  migrateDeviceRange,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from './migrateDevice.js';
import type { Mm } from './mm.js';
import {
  PG_ANON,
  PG_ANON_EXCLUSIVE,
  ZONE_DEVICE_COHERENT,
  ZONE_DEVICE_PRIVATE,
  ZONE_RAM,
} from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_WRITE,
  PTE_YOUNG,
  pteIsAccessible,
} from './pte.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const MIG = MIGRATE_PFN_MIGRATE;
const VALID = MIGRATE_PFN_VALID;
const WR = MIGRATE_PFN_WRITE;

let kernel: Kernel;
let task: Task;
let mm: Mm;
let dev: TestDevice;
let devB: TestDevice;
let coh: TestDevice;
let rec: NotifyRecorder;
let names: Map<unknown, string>;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes' });
  task = kernel.spawn();
  mm = task.mm!;
  dev = new TestDevice(kernel, { name: 'devA' });
  devB = new TestDevice(kernel, { name: 'devB' });
  coh = new TestDevice(kernel, { name: 'cohC', type: MEMORY_DEVICE_COHERENT });
  names = new Map<unknown, string>([
    [dev.owner, 'A'],
    [devB.owner, 'B'],
    [coh.owner, 'C'],
  ]);
  rec = NotifyRecorder.attach(mm);
});

function map(npages: number, at = 0, prot = RW, flags = ANON, t: Task = task): number {
  const addr = BASE + at * PAGE_SIZE;
  expect(t.mmap(addr, npages * PAGE_SIZE, prot, flags | MAP_FIXED)).toBe(addr);
  return addr;
}

function page(byte: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE).fill(byte);
  b[0] = byte ^ 0x5a;
  b[PAGE_SIZE - 1] = byte ^ 0xa5;
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

function expectPage(p: number, byte: number, t: Task = task): void {
  expect(readPage(p, t)).toEqual(page(byte));
}

/** Invalidations started, as `event start end [owner]`, pages relative to the base. */
function events(r: NotifyRecorder = rec): string[] {
  return r.log
    .filter((e) => e.kind === 'start')
    .map((e) => {
      const owner = e.owner == null ? '' : ` ${names.get(e.owner) ?? 'other'}`;
      return `${e.event} ${e.start - V} ${e.end - V}${owner}`;
    });
}

function audit(extra: [number, number][] = []): void {
  const refs = new Map<number, number>();
  for (const [pfn, n] of extra) refs.set(pfn, (refs.get(pfn) ?? 0) + n);
  expect(auditMm(kernel, { extraRefs: refs })).toEqual([]);
}

function pte(p: number, m: Mm = mm) {
  return pteAt(m, V + p);
}

function kindOf(p: number, m: Mm = mm): number {
  return pte(p, m).kind;
}

const mem = () => kernel.mem;

describe('migrate-pfn words and selection flags', () => {
  it('R-MIG-2/R-MIG-3: VALID bit 0, MIGRATE bit 1, WRITE bit 3, pfn from bit 6; SELECT_SYSTEM 1, DEVICE_PRIVATE 2, DEVICE_COHERENT 4', () => {
    expect([MIGRATE_PFN_VALID, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE]).toEqual([1, 2, 8]);
    expect([
      MIGRATE_VMA_SELECT_SYSTEM,
      MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
      MIGRATE_VMA_SELECT_DEVICE_COHERENT,
    ]).toEqual([1, 2, 4]);
    expect(migratePfn(12345)).toBe(12345 * 64 + 1);
    expect(migratePfnToPfn(migratePfn(12345) + MIG + WR)).toBe(12345);
    expect(migratePfnToPfn(MIG)).toBe(0);
    expect(migratePfnToPfn(0)).toBe(0);
    const big = 2 ** 31 + 7;
    expect(migratePfnToPfn(migratePfn(big) + MIG + WR)).toBe(big);
  });

  it('R-MIG-1/R-MIG-2: collected words carry no bit 2 (LOCKED was removed) and src/dst have one word per page', () => {
    map(3);
    fill(0, 1);
    fill(1, 2);
    const args = dev.args(mm, V, V + 3, MIGRATE_VMA_SELECT_SYSTEM);
    expect(args.src.length).toBe(3);
    expect(args.dst.length).toBe(3);
    expect(migrateVmaSetup(args)).toBe(0);
    for (const w of args.src) expect(w & 4).toBe(0);
    migrateVmaFinalize(args);
    audit();
  });
});

describe('R-MIG-4: migrate_vma_setup validation', () => {
  function expectEinval(args: MigrateVma, r: NotifyRecorder = rec): void {
    args.src.fill(777);
    args.dst.fill(555);
    args.cpages = 99;
    args.npages = 98;
    r.clear();
    expect(migrateVmaSetup(args)).toBe(-EINVAL);
    // Nothing touched: no invalidation, src/dst/cpages/npages as they were.
    expect(events(r)).toEqual([]);
    expect([...args.src].every((w) => w === 777)).toBe(true);
    expect([...args.dst].every((w) => w === 555)).toBe(true);
    expect(args.cpages).toBe(99);
    expect(args.npages).toBe(98);
  }

  function specialVma(flag: number, at: number) {
    const ops = {
      name: 'special-dev',
      mmap: (_f: OpenFile, vma: { flags: number }) => {
        vma.flags |= flag;
        return 0;
      },
    };
    const fd = task.installFile(
      new OpenFile(kernel.newObjectId(), new Inode('device', kernel.newObjectId(), 0, null), ops),
    );
    expect(task.mmap(BASE + at * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd)).toBe(
      BASE + at * PAGE_SIZE,
    );
    return mm.vmas.find(V + at)!;
  }

  it('R-MIG-4: VM_IO, VM_PFNMAP, VM_MIXEDMAP and VM_DONTEXPAND VMAs are -EINVAL before anything is touched', () => {
    let at = 0;
    for (const flag of [VM_IO, VM_PFNMAP, VM_MIXEDMAP, VM_DONTEXPAND]) {
      const vma = specialVma(flag, at);
      const args = new MigrateVma(vma, V + at, V + at + 2);
      args.pgmapOwner = dev.owner;
      args.flags = MIGRATE_VMA_SELECT_SYSTEM;
      expectEinval(args);
      at += 4;
    }
  });

  it('R-MIG-4: a hugetlb VMA is -EINVAL', () => {
    const k = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes', hugetlbPages: 1 });
    const t = k.spawn();
    const r = NotifyRecorder.attach(t.mm!);
    expect(t.mmap(BASE, 512 * PAGE_SIZE, RW, ANON | MAP_HUGETLB | MAP_FIXED)).toBe(BASE);
    expect(t.write(BASE, page(3)).signal).toBe(0);
    const args = new MigrateVma(t.mm!.vmas.find(V)!, V, V + 4);
    args.flags = MIGRATE_VMA_SELECT_SYSTEM;
    args.pgmapOwner = dev.owner;
    expectEinval(args, r);
  });

  it('R-MIG-4: an empty range, a start or end outside the VMA, short src/dst arrays and a fault page that is not device-private are -EINVAL', () => {
    map(4, 8);
    fill(8, 1);
    const vma = mm.vmas.find(V + 8)!;
    const make = (s: number, e: number, src?: Float64Array, dst?: Float64Array) => {
      const a = new MigrateVma(vma, V + s, V + e, src, dst);
      a.pgmapOwner = dev.owner;
      a.flags = MIGRATE_VMA_SELECT_SYSTEM;
      return a;
    };
    expectEinval(make(9, 9)); // end - start < PAGE_SIZE
    expectEinval(make(10, 9, new Float64Array(4), new Float64Array(4)));
    expectEinval(make(7, 9)); // start below vm_start
    expectEinval(make(12, 13)); // start at vm_end
    expectEinval(make(10, 13)); // end above vm_end
    expectEinval(make(4, 8)); // end <= vm_start
    expectEinval(make(8, 12, new Float64Array(3), new Float64Array(4)));
    expectEinval(make(8, 12, new Float64Array(4), new Float64Array(3)));
    const sys = make(8, 9);
    sys.faultPage = pte(8).pfn;
    expectEinval(sys);
    const c = coh.allocPage();
    const cohFault = make(8, 9);
    cohFault.faultPage = c;
    expectEinval(cohFault);
    // Still intact: the page was never touched.
    expect(pte(8).kind).toBe(PTE_PRESENT);
    expectPage(8, 1);
    mem().unlock(c);
    mem().put(c);
    audit();
  });
});

describe('R-MIG-5..9: collection and unmap', () => {
  it('R-MIG-1/5/6/7/9: written pages go behind migration entries, the zero page and none PTEs are holes, under one MIGRATE event with the owner', () => {
    map(4);
    fill(0, 0x11);
    fill(1, 0x22);
    readPage(2); // zero page
    const p0 = pte(0).pfn;
    const p1 = pte(1).pfn;
    const ramBefore = mem().usedPages();
    const rss = mm.rssAnon;
    rec.clear();
    const args = dev.args(mm, V, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    args.src.fill(12345);
    args.dst.fill(999);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(events()).toEqual(['migrate 0 4 A']);
    expect([...args.src]).toEqual([
      migratePfn(p0) + MIG + WR,
      migratePfn(p1) + MIG + WR,
      MIG, // the zero page, with SELECT_SYSTEM, is a hole
      MIG,
    ]);
    expect([...args.dst]).toEqual([0, 0, 0, 0]);
    expect(args.cpages).toBe(4);
    expect(args.npages).toBe(4);
    expect(args.end).toBe(V + 4);
    // R-MIG-9: locked, unmapped (migration entries), referenced only by the migration.
    for (const [p, pfn] of [
      [0, p0],
      [1, p1],
    ]) {
      expect(pte(p).flags).toBe(PTE_MIGRATION | PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
      expect(pte(p).pfn).toBe(pfn);
      expect(mem().isLocked(pfn)).toBe(true);
      expect(mem().mapcountOf(pfn)).toBe(0);
      expect(mem().folioRefcount(pfn)).toBe(1);
    }
    expect(mm.rssAnon).toBe(rss); // migration entries still count
    audit([
      [p0, 1],
      [p1, 1],
    ]);

    expect(dev.fillToDevice(args)).toBe(4);
    const d = [...args.dst].map(migratePfnToPfn);
    migrateVmaPages(args);
    expect(events()).toEqual(['migrate 0 4 A', 'migrate 2 4 A']);
    // R-MIG-12: every entry migrated.
    for (let i = 0; i < 4; i++) expect(args.src[i] & MIG).toBe(MIG);
    migrateVmaFinalize(args);
    for (let i = 0; i < 4; i++) {
      expect(pte(i).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
      expect(pte(i).pfn).toBe(d[i]);
      expect(mem().zone(d[i]).kind).toBe(ZONE_DEVICE_PRIVATE);
      expect(mem().folioRefcount(d[i])).toBe(1);
      expect(mem().mapcountOf(d[i])).toBe(1);
      expect(mem().isLocked(d[i])).toBe(false);
      expect(mem().pageFlags(d[i]) & (PG_ANON | PG_ANON_EXCLUSIVE)).toBe(PG_ANON | PG_ANON_EXCLUSIVE);
    }
    // The two system pages were freed; the holes became mapped pages (RSS +2).
    expect(mem().usedPages()).toBe(ramBefore - 2);
    expect(mm.rssAnon).toBe(rss + 2);
    audit();
    expectPage(0, 0x11);
    expectPage(1, 0x22);
    expect(readPage(2)).toEqual(new Uint8Array(PAGE_SIZE));
    expect(readPage(3)).toEqual(new Uint8Array(PAGE_SIZE));
    audit();
  });

  it('R-MIG-6: an anonymous range without page tables is all holes', () => {
    map(4);
    const args = dev.args(mm, V, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect([...args.src]).toEqual([MIG, MIG, MIG, MIG]);
    expect(args.cpages).toBe(4);
    dev.fillToDevice(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    for (let i = 0; i < 4; i++) expect(pte(i).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(mm.rssAnon).toBe(4);
    audit();
  });

  it('R-MIG-4/R-MIG-6: none PTEs of shmem and file VMAs are skipped; setup still returns 0', () => {
    map(4, 0, RW, MAP_SHARED | MAP_ANONYMOUS);
    fill(1, 7);
    const fd = task.openTmpfile(4 * PAGE_SIZE);
    expect(task.mmap(BASE + 8 * PAGE_SIZE, 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd)).toBe(
      BASE + 8 * PAGE_SIZE,
    );
    for (const at of [0, 8]) {
      const args = dev.args(mm, V + at, V + at + 4, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
      expect(migrateVmaSetup(args)).toBe(0);
      expect([...args.src]).toEqual([0, 0, 0, 0]);
      expect(args.cpages).toBe(0);
      expect(args.npages).toBe(4);
      migrateVmaFinalize(args);
    }
    // With SELECT_SYSTEM only the present shmem page is collected; the none PTEs stay skipped.
    const args = dev.args(mm, V, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(0);
    expect(args.src[1] & (VALID | MIG)).toBe(VALID | MIG);
    expect([args.src[2], args.src[3]]).toEqual([0, 0]);
    expect(args.cpages).toBe(1);
    migrateVmaFinalize(args);
    expectPage(1, 7);
    audit();
  });

  it('R-MIG-6: selection flags and owner: unselected system, zero, device-private and device-coherent pages are skipped and stay mapped', () => {
    map(4);
    fill(0, 1);
    readPage(1);
    fill(2, 3);
    fill(3, 4);
    dev.migrateToDevice(mm, V + 2, V + 3);
    coh.migrateToDevice(mm, V + 3, V + 4);
    const before = [0, 1, 2, 3].map((p) => pte(p));
    expect(before[2].kind).toBe(PTE_DEVICE_PRIVATE);
    expect(before[3].kind).toBe(PTE_PRESENT);
    expect(mem().zone(before[3].pfn).kind).toBe(ZONE_DEVICE_COHERENT);
    const tryOne = (p: number, flags: number, owner: unknown): number => {
      const args = new MigrateVma(mm.vmas.find(V)!, V + p, V + p + 1);
      args.flags = flags;
      args.pgmapOwner = owner;
      expect(migrateVmaSetup(args)).toBe(0);
      const w = args.src[0];
      const c = args.cpages;
      migrateVmaFinalize(args);
      expect(c).toBe(w === 0 ? 0 : 1);
      return w;
    };
    const ALL_DEV = MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_DEVICE_COHERENT;
    expect(tryOne(0, ALL_DEV, dev.owner)).toBe(0); // system page, SELECT_SYSTEM clear
    expect(tryOne(1, ALL_DEV, dev.owner)).toBe(0); // zero page, SELECT_SYSTEM clear
    expect(tryOne(2, MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner)).toBe(0);
    expect(tryOne(2, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, devB.owner)).toBe(0); // other owner
    expect(tryOne(3, MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_DEVICE_PRIVATE, coh.owner)).toBe(0);
    expect(tryOne(3, MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner)).toBe(0); // other owner
    for (let p = 0; p < 4; p++) expect(pte(p)).toEqual(before[p]);
    // The selected ones, with their owner.
    expect(tryOne(2, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, dev.owner)).toBe(
      migratePfn(before[2].pfn) + MIG + WR,
    );
    expect(tryOne(3, MIGRATE_VMA_SELECT_DEVICE_COHERENT, coh.owner)).toBe(
      migratePfn(before[3].pfn) + MIG + WR,
    );
    // Finalize without destinations restored them.
    for (let p = 0; p < 4; p++) expect(pte(p).pfn).toBe(before[p].pfn);
    expect(pte(2).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(3).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    audit();
    expectPage(2, 3);
    expectPage(3, 4);
  });

  it('R-MIG-6/R-DEVX-10: migration entries and device-exclusive entries are skipped', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const pages: number[] = [];
    expect(makeDeviceExclusiveRange(mm, V, V + 1, pages, dev.owner)).toBe(1);
    mem().unlock(pages[0]);
    mem().put(pages[0]);
    expect(kindOf(0)).toBe(PTE_DEVICE_EXCLUSIVE);
    const first = dev.args(mm, V + 1, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(first)).toBe(0);
    expect(kindOf(1)).toBe(PTE_MIGRATION);
    const second = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(second)).toBe(0);
    expect([...second.src]).toEqual([0, 0]);
    expect(second.cpages).toBe(0);
    migrateVmaFinalize(second);
    expect(kindOf(0)).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(kindOf(1)).toBe(PTE_MIGRATION);
    migrateVmaFinalize(first);
    expect(kindOf(1)).toBe(PTE_PRESENT);
    audit();
    expectPage(0, 1);
    expectPage(1, 2);
  });

  function thpRegion(): number {
    map(512);
    expect(task.madvise(BASE, 512 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    const data = new Uint8Array(512 * PAGE_SIZE);
    for (let p = 0; p < 512; p++) data.set(page(p & 0xff), p * PAGE_SIZE);
    expect(task.write(BASE, data).signal).toBe(0);
    expect(mm.pt.pteTable(V)).toBe(null);
    const head = mm.pt.hugePfn(V);
    expect(mem().isLargeFolio(head)).toBe(true);
    return head;
  }

  it('R-MIG-6: a page of a PTE-mapped large folio is skipped (6.12)', () => {
    thpRegion();
    // mprotect of the last page splits the PMD mapping; the folio stays large.
    expect(task.mprotect(BASE + 511 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(kindOf(0)).toBe(PTE_PRESENT);
    expect(mem().isLargeFolio(pte(0).pfn)).toBe(true);
    const before = [0, 1, 2, 3].map((p) => pte(p));
    const args = dev.args(mm, V, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect([...args.src]).toEqual([0, 0, 0, 0]);
    expect(args.cpages).toBe(0);
    migrateVmaFinalize(args);
    for (let p = 0; p < 4; p++) expect(pte(p)).toEqual(before[p]);
    audit();
  });

  it('R-MIG-6: a PMD-mapped THP is split first (CLEAR of the 2 MiB block) and its small pages migrate', () => {
    thpRegion();
    rec.clear();
    const args = dev.migrateToDevice(mm, V + 2, V + 6);
    const ev = events();
    expect(ev[0]).toBe('migrate 2 6 A');
    expect(ev).toContain('clear 0 512');
    expect(ev.every((e) => e === 'migrate 2 6 A' || e === 'clear 0 512')).toBe(true);
    expect(args.cpages).toBe(4);
    for (let p = 2; p < 6; p++) expect(pte(p).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    for (const p of [0, 1, 6, 511]) {
      expect(kindOf(p)).toBe(PTE_PRESENT);
      expect(mem().isLargeFolio(pte(p).pfn)).toBe(false);
    }
    audit();
    for (const p of [0, 3, 5, 6, 300]) expectPage(p, p & 0xff);
    audit();
  });

  it('R-MIG-6: the split of a THP announces a CLEAR to every VMA mapping part of it, also one not containing its head (a child that split its copy of the mapping in two)', () => {
    thpRegion();
    const child = task.fork();
    const cm = child.mm!;
    expect(child.mprotect(BASE + 511 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(cm.vmas.size).toBe(2);
    const crec = NotifyRecorder.attach(cm);
    const args = dev.migrateToDevice(mm, V + 2, V + 4);
    expect(args.cpages).toBe(2);
    // unmap_folio visits the child's VMAs in order: in each, split_huge_pmd_address's CLEAR of the
    // 2 MiB block, then the CLEAR of the folio's part of the VMA; then try_to_migrate of each page.
    expect(events(crec)).toEqual([
      'clear 0 512',
      'clear 0 511',
      'clear 0 512',
      'clear 511 512',
      'clear 2 3',
      'clear 3 4',
    ]);
    expect(mem().isLargeFolio(pte(511, cm).pfn)).toBe(false);
    audit();
    for (const p of [0, 2, 3, 511]) expectPage(p, p & 0xff, child);
    expectPage(3, 3);
    audit();
  });

  it('R-MIG-6: the huge zero page is split and its pages are collected as holes', () => {
    map(512);
    expect(task.madvise(BASE, 512 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    readPage(0);
    expect(mem().isZeroPfn(mm.pt.hugePfn(V))).toBe(true);
    rec.clear();
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(events()).toContain('clear 0 512');
    expect([...args.src]).toEqual([MIG, MIG]);
    dev.fillToDevice(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(1).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(mem().isZeroPfn(pte(2).pfn)).toBe(true);
    audit();
    expect(readPage(1)).toEqual(new Uint8Array(PAGE_SIZE));
  });

  it('R-MIG-6: a THP whose folio lock is held elsewhere is not split and its whole PMD range is skipped', () => {
    const head = thpRegion();
    expect(mem().trylock(head)).toBe(true);
    const args = dev.args(mm, V + 1, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect([...args.src]).toEqual([0, 0, 0]);
    expect(args.cpages).toBe(0);
    expect(args.npages).toBe(3);
    expect(mm.pt.pteTable(V)).toBe(null);
    expect(mm.pt.hugePfn(V)).toBe(head);
    migrateVmaFinalize(args);
    mem().unlock(head);
    audit();
  });

  it('R-MIG-7: a page locked by someone else is skipped without waiting; PTE and refcount unchanged', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const p0 = pte(0).pfn;
    const before = pte(0);
    expect(mem().trylock(p0)).toBe(true);
    const args = dev.migrateToDevice(mm, V, V + 2);
    expect(args.src[0]).toBe(0);
    expect(args.cpages).toBe(1);
    expect(pte(0)).toEqual(before);
    expect(mem().folioRefcount(p0)).toBe(1);
    expect(mem().isLocked(p0)).toBe(true);
    expect(kindOf(1)).toBe(PTE_DEVICE_PRIVATE);
    mem().unlock(p0);
    audit();
    expectPage(0, 1);
    expectPage(1, 2);
  });

  it('R-MIG-7: an anon-exclusive page that may be DMA-pinned (FOLL_PIN) is skipped and its PTE restored', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const pages: number[] = [];
    expect(getUserPages(mm, V, 1, FOLL_PIN | FOLL_WRITE, pages)).toBe(1);
    const p0 = pages[0];
    expect(p0).toBe(pte(0).pfn);
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(0);
    expect(args.src[1] & MIG).toBe(MIG);
    expect(args.cpages).toBe(1);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(0).pfn).toBe(p0);
    expect(mem().isLocked(p0)).toBe(false);
    expect(mem().folioRefcount(p0)).toBe(1 + GUP_PIN_COUNTING_BIAS);
    expect(mem().testPageFlag(p0, PG_ANON_EXCLUSIVE)).toBe(true);
    dev.fillToDevice(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    expect(kindOf(1)).toBe(PTE_DEVICE_PRIVATE);
    audit([[p0, GUP_PIN_COUNTING_BIAS]]);
    mem().put(p0, GUP_PIN_COUNTING_BIAS);
    audit();
  });

  it('R-MIG-7: migration entries are writable for writable PTEs, readable-exclusive for read-only exclusive pages, readable for shared pages; young and dirty carried', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const child = task.fork();
    fill(0, 3); // COW break: page 0 is the parent's own again, writable
    map(1, 8);
    fill(8, 4);
    expect(task.mprotect(BASE + 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    const p0 = pte(0).pfn;
    const p1 = pte(1).pfn;
    const p8 = pte(8).pfn;
    const a = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    const b = dev.args(mm, V + 8, V + 9, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(a)).toBe(0);
    expect(migrateVmaSetup(b)).toBe(0);
    expect(a.src[0]).toBe(migratePfn(p0) + MIG + WR);
    expect(a.src[1]).toBe(migratePfn(p1) + MIG);
    expect(b.src[0]).toBe(migratePfn(p8) + MIG);
    expect(pte(0).flags).toBe(PTE_MIGRATION | PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    expect(pte(1).flags & ~(PTE_DIRTY | PTE_YOUNG)).toBe(PTE_MIGRATION);
    expect(pte(1).flags & PTE_DIRTY).toBe(PTE_DIRTY);
    expect(pte(8).flags).toBe(PTE_MIGRATION | PTE_MIG_EXCLUSIVE | PTE_DIRTY | PTE_YOUNG);
    // The child's mapping of the shared page became a migration entry too (R-MIG-8).
    expect(pte(1, child.mm!).kind).toBe(PTE_MIGRATION);
    // Finalize without destinations: everything comes back as it was.
    migrateVmaFinalize(a);
    migrateVmaFinalize(b);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(1).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(8).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(1, child.mm!).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(mem().testPageFlag(p0, PG_ANON_EXCLUSIVE)).toBe(true);
    expect(mem().testPageFlag(p1, PG_ANON_EXCLUSIVE)).toBe(false);
    expect(mem().testPageFlag(p8, PG_ANON_EXCLUSIVE)).toBe(true);
    audit();
    expectPage(0, 3);
    expectPage(1, 2);
    expectPage(1, 2, child);
    expectPage(0, 1, child);
    expectPage(8, 4);
  });

  it('R-MIG-8: a page with an extra reference (FOLL_GET) fails the reference check: src cleared entirely, PTE restored, page unlocked', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const pages: number[] = [];
    expect(getUserPages(mm, V, 1, FOLL_GET, pages)).toBe(1);
    const p0 = pages[0];
    rec.clear();
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(0);
    expect(args.cpages).toBe(1);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(0).pfn).toBe(p0);
    expect(mem().isLocked(p0)).toBe(false);
    expect(mem().folioRefcount(p0)).toBe(2);
    expect(mem().mapcountOf(p0)).toBe(1);
    expect(mem().testPageFlag(p0, PG_ANON_EXCLUSIVE)).toBe(true);
    expect(events()).toEqual(['migrate 0 2 A']);
    dev.fillToDevice(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    expect(kindOf(1)).toBe(PTE_DEVICE_PRIVATE);
    audit([[p0, 1]]);
    mem().put(p0);
    expectPage(0, 1);
    audit();
  });

  it('R-MIG-8/R-MIG-13: a page also mapped by a child is unmapped from both (CLEAR on the child) and both map the device page after finalize', () => {
    map(2);
    fill(0, 9);
    const child = task.fork();
    const cm = child.mm!;
    const recChild = NotifyRecorder.attach(cm);
    const p0 = pte(0).pfn;
    rec.clear();
    const args = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(migratePfn(p0) + MIG); // read-only after fork
    expect(pte(0).kind).toBe(PTE_MIGRATION);
    expect(pte(0, cm).kind).toBe(PTE_MIGRATION);
    expect(mem().mapcountOf(p0)).toBe(0);
    expect(events(recChild)).toEqual(['clear 0 1']);
    expect(events()[0]).toBe('migrate 0 1 A');
    expect(events().every((e) => e === 'migrate 0 1 A' || e === 'clear 0 1')).toBe(true);
    dev.fillToDevice(args);
    const d = migratePfnToPfn(args.dst[0]);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    for (const m of [mm, cm]) {
      expect(pte(0, m).flags).toBe(PTE_DEVICE_PRIVATE);
      expect(pte(0, m).pfn).toBe(d);
    }
    expect(mem().mapcountOf(d)).toBe(2);
    expect(mem().folioRefcount(d)).toBe(2);
    expect(mem().testPageFlag(d, PG_ANON_EXCLUSIVE)).toBe(false);
    audit();
    expectPage(0, 9, child);
    expectPage(0, 9);
    audit();
  });

  it('R-MIG-8: device pages are checked one reference more leniently (6.12): one extra reference passes setup but fails the metadata transfer, two fail setup', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 2);
    const d0 = pte(0).pfn;
    const d1 = pte(1).pfn;
    mem().get(d0);
    mem().get(d1, 2);
    const ramBefore = mem().usedPages();
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(migratePfn(d0) + MIG + WR);
    expect(args.src[1]).toBe(0);
    expect(args.cpages).toBe(1);
    expect(pte(1).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(mem().isLocked(d1)).toBe(false);
    expect(dev.fillToRam(args)).toBe(1);
    migrateVmaPages(args);
    expect(args.src[0]).toBe(migratePfn(d0) + WR); // MIGRATE cleared, VALID kept
    migrateVmaFinalize(args);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(0).pfn).toBe(d0);
    expect(mem().isLocked(d0)).toBe(false);
    expect(mem().usedPages()).toBe(ramBefore); // the unused system page was freed
    expect(dev.freed).toEqual([]);
    audit([
      [d0, 1],
      [d1, 2],
    ]);
    mem().put(d0);
    mem().put(d1, 2);
    audit();
  });
});

describe('R-MIG-10..13: driver step, migrate_vma_pages and finalize', () => {
  it('R-MIG-10/12/13: a declined entry (dst 0) loses MIGRATE and its original mapping comes back', () => {
    map(3);
    fill(0, 1);
    fill(1, 2);
    fill(2, 3);
    const p1 = pte(1).pfn;
    const args = dev.args(mm, V, V + 3, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    dev.fillToDevice(args, { decline: (i) => i === 1 });
    expect(args.dst[1]).toBe(0);
    migrateVmaPages(args);
    expect(args.src[0] & MIG).toBe(MIG);
    expect(args.src[1]).toBe(migratePfn(p1) + WR);
    expect(args.src[2] & MIG).toBe(MIG);
    migrateVmaFinalize(args);
    expect(pte(1).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(1).pfn).toBe(p1);
    expect(mem().isLocked(p1)).toBe(false);
    expect(mem().folioRefcount(p1)).toBe(1);
    expect(mem().mapcountOf(p1)).toBe(1);
    expect(mem().testPageFlag(p1, PG_ANON_EXCLUSIVE)).toBe(true);
    expect(kindOf(0)).toBe(PTE_DEVICE_PRIVATE);
    expect(kindOf(2)).toBe(PTE_DEVICE_PRIVATE);
    audit();
    expectPage(0, 1);
    expectPage(1, 2);
    expectPage(2, 3);
  });

  it('R-MIG-10/13: the dst WRITE bit is informational; CPU permissions come from the migration entry or, for holes, the VMA', () => {
    map(1);
    fill(0, 1);
    map(1, 4);
    fill(4, 2);
    expect(task.mprotect(BASE + 4 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    map(1, 8, PROT_READ);
    const run = (p: number, dstWrite: boolean) => {
      const args = dev.args(mm, V + p, V + p + 1, MIGRATE_VMA_SELECT_SYSTEM);
      expect(migrateVmaSetup(args)).toBe(0);
      dev.fillToDevice(args, { dstWrite });
      migrateVmaPages(args);
      migrateVmaFinalize(args);
    };
    run(0, false);
    run(4, true);
    run(8, true);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(4).flags).toBe(PTE_DEVICE_PRIVATE);
    expect(pte(8).flags).toBe(PTE_DEVICE_PRIVATE);
    audit();
    expect(task.write(BASE + 8 * PAGE_SIZE, page(1)).signal).toBe(11);
    expectPage(4, 2);
    expect(readPage(8)).toEqual(new Uint8Array(PAGE_SIZE));
  });

  it('R-MIG-11: no data is copied by the kernel: the destination holds what the driver put there', () => {
    map(1);
    fill(0, 0x77);
    const args = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    dev.fillToDevice(args, { copy: false });
    const d = migratePfnToPfn(args.dst[0]);
    migrateVmaPages(args);
    expect(mem().content.isZero(d)).toBe(true);
    migrateVmaFinalize(args);
    expect(mem().content.isZero(d)).toBe(true);
    expect(readPage(0)).toEqual(new Uint8Array(PAGE_SIZE));
    audit();
  });

  it('R-MIG-11: holes become new exclusive anonymous pages: device-private writable iff VM_WRITE, coherent present writable+dirty iff VM_WRITE, one MIGRATE event from the first hole to the end', () => {
    map(4);
    fill(0, 1);
    rec.clear();
    const args = dev.args(mm, V, V + 4, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    dev.fillToDevice(args);
    migrateVmaPages(args);
    expect(events()).toEqual(['migrate 0 4 A', 'migrate 1 4 A']);
    migrateVmaFinalize(args);
    for (let p = 1; p < 4; p++) {
      const d = pte(p).pfn;
      expect(pte(p).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
      expect(mem().folioRefcount(d)).toBe(1);
      expect(mem().mapcountOf(d)).toBe(1);
      expect(mem().isLocked(d)).toBe(false);
      expect(mem().pageFlags(d) & (PG_ANON | PG_ANON_EXCLUSIVE)).toBe(PG_ANON | PG_ANON_EXCLUSIVE);
    }
    // Coherent destinations: present PTEs.
    map(2, 8);
    map(2, 12, PROT_READ);
    for (const at of [8, 12]) {
      const c = coh.args(mm, V + at, V + at + 2, MIGRATE_VMA_SELECT_SYSTEM);
      expect(migrateVmaSetup(c)).toBe(0);
      expect([...c.src]).toEqual([MIG, MIG]);
      coh.fillToDevice(c);
      migrateVmaPages(c);
      migrateVmaFinalize(c);
    }
    for (const p of [8, 9]) {
      expect(pte(p).flags & (PTE_KIND_MASK | PTE_WRITE | PTE_DIRTY)).toBe(
        PTE_PRESENT | PTE_WRITE | PTE_DIRTY,
      );
      expect(mem().zone(pte(p).pfn).kind).toBe(ZONE_DEVICE_COHERENT);
    }
    for (const p of [12, 13]) {
      expect(pte(p).flags & (PTE_KIND_MASK | PTE_WRITE | PTE_DIRTY)).toBe(PTE_PRESENT);
      expect(mem().zone(pte(p).pfn).kind).toBe(ZONE_DEVICE_COHERENT);
    }
    expect(mm.rssAnon).toBe(8);
    audit();
  });

  it('R-MIG-11/13: a hole populated after setup loses MIGRATE and its device page is freed at finalize', () => {
    map(2);
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    dev.fillToDevice(args);
    const d1 = migratePfnToPfn(args.dst[1]);
    fill(1, 0x42); // the CPU populates the hole meanwhile
    migrateVmaPages(args);
    expect(args.src[0]).toBe(MIG);
    expect(args.src[1] & MIG).toBe(0);
    expect(dev.freed).toEqual([]);
    migrateVmaFinalize(args);
    expect(dev.freed).toEqual([d1]);
    expect(mem().folioRefcount(d1)).toBe(0);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(1).kind).toBe(PTE_PRESENT);
    expect(mem().zone(pte(1).pfn).kind).toBe(ZONE_RAM);
    audit();
    expectPage(1, 0x42);
  });

  it('R-MIG-11: a shmem page cannot go to device memory: MIGRATE cleared, mapping restored, the device page freed', () => {
    map(2, 0, RW, MAP_SHARED | MAP_ANONYMOUS);
    fill(0, 5);
    fill(1, 6);
    const p = [pte(0).pfn, pte(1).pfn];
    const args = dev.args(mm, V, V + 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect([...args.src]).toEqual([migratePfn(p[0]) + MIG + WR, migratePfn(p[1]) + MIG + WR]);
    dev.fillToDevice(args);
    const d = [...args.dst].map(migratePfnToPfn);
    migrateVmaPages(args);
    expect([...args.src]).toEqual([migratePfn(p[0]) + WR, migratePfn(p[1]) + WR]);
    migrateVmaFinalize(args);
    expect(dev.freed).toEqual(d);
    for (let i = 0; i < 2; i++) {
      expect(pte(i).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
      expect(pte(i).pfn).toBe(p[i]);
      expect(mem().isLocked(p[i])).toBe(false);
    }
    audit();
    expectPage(0, 5);
    expectPage(1, 6);
  });

  it('R-MIG-11/R-MIG-13: a shmem page migrated to a system page: the page cache and every mapping use the new page, and the old one loses its last reference', () => {
    const fd = task.openTmpfile(PAGE_SIZE);
    expect(task.mmap(BASE, PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd)).toBe(BASE);
    fill(0, 0x11);
    const old = pte(0).pfn;
    const used = mem().usedPages();
    const args = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0]).toBe(migratePfn(old) + MIG + WR);
    expect(fillRam(kernel, args.src, args.dst, 1)).toBe(1);
    const fresh = migratePfnToPfn(args.dst[0]);
    migrateVmaPages(args);
    expect(args.src[0] & MIG).toBe(MIG); // a system destination is allowed for page-cache pages
    migrateVmaFinalize(args);
    expect(pte(0).pfn).toBe(fresh);
    // R-MIG-13: the source lost its last reference (the page cache now holds the new page).
    expect(mem().folioRefcount(old)).toBe(0);
    expect(mem().usedPages()).toBe(used);
    // The file and the mapping see the same bytes.
    fill(0, 0x22);
    expect(task.pread(fd, 0, PAGE_SIZE)).toEqual(page(0x22));
    audit();
  });

  it('R-MIG-11: a reference taken between setup and migrate_vma_pages makes the metadata transfer fail; finalize restores the source', () => {
    map(1);
    fill(0, 8);
    const p0 = pte(0).pfn;
    const args = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    expect(args.src[0] & MIG).toBe(MIG);
    mem().get(p0);
    dev.fillToDevice(args);
    const d = migratePfnToPfn(args.dst[0]);
    migrateVmaPages(args);
    expect(args.src[0]).toBe(migratePfn(p0) + WR);
    migrateVmaFinalize(args);
    expect(dev.freed).toEqual([d]);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(0).pfn).toBe(p0);
    audit([[p0, 1]]);
    mem().put(p0);
    expectPage(0, 8);
    audit();
  });

  it('R-MIG-13: finalize frees the migrated source (system page freed, device page page_free), carries anon-exclusive and unlocks every page', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const ram0 = mem().usedPages();
    const to = dev.migrateToDevice(mm, V, V + 2);
    const d = [...to.dst].map(migratePfnToPfn);
    expect(mem().usedPages()).toBe(ram0 - 2);
    for (const x of d) expect(mem().testPageFlag(x, PG_ANON_EXCLUSIVE)).toBe(true);
    const back = dev.migrateToRam(mm, V, V + 2);
    const r = [...back.dst].map(migratePfnToPfn);
    expect(back.cpages).toBe(2);
    expect(dev.freed).toEqual(d);
    expect(dev.pgmap.allocated).toBe(0);
    expect(mem().usedPages()).toBe(ram0);
    for (let i = 0; i < 2; i++) {
      expect(pte(i).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
      expect(pte(i).pfn).toBe(r[i]);
      expect(mem().isLocked(r[i])).toBe(false);
      expect(mem().folioRefcount(r[i])).toBe(1);
      expect(mem().testPageFlag(r[i], PG_ANON_EXCLUSIVE)).toBe(true);
    }
    audit();
    expectPage(0, 1);
    expectPage(1, 2);
  });

  it('R-MIG-14: a CPU access to a page under migration waits (it cannot complete while the migration entry is there); after finalize it faults the device page back through migrate_to_ram', () => {
    map(1);
    fill(0, 0x31);
    const p0 = pte(0).pfn;
    const args = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(args)).toBe(0);
    dev.fillToDevice(args);
    expect(() => task.read(BASE, 8)).toThrow(LimitError);
    expect(pte(0).kind).toBe(PTE_MIGRATION);
    expect(mem().isLocked(p0)).toBe(true);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    expect(dev.faults.length).toBe(0);
    expectPage(0, 0x31);
    expect(dev.faults.length).toBe(1);
    expect(kindOf(0)).toBe(PTE_PRESENT);
    audit();
  });
});

describe('R-DEVPTE: device entries and CPU access', () => {
  it('R-DEVPTE-1/2: a device-private page is mapped by a device-private entry, counts in the mapcount and in anonymous RSS; a coherent page by a present PTE', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    const rss = mm.rssAnon;
    dev.migrateToDevice(mm, V, V + 1);
    coh.migrateToDevice(mm, V + 1, V + 2);
    const d = pte(0).pfn;
    const c = pte(1).pfn;
    expect(pte(0).kind).toBe(PTE_DEVICE_PRIVATE);
    expect(dev.owns(d)).toBe(true);
    expect(mem().mapcountOf(d)).toBe(1);
    expect(pte(1).kind).toBe(PTE_PRESENT);
    expect(coh.owns(c)).toBe(true);
    expect(mem().mapcountOf(c)).toBe(1);
    expect(mm.rssAnon).toBe(rss);
    audit();
  });

  it('R-DEVPTE-3/4: a CPU read of a device-private entry calls migrate_to_ram once with the vma, address, page and flags, the page locked and referenced; the page comes back with its writability', () => {
    map(2);
    fill(0, 0x3c);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    rec.clear();
    expectPage(0, 0x3c);
    expect(dev.faults.length).toBe(1);
    const f = dev.faults[0];
    expect(f.vmf.vma).toBe(mm.vmas.find(V));
    expect(f.vmf.vpn).toBe(V);
    expect(f.vmf.pfn).toBe(d);
    expect(f.vmf.flags & FAULT_FLAG_WRITE).toBe(0);
    expect(f.locked).toBe(true);
    expect(f.refcount).toBe(2); // the mapping's and the fault path's
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(mem().zone(pte(0).pfn).kind).toBe(ZONE_RAM);
    expect(dev.freed).toEqual([d]);
    expect(mem().isLocked(pte(0).pfn)).toBe(false);
    // R-NOTIF-52: the fault itself announces nothing; migrate_to_ram's migrate_vma does (MIGRATE, owner).
    expect(events()).toEqual(['migrate 0 1 A']);
    audit();
  });

  it('R-DEVPTE-3: a CPU write to a device-private entry passes FAULT_FLAG_WRITE and lands in the migrated page', () => {
    map(1);
    fill(0, 1);
    dev.migrateToDevice(mm, V, V + 1);
    fill(0, 2);
    expect(dev.faults.length).toBe(1);
    expect(dev.faults[0].vmf.flags & FAULT_FLAG_WRITE).toBe(FAULT_FLAG_WRITE);
    expectPage(0, 2);
    audit();
  });

  it('R-DEVPTE-3: migrate_to_ram returning VM_FAULT_SIGBUS gives the CPU SIGBUS and GUP -EFAULT; returning 0 without migrating re-executes the access', () => {
    map(1);
    fill(0, 0x10);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    dev.onFault = () => VM_FAULT_SIGBUS;
    const r = task.read(BASE, 16);
    expect(r.signal).toBe(7);
    expect(r.bytesDone).toBe(0);
    expect(getUserPages(mm, V, 1, FOLL_GET, [])).toBe(-EFAULT);
    expect(pte(0).kind).toBe(PTE_DEVICE_PRIVATE);
    expect(mem().isLocked(d)).toBe(false);
    expect(mem().folioRefcount(d)).toBe(1);
    audit();
    let calls = 0;
    dev.onFault = (vmf) => (++calls === 1 ? 0 : dev.defaultMigrateToRam(vmf));
    dev.faults.length = 0;
    expectPage(0, 0x10);
    expect(calls).toBe(2);
    expect(dev.faults.length).toBe(2);
    audit();
  });

  it('R-DEVPTE-4/R-MIG-7: with fault_page the faulting page (locked and referenced by the fault path) migrates; without it the locked page is skipped', () => {
    map(1);
    fill(0, 0x66);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    // What the fault path does before migrate_to_ram.
    expect(mem().trylock(d)).toBe(true);
    mem().get(d);
    const without = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
    expect(migrateVmaSetup(without)).toBe(0);
    expect(without.src[0]).toBe(0);
    migrateVmaFinalize(without);
    const withFault = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
    withFault.faultPage = d;
    expect(migrateVmaSetup(withFault)).toBe(0);
    expect(withFault.src[0]).toBe(migratePfn(d) + MIG + WR);
    dev.fillToRam(withFault);
    migrateVmaPages(withFault);
    expect(withFault.src[0] & MIG).toBe(MIG);
    migrateVmaFinalize(withFault);
    expect(pte(0).kind).toBe(PTE_PRESENT);
    // The fault page is still locked and referenced by the fault path, which releases it.
    expect(mem().isLocked(d)).toBe(true);
    expect(mem().folioRefcount(d)).toBe(1);
    expect(dev.freed).toEqual([]);
    mem().unlock(d);
    mem().put(d);
    expect(dev.freed).toEqual([d]);
    audit();
    expectPage(0, 0x66);
  });

  it('R-DEVPTE-3: a CPU access to a device-coherent page is an ordinary access to device memory', () => {
    map(1);
    fill(0, 1);
    coh.migrateToDevice(mm, V, V + 1);
    const c = pte(0).pfn;
    fill(0, 0x55);
    expect(pte(0).pfn).toBe(c);
    const buf = new Uint8Array(PAGE_SIZE);
    mem().content.read(c, 0, buf, 0, PAGE_SIZE);
    expect(buf).toEqual(page(0x55));
    expectPage(0, 0x55);
    expect(coh.faults.length).toBe(0);
    audit();
  });
});

describe('R-EVICT: eviction by pfn', () => {
  it('R-EVICT-1/2: migrate_device_range skips free and locked pages, unmaps every mapping in every process with CLEAR (no MIGRATE), then remaps each to a system page with its previous writability', () => {
    map(4);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 2);
    const child = task.fork();
    const cm = child.mm!;
    fill(3, 4); // the parent's own page, writable
    dev.migrateToDevice(mm, V + 3, V + 4);
    const d0 = pte(0).pfn;
    const d1 = pte(1).pfn;
    const d3 = pte(3).pfn;
    const held = dev.allocPage(); // locked by the driver
    const base = dev.pgmap.zone!.sections[0];
    expect([d0, d1, d3, held]).toEqual([base, base + 1, base + 2, base + 3]);
    const recChild = NotifyRecorder.attach(cm);
    rec.clear();
    const n = 8;
    const src = new Float64Array(n).fill(3);
    expect(migrateDeviceRange(kernel, src, base, n)).toBe(0);
    expect([...src]).toEqual([
      migratePfn(d0) + MIG,
      migratePfn(d1) + MIG,
      migratePfn(d3) + MIG,
      0,
      0,
      0,
      0,
      0,
    ]);
    expect(mem().folioRefcount(held)).toBe(1);
    for (const p of [0, 1, 3]) expect(kindOf(p)).toBe(PTE_MIGRATION);
    for (const p of [0, 1]) expect(kindOf(p, cm)).toBe(PTE_MIGRATION);
    expect(pte(3).flags & PTE_WRITE).toBe(PTE_WRITE);
    const all = [...events(), ...events(recChild)];
    expect(all.some((e) => e.startsWith('migrate'))).toBe(false);
    for (const e of ['clear 0 1', 'clear 1 2', 'clear 3 4']) expect(events()).toContain(e);
    for (const e of ['clear 0 1', 'clear 1 2']) expect(events(recChild)).toContain(e);
    audit([
      [d0, 1],
      [d1, 1],
      [d3, 1],
      [held, 1],
    ]);
    const dst = new Float64Array(n);
    expect(fillRam(kernel, src, dst, n)).toBe(3);
    migrateDevicePages(kernel, src, dst, n);
    for (let i = 0; i < 3; i++) expect(src[i] & MIG).toBe(MIG);
    migrateDeviceFinalize(kernel, src, dst, n);
    const r = [...dst].map(migratePfnToPfn);
    expect(dev.freed).toEqual([d0, d1, d3]);
    for (const [p, i] of [
      [0, 0],
      [1, 1],
    ]) {
      for (const m of [mm, cm]) {
        expect(pte(p, m).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
        expect(pte(p, m).pfn).toBe(r[i]);
      }
      expect(mem().folioRefcount(r[i])).toBe(2);
      expect(mem().mapcountOf(r[i])).toBe(2);
    }
    expect(pte(3).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(3).pfn).toBe(r[2]);
    expect(mem().isLocked(r[2])).toBe(false);
    audit([[held, 1]]);
    expectPage(0, 1);
    expectPage(1, 2, child);
    expectPage(3, 4);
    expect(dev.faults.length).toBe(0);
    mem().unlock(held);
    mem().put(held);
    expect(dev.pgmap.allocated).toBe(0);
    audit();
  });

  it('R-EVICT-1: a page that fails the reference check gets src 0 and keeps its device mapping', () => {
    map(1);
    fill(0, 1);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    mem().get(d, 2);
    const src = new Float64Array(1);
    expect(migrateDevicePfns(kernel, src, [d])).toBe(0);
    expect(src[0]).toBe(0);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(pte(0).pfn).toBe(d);
    expect(mem().isLocked(d)).toBe(false);
    audit([[d, 2]]);
    mem().put(d, 2);
    audit();
  });

  it('R-EVICT-4: migrate_device_pfns takes arbitrary device pfns', () => {
    map(4);
    for (let p = 0; p < 4; p++) fill(p, 10 + p);
    dev.migrateToDevice(mm, V, V + 4);
    const d = [0, 1, 2, 3].map((p) => pte(p).pfn);
    const pfns = [d[3], d[1]];
    const src = new Float64Array(2);
    const dst = new Float64Array(2);
    expect(migrateDevicePfns(kernel, src, pfns)).toBe(0);
    expect([...src]).toEqual([migratePfn(d[3]) + MIG, migratePfn(d[1]) + MIG]);
    fillRam(kernel, src, dst, 2);
    migrateDevicePages(kernel, src, dst, 2);
    migrateDeviceFinalize(kernel, src, dst, 2);
    expect(dev.freed).toEqual([d[3], d[1]]);
    expect(kindOf(0)).toBe(PTE_DEVICE_PRIVATE);
    expect(kindOf(2)).toBe(PTE_DEVICE_PRIVATE);
    expect(pte(1).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(3).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    audit();
    for (let p = 0; p < 4; p++) expectPage(p, 10 + p);
    audit();
  });

  it('R-EVICT-3: migrate_device_coherent_folio moves a coherent page to a system page (0) and refuses one held by someone else (-EBUSY)', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    coh.migrateToDevice(mm, V, V + 2);
    const c0 = pte(0).pfn;
    const c1 = pte(1).pfn;
    mem().get(c1);
    expect(migrateDeviceCoherentFolio(kernel, c0)).toBe(0);
    expect(mem().zone(pte(0).pfn).kind).toBe(ZONE_RAM);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(coh.freed).toEqual([c0]);
    expect(migrateDeviceCoherentFolio(kernel, c1)).toBe(-EBUSY);
    expect(pte(1).pfn).toBe(c1);
    expect(pte(1).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(mem().isLocked(c1)).toBe(false);
    audit([[c1, 1]]);
    mem().put(c1);
    expectPage(0, 1);
    expectPage(1, 2);
    audit();
  });

  it('R-EVICT-5: a FOLL_LONGTERM pin of a device-coherent page migrates it to RAM first; an ordinary pin stays in place; any GUP on a device-private entry faults it to RAM', () => {
    map(3);
    fill(0, 1);
    fill(1, 2);
    fill(2, 3);
    coh.migrateToDevice(mm, V, V + 2);
    dev.migrateToDevice(mm, V + 2, V + 3);
    const c0 = pte(0).pfn;
    const c1 = pte(1).pfn;
    const pages: number[] = [];
    expect(getUserPages(mm, V, 1, FOLL_PIN | FOLL_LONGTERM, pages)).toBe(1);
    expect(mem().zone(pages[0]).kind).toBe(ZONE_RAM);
    expect(pte(0).pfn).toBe(pages[0]);
    expect(coh.freed).toEqual([c0]);
    const ordinary: number[] = [];
    expect(getUserPages(mm, V + 1, 1, FOLL_PIN, ordinary)).toBe(1);
    expect(ordinary[0]).toBe(c1);
    const priv: number[] = [];
    expect(getUserPages(mm, V + 2, 1, FOLL_PIN, priv)).toBe(1);
    expect(dev.faults.length).toBe(1);
    expect(mem().zone(priv[0]).kind).toBe(ZONE_RAM);
    expect(pte(2).pfn).toBe(priv[0]);
    audit([
      [pages[0], GUP_PIN_COUNTING_BIAS],
      [c1, GUP_PIN_COUNTING_BIAS],
      [priv[0], GUP_PIN_COUNTING_BIAS],
    ]);
    for (const p of [pages[0], c1, priv[0]]) mem().put(p, GUP_PIN_COUNTING_BIAS);
    expectPage(0, 1);
    expectPage(1, 2);
    expectPage(2, 3);
    audit();
  });
});

describe('R-PROT-1 with migration: PROT_NONE stays inaccessible', () => {
  function expectInaccessible(p: number): void {
    expect(pteIsAccessible(pte(p).flags)).toBe(false);
    const r = task.read(BASE + p * PAGE_SIZE, 16);
    expect(r.signal).toBe(SIGSEGV);
    expect(r.bytesDone).toBe(0);
  }

  it('R-EVICT-2/R-PROT-1: a device-private page evicted while its VMA is PROT_NONE comes back as an inaccessible PTE (the CPU still gets SIGSEGV)', () => {
    map(2);
    fill(0, 0x12);
    dev.migrateToDevice(mm, V, V + 1);
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, PROT_NONE)).toBe(0);
    expect(task.read(BASE, 16).signal).toBe(SIGSEGV);
    dev.evict();
    expect(pte(0).kind).toBe(PTE_PRESENT);
    expectInaccessible(0);
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    expectPage(0, 0x12);
    audit();
  });

  it('R-MIG-13/R-PROT-1: a migration of a page of a PROT_NONE VMA that does not happen (declined) or happens (coherent destination) leaves an inaccessible PTE', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, PROT_NONE)).toBe(0);
    expectInaccessible(0);
    const declined = dev.args(mm, V, V + 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(migrateVmaSetup(declined)).toBe(0);
    expect(declined.src[0] & MIG).toBe(MIG);
    migrateVmaFinalize(declined);
    expectInaccessible(0);
    coh.migrateToDevice(mm, V + 1, V + 2);
    expect(coh.owns(pte(1).pfn)).toBe(true);
    expectInaccessible(1);
    audit();
  });

  it('R-MIG-11/R-PROT-1: a hole of a PROT_NONE VMA filled with a device-coherent page is not accessible', () => {
    map(1, 0, PROT_NONE);
    const args = coh.migrateToDevice(mm, V, V + 1);
    expect(args.src[0]).toBe(MIG);
    expect(coh.owns(pte(0).pfn)).toBe(true);
    expectInaccessible(0);
    audit();
  });
});
