// Calls the kernel rejects up front (unaligned addresses, zero lengths, ranges past the 47-bit user
// space, unknown flags) return the kernel's errno and leave every address space exactly as it was.
// Where Linux answers something other than EINVAL (zero-length mprotect succeeds, a fixed mapping
// past TASK_SIZE is ENOMEM, MAP_FIXED_NOREPLACE over a mapping is EEXIST) the model follows Linux.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dumpKernel } from '../../test/mmDump.js';
import { EEXIST, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
} from './constants.js';
import { Kernel } from './kernel.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const RW = PROT_READ | PROT_WRITE;

/** A process with a few mappings in varied states, so a wrong change would show in the dump. */
function populated(): { kernel: Kernel; task: Task } {
  const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  const task = kernel.spawn();
  expect(task.mmap(BASE, 16 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  task.write(BASE, new Uint8Array(5 * PAGE_SIZE).fill(3));
  task.read(BASE + 8 * PAGE_SIZE, PAGE_SIZE);
  expect(task.mprotect(BASE + 12 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
  task.fork();
  return { kernel, task };
}

type BadCall = { name: string; errno: number; call: (t: Task) => number };

const unaligned = fc.integer({ min: 1, max: PAGE_SIZE - 1 }).map((off) => BASE + off);
const anyLen = fc.integer({ min: 1, max: 64 * PAGE_SIZE });

const badCalls: fc.Arbitrary<BadCall> = fc.oneof(
  unaligned.chain((addr) =>
    anyLen.map((len) => ({
      name: `munmap unaligned ${addr}`,
      errno: -EINVAL,
      call: (t: Task) => t.munmap(addr, len),
    })),
  ),
  fc.constant({ name: 'munmap zero length', errno: -EINVAL, call: (t: Task) => t.munmap(BASE, 0) }),
  fc.integer({ min: 1, max: 1024 }).map((pages) => ({
    name: `munmap past TASK_SIZE by ${pages} pages`,
    errno: -EINVAL,
    call: (t: Task) => t.munmap(TASK_SIZE - PAGE_SIZE, (pages + 1) * PAGE_SIZE),
  })),
  fc.constant({ name: 'munmap at 2^48', errno: -EINVAL, call: (t: Task) => t.munmap(2 ** 48, PAGE_SIZE) }),
  unaligned.map((addr) => ({
    name: `mprotect unaligned ${addr}`,
    errno: -EINVAL,
    call: (t: Task) => t.mprotect(addr, PAGE_SIZE, PROT_READ),
  })),
  fc.integer({ min: 8, max: 1 << 20 }).map((prot) => ({
    name: `mprotect bad prot ${prot}`,
    errno: -EINVAL,
    call: (t: Task) => t.mprotect(BASE, PAGE_SIZE, prot | 8),
  })),
  fc.constant({ name: 'mprotect zero length', errno: 0, call: (t: Task) => t.mprotect(BASE, 0, PROT_READ) }),
  fc.constant({
    name: 'mprotect beyond the user space',
    errno: -ENOMEM,
    call: (t: Task) => t.mprotect(2 ** 47, PAGE_SIZE, PROT_READ),
  }),
  unaligned.map((addr) => ({
    name: `madvise unaligned ${addr}`,
    errno: -EINVAL,
    call: (t: Task) => t.madvise(addr, PAGE_SIZE, MADV_DONTNEED),
  })),
  fc.integer({ min: 100, max: 1000 }).map((advice) => ({
    name: `madvise unknown advice ${advice}`,
    errno: -EINVAL,
    call: (t: Task) => t.madvise(BASE, PAGE_SIZE, advice),
  })),
  fc.constant({
    name: 'madvise zero length',
    errno: 0,
    call: (t: Task) => t.madvise(BASE, 0, MADV_DONTNEED),
  }),
  fc.constant({
    name: 'mmap zero length',
    errno: -EINVAL,
    call: (t: Task) => t.mmap(0, 0, RW, MAP_PRIVATE | MAP_ANONYMOUS),
  }),
  fc.constant({
    name: 'mmap neither shared nor private',
    errno: -EINVAL,
    call: (t: Task) => t.mmap(0, PAGE_SIZE, RW, MAP_ANONYMOUS),
  }),
  unaligned.map((addr) => ({
    name: `mmap fixed unaligned ${addr}`,
    errno: -EINVAL,
    call: (t: Task) => t.mmap(addr, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
  })),
  fc.constant({
    name: 'mmap fixed past TASK_SIZE',
    errno: -ENOMEM,
    call: (t: Task) => t.mmap(TASK_SIZE, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
  }),
  fc.integer({ min: 0, max: 15 }).map((page) => ({
    name: `mmap fixed-noreplace over page ${page}`,
    errno: -EEXIST,
    call: (t: Task) =>
      t.mmap(BASE + page * PAGE_SIZE, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE),
  })),
);

describe('bad calls', () => {
  it('return the kernel errno and change nothing', () => {
    fc.assert(
      fc.property(badCalls, (bad) => {
        const { kernel, task } = populated();
        const before = dumpKernel(kernel);
        expect(bad.call(task), bad.name).toBe(bad.errno);
        expect(dumpKernel(kernel), bad.name).toBe(before);
      }),
      { numRuns: 200, seed: 0xbad },
    );
  });
});
