import { describe, expect, it } from 'vitest';
import {
  HPAGE_PMD_NR,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  PUD_NR,
} from './constants.js';
import { Kernel } from './kernel.js';
import { PageTable } from './pagetable.js';

const BASE = 0x100000000000;
const RW = PROT_READ | PROT_WRITE;

describe('page table', () => {
  it('allocates each level on demand and finds entries again', () => {
    const pt = new PageTable();
    const vpn = 0x123456789;
    expect(pt.pteTable(vpn)).toBeNull();
    const t = pt.allocPteTable(vpn);
    t.e[(vpn & 511) * 2] = 1;
    expect(pt.pteTable(vpn)).toBe(t);
    expect(pt.pteTable(vpn + HPAGE_PMD_NR)).toBeNull();
    expect([pt.nrPudTables, pt.nrPmdTables, pt.nrPteTables]).toEqual([1, 1, 1]);
  });

  it('munmap frees the tables no VMA needs, and keeps those a neighbour still uses', () => {
    const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
    const task = kernel.spawn();
    const pt = task.mm!.pt;
    task.mmap(BASE, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    task.mmap(BASE + PUD_NR * PAGE_SIZE, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    task.touch(BASE, 8 * PAGE_SIZE, true);
    task.touch(BASE + PUD_NR * PAGE_SIZE, 8 * PAGE_SIZE, true);
    expect(pt.nrPteTables).toBe(2);
    // Unmapping half of the first VMA keeps its PTE table: the other half is still mapped there.
    task.munmap(BASE, 4 * PAGE_SIZE);
    expect(pt.nrPteTables).toBe(2);
    // Unmapping the rest of it frees its PTE and PMD tables; the other 1 GiB slot keeps its own.
    task.munmap(BASE + 4 * PAGE_SIZE, 4 * PAGE_SIZE);
    expect(pt.nrPteTables).toBe(1);
    expect(pt.nrPmdTables).toBe(1);
    expect(pt.firstPopulatedPud(BASE / PAGE_SIZE, BASE / PAGE_SIZE + PUD_NR)).toBe(-1);
  });
});
