import { describe, expect, it } from 'vitest';
import { EINVAL, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from './constants.js';
import { Kernel } from './kernel.js';
import { PTE_WRITE } from './pte.js';

const RW = PROT_READ | PROT_WRITE;
const HUGE = HPAGE_PMD_NR * PAGE_SIZE;

describe('hugetlb', () => {
  it('reserves at mmap, rounds the length to 2 MiB, and fails with -ENOMEM when the pool cannot cover it', () => {
    const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, hugetlbPages: 2 });
    const task = kernel.spawn();
    const a = task.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
    expect(a % HUGE).toBe(0);
    expect(kernel.hugetlb.reserved).toBe(1);
    expect(task.mmap(0, 2 * HUGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB)).toBe(-ENOMEM);
    expect(task.munmap(a + PAGE_SIZE, PAGE_SIZE)).toBe(-EINVAL);
    expect(task.munmap(a, HUGE)).toBe(0);
    expect(kernel.hugetlb.reserved).toBe(0);
  });

  it('a private page is read-only after a read fault, writable after a write; fork shares, a write copies', () => {
    const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, hugetlbPages: 4 });
    const task = kernel.spawn();
    const a = task.mmap(0, HUGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
    task.read(a, 1);
    const vpn = a / PAGE_SIZE;
    expect(task.mm!.pt.hugeFlags(vpn) & PTE_WRITE).toBe(0);
    task.write(a + 5, new Uint8Array([42]));
    expect(task.mm!.pt.hugeFlags(vpn) & PTE_WRITE).toBeTruthy();
    const child = task.fork();
    expect(task.mm!.pt.hugeFlags(vpn) & PTE_WRITE).toBe(0);
    const free = kernel.hugetlb.free;
    child.write(a + 5, new Uint8Array([7]));
    expect(kernel.hugetlb.free).toBe(free - 1);
    expect(task.read(a + 5, 1).data[0]).toBe(42);
    expect(child.read(a + 5, 1).data[0]).toBe(7);
    child.exit();
    task.exit();
    expect(kernel.hugetlb.free).toBe(4);
    expect(kernel.hugetlb.reserved).toBe(0);
  });
});
