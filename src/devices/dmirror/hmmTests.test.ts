// The cases of tools/testing/selftests/mm/hmm-tests.c that need only READ, WRITE, SNAPSHOT and
// ordinary memory system calls, run against the model with the values the selftest asserts
// (../shared/spec/hmm-tests-catalog.md, assertion ids T<n>-<k>). Private variant only (devices 0
// and 1). Cases that need migration, device-exclusive access, RELEASE or coherent devices are not
// here yet: those commands are not modeled.

import { describe, expect, it } from 'vitest';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import type { Task } from '../../mm/task.js';
import { EFAULT, EPERM } from '../../sim/errno.js';
import {
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from './uapi.js';
import {
  align,
  cpuLoad,
  cpuStore,
  DEFAULT_HUGE_PAGE_SIZE,
  fillInts,
  hmm2Setup,
  hmm2Teardown,
  HMM_BUFFER_SIZE,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmSetup,
  hmmTeardown,
  INTS_PER_PAGE,
  intBytes,
  ints,
  intMismatch,
  NPAGES,
  NTIMES,
  TWOMEG,
} from '../../../test/hmmTestsHarness.js';

const RW = PROT_READ | PROT_WRITE;
const ANON_PRIVATE = MAP_PRIVATE | MAP_ANONYMOUS;
const identity = (i: number): number => i;
const negated = (i: number): number => -i;

/** mmap(2) that the selftest asserts != MAP_FAILED. */
function mmapOk(task: Task, len: number, prot: number, flags: number, fd = -1): number {
  const addr = task.mmap(0, len, prot, flags, fd, 0);
  expect(addr, 'mmap').toBeGreaterThan(0);
  return addr;
}

describe('hmm-tests.c, hmm fixture (hmm_device_private)', () => {
  it('T1 open_close: open >= 0 (T1-1), close == 0 (T1-2)', () => {
    const self = hmmSetup(0);
    expect(self.fd).toBeGreaterThanOrEqual(0);
    hmmTeardown(self);
  });

  it('T2 anon_read: mprotect READ (T2-1), zero page read 0 (T2-2), READ 0/1024/1 (T2-3..5), mirror pages 0-1 zero (T2-6), rest = i (T2-7)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);

    // Pages 0 and 1 stay untouched; ints of pages 2.. get their index.
    const first = 2 * INTS_PER_PAGE;
    cpuStore(
      task,
      buffer.ptr + 2 * PAGE_SIZE,
      intBytes(size / 4 - first, (i) => first + i),
    );
    expect(task.mprotect(buffer.ptr, size, PROT_READ), 'T2-1').toBe(0);
    // A read of page 1 maps the zero page there.
    expect(ints(cpuLoad(task, buffer.ptr + PAGE_SIZE, 4))[0], 'T2-2').toBe(0);

    const rc = hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES);
    expect(rc, 'T2-3').toBe(0);
    expect(buffer.cpages, 'T2-4').toBe(NPAGES);
    expect(buffer.faults, 'T2-5').toBe(1);
    expect(
      intMismatch(buffer.mirror, () => 0, 'mirror', 0, first),
      'T2-6',
    ).toBeUndefined();
    expect(intMismatch(buffer.mirror, identity, 'mirror', first), 'T2-7').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T3 anon_read_prot: READ on PROT_NONE -EFAULT (T3-1), CPU still sees i (T3-2), mirror untouched -i (T3-3)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
    cpuStore(task, buffer.ptr, intBytes(size / 4, identity));
    fillInts(buffer.mirror, negated);
    expect(task.mprotect(buffer.ptr, size, PROT_NONE)).toBe(0);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES), 'T3-1').toBe(-EFAULT);

    expect(task.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);
    expect(intMismatch(cpuLoad(task, buffer.ptr, size), identity, 'ptr'), 'T3-2').toBeUndefined();
    expect(intMismatch(buffer.mirror, negated, 'mirror'), 'T3-3').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T4 anon_write: WRITE 0/1024/1 (T4-1..3), CPU sees i (T4-4)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
    fillInts(buffer.mirror, identity);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, NPAGES), 'T4-1').toBe(0);
    expect(buffer.cpages, 'T4-2').toBe(NPAGES);
    expect(buffer.faults, 'T4-3').toBe(1);
    expect(intMismatch(cpuLoad(task, buffer.ptr, size), identity, 'ptr'), 'T4-4').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T5 anon_write_prot: READ 1 page 0/1/1 (T5-1..3), WRITE -EPERM (T5-4), CPU sees 0 (T5-5), after mprotect RW WRITE 0/1024/1 (T5-6..8), CPU sees i (T5-9)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, PROT_READ, ANON_PRIVATE);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, 1), 'T5-1').toBe(0);
    expect(buffer.cpages, 'T5-2').toBe(1);
    expect(buffer.faults, 'T5-3').toBe(1);

    fillInts(buffer.mirror, identity);
    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, NPAGES), 'T5-4').toBe(-EPERM);
    expect(
      intMismatch(cpuLoad(task, buffer.ptr, size), () => 0, 'ptr'),
      'T5-5',
    ).toBeUndefined();

    expect(task.mprotect(buffer.ptr, size, RW)).toBe(0);
    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, NPAGES), 'T5-6').toBe(0);
    expect(buffer.cpages, 'T5-7').toBe(NPAGES);
    expect(buffer.faults, 'T5-8').toBe(1);
    expect(intMismatch(cpuLoad(task, buffer.ptr, size), identity, 'ptr'), 'T5-9').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  /**
   * T6/T7: fork, then the child opens its own mirror of device 0 and writes -i through it. The
   * model runs the child's part to completion (it exits) before the parent's checks, as waitpid
   * makes the parent wait. The mirror user buffer is process memory, so the child gets a copy.
   */
  function anonWriteChild(shared: boolean, ids: 'T6' | 'T7'): void {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, RW, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS);
    cpuStore(task, buffer.ptr, intBytes(size / 4, identity));
    fillInts(buffer.mirror, negated);

    const child = task.fork();
    {
      const childBuffer = { ...buffer, mirror: buffer.mirror.slice() };
      expect(
        intMismatch(cpuLoad(child, buffer.ptr, size), identity, 'child ptr'),
        `${ids}-c1`,
      ).toBeUndefined();
      expect(intMismatch(childBuffer.mirror, negated, 'child mirror'), `${ids}-c2`).toBeUndefined();
      // Device 0 whatever the variant: the child needs its own mirror of its own mm.
      const childFd = driver.open(child, 0);
      expect(childFd, `${ids}-c3`).toBeGreaterThanOrEqual(0);
      expect(hmmDmirrorCmd(driver, child, childFd, HMM_DMIRROR_WRITE, childBuffer, NPAGES), `${ids}-c4`).toBe(
        0,
      );
      expect(childBuffer.cpages, `${ids}-c5`).toBe(NPAGES);
      expect(childBuffer.faults, `${ids}-c6`).toBe(1);
      expect(
        intMismatch(cpuLoad(child, buffer.ptr, size), negated, 'child ptr'),
        `${ids}-c7`,
      ).toBeUndefined();
      child.close(childFd);
      child.exit();
    }

    // waitpid: the child ran to its exit(0).
    expect(child.alive, `${ids}-p1`).toBe(false);
    const parentSees = shared ? negated : identity;
    expect(
      intMismatch(cpuLoad(task, buffer.ptr, size), parentSees, 'parent ptr'),
      `${ids}-p2`,
    ).toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  }

  it('T6 anon_write_child: child sees i (T6-c1), mirror -i (T6-c2), opens dmirror0 (T6-c3), WRITE 0/1024/1 (T6-c4..6), child sees -i (T6-c7); child exited (T6-p1), parent still i (T6-p2)', () => {
    anonWriteChild(false, 'T6');
  });

  it('T7 anon_write_child_shared: child assertions as T6 (T7-c1..c7); child exited (T7-p1), parent sees -i (T7-p2)', () => {
    anonWriteChild(true, 'T7');
  });

  it('T8 anon_write_huge: madvise(MADV_HUGEPAGE) 0 (T8-1), WRITE 512 pages 0/512/1 (T8-2..4), CPU sees i (T8-5)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const buffer = hmmBufferAlloc(2 * TWOMEG);
    buffer.ptr = mmapOk(task, buffer.size, RW, ANON_PRIVATE);
    const size = TWOMEG;
    const npages = size / PAGE_SIZE;
    const map = align(buffer.ptr, size);
    expect(task.madvise(map, size, MADV_HUGEPAGE), 'T8-1').toBe(0);
    const oldPtr = buffer.ptr;
    buffer.ptr = map;
    fillInts(buffer.mirror.subarray(0, size), identity);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, npages), 'T8-2').toBe(0);
    expect(buffer.cpages, 'T8-3').toBe(npages);
    expect(buffer.faults, 'T8-4').toBe(1);
    expect(intMismatch(cpuLoad(task, map, size), identity, 'ptr'), 'T8-5').toBeUndefined();

    buffer.ptr = oldPtr;
    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T9 anon_write_hugetlbfs: WRITE on MAP_HUGETLB 0/512/1 (T9-1..3), CPU sees i (T9-4)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = align(TWOMEG, DEFAULT_HUGE_PAGE_SIZE);
    const npages = size / PAGE_SIZE;
    const buffer = hmmBufferAlloc(size);
    // The selftest SKIPs when this mmap fails; the modeled machine has hugetlb pages reserved.
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE | MAP_HUGETLB);
    fillInts(buffer.mirror, identity);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, npages), 'T9-1').toBe(0);
    expect(buffer.cpages, 'T9-2').toBe(npages);
    expect(buffer.faults, 'T9-3').toBe(1);
    expect(intMismatch(cpuLoad(task, buffer.ptr, size), identity, 'ptr'), 'T9-4').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T10 file_read: pwrite full length (T10-1), READ of a shared file map 0/1024/1 (T10-2..4), mirror = i (T10-5)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const fd = task.openTmpfile(size);
    expect(fd, 'hmm_create_file').toBeGreaterThanOrEqual(0);
    const buffer = hmmBufferAlloc(size);
    buffer.fd = fd;
    fillInts(buffer.mirror, identity);
    expect(task.pwrite(fd, 0, buffer.mirror), 'T10-1').toBe(size);
    buffer.mirror.fill(0);
    buffer.ptr = mmapOk(task, size, PROT_READ, MAP_SHARED, fd);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES), 'T10-2').toBe(0);
    expect(buffer.cpages, 'T10-3').toBe(NPAGES);
    expect(buffer.faults, 'T10-4').toBe(1);
    expect(intMismatch(buffer.mirror, identity, 'mirror'), 'T10-5').toBeUndefined();

    hmmBufferFree(task, buffer);
    // The selftest leaves the file to process exit.
    expect(task.close(fd)).toBe(0);
    hmmTeardown(self);
  });

  it('T11 file_write: WRITE of a shared file map 0/1024/1 (T11-1..3), CPU sees i (T11-4), pread 4 MiB (T11-5) equal to i (T11-6)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    const fd = task.openTmpfile(size);
    expect(fd, 'hmm_create_file').toBeGreaterThanOrEqual(0);
    const buffer = hmmBufferAlloc(size);
    buffer.fd = fd;
    buffer.ptr = mmapOk(task, size, RW, MAP_SHARED, fd);
    fillInts(buffer.mirror, identity);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_WRITE, buffer, NPAGES), 'T11-1').toBe(0);
    expect(buffer.cpages, 'T11-2').toBe(NPAGES);
    expect(buffer.faults, 'T11-3').toBe(1);
    expect(intMismatch(cpuLoad(task, buffer.ptr, size), identity, 'ptr'), 'T11-4').toBeUndefined();

    const file = task.pread(fd, 0, size);
    expect(file, 'T11-5').toBeInstanceOf(Uint8Array);
    const bytes = file as Uint8Array;
    expect(bytes.length, 'T11-5').toBe(size);
    expect(intMismatch(bytes, identity, 'file'), 'T11-6').toBeUndefined();

    hmmBufferFree(task, buffer);
    expect(task.close(fd)).toBe(0);
    hmmTeardown(self);
  });

  it('T19 anon_read_multiple: 10 fresh buffers, READ 0/1024/1 and mirror = i + c each time', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    for (let c = 0; c < NTIMES; c++) {
      const buffer = hmmBufferAlloc(size);
      buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
      const value = (i: number): number => i + c;
      cpuStore(task, buffer.ptr, intBytes(size / 4, value));

      expect(
        hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES),
        `iteration ${c}: rc`,
      ).toBe(0);
      expect(buffer.cpages, `iteration ${c}: cpages`).toBe(NPAGES);
      expect(buffer.faults, `iteration ${c}: faults`).toBe(1);
      expect(intMismatch(buffer.mirror, value, 'mirror'), `iteration ${c}: data`).toBeUndefined();

      hmmBufferFree(task, buffer);
    }
    hmmTeardown(self);
  });

  // T20 anon_teardown races a thread that munmaps the second half of the buffer against a READ on
  // the main thread. The model has no threads yet, so the race is expressed as the two orders it can
  // resolve in, NTIMES iterations each: the munmap lands before the READ (the selftest accepts any
  // non-zero return; -EFAULT is expected, the fault round finds no VMA for the second half), or
  // after it (rc 0, cpages 1024, faults 1, mirror = i + c). (In the selftest the thread also clears
  // buffer->ptr; the model unmaps the rest of the buffer at the end instead of leaking it.)
  it('T20 anon_teardown, munmap of the second half before the READ: READ fails with -EFAULT', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    for (let c = 0; c < NTIMES; c++) {
      const buffer = hmmBufferAlloc(size);
      buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
      cpuStore(
        task,
        buffer.ptr,
        intBytes(size / 4, (i) => i + c),
      );

      expect(task.munmap(buffer.ptr + size / 2, size / 2)).toBe(0);
      const rc = hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES);
      expect(rc, `iteration ${c}: rc`).not.toBe(0);
      expect(rc, `iteration ${c}: rc`).toBe(-EFAULT);

      hmmBufferFree(task, buffer);
    }
    hmmTeardown(self);
  });

  it('T20 anon_teardown, munmap of the second half after the READ: READ 0/1024/1, mirror = i + c', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = HMM_BUFFER_SIZE;
    for (let c = 0; c < NTIMES; c++) {
      const buffer = hmmBufferAlloc(size);
      buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
      const value = (i: number): number => i + c;
      cpuStore(task, buffer.ptr, intBytes(size / 4, value));

      const rc = hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_READ, buffer, NPAGES);
      expect(rc, `iteration ${c}: rc`).toBe(0);
      expect(buffer.cpages, `iteration ${c}: cpages`).toBe(NPAGES);
      expect(buffer.faults, `iteration ${c}: faults`).toBe(1);
      expect(intMismatch(buffer.mirror, value, 'mirror'), `iteration ${c}: data`).toBeUndefined();
      expect(task.munmap(buffer.ptr + size / 2, size / 2)).toBe(0);

      hmmBufferFree(task, buffer);
    }
    hmmTeardown(self);
  });

  it('T21 mixedmap: SNAPSHOT of a MAP_PRIVATE mmap of the device file 0/1 (T21-1,2), m[0] = PROT_READ 0x01 (T21-3)', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const npages = 1;
    const size = npages * PAGE_SIZE;
    const buffer = hmmBufferAlloc(size, npages);
    buffer.ptr = mmapOk(task, size, RW, MAP_PRIVATE, self.fd);

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages), 'T21-1').toBe(0);
    expect(buffer.cpages, 'T21-2').toBe(npages);
    expect(buffer.mirror[0], 'T21-3').toBe(HMM_DMIRROR_PROT_READ);

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });

  it('T23 compound: SNAPSHOT of hugetlb 0/512, every byte WRITE|PMD 0x06; after mprotect READ every byte READ|PMD 0x05', () => {
    const self = hmmSetup();
    const { task, driver } = self;
    const size = align(TWOMEG, DEFAULT_HUGE_PAGE_SIZE);
    const npages = size / PAGE_SIZE;
    const buffer = hmmBufferAlloc(size, npages);
    // The 6.12 selftest passes silently when this mmap fails; the modeled machine has hugetlb pages.
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE | MAP_HUGETLB);
    cpuStore(task, buffer.ptr, intBytes(size / 4, identity));

    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages), 'snapshot rc').toBe(0);
    expect(buffer.cpages, 'snapshot cpages').toBe(npages);
    expect(buffer.mirror[0], 'm[0]').toBe(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
    expect(
      buffer.mirror.findIndex((b) => b !== buffer.mirror[0]),
      'first byte differing from m[0]',
    ).toBe(-1);

    expect(task.mprotect(buffer.ptr, size, PROT_READ), 'mprotect').toBe(0);
    buffer.mirror.fill(0xa5);
    expect(hmmDmirrorCmd(driver, task, self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages), 'snapshot rc').toBe(0);
    expect(buffer.cpages, 'snapshot cpages').toBe(npages);
    expect(buffer.mirror[0], 'm[0] after mprotect').toBe(HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PMD);
    expect(
      buffer.mirror.findIndex((b) => b !== buffer.mirror[0]),
      'first byte differing from m[0] after mprotect',
    ).toBe(-1);

    hmmBufferFree(task, buffer);
    hmmTeardown(self);
  });
});

