// The modeled machine's kernel-wide state: physical memory, the hugetlb pool, tunables, counters,
// the trace, and the processes. Every mm, file and device hangs off one Kernel; two Kernels share
// nothing, so tests and sweeps can run many side by side.

import { SimClock } from '../sim/clock.js';
import { costModel, type CostModel } from '../sim/costModel.js';
import { Engine, type EngineLimits, type RunOptions } from '../sim/engine.js';
import type { EventQueue } from '../sim/events.js';
import { Rng } from '../sim/rng.js';
import { type CounterId, Stats } from '../sim/stats.js';
import { TraceRecorder } from '../sim/trace.js';
import { PAGE_SIZE } from './constants.js';
import type { ContentMode } from './content.js';
import { exitMmap } from './exit.js';
import { HugetlbPool } from './hugetlb.js';
import { Mm } from './mm.js';
import { finishInvalidation, MMU_NOTIFY_EVENT_NAMES, type MmuNotifierRange } from './mmuNotify.js';
import { PhysMem } from './physmem.js';
import { Task } from './task.js';
import { MmuGather } from './zap.js';

/** Transparent huge page mode (/sys/kernel/mm/transparent_hugepage/enabled). */
export type ThpMode = 'never' | 'madvise' | 'always';

export interface KernelOptions {
  /** Size of RAM in bytes (default 4 GiB). */
  readonly ramBytes?: number;
  /** `bytes`: frames hold real data; `tokens`: one content token per frame (default `bytes`). */
  readonly contentMode?: ContentMode;
  readonly seed?: number;
  /** Default `madvise`, as on the kernel that recorded the oracle. */
  readonly thp?: ThpMode;
  /** transparent_hugepage/use_zero_page: read faults may map the huge zero page (default true). */
  readonly thpUseZeroPage?: boolean;
  /** 2 MiB pages set aside for hugetlb at boot (default 0). */
  readonly hugetlbPages?: number;
  /** Pages mapped around a file read fault (fault_around_bytes / 4096, default 16). */
  readonly faultAroundPages?: number;
  /**
   * The 2025 P2P proposal: hmm_range_fault may hand a device another device's private page when
   * both share an interconnect cluster (default false: mainline behaviour).
   */
  readonly p2p?: boolean;
  readonly trace?: TraceRecorder;
  /** Bounds of the engine (events, simulated time, retries). */
  readonly limits?: EngineLimits;
  /** Durations the model charges (default: the `pcie4` profile). */
  readonly costs?: CostModel;
}

/** Watches the kernel from outside (checkers, tracing). Every member is optional. */
export interface KernelObserver {
  invalidateStart?(range: MmuNotifierRange): void;
  invalidateEnd?(range: MmuNotifierRange): void;
  mmFreed?(mm: Mm): void;
}

/** Counter ids of the mm layer, registered once in `Kernel.stats`. */
export interface MmCounterIds {
  readonly faults: CounterId;
  /** Faults taken by CPU accesses (the rest come from GUP, HMM, devices). */
  readonly cpuFaults: CounterId;
  readonly anonFaults: CounterId;
  readonly fileFaults: CounterId;
  readonly zeroPageMaps: CounterId;
  readonly cowCopies: CounterId;
  readonly wpReuses: CounterId;
  readonly thpFaults: CounterId;
  readonly thpFallbacks: CounterId;
  readonly thpSplits: CounterId;
  readonly hugetlbFaults: CounterId;
  readonly tlbFlushes: CounterId;
  readonly invalidations: readonly CounterId[];
}

export class Kernel {
  readonly mem: PhysMem;
  readonly hugetlb: HugetlbPool;
  readonly stats = new Stats();
  readonly ctr: MmCounterIds;
  readonly trace: TraceRecorder;
  readonly clock = new SimClock();
  /** The discrete-event engine: actors, deferred work, charged time, limits. */
  readonly engine: Engine;
  /** Every duration the model charges. */
  readonly costs: CostModel;
  /**
   * Checked when no event is pending: each returns true if it found more to do (a grace period
   * with callbacks waiting, say), and `runUntilIdle` goes round again.
   */
  readonly idleHooks: (() => boolean)[] = [];
  readonly rng: Rng;
  readonly thp: ThpMode;
  readonly thpUseZeroPage: boolean;
  readonly faultAroundPages: number;
  readonly p2p: boolean;
  observer: KernelObserver | null = null;
  /** WARN_ON()s the model hit: a kernel would print a stack trace and carry on. */
  readonly warnings: string[] = [];
  readonly tasks = new Map<number, Task>();
  private readonly liveMms = new Set<Mm>();
  private nextPid = 1;
  private nextMmId = 1;
  private nextObjectId = 1;
  private nextToken = 1;
  private readonly gathers: MmuGather[] = [];

