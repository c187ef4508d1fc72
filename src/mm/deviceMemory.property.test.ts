// Random sequences of CPU reads and writes, migrations to device memory (private and coherent) and
// back, eviction, forks, mprotect, munmap/mmap, MADV_DONTNEED, device-exclusive grants, GUP pins and
// exits, checked against a per-process reference of what was written (copy-on-write across fork
// included: each process has its own bytes). After every step the reference recount (auditMm) must
// be clean; after every process exited and every pin was dropped no RAM or device frame stays
// allocated (migrate-device.md R-MIG-*, R-EVICT-*, R-FORK-*, R-PROT-*, R-DEVX-*).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MEMORY_DEVICE_COHERENT, TestDevice } from '../../test/testDevice.js';
import { auditMm } from '../check/mmAudit.js';
import { EFAULT, ENOMEM } from '../sim/errno.js';
import {
  GUP_PIN_COUNTING_BIAS,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from './constants.js';
import { SIGSEGV } from './cpuAccess.js';
import { makeDeviceExclusiveRange } from './deviceExclusive.js';
import { FOLL_PIN, FOLL_WRITE, getUserPages } from './gup.js';
import { Kernel } from './kernel.js';
import { MIGRATE_VMA_SELECT_SYSTEM } from './migrateDevice.js';
import type { Task } from './task.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const NPAGES = 6;
const MAX_PROCS = 4;
const MAX_PINS = 3;
const RW = PROT_READ | PROT_WRITE;
const PROTS = [PROT_NONE, PROT_READ, RW];

type Op =
  | { t: 'write'; p: number; page: number; off: number; len: number; byte: number }
  | { t: 'read'; p: number; page: number }
  | { t: 'toDev'; p: number; page: number; n: number; d: number; own: boolean }
  | { t: 'toRam'; p: number; page: number; n: number; d: number }
  | { t: 'evict'; d: number }
  | { t: 'mprotect'; p: number; page: number; n: number; prot: number }
  | { t: 'munmap' | 'mmap' | 'excl' | 'dontneed'; p: number; page: number; n: number }
  | { t: 'pin'; p: number; page: number }
  | { t: 'unpin'; k: number }
  | { t: 'fork' | 'exit'; p: number };

const p = fc.nat(MAX_PROCS - 1);
const pg = fc.nat(NPAGES - 1);
const n = fc.integer({ min: 1, max: 3 });
const d = fc.nat(1);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        p,
        page: pg,
        off: fc.nat(PAGE_SIZE - 1),
        len: fc.integer({ min: 1, max: 64 }),
        byte: fc.nat(255),
      })
      .map((r) => ({ t: 'write' as const, ...r, len: Math.min(r.len, PAGE_SIZE - r.off) })),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('read' as const), p, page: pg }) },
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant('toDev' as const), p, page: pg, n, d, own: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('toRam' as const), p, page: pg, n, d }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('evict' as const), d }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('fork' as const), p }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('exit' as const), p }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('mprotect' as const),
      p,
      page: pg,
      n,
      prot: fc.constantFrom(...PROTS),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('munmap' as const), p, page: pg, n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mmap' as const), p, page: pg, n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dontneed' as const), p, page: pg, n }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('excl' as const), p, page: pg, n }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('pin' as const), p, page: pg }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unpin' as const), k: fc.nat(MAX_PINS - 1) }) },
);

/** What one process should see: per page its protection (-1 unmapped) and bytes (null: zeros). */
interface RefProc {
  task: Task;
  prot: number[];
  data: (Uint8Array | null)[];
}

function describeOps(ops: Op[]): string {
  return ops.map((o) => JSON.stringify(o)).join('\n');
}

