// The pieces of tools/testing/selftests/mm/hmm-tests.c that every case shares, re-expressed over the
// model (see ../shared/spec/hmm-tests-catalog.md section 1): the `hmm` / `hmm2` fixtures and their
// device-private / device-coherent variants (open the dmirror devices in setup, assert close() == 0
// in teardown), the `hmm_buffer` (CPU range + "mirror" user buffer + the outputs of the last
// successful command), the `cmd` helper, a stand-in for the gup_test debugfs device, and the
// int-array views the selftests use for "ptr[i] = i".

import { expect } from 'vitest';
import { type DmirrorCmd, DmirrorDriver } from '../src/devices/dmirror/index.js';
import { PAGE_SIZE, HPAGE_PMD_NR } from '../src/mm/constants.js';
import {
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  putUserPage,
  unpinUserPage,
} from '../src/mm/gup.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Task } from '../src/mm/task.js';
import { EINTR } from '../src/sim/errno.js';

/** Pages of the usual test buffer (HMM_BUFFER_SIZE / page size). */
export const NPAGES = 1024;
export const HMM_BUFFER_SIZE = NPAGES * PAGE_SIZE;
export const TWOMEG = 2 * 1024 * 1024;
export const NTIMES = 10;
/** The default hugetlb page size (/proc/meminfo "Hugepagesize:") of the modeled machine. */
export const DEFAULT_HUGE_PAGE_SIZE = HPAGE_PMD_NR * PAGE_SIZE;
/** Ints per page: "ptr[i] = i" puts ints 1024p .. 1024p + 1023 in page p. */
export const INTS_PER_PAGE = PAGE_SIZE / 4;

/** ALIGN(x, a) for a power-of-two `a`. */
export function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/**
 * The machine the oracle corpus was recorded on: 4 GiB, THP in madvise mode, 64 hugetlb pages. With
 * `coherent` the test_hmm module was loaded with spm_addr_dev0/1, so devices 2 and 3 exist.
 */
export function hmmKernel(coherent = false): { kernel: Kernel; driver: DmirrorDriver } {
  const kernel = new Kernel({
    ramBytes: 4 * 1024 ** 3,
    contentMode: 'bytes',
    thp: 'madvise',
    hugetlbPages: 64,
  });
  return { kernel, driver: new DmirrorDriver(kernel, { coherent }) };
}

/** hmm_is_coherent_type(): units 2 and 3 are the device-coherent ones. */
export function isCoherentUnit(unit: number): boolean {
  return unit >= 2;
}

/** FIXTURE_VARIANT(hmm): which device the fixture opens. */
export interface HmmVariant {
  /** 'device-private' or 'device-coherent', used in test names. */
  readonly name: string;
  /** The kernel selftest's variant name (hmm.<variant>.<test>). */
  readonly variant: string;
  readonly coherent: boolean;
  readonly unit: number;
}

/** FIXTURE_VARIANT(hmm2): which two devices the fixture opens. */
export interface Hmm2Variant {
  readonly name: string;
  readonly variant: string;
  readonly coherent: boolean;
  readonly unit0: number;
  readonly unit1: number;
}

export const HMM_VARIANTS: readonly HmmVariant[] = [
  { name: 'device-private', variant: 'hmm_device_private', coherent: false, unit: 0 },
  { name: 'device-coherent', variant: 'hmm_device_coherent', coherent: true, unit: 2 },
];

export const HMM2_VARIANTS: readonly Hmm2Variant[] = [
  { name: 'device-private', variant: 'hmm2_device_private', coherent: false, unit0: 0, unit1: 1 },
  { name: 'device-coherent', variant: 'hmm2_device_coherent', coherent: true, unit0: 2, unit1: 3 },
];

/** FIXTURE(hmm): one process with /dev/hmm_dmirror0 (private) or /dev/hmm_dmirror2 (coherent) open. */
export interface HmmFixture {
  kernel: Kernel;
  driver: DmirrorDriver;
  task: Task;
  fd: number;
}