  constructor(options: KernelOptions = {}) {
    const ramBytes = options.ramBytes ?? 4 * 1024 ** 3;
    if (!Number.isInteger(ramBytes) || ramBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`ramBytes must be a whole number of 4 KiB pages, got ${ramBytes}`);
    }
    this.mem = new PhysMem({ ramPages: ramBytes / PAGE_SIZE, contentMode: options.contentMode ?? 'bytes' });
    this.hugetlb = new HugetlbPool(this.mem, options.hugetlbPages ?? 0);
    this.rng = new Rng(options.seed ?? 1);
    this.thp = options.thp ?? 'madvise';
    this.thpUseZeroPage = options.thpUseZeroPage ?? true;
    this.faultAroundPages = options.faultAroundPages ?? 16;
    this.p2p = options.p2p ?? false;
    this.trace = options.trace ?? new TraceRecorder();
    this.engine = new Engine(this.clock, options.limits);
    this.costs = options.costs ?? costModel('pcie4');
    this.engine.trace = this.trace;
    const s = this.stats;
    this.ctr = {
      faults: s.counter('mm.faults'),
      cpuFaults: s.counter('mm.faults.cpu'),
      anonFaults: s.counter('mm.faults.anon'),
      fileFaults: s.counter('mm.faults.file'),
      zeroPageMaps: s.counter('mm.zero_page_maps'),
      cowCopies: s.counter('mm.cow_copies'),
      wpReuses: s.counter('mm.wp_reuses'),
      thpFaults: s.counter('mm.thp.faults'),
      thpFallbacks: s.counter('mm.thp.fallbacks'),
      thpSplits: s.counter('mm.thp.pmd_splits'),
      hugetlbFaults: s.counter('mm.hugetlb.faults'),
      tlbFlushes: s.counter('mm.tlb_flushes'),
      invalidations: MMU_NOTIFY_EVENT_NAMES.map((name) => s.counter(`mm.invalidations.${name}`)),
    };
  }

  /**
   * Ends of invalidations an operation started, held back while the operation is in its window
   * (see `withWindow`); null outside one.
   */
  deferredEnds: MmuNotifierRange[] | null = null;

  /**
   * Runs `fn` (a system call of a simulated thread) so that its invalidations stay open until the
   * operation completes in simulated time: the ends run as one event when its charged time is up.
   * Meanwhile other actors see what the kernel shows them inside the window: page tables already
   * changed, the interval sequence odd (readers wait), read_retry true.
   */
  withWindow<T>(actor: string, fn: () => T): T {
    if (this.deferredEnds !== null) return fn();
    const ends: MmuNotifierRange[] = [];
    this.deferredEnds = ends;
    try {
      return fn();
    } finally {
      this.deferredEnds = null;
      if (ends.length > 0) this.events.schedule(0, `${actor}/invalidate-end`, finishDeferredEnds, ends);
    }
  }

  /** Whether the next deferred event ends a window's invalidations (it takes no driver lock). */
  nextEventEndsInvalidations(): boolean {
    return this.events.nextRuns(finishDeferredEnds);
  }

  /** Deferred work (work queues, grace periods, interrupt threads, responses in flight). */
  get events(): EventQueue {
    return this.engine.events;
  }

  /** Charges simulated time to the operation in progress (see `Engine.charge`). */
  charge(ns: number): void {
    this.engine.charge(ns);
  }

  get contentMode(): ContentMode {
    return this.mem.content.mode;
  }

  /** A new process with an empty address space (as if exec'd), holding the only mm user. */
  spawn(): Task {
    const task = new Task(this, this.allocPid(), this.newMm());
    this.tasks.set(task.pid, task);
    return task;
  }

  /**
   * Runs the simulator until nothing is left to do: every due event, then the idle hooks, again
   * and again until neither finds work. Returns the number of events run.
   */
  runUntilIdle(options: RunOptions = {}): number {
    let n = 0;
    for (;;) {
      n += this.engine.run(options);
      let more = false;
      for (const hook of this.idleHooks) if (hook()) more = true;
      if (!more && this.events.pending === 0) return n;
    }
  }

  /** Every mm whose object has not been freed yet (mm_count > 0). */
  get mms(): ReadonlySet<Mm> {
    return this.liveMms;
  }

  /** Records a kernel warning (WARN_ON): the call goes on, the warning is kept for reports and tests. */
  warn(message: string): void {
    this.warnings.push(message);
    this.stats.add(this.stats.counter('kernel.warnings'));
  }

  /** @internal The next process id. */
  allocPid(): number {
    return this.nextPid++;
  }

  /** A fresh content token for a tokens-mode write: distinct from every earlier one. */
  newToken(): number {
    const t = this.nextToken;
    this.nextToken = (this.nextToken + 1) >>> 0 || 1;
    return t;
  }

  /** A unique id for files, inodes and devices (deterministic: counts from 1 per kernel). */
  newObjectId(): number {
    return this.nextObjectId++;
  }

  /** @internal A page-freeing batch for zapping `mm` (nesting-safe: each caller gets its own). */
  acquireGather(mm: Mm): MmuGather {
    const tlb = this.gathers.pop() ?? new MmuGather();
    tlb.begin(mm);
    return tlb;
  }

  /** @internal Flushes the batch (TLB first, then frees its pages) and returns it to the pool. */
  releaseGather(tlb: MmuGather): void {
    tlb.finish();
    this.gathers.push(tlb);
  }

  /** @internal Used by fork and spawn. */
  newMm(): Mm {
    const mm = new Mm(this, this.nextMmId++);
    this.liveMms.add(mm);
    return mm;
  }

  /** @internal Called by Mm when its users drop to zero. */
  exitMmap(mm: Mm): void {
    exitMmap(mm);
  }

  /** @internal Called by Mm when its count drops to zero. */
  mmFreed(mm: Mm): void {
    this.liveMms.delete(mm);
    this.observer?.mmFreed?.(mm);
  }

  /** @internal Called by Task when a process has fully exited. */
  taskExited(task: Task): void {
    this.tasks.delete(task.pid);
  }
}

function finishDeferredEnds(ends: MmuNotifierRange[]): void {
  for (const range of ends) finishInvalidation(range);
}