function run(ops: Op[]): void {
  const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024, contentMode: 'bytes' });
  const devs = [
    new TestDevice(kernel, { name: 'prop-private', nrPages: 128 }),
    new TestDevice(kernel, { name: 'prop-coherent', nrPages: 128, type: MEMORY_DEVICE_COHERENT }),
  ];
  const owner = { exclusive: true };
  const first = kernel.spawn();
  expect(first.mmap(BASE, NPAGES * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  const procs: RefProc[] = [{ task: first, prot: Array(NPAGES).fill(RW), data: Array(NPAGES).fill(null) }];
  const pins: number[] = [];
  const zero = new Uint8Array(PAGE_SIZE);

  const audit = (step: number, op: Op | null) => {
    const refs = new Map<number, number>();
    for (const pfn of pins) refs.set(pfn, (refs.get(pfn) ?? 0) + GUP_PIN_COUNTING_BIAS);
    const problems = auditMm(kernel, { extraRefs: refs });
    expect(problems, `after step ${step} ${JSON.stringify(op)}`).toEqual([]);
  };

  const range = (proc: RefProc, page: number, count: number): [number, number] | null => {
    const vma = proc.task.mm!.vmas.find(V + page);
    if (vma === null) return null;
    return [V + page, Math.min(V + page + count, vma.end, V + NPAGES)];
  };

  const checkRead = (proc: RefProc, page: number, what: string) => {
    const r = proc.task.read(BASE + page * PAGE_SIZE, PAGE_SIZE);
    if (proc.prot[page] >= 0 && proc.prot[page] & PROT_READ) {
      expect(r.signal, what).toBe(0);
      expect(r.data, what).toEqual(proc.data[page] ?? zero);
    } else {
      expect(r.signal, what).toBe(SIGSEGV);
    }
  };

  ops.forEach((op, step) => {
    const what = `step ${step} ${JSON.stringify(op)}`;
    const proc = 'p' in op ? procs[op.p % procs.length] : null;
    switch (op.t) {
      case 'write': {
        const data = new Uint8Array(op.len).fill(op.byte);
        const r = proc!.task.write(BASE + op.page * PAGE_SIZE + op.off, data);
        const prot = proc!.prot[op.page];
        if (prot >= 0 && prot & PROT_WRITE) {
          expect(r.signal, what).toBe(0);
          const bytes = (proc!.data[op.page] ?? zero).slice();
          bytes.set(data, op.off);
          proc!.data[op.page] = bytes;
        } else {
          expect(r.signal, what).toBe(SIGSEGV);
          expect(r.bytesDone, what).toBe(0);
        }
        break;
      }
      case 'read':
        checkRead(proc!, op.page, what);
        break;
      case 'toDev':
      case 'toRam': {
        const rg = range(proc!, op.page, op.n);
        if (rg === null) break;
        const dev = devs[op.d];
        // toDev with `own`: the device's own pages are selected too (device to device).
        if (op.t === 'toDev')
          dev.migrateToDevice(
            proc!.task.mm!,
            rg[0],
            rg[1],
            MIGRATE_VMA_SELECT_SYSTEM | (op.own ? dev.selectFlags : 0),
          );
        else dev.migrateToRam(proc!.task.mm!, rg[0], rg[1]);
        break;
      }
      case 'evict':
        devs[op.d].evict();
        break;
      case 'fork': {
        if (procs.length >= MAX_PROCS) break;
        const child = proc!.task.fork();
        procs.push({
          task: child,
          prot: proc!.prot.slice(),
          data: proc!.data.map((b) => (b === null ? null : b.slice())),
        });
        break;
      }
      case 'exit': {
        if (procs.length <= 1) break;
        proc!.task.exit();
        procs.splice(procs.indexOf(proc!), 1);
        break;
      }
      case 'mprotect': {
        const last = Math.min(op.page + op.n, NPAGES);
        const rc = proc!.task.mprotect(BASE + op.page * PAGE_SIZE, (last - op.page) * PAGE_SIZE, op.prot);
        let expected = 0;
        for (let i = op.page; i < last; i++) {
          if (proc!.prot[i] < 0) {
            expected = -ENOMEM;
            break;
          }
          proc!.prot[i] = op.prot;
        }
        expect(rc, what).toBe(expected);
        break;
      }
      case 'munmap': {
        const last = Math.min(op.page + op.n, NPAGES);
        expect(proc!.task.munmap(BASE + op.page * PAGE_SIZE, (last - op.page) * PAGE_SIZE), what).toBe(0);
        for (let i = op.page; i < last; i++) {
          proc!.prot[i] = -1;
          proc!.data[i] = null;
        }
        break;
      }
      case 'mmap': {
        const last = Math.min(op.page + op.n, NPAGES);
        const addr = BASE + op.page * PAGE_SIZE;
        expect(
          proc!.task.mmap(addr, (last - op.page) * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
          what,
        ).toBe(addr);
        for (let i = op.page; i < last; i++) {
          proc!.prot[i] = RW;
          proc!.data[i] = null;
        }
        break;
      }
      case 'dontneed': {
        const last = Math.min(op.page + op.n, NPAGES);
        const rc = proc!.task.madvise(
          BASE + op.page * PAGE_SIZE,
          (last - op.page) * PAGE_SIZE,
          MADV_DONTNEED,
        );
        let expected = 0;
        for (let i = op.page; i < last; i++) {
          if (proc!.prot[i] < 0) expected = -ENOMEM;
          else proc!.data[i] = null;
        }
        expect(rc, what).toBe(expected);
        break;
      }
      case 'excl': {
        const last = Math.min(op.page + op.n, NPAGES);
        const pages: number[] = [];
        const rc = makeDeviceExclusiveRange(proc!.task.mm!, V + op.page, V + last, pages, owner);
        let expected = 0;
        while (
          op.page + expected < last &&
          proc!.prot[op.page + expected] >= 0 &&
          proc!.prot[op.page + expected] & PROT_WRITE
        )
          expected++;
        expect(rc, what).toBe(expected === 0 ? -EFAULT : expected);
        for (let i = 0; i < Math.max(rc, 0); i++) {
          if (pages[i] === 0) continue;
          kernel.mem.unlock(pages[i]);
          kernel.mem.put(pages[i]);
        }
        break;
      }
      case 'pin': {
        if (pins.length >= MAX_PINS) break;
        const got: number[] = [];
        const rc = getUserPages(proc!.task.mm!, V + op.page, 1, FOLL_PIN | FOLL_WRITE, got);
        const prot = proc!.prot[op.page];
        expect(rc, what).toBe(prot >= 0 && prot & PROT_WRITE ? 1 : -EFAULT);
        if (rc === 1) pins.push(got[0]);
        break;
      }
      case 'unpin': {
        if (op.k >= pins.length) break;
        kernel.mem.put(pins[op.k], GUP_PIN_COUNTING_BIAS);
        pins.splice(op.k, 1);
        break;
      }
    }
    audit(step, op);
  });

  // Every byte every process can read is what it wrote.
  for (const proc of procs) for (let i = 0; i < NPAGES; i++) checkRead(proc, i, `final read of page ${i}`);
  audit(ops.length, null);
  for (const proc of procs) proc.task.exit();
  for (const pfn of pins) kernel.mem.put(pfn, GUP_PIN_COUNTING_BIAS);
  pins.length = 0;
  audit(ops.length + 1, null);
  expect(kernel.mem.usedPages(), 'RAM frames left allocated').toBe(0);
  for (const dev of devs) {
    expect(dev.pgmap.allocated, `${dev.pgmap.name} pages left allocated`).toBe(0);
    expect(dev.allocatedPfns(), `${dev.pgmap.name} frames left allocated`).toEqual([]);
  }
  expect(kernel.mms.size).toBe(0);
}

describe('device memory: random operation sequences', () => {
  it('R-MIG/R-EVICT/R-FORK/R-PROT/R-DEVX: every byte read equals the per-process reference, the recount stays clean, and nothing leaks', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 24, size: 'max' }), (ops) => {
        try {
          run(ops);
        } catch (e) {
          (e as Error).message += `\nops:\n${describeOps(ops)}`;
          throw e;
        }
      }),
      // Each run audits every frame after every step, so runs are few; the time limit only bounds
      // the shrinking of a failure.
      { numRuns: 20, seed: 0xdec0de, interruptAfterTimeLimit: 8_000 },
    );
  });
});