/** FIXTURE(hmm2): fd0, fd1 = /dev/hmm_dmirror0 and 1 (private) or 2 and 3 (coherent). */
export interface Hmm2Fixture {
  kernel: Kernel;
  driver: DmirrorDriver;
  task: Task;
  fd0: number;
  fd1: number;
}

/**
 * FIXTURE_SETUP(hmm): asserts the open succeeded. (The selftest SKIPs a coherent variant whose device
 * cannot be opened; here the coherent devices are configured whenever a coherent unit is asked for.)
 */
export function hmmSetup(unit = 0): HmmFixture {
  const { kernel, driver } = hmmKernel(isCoherentUnit(unit));
  const task = kernel.spawn();
  const fd = driver.open(task, unit);
  expect(fd, 'setup: open(/dev/hmm_dmirror)').toBeGreaterThanOrEqual(0);
  return { kernel, driver, task, fd };
}

/** FIXTURE_TEARDOWN(hmm): asserts close() == 0. */
export function hmmTeardown(self: HmmFixture): void {
  expect(self.task.close(self.fd), 'teardown: close(fd)').toBe(0);
  self.fd = -1;
}

/** FIXTURE_SETUP(hmm2): both opens must succeed (the coherent variant SKIPs only on fd0). */
export function hmm2Setup(unit0 = 0, unit1 = 1): Hmm2Fixture {
  const { kernel, driver } = hmmKernel(isCoherentUnit(unit0) || isCoherentUnit(unit1));
  const task = kernel.spawn();
  const fd0 = driver.open(task, unit0);
  expect(fd0, 'setup: open fd0').toBeGreaterThanOrEqual(0);
  const fd1 = driver.open(task, unit1);
  expect(fd1, 'setup: open fd1').toBeGreaterThanOrEqual(0);
  return { kernel, driver, task, fd0, fd1 };
}

export function hmm2Teardown(self: Hmm2Fixture): void {
  expect(self.task.close(self.fd0), 'teardown: close(fd0)').toBe(0);
  self.fd0 = -1;
  expect(self.task.close(self.fd1), 'teardown: close(fd1)').toBe(0);
  self.fd1 = -1;
}

/** struct hmm_buffer: `ptr` is an address in the test process, `mirror` the user buffer. */
export interface HmmBuffer {
  ptr: number;
  mirror: Uint8Array;
  size: number;
  fd: number;
  cpages: number;
  faults: number;
}

/**
 * A buffer with a `mirrorBytes` user buffer. malloc() leaves the contents unspecified; the mirror is
 * filled with a poison byte so that a command which does not write it cannot pass a data check.
 */
export function hmmBufferAlloc(size: number, mirrorBytes = size): HmmBuffer {
  const mirror = new Uint8Array(mirrorBytes);
  mirror.fill(0xa5);
  return { ptr: 0, mirror, size, fd: -1, cpages: 0, faults: 0 };
}

/**
 * hmm_dmirror_cmd(): runs `request` on `npages` pages at `buffer.ptr` with `buffer.mirror` as the
 * data buffer, retrying on EINTR. Returns 0 and copies cpages/faults into the buffer on success;
 * returns -errno and leaves them alone on failure.
 */
export function hmmDmirrorCmd(
  driver: DmirrorDriver,
  task: Task,
  fd: number,
  request: number,
  buffer: HmmBuffer,
  npages: number,
): number {
  const cmd: DmirrorCmd = { addrVpn: buffer.ptr / PAGE_SIZE, npages, cpages: 0, faults: 0 };
  for (;;) {
    const rc = driver.ioctl(task, fd, request, cmd, buffer.mirror);
    if (rc === 0) break;
    if (rc === -EINTR) continue;
    return rc;
  }
  buffer.cpages = cmd.cpages;
  buffer.faults = cmd.faults;
  return 0;
}

/** The gup_test debugfs commands hmm_gup_test uses (mm/gup_test.h). */
export type GupTestCmd =
  'GUP_BASIC_TEST' | 'GUP_FAST_BENCHMARK' | 'PIN_FAST_BENCHMARK' | 'PIN_LONGTERM_BENCHMARK';

