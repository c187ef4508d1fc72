// fork, COW, munmap, exit and mprotect with device entries against ../shared/spec/migrate-device.md
// sections 8 and 9 (R-FORK-1..7, R-PROT-0..2) and mmu-notifiers.md section 7.

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import { fillRam, MEMORY_DEVICE_COHERENT, pteAt, TestDevice } from '../../test/testDevice.js';
import { auditMm } from '../check/mmAudit.js';
import {
  GUP_PIN_COUNTING_BIAS,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from './constants.js';
import { SIGSEGV } from './cpuAccess.js';
import { makeDeviceExclusiveRange } from './deviceExclusive.js';
import { FOLL_PIN, FOLL_WRITE, getUserPages } from './gup.js';
import { Kernel } from './kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDevicePfns,
  migratePfn,
} from './migrateDevice.js';
import type { Mm } from './mm.js';
import { PG_ANON_EXCLUSIVE, ZONE_DEVICE_COHERENT, ZONE_RAM } from './physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIG_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_WRITE,
  pteIsAccessible,
} from './pte.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let mm: Mm;
let dev: TestDevice;
let rec: NotifyRecorder;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes' });
  task = kernel.spawn();
  mm = task.mm!;
  dev = new TestDevice(kernel, { name: 'forkdev' });
  rec = NotifyRecorder.attach(mm);
});

