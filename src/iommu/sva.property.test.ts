// Random sequences of process and device operations (spawn, CPU writes, open/close of the
// accelerator's file, DMA reads and writes, fork, exec, exit, munmap, mprotect, MADV_DONTNEED,
// grace periods) against a reference of what every process's memory must hold. The properties:
// a device never reaches a page through a stale PASID or a stale cached translation (its writes
// land exactly where the process would see them, and nowhere else; its reads return exactly what
// the process would read), DMA succeeds exactly when a live bond covers a mapped page that allows
// the access, a PASID is never handed to a new address space while the old one is alive or still
// bound, and the SVA audit holds after every step.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditShutdown, auditSva, watchFrameFrees } from '../check/svaAudit.js';
import { DmaAccelerator, DmaJob } from '../devices/accel/accelerator.js';
import { type AccelContext, AccelDriver } from '../devices/accel/driver.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import type { Task } from '../mm/task.js';
import { IommuCore } from './core.js';
import type { IommuFlavour } from './iommu.js';
import type { ExitQuiesceMode, PasidReusePolicy } from './options.js';

const PAGES = 8;

type Op =
  | { op: 'spawn' }
  | { op: 'cpuWrite'; p: number; page: number; value: number }
  | { op: 'open'; p: number; d: number }
  | { op: 'close'; p: number; k: number }
  | { op: 'dmaWrite' | 'dmaRead'; c: number; page: number; value: number }
  | { op: 'fork' | 'exec' | 'exit' | 'mprotectRO'; p: number }
  | { op: 'munmap' | 'dontneed'; p: number; page: number }
  | { op: 'idle' };

const opArb: fc.Arbitrary<Op> = (() => {
  const p = fc.nat(5);
  const page = fc.nat(PAGES - 1);
  const value = fc.integer({ min: 1, max: 0xffffff });
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({ op: 'spawn' as const }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('cpuWrite' as const), p, page, value }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('open' as const), p, d: fc.nat(1) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('close' as const), p, k: fc.nat(3) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constantFrom('dmaWrite' as const, 'dmaRead' as const),
        c: fc.nat(7),
        page,
        value,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constantFrom('fork' as const, 'exec' as const, 'exit' as const, 'mprotectRO' as const),
        p,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constantFrom('munmap' as const, 'dontneed' as const), p, page }),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'idle' as const }) },
  );
})();

/** What the test knows about a process: its mapping and the first word of every page. */
interface RefProc {
  readonly task: Task;
  mm: Mm;
  addr: number;
  writable: boolean;
  /** page -> first 4 bytes as a number; absent page: unmapped. */
  readonly words: Map<number, number>;
  readonly fds: { fd: number; dev: number }[];
}

interface RefCtx {
  readonly ctx: AccelContext;
  readonly dev: number;
  readonly proc: RefProc;
}

function word(bytes: Uint8Array): number {
  return bytes[0] | (bytes[1] << 8) | (bytes[2] << 16);
}

function wordBytes(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, 0]);
}

