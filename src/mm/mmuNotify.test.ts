// Which page-table changes announce which invalidations (mmu-notifiers.md section 7), observed at
// the mm layer's choke point with a recording stand-in for the notifier layer.

import { beforeEach, describe, expect, it } from 'vitest';
import { NotifyRecorder } from '../../test/notifyRecorder.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VPN_END_MAX,
} from './constants.js';
import { Kernel } from './kernel.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let rec: NotifyRecorder;

function map(npages: number, flags = MAP_PRIVATE | MAP_ANONYMOUS, prot = RW, at = BASE): number {
  const addr = task.mmap(at, npages * PAGE_SIZE, prot, flags | MAP_FIXED);
  expect(addr).toBe(at);
  return addr;
}

function write(page: number, n = 1): void {
  expect(task.write(BASE + page * PAGE_SIZE, new Uint8Array(n * PAGE_SIZE).fill(7)).signal).toBe(0);
}

function read(page: number, n = 1): void {
  expect(task.read(BASE + page * PAGE_SIZE, n * PAGE_SIZE).signal).toBe(0);
}

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, thp: 'madvise' });
  task = kernel.spawn();
  rec = NotifyRecorder.attach(task.mm!);
});

describe('faults', () => {
  it('populating a none entry announces nothing (read maps the zero page, write a new page)', () => {
    map(4);
    read(0);
    write(1);
    write(2);
    expect(rec.starts(V)).toEqual([]);
  });

  it('a write over the zero page is a COW break: CLEAR for that one page', () => {
    map(4);
    read(1);
    write(1);
    expect(rec.starts(V)).toEqual(['clear 1 2']);
  });

  it('a write to an exclusive read-only page reuses it without a notification', () => {
    map(4);
    write(0);
    rec.clear();
    expect(task.mprotect(BASE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(task.mprotect(BASE, PAGE_SIZE, RW)).toBe(0);
    rec.clear();
    write(0);
    expect(rec.starts(V)).toEqual([]);
  });
});

describe('munmap', () => {
  it('one UNMAP for the requested range, even across several VMAs', () => {
    map(8);
    write(0, 8);
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    rec.clear();
    expect(task.munmap(BASE + PAGE_SIZE, 6 * PAGE_SIZE)).toBe(0);
    expect(rec.starts(V)).toEqual(['unmap 1 7']);
  });

  it('nothing mapped in the range: nothing announced', () => {
    map(2);
    rec.clear();
    expect(task.munmap(BASE + 16 * PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(rec.starts(V)).toEqual([]);
  });

  it('the secondary TLB is flushed before the pages are freed', () => {
    map(2);
    write(0, 2);
    const used = kernel.mem.usedPages();
    let usedAtFlush = -1;
    const mm = task.mm!;
    const base = mm.notifier!;
    mm.notifier = {
      invalidateRangeStart: (r) => base.invalidateRangeStart(r),
      invalidateRangeEnd: (r) => base.invalidateRangeEnd(r),
      release: (m) => base.release(m),
      invalidateSecondaryTlbs: () => {
        usedAtFlush = kernel.mem.usedPages();
      },
    };
    expect(task.munmap(BASE, 2 * PAGE_SIZE)).toBe(0);
    expect(usedAtFlush).toBe(used);
    expect(kernel.mem.usedPages()).toBe(used - 2);
  });
});

describe('mprotect', () => {
  it('PROTECTION_VMA over the changed piece when page tables exist', () => {
    map(8);
    write(0);
    rec.clear();
    expect(task.mprotect(BASE + 2 * PAGE_SIZE, 3 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(rec.starts(V)).toEqual(['protection_vma 2 5']);
  });

  it('no page table in the piece: no notification', () => {
    map(8);
    expect(task.mprotect(BASE, 8 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(rec.starts(V)).toEqual([]);
  });

  it('a piece whose flags do not change is skipped entirely', () => {
    map(8);
    write(0);
    rec.clear();
    expect(task.mprotect(BASE, 8 * PAGE_SIZE, RW)).toBe(0);
    expect(rec.starts(V)).toEqual([]);
  });

  it('stops at a hole with -ENOMEM after changing the VMAs before it', () => {
    map(4);
    map(4, MAP_PRIVATE | MAP_ANONYMOUS, RW, BASE + 6 * PAGE_SIZE);
    write(0);
    rec.clear();
    expect(task.mprotect(BASE, 10 * PAGE_SIZE, PROT_READ)).toBe(-12);
    expect(rec.starts(V)).toEqual(['protection_vma 0 4']);
    expect(task.write(BASE, new Uint8Array(1)).signal).toBe(11);
    expect(task.write(BASE + 6 * PAGE_SIZE, new Uint8Array(1)).signal).toBe(0);
  });

  it('splitting a VMA inside a 2 MiB block that lies in it announces a CLEAR of the whole block', () => {
    map(1024);
    write(0);
    rec.clear();
    // The split at page 1 is inside [0, 512) of the VMA; the one at page 2 no longer is (the VMA
    // now starts at page 1), so only one CLEAR, as split_huge_pmd_if_needed decides in 6.12.
    expect(task.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(rec.starts(V)).toEqual(['clear 0 512', 'protection_vma 1 2']);
  });

  it('no PMD table at the split point: no CLEAR', () => {
    map(1024);
    expect(task.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    expect(rec.starts(V)).toEqual([]);
  });
});

describe('fork', () => {
  it('PROTECTION_PAGE on the parent over each whole private VMA that has anonymous pages', () => {
    map(8);
    write(3);
    rec.clear();
    task.fork();
    expect(rec.starts(V)).toEqual(['protection_page 0 8']);
  });

  it('nothing for a private VMA that only ever mapped the zero page (no anon_vma), nor a shared one', () => {
    map(8);
    read(0, 8);
    map(8, MAP_SHARED | MAP_ANONYMOUS, RW, BASE + 16 * PAGE_SIZE);
    write(16);
    rec.clear();
    const child = task.fork();
    expect(rec.starts(V)).toEqual([]);
    // The child did not get the parent's zero-page entries: it would fault them in again.
    expect(child.mm!.pt.pteTable(V)).toBeNull();
  });

  it('a write after fork copies in the writer and announces CLEAR there only', () => {
    map(4);
    write(0);
    const child = task.fork();
    const childRec = NotifyRecorder.attach(child.mm!);
    rec.clear();
    expect(child.write(BASE, new Uint8Array([9])).signal).toBe(0);
    expect(childRec.starts(V)).toEqual(['clear 0 1']);
    expect(rec.starts(V)).toEqual([]);
    // Now the parent's page is no longer shared: its write reuses it in place.
    write(0);
    expect(rec.starts(V)).toEqual([]);
  });
});

describe('madvise and exit', () => {
  it('MADV_DONTNEED announces CLEAR over the range, per VMA, even if nothing is populated', () => {
    map(8);
    expect(task.mprotect(BASE + 4 * PAGE_SIZE, 4 * PAGE_SIZE, PROT_NONE)).toBe(0);
    rec.clear();
    expect(task.madvise(BASE + 2 * PAGE_SIZE, 4 * PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(rec.starts(V)).toEqual(['clear 2 4', 'clear 4 6']);
  });

  it('a THP partly zapped is split first, with a CLEAR of its 2 MiB', () => {
    map(1024);
    expect(task.madvise(BASE, 1024 * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
    write(0);
    expect(task.mm!.pt.hugeFlags(V)).not.toBe(0);
    rec.clear();
    expect(task.madvise(BASE + 8 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(rec.starts(V)).toEqual(['clear 8 9', 'clear 0 512']);
    expect(task.mm!.pt.hugeFlags(V)).toBe(0);
  });

  it('exit: release first, then one UNMAP of the whole space', () => {
    map(4);
    write(0);
    rec.clear();
    task.exit();
    const kinds = rec.log
      .filter((r) => r.kind !== 'tlb')
      .map((r) => (r.kind === 'release' ? 'release' : `${r.kind} ${r.event}`));
    expect(kinds).toEqual(['release', 'start unmap', 'end unmap']);
    const unmap = rec.log.find((r) => r.kind === 'start')!;
    expect([unmap.start, unmap.end]).toEqual([0, VPN_END_MAX]);
  });
});
