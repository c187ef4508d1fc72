// Random sequences of address-space operations, run on the model and on a simple reference (a map
// from page to protection and bytes). Every return code and every byte read must agree, and after
// every operation the frame reference counts must match what the page tables and caches hold.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RefObject, type RefPage, RefProcess } from '../../test/mmReference.js';
import { patternPage } from '../../test/pattern.js';
import { auditMm } from '../check/mmAudit.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from './constants.js';
import { SIGSEGV } from './cpuAccess.js';
import { Kernel, type ThpMode } from './kernel.js';
import type { Task } from './task.js';

const BASE_VPN = 0x100000000000 / PAGE_SIZE;
const PROTS = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE];

type Op =
  | { op: 'mmap'; p: number; a: number; n: number; prot: number; type: number; noreplace: boolean }
  | { op: 'munmap' | 'dontneed' | 'popread' | 'popwrite' | 'hugepage'; p: number; a: number; n: number }
  | { op: 'mprotect'; p: number; a: number; n: number; prot: number }
  | { op: 'read'; p: number; a: number; n: number }
  | { op: 'write'; p: number; a: number; n: number; seed: number }
  | { op: 'pwrite'; p: number; f: number; a: number; n: number; seed: number }
  | { op: 'pread'; p: number; f: number; a: number; n: number }
  | { op: 'fork' | 'exit'; p: number };

function opArb(region: number): fc.Arbitrary<Op> {
  const p = fc.nat(7);
  // Offsets cluster around 2 MiB boundaries so huge-page splits and whole-block cases both happen.
  const edges = [0, 1, 255, 510, 511, 512, 513, 1023, 1024, 1025].filter((x) => x < region);
  const a = region > 64 ? fc.oneof(fc.nat(region - 1), fc.constantFrom(...edges)) : fc.nat(region - 1);
  const span = fc.oneof(
    fc.integer({ min: 1, max: Math.min(region, 24) }),
    fc.constantFrom(...[1, 2, 511, 512, 513, 1024].filter((x) => x <= region)),
  );
  const n = fc.integer({ min: 1, max: 8 });
  const seed = fc.integer({ min: 1, max: 0xffff });
  const prot = fc.constantFrom(...PROTS);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('mmap' as const),
        p,
        a,
        n: span,
        prot,
        type: fc.nat(3),
        noreplace: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('munmap' as const), p, a, n: span }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('mprotect' as const), p, a, n: span, prot }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constantFrom(
          'dontneed' as const,
          'popread' as const,
          'popwrite' as const,
          'hugepage' as const,
        ),
        p,
        a,
        n: span,
      }),
    },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('read' as const), p, a, n }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('write' as const), p, a, n, seed }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('pwrite' as const),
        p,
        f: fc.nat(7),
        a: fc.nat(7),
        n: fc.integer({ min: 1, max: 4 }),
        seed,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('pread' as const),
        p,
        f: fc.nat(7),
        a: fc.nat(7),
        n: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('fork' as const), p }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('exit' as const), p }) },
  );
}

interface Proc {
  task: Task;
  ref: RefProcess;
}

