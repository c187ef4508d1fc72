// dev_pagemap, memremap_pages, zone_device_page_init and memunmap_pages against
// ../shared/spec/migrate-device.md sections 1 and 7.1 (R-PGMAP-1..6, R-EVICT-6/7).

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import { pteAt, TestDevice } from '../../test/testDevice.js';
import { auditMm } from '../check/mmAudit.js';
import { EINVAL } from '../sim/errno.js';
import { KernelBug } from '../sim/errors.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from './constants.js';
import {
  DevPagemap,
  type DevPagemapOps,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  pagePgmap,
  zoneDevicePageInit,
} from './devmap.js';
import { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import {
  PG_ANON,
  PG_ANON_EXCLUSIVE,
  PG_LOCKED,
  ZONE_DEVICE_COHERENT,
  ZONE_DEVICE_PRIVATE,
} from './physmem.js';
import { PTE_DEVICE_PRIVATE, PTE_PRESENT } from './pte.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let mm: Mm;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes' });
  task = kernel.spawn();
  mm = task.mm!;
});

function map(npages: number, t: Task = task): void {
  expect(t.mmap(BASE, npages * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
}

function fill(p: number, byte: number, t: Task = task): void {
  expect(t.write(BASE + p * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(byte)).signal).toBe(0);
}

function expectPage(p: number, byte: number, t: Task = task): void {
  const r = t.read(BASE + p * PAGE_SIZE, PAGE_SIZE);
  expect(r.signal).toBe(0);
  expect(r.data).toEqual(new Uint8Array(PAGE_SIZE).fill(byte));
}

function audit(extra: [number, number][] = []): void {
  expect(auditMm(kernel, { extraRefs: new Map(extra) })).toEqual([]);
}

const noop: DevPagemapOps = { pageFree: () => {}, migrateToRam: () => 0 };

function pgmap(type: number, owner: unknown, ops: Partial<DevPagemapOps>, nrPages = 8): DevPagemap {
  return new DevPagemap({ type, owner, ops: ops as DevPagemapOps, nrPages, name: 'validation' });
}

describe('R-PGMAP-2/3/4: memremap_pages', () => {
  it('R-PGMAP-4: no pages, device-private without migrate_to_ram, page_free or owner, device-coherent without page_free or owner are -EINVAL', () => {
    const owner = { dev: 1 };
    const bad = [
      pgmap(MEMORY_DEVICE_PRIVATE, owner, noop, 0),
      pgmap(MEMORY_DEVICE_COHERENT, owner, noop, 0),
      pgmap(MEMORY_DEVICE_PRIVATE, owner, { pageFree: noop.pageFree }),
      pgmap(MEMORY_DEVICE_PRIVATE, owner, { migrateToRam: noop.migrateToRam }),
      pgmap(MEMORY_DEVICE_PRIVATE, null, noop),
      pgmap(MEMORY_DEVICE_PRIVATE, undefined, noop),
      pgmap(MEMORY_DEVICE_COHERENT, owner, { migrateToRam: noop.migrateToRam }),
      pgmap(MEMORY_DEVICE_COHERENT, null, { pageFree: noop.pageFree }),
    ];
    const zones = kernel.mem.zones.length;
    for (const p of bad) {
      expect(memremapPages(kernel, p)).toBe(-EINVAL);
      expect(p.live).toBe(false);
      expect(p.zone).toBe(null);
    }
    expect(kernel.mem.zones.length).toBe(zones);
  });

  it('R-PGMAP-2/3/4: a valid device-private or device-coherent map (coherent needs no migrate_to_ram) is live with all its pages free', () => {
    const owner = { dev: 2 };
    const priv = pgmap(MEMORY_DEVICE_PRIVATE, owner, noop, 16);
    const coh = pgmap(MEMORY_DEVICE_COHERENT, owner, { pageFree: noop.pageFree }, 16);
    for (const [p, kind] of [
      [priv, ZONE_DEVICE_PRIVATE],
      [coh, ZONE_DEVICE_COHERENT],
    ] as const) {
      expect(memremapPages(kernel, p)).toBe(0);
      expect(p.live).toBe(true);
      expect(p.zone!.kind).toBe(kind);
      expect(p.zone!.owner).toBe(owner);
      expect(p.zone!.freePages).toBe(16);
      expect(p.allocated).toBe(0);
      const pfn = zoneDevicePageInit(kernel, p);
      expect(pagePgmap(kernel, pfn)).toBe(p);
      expect(kernel.mem.zone(pfn).kind).toBe(kind);
      kernel.mem.unlock(pfn);
      kernel.mem.put(pfn);
    }
  });
});

describe('R-PGMAP-5: device page reference counts', () => {
  it('R-PGMAP-5: zone_device_page_init hands out a page with refcount 1, locked, holding a page-map reference; an exhausted map has none left', () => {
    const dev = new TestDevice(kernel, { nrPages: 3 });
    const pfns = [dev.allocPage(), dev.allocPage(), dev.allocPage()];
    expect(new Set(pfns).size).toBe(3);
    for (const pfn of pfns) {
      expect(kernel.mem.folioRefcount(pfn)).toBe(1);
      expect(kernel.mem.isLocked(pfn)).toBe(true);
      expect(dev.owns(pfn)).toBe(true);
    }
    expect(dev.pgmap.allocated).toBe(3);
    expect(zoneDevicePageInit(kernel, dev.pgmap)).toBeLessThan(0);
    expect(dev.pgmap.allocated).toBe(3);
    for (const pfn of pfns) {
      kernel.mem.unlock(pfn);
      kernel.mem.put(pfn);
    }
    expect(dev.freed).toEqual(pfns);
    expect(dev.pgmap.allocated).toBe(0);
  });

  it('R-PGMAP-5: when the last reference goes the core clears anon-exclusive state and the mapping, calls page_free once and drops the page-map reference; the refcount stays 0 and the page can be handed out again', () => {
    const dev = new TestDevice(kernel, { nrPages: 1 });
    map(1);
    fill(0, 3);
    dev.migrateToDevice(mm, V, V + 1);
    const d = pteAt(mm, V).pfn;
    const mem = kernel.mem;
    expect(mem.pageFlags(d) & (PG_ANON | PG_ANON_EXCLUSIVE)).toBe(PG_ANON | PG_ANON_EXCLUSIVE);
    expect(mem.mappingOf(d)).not.toBe(0);
    expect(dev.pgmap.allocated).toBe(1);
    let seenRefcount = -1;
    dev.onPageFree = (pfn) => {
      seenRefcount = mem.folioRefcount(pfn);
    };
    expect(task.munmap(BASE, PAGE_SIZE)).toBe(0);
    expect(dev.freed).toEqual([d]);
    expect(seenRefcount).toBe(0);
    expect(mem.folioRefcount(d)).toBe(0);
    expect(mem.pageFlags(d) & (PG_ANON | PG_ANON_EXCLUSIVE | PG_LOCKED)).toBe(0);
    expect(mem.mappingOf(d)).toBe(0);
    expect(dev.pgmap.allocated).toBe(0);
    audit();
    // The only page of the map is free again.
    expect(dev.allocPage()).toBe(d);
    expect(mem.folioRefcount(d)).toBe(1);
  });

  it('R-PGMAP-5/R-EVICT-6: zone_device_page_init after the map was killed is rejected', () => {
    const dev = new TestDevice(kernel);
    let done = false;
    expect(memunmapPages(dev.pgmap, () => (done = true))).toBe(0);
    expect(done).toBe(true);
    expect(() => zoneDevicePageInit(kernel, dev.pgmap)).toThrow(KernelBug);
  });
});

describe('R-PGMAP-1/R-DEVPTE-2: page kinds', () => {
  it('R-PGMAP-1: device-private memory is not CPU-addressable (non-present entry, reached only through migrate_to_ram); device-coherent memory is mapped and accessed in place', () => {
    const priv = new TestDevice(kernel);
    const coh = new TestDevice(kernel, { type: MEMORY_DEVICE_COHERENT });
    map(2);
    fill(0, 1);
    fill(1, 2);
    priv.migrateToDevice(mm, V, V + 1);
    coh.migrateToDevice(mm, V + 1, V + 2);
    expect(pteAt(mm, V).kind).toBe(PTE_DEVICE_PRIVATE);
    expect(pteAt(mm, V + 1).kind).toBe(PTE_PRESENT);
    expectPage(1, 2);
    expect(coh.faults.length).toBe(0);
    expect(pteAt(mm, V + 1).pfn).toBe(coh.allocatedPfns()[0]);
    expectPage(0, 1);
    expect(priv.faults.length).toBe(1);
    expect(pteAt(mm, V).kind).toBe(PTE_PRESENT);
    audit();
  });
});

describe('R-PGMAP-6/R-EVICT-6/R-EVICT-7: memunmap_pages', () => {
  it('R-PGMAP-6/R-EVICT-6: memunmap_pages kills the map at once and completes only when every page was freed (eviction, munmap, exit)', () => {
    const dev = new TestDevice(kernel);
    map(4);
    for (let p = 0; p < 4; p++) fill(p, 10 + p);
    dev.migrateToDevice(mm, V, V + 4);
    const child = task.fork();
    const cm = child.mm!;
    const rec = NotifyRecorder.attach(mm);
    let done = 0;
    expect(memunmapPages(dev.pgmap, () => done++)).toBe(4);
    expect(dev.pgmap.live).toBe(false);
    expect(done).toBe(0);
    // Eviction of two pages: both processes now map system pages there.
    const d = [0, 1, 2, 3].map((p) => pteAt(mm, V + p).pfn);
    dev.evict([d[0], d[1]]);
    expect(done).toBe(0);
    expect(dev.pgmap.allocated).toBe(2);
    expect(rec.starts(V).every((s) => s.startsWith('clear'))).toBe(true);
    // The parent unmaps page 2: still mapped by the child.
    expect(task.munmap(BASE + 2 * PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(done).toBe(0);
    child.exit();
    expect(done).toBe(0);
    expect(dev.pgmap.allocated).toBe(1);
    audit();
    task.exit();
    expect(done).toBe(1);
    expect(dev.pgmap.allocated).toBe(0);
    expect([...dev.freed].sort()).toEqual([...d].sort());
    expect(cm.torndown).toBe(true);
    audit();
  });

  it('R-EVICT-6/R-EVICT-7: a page held by a stuck reference cannot be evicted and keeps unplug blocked (reported as held) until the reference goes', () => {
    const dev = new TestDevice(kernel);
    map(2);
    fill(0, 1);
    fill(1, 2);
    dev.migrateToDevice(mm, V, V + 2);
    const d0 = pteAt(mm, V).pfn;
    const d1 = pteAt(mm, V + 1).pfn;
    kernel.mem.get(d1, 2); // a stuck holder
    let done = false;
    expect(memunmapPages(dev.pgmap, () => (done = true))).toBe(2);
    const { src } = dev.evict();
    expect(src.filter((w) => w !== 0).length).toBe(1);
    expect(pteAt(mm, V).kind).toBe(PTE_PRESENT);
    expect(pteAt(mm, V + 1).kind).toBe(PTE_DEVICE_PRIVATE);
    expect(dev.freed).toEqual([d0]);
    expect(done).toBe(false);
    expect(dev.pgmap.allocated).toBe(1);
    audit([[d1, 2]]);
    kernel.mem.put(d1, 2);
    expect(done).toBe(false);
    dev.evict();
    expect(done).toBe(true);
    expect(dev.pgmap.allocated).toBe(0);
    expectPage(0, 1);
    expectPage(1, 2);
    audit();
  });
});
