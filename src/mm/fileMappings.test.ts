// Mappings of tmpfs files and shared anonymous memory: what the page cache shares, what a private
// mapping copies, fault-around, and SIGBUS past the end of the file.

import { beforeEach, describe, expect, it } from 'vitest';
import { fnv1a, patternPage } from '../../test/pattern.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from './constants.js';
import { SIGBUS } from './cpuAccess.js';
import { Kernel } from './kernel.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_WRITE } from './pte.js';
import type { Task } from './task.js';

const RW = PROT_READ | PROT_WRITE;
let kernel: Kernel;
let task: Task;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  task = kernel.spawn();
});

function entry(t: Task, addr: number): number {
  const vpn = addr / PAGE_SIZE;
  return t.mm!.pt.pteTable(vpn)?.e[(vpn & 511) * 2] ?? 0;
}

function sums(data: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < data.length; i += PAGE_SIZE) out.push(fnv1a(data.subarray(i, i + PAGE_SIZE)));
  return out;
}

describe('shared file mapping', () => {
  it('stores through the mapping are the file, and pwrite shows through the mapping', () => {
    const fd = task.openTmpfile(4 * PAGE_SIZE);
    const addr = task.mmap(0, 4 * PAGE_SIZE, RW, MAP_SHARED, fd);
    expect(task.write(addr + PAGE_SIZE, patternPage(5, 1)).signal).toBe(0);
    expect(sums(task.pread(fd, PAGE_SIZE, PAGE_SIZE) as Uint8Array)).toEqual([fnv1a(patternPage(5, 1))]);
    expect(task.pwrite(fd, 2 * PAGE_SIZE, patternPage(6, 2))).toBe(PAGE_SIZE);
    expect(sums(task.read(addr + 2 * PAGE_SIZE, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(6, 2))]);
  });

  it('a read fault maps the page writable (tmpfs needs no write notification)', () => {
    const fd = task.openTmpfile(PAGE_SIZE);
    const addr = task.mmap(0, PAGE_SIZE, RW, MAP_SHARED, fd);
    task.read(addr, 1);
    expect(entry(task, addr) & PTE_WRITE).toBeTruthy();
  });

  it('fault-around maps the cached pages of the aligned 16-page window, not the others', () => {
    const fd = task.openTmpfile(40 * PAGE_SIZE);
    for (let i = 0; i < 40; i += 3) task.pwrite(fd, i * PAGE_SIZE, patternPage(1, i));
    const addr = task.mmap(0x100000000000, 40 * PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd);
    // The window is aligned on PTE indexes: around page 17 it is pages 16..31.
    task.read(addr + 17 * PAGE_SIZE, 1);
    const mapped: number[] = [];
    for (let i = 0; i < 40; i++)
      if ((entry(task, addr + i * PAGE_SIZE) & PTE_KIND_MASK) === PTE_PRESENT) mapped.push(i);
    expect(mapped).toEqual([17, 18, 21, 24, 27, 30]);
  });

  it('an access past the end of the file is SIGBUS', () => {
    const fd = task.openTmpfile(2 * PAGE_SIZE);
    const addr = task.mmap(0, 4 * PAGE_SIZE, RW, MAP_SHARED, fd);
    const r = task.read(addr, 4 * PAGE_SIZE);
    expect(r.signal).toBe(SIGBUS);
    expect(r.bytesDone).toBe(2 * PAGE_SIZE);
  });

  it('shared anonymous memory stays shared across fork', () => {
    const addr = task.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS);
    const child = task.fork();
    expect(child.write(addr, patternPage(3, 0)).signal).toBe(0);
    expect(sums(task.read(addr, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(3, 0))]);
  });
});

describe('private file mapping', () => {
  it('reads see the file until the page is written; a write copies; DONTNEED drops the copy', () => {
    const fd = task.openTmpfile(2 * PAGE_SIZE);
    task.pwrite(fd, 0, patternPage(1, 0));
    const addr = task.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE, fd);
    expect(sums(task.read(addr, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(1, 0))]);
    expect(entry(task, addr) & PTE_WRITE).toBe(0);
    task.pwrite(fd, 0, patternPage(2, 0));
    expect(sums(task.read(addr, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(2, 0))]);
    expect(task.write(addr, patternPage(3, 0)).signal).toBe(0);
    expect(sums(task.pread(fd, 0, PAGE_SIZE) as Uint8Array)).toEqual([fnv1a(patternPage(2, 0))]);
    expect(task.madvise(addr, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(sums(task.read(addr, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(2, 0))]);
  });

  it('the file and its pages outlive close(fd) while mapped, and are freed with the last unmap', () => {
    const fd = task.openTmpfile(2 * PAGE_SIZE);
    const addr = task.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, fd);
    task.write(addr, patternPage(4, 0));
    expect(task.close(fd)).toBe(0);
    expect(sums(task.read(addr, PAGE_SIZE).data)).toEqual([fnv1a(patternPage(4, 0))]);
    expect(task.munmap(addr, 2 * PAGE_SIZE)).toBe(0);
    expect(kernel.mem.usedPages()).toBe(0);
    expect(kernel.mem.liveMappings).toBe(0);
  });
});