/** Runs `ops` on both sides; throws (via expect) at the first disagreement. */
function runSequence(ops: Op[], region: number, thp: ThpMode): void {
  const kernel = new Kernel({ ramBytes: 256 * 1024 * 1024, contentMode: 'bytes', thp });
  const procs: Proc[] = [{ task: kernel.spawn(), ref: new RefProcess() }];
  const fileFds: { fd: number; obj: RefObject; pages: number }[] = [];
  let nextObj = 1;
  for (const [step, o] of ops.entries()) {
    const proc = procs[o.p % procs.length];
    const { task, ref } = proc;
    const ctx = `step ${step} ${JSON.stringify(o)}`;
    switch (o.op) {
      case 'mmap': {
        const n = Math.min(o.n, region - o.a);
        const vpn = BASE_VPN + o.a;
        const flags = o.noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED;
        let rc: number;
        let make: (i: number) => RefPage;
        if (o.type === 0 || o.type === 1) {
          rc = task.mmap(
            vpn * PAGE_SIZE,
            n * PAGE_SIZE,
            o.prot,
            flags | MAP_ANONYMOUS | (o.type === 0 ? MAP_PRIVATE : MAP_SHARED),
          );
          const obj: RefObject = { id: nextObj++, pages: new Map() };
          make =
            o.type === 0
              ? () => ({ kind: 'anon', prot: 0, data: null })
              : (i) => ({ kind: 'shared', prot: 0, obj, index: i });
        } else {
          const fd = task.openTmpfile(n * PAGE_SIZE);
          const obj: RefObject = { id: nextObj++, pages: new Map() };
          ref.files.set(fd, obj);
          fileFds.push({ fd, obj, pages: n });
          rc = task.mmap(
            vpn * PAGE_SIZE,
            n * PAGE_SIZE,
            o.prot,
            flags | (o.type === 2 ? MAP_SHARED : MAP_PRIVATE),
            fd,
            0,
          );
          make =
            o.type === 2
              ? (i) => ({ kind: 'shared', prot: 0, obj, index: i })
              : (i) => ({ kind: 'filepriv', prot: 0, obj, index: i, copy: null });
        }
        const want = ref.mmap(vpn, n, o.prot, make, o.noreplace);
        expect(rc < 0 ? rc : 0, ctx).toBe(want);
        if (rc >= 0) expect(rc, ctx).toBe(vpn * PAGE_SIZE);
        break;
      }
      case 'munmap':
        expect(task.munmap((BASE_VPN + o.a) * PAGE_SIZE, o.n * PAGE_SIZE), ctx).toBe(
          ref.munmap(BASE_VPN + o.a, o.n),
        );
        break;
      case 'mprotect':
        expect(task.mprotect((BASE_VPN + o.a) * PAGE_SIZE, o.n * PAGE_SIZE, o.prot), ctx).toBe(
          ref.mprotect(BASE_VPN + o.a, o.n, o.prot),
        );
        break;
      case 'dontneed':
        expect(task.madvise((BASE_VPN + o.a) * PAGE_SIZE, o.n * PAGE_SIZE, MADV_DONTNEED), ctx).toBe(
          ref.dontneed(BASE_VPN + o.a, o.n),
        );
        break;
      case 'popread':
      case 'popwrite': {
        const write = o.op === 'popwrite';
        const rc = task.madvise(
          (BASE_VPN + o.a) * PAGE_SIZE,
          o.n * PAGE_SIZE,
          write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ,
        );
        expect(rc, ctx).toBe(ref.populate(BASE_VPN + o.a, o.n, write));
        break;
      }
      case 'hugepage': {
        // Only changes VMA flags (and so where THPs may appear); the reference has nothing to change.
        const rc = task.madvise((BASE_VPN + o.a) * PAGE_SIZE, o.n * PAGE_SIZE, MADV_HUGEPAGE);
        expect([0, -12], ctx).toContain(rc);
        break;
      }
      case 'read': {
        const r = task.read((BASE_VPN + o.a) * PAGE_SIZE, o.n * PAGE_SIZE);
        for (let i = 0; i < o.n; i++) {
          const want = ref.load(BASE_VPN + o.a + i);
          if (want === null) {
            expect(r.signal, `${ctx} page ${i}`).toBe(SIGSEGV);
            expect(r.bytesDone, ctx).toBe(i * PAGE_SIZE);
            break;
          }
          expect(r.bytesDone, ctx).toBeGreaterThanOrEqual((i + 1) * PAGE_SIZE);
          const got = r.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
          if (Buffer.compare(got, want) !== 0) expect.fail(`${ctx}: page ${i} differs from the reference`);
        }
        break;
      }
      case 'write': {
        for (let i = 0; i < o.n; i++) {
          const data = patternPage(o.seed, o.a + i);
          const r = task.write((BASE_VPN + o.a + i) * PAGE_SIZE, data);
          const ok = ref.store(BASE_VPN + o.a + i, data);
          expect(r.signal, `${ctx} page ${i}`).toBe(ok ? 0 : SIGSEGV);
          if (!ok) break;
        }
        break;
      }
      case 'pwrite':
      case 'pread': {
        const fds = [...ref.files.entries()];
        if (fds.length === 0) break;
        const [fd, obj] = fds[o.f % fds.length];
        const size = fileFds.find((f) => f.obj === obj)!.pages;
        const first = o.a % size;
        const n = Math.min(o.n, size - first);
        if (o.op === 'pwrite') {
          const data = new Uint8Array(n * PAGE_SIZE);
          for (let i = 0; i < n; i++) {
            const page = patternPage(o.seed, first + i);
            data.set(page, i * PAGE_SIZE);
            obj.pages.set(first + i, page);
          }
          expect(task.pwrite(fd, first * PAGE_SIZE, data), ctx).toBe(n * PAGE_SIZE);
        } else {
          const got = task.pread(fd, first * PAGE_SIZE, n * PAGE_SIZE);
          expect(got, ctx).toBeInstanceOf(Uint8Array);
          for (let i = 0; i < n; i++) {
            const want = obj.pages.get(first + i) ?? new Uint8Array(PAGE_SIZE);
            const page = (got as Uint8Array).subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
            if (Buffer.compare(page, want) !== 0) expect.fail(`${ctx}: pread page ${i} differs`);
          }
        }
        break;
      }
      case 'fork':
        procs.push({ task: task.fork(), ref: ref.fork() });
        break;
      case 'exit':
        // The last process stays: the final exit of everything is checked after the loop.
        if (procs.length === 1) break;
        task.exit();
        procs.splice(procs.indexOf(proc), 1);
        break;
    }
    // Recounting every frame is the expensive part: do it every few steps and at the end.
    if (step % 4 === 3) expect(auditMm(kernel), ctx).toEqual([]);
  }
  for (const { task } of procs) task.exit();
  expect(auditMm(kernel)).toEqual([]);
  expect(kernel.mem.usedPages(), 'frames still allocated after every process exited').toBe(0);
  expect(kernel.mem.liveMappings, 'anon_vmas or page caches still alive').toBe(0);
  expect(kernel.mms.size, 'mm objects still alive').toBe(0);
}