function map(npages: number, at = 0, prot = RW): void {
  const addr = BASE + at * PAGE_SIZE;
  expect(task.mmap(addr, npages * PAGE_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(addr);
}

function page(byte: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE).fill(byte);
  b[100] = byte ^ 0x3c;
  return b;
}

function fill(p: number, byte: number, t: Task = task): void {
  expect(t.write(BASE + p * PAGE_SIZE, page(byte)).signal).toBe(0);
}

function expectPage(p: number, byte: number, t: Task = task): void {
  const r = t.read(BASE + p * PAGE_SIZE, PAGE_SIZE);
  expect(r.signal).toBe(0);
  expect(r.data).toEqual(page(byte));
}

function events(r: NotifyRecorder = rec): string[] {
  return r.log
    .filter((e) => e.kind === 'start')
    .map(
      (e) =>
        `${e.event} ${e.start - V} ${e.end - V}${e.owner == null ? '' : e.owner === dev.owner ? ' D' : ' other'}`,
    );
}

function pte(p: number, m: Mm = mm) {
  return pteAt(m, V + p);
}

function audit(extra: [number, number][] = []): void {
  expect(auditMm(kernel, { extraRefs: new Map(extra) })).toEqual([]);
}

const mem = () => kernel.mem;

describe('R-FORK-1..5: fork', () => {
  it('R-FORK-1: a writable device-private entry is shared with the child: same page, +1 reference and mapcount, no longer anon-exclusive, both read-only, under the parent PROTECTION_PAGE event', () => {
    map(4);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    const rss = mm.rssAnon;
    rec.clear();
    const child = task.fork();
    const cm = child.mm!;
    expect(events()).toEqual(['protection_page 0 4']);
    for (const m of [mm, cm]) {
      expect(pte(0, m).flags).toBe(PTE_DEVICE_PRIVATE);
      expect(pte(0, m).pfn).toBe(d);
    }
    expect(mem().folioRefcount(d)).toBe(2);
    expect(mem().mapcountOf(d)).toBe(2);
    expect(mem().testPageFlag(d, PG_ANON_EXCLUSIVE)).toBe(false);
    expect(cm.rssAnon).toBe(rss);
    expect(dev.faults.length).toBe(0);
    audit();
  });

  it('R-FORK-2: a parent write to a shared device-private page runs migrate_to_ram for the parent, converts the child mapping too (CLEAR on the child), and leaves the parent a private writable copy and the child the migrated page', () => {
    map(2);
    fill(0, 0x41);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    const child = task.fork();
    const cm = child.mm!;
    const recChild = NotifyRecorder.attach(cm);
    rec.clear();
    const cow = kernel.stats.get('mm.cow_copies');
    fill(0, 0x42);
    expect(dev.faults.length).toBe(1);
    expect(dev.faults[0].vmf.vma.mm).toBe(mm);
    expect(events(recChild)).toEqual(['clear 0 1']);
    expect(events()[0]).toBe('migrate 0 1 D');
    expect(events()[events().length - 1]).toBe('clear 0 1'); // the COW break
    expect(kernel.stats.get('mm.cow_copies')).toBe(cow + 1);
    expect(dev.freed).toEqual([d]);
    const mine = pte(0);
    const theirs = pte(0, cm);
    expect(mine.flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(theirs.flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(mine.pfn).not.toBe(theirs.pfn);
    expect(mem().zone(mine.pfn).kind).toBe(ZONE_RAM);
    expect(mem().zone(theirs.pfn).kind).toBe(ZONE_RAM);
    expect(mem().folioRefcount(theirs.pfn)).toBe(1);
    expect(mem().mapcountOf(theirs.pfn)).toBe(1);
    audit();
    expectPage(0, 0x42);
    expectPage(0, 0x41, child);
    // The child's page is its alone now: its write reuses it.
    fill(0, 0x43, child);
    expect(pte(0, cm).pfn).toBe(theirs.pfn);
    expect(kernel.stats.get('mm.cow_copies')).toBe(cow + 1);
    expectPage(0, 0x42);
    expectPage(0, 0x43, child);
    expect(dev.faults.length).toBe(1);
    audit();
  });

  it('R-FORK-2: a child read of a shared device-private page brings it back for both, read-only, on one system page', () => {
    map(1);
    fill(0, 0x51);
    dev.migrateToDevice(mm, V, V + 1);
    const child = task.fork();
    const cm = child.mm!;
    expectPage(0, 0x51, child);
    expect(dev.faults.length).toBe(1);
    expect(dev.faults[0].vmf.vma.mm).toBe(cm);
    expect(pte(0).pfn).toBe(pte(0, cm).pfn);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(0, cm).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(mem().mapcountOf(pte(0).pfn)).toBe(2);
    expect(dev.pgmap.allocated).toBe(0);
    audit();
    expectPage(0, 0x51);
  });

  it('R-FORK-3: device-coherent pages fork like anonymous pages; a write copies into a new system page (never device memory); a possibly pinned page is copied for the child at fork', () => {
    const coh = new TestDevice(kernel, { type: MEMORY_DEVICE_COHERENT });
    map(2);
    fill(0, 1);
    fill(1, 2);
    coh.migrateToDevice(mm, V, V + 2);
    const c0 = pte(0).pfn;
    const c1 = pte(1).pfn;
    const pins: number[] = [];
    expect(getUserPages(mm, V + 1, 1, FOLL_PIN | FOLL_WRITE, pins)).toBe(1);
    expect(pins[0]).toBe(c1);
    const child = task.fork();
    const cm = child.mm!;
    // Page 0: shared read-only.
    expect(pte(0).pfn).toBe(c0);
    expect(pte(0, cm).pfn).toBe(c0);
    expect(pte(0).flags & PTE_WRITE).toBe(0);
    expect(pte(0, cm).flags & PTE_WRITE).toBe(0);
    expect(mem().folioRefcount(c0)).toBe(2);
    // Page 1 (pinned): the child got its own system copy at once; the parent keeps the device page.
    expect(pte(1).pfn).toBe(c1);
    expect(pte(1).flags & PTE_WRITE).toBe(PTE_WRITE);
    expect(mem().zone(pte(1, cm).pfn).kind).toBe(ZONE_RAM);
    expectPage(1, 2, child);
    // A write to the shared coherent page copies into system RAM.
    fill(0, 3);
    expect(mem().zone(pte(0).pfn).kind).toBe(ZONE_RAM);
    expect(pte(0, cm).pfn).toBe(c0);
    expect(coh.allocatedPfns().length).toBe(2);
    // The child, now alone on the coherent page, reuses it in place.
    fill(0, 4, child);
    expect(pte(0, cm).pfn).toBe(c0);
    expect(mem().zone(c0).kind).toBe(ZONE_DEVICE_COHERENT);
    audit([[c1, GUP_PIN_COUNTING_BIAS]]);
    expectPage(0, 3);
    expectPage(0, 4, child);
    mem().put(c1, GUP_PIN_COUNTING_BIAS);
    audit();
  });

  it('R-FORK-4: migration entries are copied at fork, writable ones downgraded to readable on both sides; after the migration both map the new page read-only', () => {
    map(1);
    fill(0, 0x61);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    const src = new Float64Array(1);
    const dst = new Float64Array(1);
    migrateDevicePfns(kernel, src, [d]);
    expect(src[0]).toBe(migratePfn(d) + MIGRATE_PFN_MIGRATE);
    expect(pte(0).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_MIGRATION | PTE_WRITE);
    const rss = mm.rssAnon;
    const child = task.fork();
    const cm = child.mm!;
    for (const m of [mm, cm]) {
      expect(pte(0, m).flags & (PTE_KIND_MASK | PTE_WRITE | PTE_MIG_EXCLUSIVE)).toBe(PTE_MIGRATION);
      expect(pte(0, m).pfn).toBe(d);
    }
    expect(cm.rssAnon).toBe(rss);
    audit([[d, 1]]);
    fillRam(kernel, src, dst, 1);
    migrateDevicePages(kernel, src, dst, 1);
    migrateDeviceFinalize(kernel, src, dst, 1);
    const r = pte(0).pfn;
    expect(pte(0, cm).pfn).toBe(r);
    for (const m of [mm, cm]) expect(pte(0, m).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(mem().folioRefcount(r)).toBe(2);
    expect(mem().mapcountOf(r)).toBe(2);
    expect(dev.freed).toEqual([d]);
    audit();
    fill(0, 0x62);
    expect(pte(0).pfn).not.toBe(r);
    expectPage(0, 0x61, child);
    audit();
  });

  it('R-FORK-5: a device-exclusive entry is restored in the parent (no EXCLUSIVE event, the PROTECTION_PAGE tells the device) and copied as a COW page', () => {
    map(2);
    fill(0, 0x71);
    const pages: number[] = [];
    expect(makeDeviceExclusiveRange(mm, V, V + 1, pages, dev.owner)).toBe(1);
    mem().unlock(pages[0]);
    mem().put(pages[0]);
    expect(pte(0).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    rec.clear();
    const child = task.fork();
    const cm = child.mm!;
    expect(events()).toEqual(['protection_page 0 2']);
    for (const m of [mm, cm]) {
      expect(pte(0, m).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
      expect(pte(0, m).pfn).toBe(pages[0]);
    }
    expect(mem().folioRefcount(pages[0])).toBe(2);
    expect(mem().mapcountOf(pages[0])).toBe(2);
    audit();
    rec.clear();
    fill(0, 0x72);
    expect(events()).toEqual(['clear 0 1']);
    expect(pte(0).pfn).not.toBe(pages[0]);
    expectPage(0, 0x71, child);
    audit();
  });
});

describe('R-FORK-6/7: munmap and exit', () => {
  it('R-FORK-6: munmap of a device-private entry drops RSS, mapcount and the reference (page_free on the last); a page shared with a child is freed only when both unmapped it', () => {
    map(2);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 2);
    const d0 = pte(0).pfn;
    const d1 = pte(1).pfn;
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(dev.freed).toEqual([d0]);
    expect(mm.rssAnon).toBe(1);
    const child = task.fork();
    expect(task.munmap(BASE + PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(dev.freed).toEqual([d0]);
    expect(mem().folioRefcount(d1)).toBe(1);
    expect(mem().mapcountOf(d1)).toBe(1);
    expect(mm.rssAnon).toBe(0);
    audit();
    expect(child.munmap(BASE, 2 * PAGE_SIZE)).toBe(0);
    expect(dev.freed).toEqual([d0, d1]);
    expect(child.mm!.rssAnon).toBe(0);
    audit();
  });

  it('R-FORK-6: zapping a migration entry only drops RSS; the migration then completes without leaking either page', () => {
    map(1);
    fill(0, 1);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pte(0).pfn;
    const src = new Float64Array(1);
    const dst = new Float64Array(1);
    migrateDevicePfns(kernel, src, [d]);
    const used = mem().usedPages();
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(mm.rssAnon).toBe(0);
    expect(mem().folioRefcount(d)).toBe(1);
    audit([[d, 1]]);
    fillRam(kernel, src, dst, 1);
    migrateDevicePages(kernel, src, dst, 1);
    migrateDeviceFinalize(kernel, src, dst, 1);
    expect(dev.freed).toEqual([d]);
    expect(mem().usedPages()).toBe(used);
    expect(dev.pgmap.allocated).toBe(0);
    audit();
  });

  it('R-FORK-7: exit frees every device page only the exiting process mapped, after the RELEASE and UNMAP notifications; shared ones survive until the last user', () => {
    map(3);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 2);
    const shared = pte(0).pfn;
    const child = task.fork();
    fill(2, 3);
    dev.migrateToDevice(mm, V + 2, V + 3);
    const own = pte(2).pfn;
    const at = new Map<number, number>();
    dev.onPageFree = (pfn) => at.set(pfn, rec.log.length);
    task.exit();
    const releaseIdx = rec.log.findIndex((e) => e.kind === 'release');
    const unmapIdx = rec.log.findIndex((e) => e.kind === 'start' && e.event === 'unmap');
    expect(releaseIdx).toBeGreaterThanOrEqual(0);
    expect(unmapIdx).toBeGreaterThan(releaseIdx);
    expect(at.get(own)).toBeGreaterThan(unmapIdx);
    expect(dev.freed).toContain(own);
    expect(dev.freed).not.toContain(shared);
    expect(mem().mapcountOf(shared)).toBe(1);
    audit();
    child.exit();
    expect(dev.pgmap.allocated).toBe(0);
    expect(mem().usedPages()).toBe(0);
    audit();
  });
});

describe('R-PROT-0..2: mprotect', () => {
  it('R-PROT-0: mprotect with the protection a VMA already has changes nothing and sends nothing', () => {
    map(2);
    fill(0, 1);
    dev.migrateToDevice(mm, V, V + 1);
    rec.clear();
    expect(task.mprotect(BASE, 2 * PAGE_SIZE, RW)).toBe(0);
    expect(events()).toEqual([]);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
  });

  it('R-PROT-1: whatever the new protection, writable device-private, device-exclusive and migration entries lose write (migration: readable-exclusive); present PTEs follow the new protection if exclusive; one PROTECTION_VMA', () => {
    map(5);
    fill(3, 4);
    const child = task.fork(); // page 3 is shared from now on
    fill(0, 1);
    fill(1, 2);
    fill(2, 3);
    fill(4, 5);
    dev.migrateToDevice(mm, V, V + 1);
    dev.migrateToDevice(mm, V + 4, V + 5);
    const pages: number[] = [];
    expect(makeDeviceExclusiveRange(mm, V + 1, V + 2, pages, dev.owner)).toBe(1);
    mem().unlock(pages[0]);
    mem().put(pages[0]);
    const d4 = pte(4).pfn;
    const src = new Float64Array(1);
    const dst = new Float64Array(1);
    migrateDevicePfns(kernel, src, [d4]); // eviction in progress: a writable migration entry
    expect(pte(4).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_MIGRATION | PTE_WRITE);
    rec.clear();
    expect(task.mprotect(BASE, 5 * PAGE_SIZE, RW | PROT_EXEC)).toBe(0);
    expect(events()).toEqual(['protection_vma 0 5']);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE);
    expect(pte(1).flags).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(pte(2).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(pte(3).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(pte(4).flags & (PTE_KIND_MASK | PTE_WRITE | PTE_MIG_EXCLUSIVE)).toBe(
      PTE_MIGRATION | PTE_MIG_EXCLUSIVE,
    );
    audit([[d4, 1]]);
    fillRam(kernel, src, dst, 1);
    migrateDevicePages(kernel, src, dst, 1);
    migrateDeviceFinalize(kernel, src, dst, 1);
    const r4 = pte(4).pfn;
    expect(pte(4).flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(mem().testPageFlag(r4, PG_ANON_EXCLUSIVE)).toBe(true);
    const cow = kernel.stats.get('mm.cow_copies');
    fill(4, 6);
    expect(pte(4).pfn).toBe(r4);
    expect(kernel.stats.get('mm.cow_copies')).toBe(cow);
    audit();
    expectPage(0, 1);
    expectPage(1, 2);
    expectPage(2, 3);
    expectPage(3, 4);
    expectPage(3, 4, child);
    expectPage(4, 6);
    audit();
  });

  it('R-PROT-2: a device-private entry made read-only by mprotect faults on a CPU write: migrate_to_ram brings the page back read-only but anon-exclusive and the write upgrades it without a copy', () => {
    map(1);
    fill(0, 0x21);
    dev.migrateToDevice(mm, V, V + 1);
    expect(task.mprotect(BASE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(task.mprotect(BASE, PAGE_SIZE, RW)).toBe(0);
    expect(pte(0).flags).toBe(PTE_DEVICE_PRIVATE);
    let after: { flags: number; pfn: number; exclusive: boolean } | null = null;
    dev.onFault = (vmf) => {
      const rc = dev.defaultMigrateToRam(vmf);
      const e = pte(0);
      after = { flags: e.flags, pfn: e.pfn, exclusive: mem().testPageFlag(e.pfn, PG_ANON_EXCLUSIVE) };
      return rc;
    };
    const cow = kernel.stats.get('mm.cow_copies');
    const reuse = kernel.stats.get('mm.wp_reuses');
    fill(0, 0x22);
    expect(dev.faults.length).toBe(1);
    expect(dev.faults[0].vmf.flags & 1).toBe(1);
    expect(after).not.toBe(null);
    const a = after!;
    expect(a.flags & (PTE_KIND_MASK | PTE_WRITE)).toBe(PTE_PRESENT);
    expect(a.exclusive).toBe(true);
    expect(pte(0).pfn).toBe(a.pfn);
    expect(pte(0).flags & PTE_WRITE).toBe(PTE_WRITE);
    expect(kernel.stats.get('mm.cow_copies')).toBe(cow);
    expect(kernel.stats.get('mm.wp_reuses')).toBe(reuse + 1);
    expectPage(0, 0x22);
    audit();
  });
});

describe('R-FORK with PROT_NONE: restored and copied PTEs keep the protection', () => {
  function expectInaccessible(t: Task, p: number): void {
    expect(pteIsAccessible(pte(p, t.mm!).flags)).toBe(false);
    expect(t.read(BASE + p * PAGE_SIZE, 16).signal).toBe(SIGSEGV);
  }

  it('R-FORK-2/R-PROT-1: when a fork-shared device-private page comes back to RAM for one process, the other process mapping in a PROT_NONE VMA stays inaccessible', () => {
    map(1);
    fill(0, 0x24);
    dev.migrateToDevice(mm, V, V + 1);
    const child = task.fork();
    expect(child.mprotect(BASE, PAGE_SIZE, PROT_NONE)).toBe(0);
    expectPage(0, 0x24); // the parent's fault converts both mappings
    expect(dev.faults.length).toBe(1);
    expect(pte(0, child.mm!).kind).toBe(PTE_PRESENT);
    expectInaccessible(child, 0);
    audit();
  });

  it('R-FORK-5/R-PROT-1: fork of a device-exclusive entry in a PROT_NONE VMA restores inaccessible PTEs in parent and child', () => {
    map(1);
    fill(0, 0x25);
    const pages: number[] = [];
    expect(makeDeviceExclusiveRange(mm, V, V + 1, pages, dev.owner)).toBe(1);
    mem().unlock(pages[0]);
    mem().put(pages[0]);
    expect(task.mprotect(BASE, PAGE_SIZE, PROT_NONE)).toBe(0);
    expect(pte(0).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    const child = task.fork();
    expect(pte(0).kind).toBe(PTE_PRESENT);
    expectInaccessible(task, 0);
    expectInaccessible(child, 0);
    audit();
  });

  it('R-FORK-3/R-PROT-1: a possibly pinned device-coherent page of a PROT_NONE VMA is copied for the child as an inaccessible PTE', () => {
    const coh = new TestDevice(kernel, { type: MEMORY_DEVICE_COHERENT });
    map(1);
    fill(0, 0x26);
    coh.migrateToDevice(mm, V, V + 1);
    const c = pte(0).pfn;
    const pins: number[] = [];
    expect(getUserPages(mm, V, 1, FOLL_PIN | FOLL_WRITE, pins)).toBe(1);
    expect(task.mprotect(BASE, PAGE_SIZE, PROT_NONE)).toBe(0);
    const child = task.fork();
    expect(pte(0, child.mm!).pfn).not.toBe(c);
    expectInaccessible(child, 0);
    audit([[c, GUP_PIN_COUNTING_BIAS]]);
    mem().put(c, GUP_PIN_COUNTING_BIAS);
  });
});