describe('hmm-tests.c, hmm2 fixture (hmm2_device_private)', () => {
  // Only up to the selftest's MIGRATE_TO_DEV step: migration is not modeled yet.
  it('T24 double_map (up to MIGRATE_TO_DEV): READ fd0 0/6/1 and mirror = i, READ fd1 0/6/1 and mirror = i', () => {
    const self = hmm2Setup();
    const { task, driver } = self;
    const npages = 6;
    const size = npages * PAGE_SIZE;
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = mmapOk(task, size, RW, ANON_PRIVATE);
    cpuStore(task, buffer.ptr, intBytes(size / 4, identity));
    expect(task.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);

    expect(hmmDmirrorCmd(driver, task, self.fd0, HMM_DMIRROR_READ, buffer, npages), 'fd0 READ rc').toBe(0);
    expect(buffer.cpages, 'fd0 READ cpages').toBe(npages);
    expect(buffer.faults, 'fd0 READ faults').toBe(1);
    expect(intMismatch(buffer.mirror, identity, 'mirror'), 'fd0 READ data').toBeUndefined();

    // Not in the selftest: re-poison the mirror so device 1's data check does not see device 0's.
    buffer.mirror.fill(0xa5);
    expect(hmmDmirrorCmd(driver, task, self.fd1, HMM_DMIRROR_READ, buffer, npages), 'fd1 READ rc').toBe(0);
    expect(buffer.cpages, 'fd1 READ cpages').toBe(npages);
    expect(buffer.faults, 'fd1 READ faults').toBe(1);
    expect(intMismatch(buffer.mirror, identity, 'mirror'), 'fd1 READ data').toBeUndefined();

    hmmBufferFree(task, buffer);
    hmm2Teardown(self);
  });
});