/** Starts THP runs with a private mapping whose first blocks are populated (huge where allowed). */
function thpPrefix(region: number): Op[] {
  return [
    { op: 'mmap', p: 0, a: 0, n: region, prot: PROT_READ | PROT_WRITE, type: 0, noreplace: false },
    { op: 'hugepage', p: 0, a: 0, n: region },
    { op: 'write', p: 0, a: 0, n: 2, seed: 11 },
    { op: 'write', p: 0, a: 512, n: 1, seed: 12 },
    { op: 'read', p: 0, a: 1024, n: 1 },
  ];
}

describe('address space against the reference', () => {
  it('small regions, 4 KiB pages only', () => {
    fc.assert(
      fc.property(fc.array(opArb(48), { minLength: 1, maxLength: 60, size: 'max' }), (ops) =>
        runSequence(ops, 48, 'never'),
      ),
      { numRuns: 250, seed: 0x5eed01 },
    );
  });

  it('THP-sized regions with transparent huge pages always on', () => {
    fc.assert(
      fc.property(fc.array(opArb(1536), { minLength: 1, maxLength: 40, size: 'max' }), (ops) =>
        runSequence([...thpPrefix(1536), ...ops], 1536, 'always'),
      ),
      { numRuns: 150, seed: 0x5eed02 },
    );
  });

  it('THP-sized regions with madvise(MADV_HUGEPAGE) deciding', () => {
    fc.assert(
      fc.property(fc.array(opArb(1024), { minLength: 1, maxLength: 40, size: 'max' }), (ops) =>
        runSequence([...thpPrefix(1024), ...ops], 1024, 'madvise'),
      ),
      { numRuns: 150, seed: 0x5eed03 },
    );
  });
});