/**
 * gup_test_exec(): ioctl(/sys/kernel/debug/gup_test, cmd) on `npages` pages at `addr` with
 * gup_flags FOLL_WRITE | `flags`. The model has no gup_test device; each command is its GUP call
 * followed by the release the module does before returning: GUP_BASIC_TEST and GUP_FAST_BENCHMARK
 * take references (FOLL_GET) and put them; PIN_FAST_BENCHMARK pins with the caller's flags (the
 * selftest passes FOLL_LONGTERM) and PIN_LONGTERM_BENCHMARK pins with FOLL_LONGTERM added, and
 * both unpin. Returns 0 when every page was obtained, else the GUP result (-errno, or the short
 * count): the module itself would only report a short `size`, so this is the stricter reading.
 */
export function gupTestExec(
  task: Task,
  addr: number,
  cmd: GupTestCmd,
  npages: number,
  flags: number,
): number {
  const mm = task.mm;
  if (mm === null) throw new Error('gup_test from an exited process');
  let gupFlags = FOLL_WRITE | flags;
  const pin = cmd === 'PIN_FAST_BENCHMARK' || cmd === 'PIN_LONGTERM_BENCHMARK';
  if (pin) gupFlags |= FOLL_PIN;
  else gupFlags |= FOLL_GET;
  if (cmd === 'PIN_LONGTERM_BENCHMARK') gupFlags |= FOLL_LONGTERM;
  const pages: number[] = [];
  const rc = getUserPages(mm, addr / PAGE_SIZE, npages, gupFlags, pages);
  for (let i = 0; i < Math.max(rc, 0); i++) {
    if (pin) unpinUserPage(mm, pages[i]);
    else putUserPage(mm, pages[i]);
  }
  return rc === npages ? 0 : rc;
}

/** hmm_buffer_free(): munmap(ptr, size) when ptr is set. */
export function hmmBufferFree(task: Task, buffer: HmmBuffer): void {
  if (buffer.ptr !== 0) {
    task.munmap(buffer.ptr, buffer.size);
    buffer.ptr = 0;
  }
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The bytes as C `int`s (x86-64 is little-endian; so must the host be for this view). */
export function ints(bytes: Uint8Array): Int32Array {
  if (!littleEndian) throw new Error('hmm tests assume a little-endian host');
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

/** `count` ints with value f(i) as bytes (f(i) is taken as a C int: wraps to 32 bits). */
export function intBytes(count: number, f: (i: number) => number): Uint8Array {
  const b = new Uint8Array(count * 4);
  fillInts(b, f);
  return b;
}

/** for (i...) ptr[i] = f(i) over the whole byte buffer. */
export function fillInts(bytes: Uint8Array, f: (i: number) => number): void {
  const v = ints(bytes);
  for (let i = 0; i < v.length; i++) v[i] = f(i);
}

/**
 * The first int of `bytes` in [from, to) that is not f(i) (compared as a C int), described as
 * `name[i] = got, expected want`; undefined when all match. Used as `expect(...).toBeUndefined()`.
 */
export function intMismatch(
  bytes: Uint8Array,
  f: (i: number) => number,
  name: string,
  from = 0,
  to = bytes.byteLength >>> 2,
): string | undefined {
  const v = ints(bytes);
  for (let i = from; i < to; i++) {
    const want = f(i) | 0;
    if (v[i] !== want) return `${name}[${i}] = ${v[i]}, expected ${want}`;
  }
  return undefined;
}

/** CPU stores of `bytes` at `addr` by the process; a fault signal would kill the selftest. */
export function cpuStore(task: Task, addr: number, bytes: Uint8Array): void {
  const r = task.write(addr, bytes);
  expect(r.signal, `CPU store at 0x${addr.toString(16)}`).toBe(0);
  expect(r.bytesDone).toBe(bytes.length);
}

/** CPU loads of `len` bytes at `addr` by the process. */
export function cpuLoad(task: Task, addr: number, len: number): Uint8Array {
  const r = task.read(addr, len);
  expect(r.signal, `CPU load at 0x${addr.toString(16)}`).toBe(0);
  expect(r.bytesDone).toBe(len);
  return r.data;
}