function runSequence(
  flavour: IommuFlavour,
  reuse: PasidReusePolicy,
  quiesce: ExitQuiesceMode,
  ops: Op[],
): void {
  const kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  const core = new IommuCore(kernel, {
    pasidReuse: reuse,
    pasidQuarantineNs: 0,
    exitQuiesceMode: quiesce,
    pasidSpace: 8,
  });
  const iommu = core.addIommu({ flavour, prqDepth: 8 });
  const accels = [0, 1].map((i) => new DmaAccelerator(iommu.addDevice({ name: `acc${i}`, atcEntries: 16 })));
  const drivers = accels.map((a) => new AccelDriver(a));
  const staleFrees = watchFrameFrees(core);
  const procs: RefProc[] = [];
  const ctxs: RefCtx[] = [];
  /** Every mm a PASID was ever given to, by PASID. */
  const pasidOwners = new Map<number, Mm>();
  const live = () => procs.filter((r) => r.task.alive);
  const pick = (i: number) => {
    const l = live();
    return l.length === 0 ? null : l[i % l.length];
  };
  const mapFresh = (r: RefProc) => {
    r.addr = r.task.mmap(0, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(r.addr).toBeGreaterThan(0);
    r.writable = true;
    r.words.clear();
    for (let i = 0; i < PAGES; i++) r.words.set(i, 0);
  };

  for (const [step, o] of ops.entries()) {
    const at = `step ${step} ${JSON.stringify(o)}`;
    switch (o.op) {
      case 'spawn': {
        if (live().length >= 4) break;
        const task = kernel.spawn();
        const r: RefProc = { task, mm: task.mm!, addr: 0, writable: true, words: new Map(), fds: [] };
        mapFresh(r);
        procs.push(r);
        break;
      }
      case 'cpuWrite': {
        const r = pick(o.p);
        if (r === null || !r.words.has(o.page) || !r.writable) break;
        expect(r.task.write(r.addr + o.page * PAGE_SIZE, wordBytes(o.value)).signal, at).toBe(0);
        r.words.set(o.page, o.value);
        break;
      }
      case 'open': {
        const r = pick(o.p);
        if (r === null) break;
        const fd = drivers[o.d].open(r.task);
        if (fd < 0) {
          // Only running out of PASIDs may refuse it (the space has 7 values).
          expect(fd, at).toBe(-28);
          break;
        }
        const ctx = drivers[o.d].contextOf(r.task, fd)!;
        const prev = pasidOwners.get(ctx.pasid);
        if (prev !== undefined && prev !== r.mm) {
          // Reuse is legal only once the previous owner is destroyed and nothing is bound to it.
          expect(prev.freed, `${at}: PASID ${ctx.pasid} reused while mm ${prev.id} still exists`).toBe(true);
          expect(
            ctxs.some((c) => c.ctx.mm === prev && !c.ctx.bond.detached),
            `${at}: old bond alive`,
          ).toBe(false);
        }
        pasidOwners.set(ctx.pasid, r.mm);
        r.fds.push({ fd, dev: o.d });
        ctxs.push({ ctx, dev: o.d, proc: r });
        break;
      }
      case 'close': {
        const r = pick(o.p);
        if (r === null || r.fds.length === 0) break;
        const { fd } = r.fds.splice(o.k % r.fds.length, 1)[0];
        expect(r.task.close(fd), at).toBe(0);
        break;
      }
      case 'dmaWrite':
      case 'dmaRead': {
        if (ctxs.length === 0) break;
        const c = ctxs[o.c % ctxs.length];
        // The device reaches whatever address space is bound to (device, PASID) now: the context's
        // own, bound again after a close, or (after the PASID was freed and reused) another one.
        const holder = ctxs.find(
          (x) => x.dev === c.dev && x.ctx.pasid === c.ctx.pasid && !x.ctx.bond.detached,
        );
        const r = holder?.proc ?? c.proc;
        const write = o.op === 'dmaWrite';
        const job = accels[c.dev].submit({
          pasid: c.ctx.pasid,
          op: write ? 'write' : 'read',
          addr: r.addr + o.page * PAGE_SIZE,
          length: 4,
          data: write ? wordBytes(o.value) : undefined,
        });
        expect(job, at).toBeInstanceOf(DmaJob);
        kernel.runUntilIdle();
        const j = job as DmaJob;
        const reachable =
          holder !== undefined &&
          r.task.alive &&
          r.mm === holder.ctx.mm &&
          r.words.has(o.page) &&
          (!write || r.writable);
        expect(
          j.status,
          `${at}: DMA ${j.status} (${j.error}), expected ${reachable ? 'done' : 'error'}`,
        ).toBe(reachable ? 'done' : 'error');
        if (j.status === 'done') {
          if (write) r.words.set(o.page, o.value);
          else expect(word(j.data!), `${at}: device read`).toBe(r.words.get(o.page));
        }
        break;
      }
      case 'fork': {
        const r = pick(o.p);
        if (r === null || live().length >= 4) break;
        const child = r.task.fork();
        // The child inherits the descriptors but not the PASID: its file references keep the bond.
        procs.push({
          task: child,
          mm: child.mm!,
          addr: r.addr,
          writable: r.writable,
          words: new Map(r.words),
          fds: [...r.fds],
        });
        break;
      }
      case 'exec': {
        const r = pick(o.p);
        if (r === null) break;
        r.task.exec();
        r.mm = r.task.mm!;
        mapFresh(r);
        break;
      }
      case 'exit': {
        const r = pick(o.p);
        if (r === null) break;
        r.task.exit();
        // Descriptors shared with a fork child stay open through the child.
        for (const other of procs) if (other !== r) other.fds.splice(0, 0);
        break;
      }
      case 'mprotectRO': {
        const r = pick(o.p);
        if (r === null) break;
        expect(r.task.mprotect(r.addr, PAGES * PAGE_SIZE, PROT_READ), at).toBe(0);
        r.writable = false;
        break;
      }
      case 'munmap': {
        const r = pick(o.p);
        if (r === null) break;
        expect(r.task.munmap(r.addr + o.page * PAGE_SIZE, PAGE_SIZE), at).toBe(0);
        r.words.delete(o.page);
        break;
      }
      case 'dontneed': {
        const r = pick(o.p);
        if (r === null || !r.words.has(o.page)) break;
        expect(r.task.madvise(r.addr + o.page * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED), at).toBe(0);
        r.words.set(o.page, 0);
        break;
      }
      case 'idle':
        kernel.runUntilIdle();
        break;
    }
    expect(auditSva(core), at).toEqual([]);
    expect(staleFrees, at).toEqual([]);
    // Every live process still sees exactly what it and its devices wrote.
    for (const r of live()) {
      for (const [page, value] of r.words) {
        const got = r.task.read(r.addr + page * PAGE_SIZE, 4);
        expect(got.signal, at).toBe(0);
        expect(word(got.data), `${at}: pid ${r.task.pid} page ${page}`).toBe(value);
      }
    }
  }
  for (const r of live()) r.task.exit();
  kernel.runUntilIdle();
  expect(auditShutdown(kernel, core)).toEqual([]);
  expect(staleFrees).toEqual([]);
}

describe('SVA under random process and device activity', () => {
  it('devices reach only live bound pages, see what the process sees, and PASIDs are never reused early', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<IommuFlavour>('vtd', 'amd'),
        fc.constantFrom<PasidReusePolicy>('smallestFree', 'cyclic', 'exhaustFirst', 'quarantine'),
        fc.constantFrom<ExitQuiesceMode>('flavour', 'notPresentSuppressed', 'dummyRoot', 'clearReporting'),
        fc.array(opArb, { minLength: 10, maxLength: 60 }),
        (flavour, reuse, quiesce, ops) => runSequence(flavour, reuse, quiesce, [{ op: 'spawn' }, ...ops]),
      ),
      { numRuns: 150, seed: 20261121 },
    );
  });
});
