// A GPU sharing process memory the way an SVM driver does it (nouveau, amdgpu SVM, NVIDIA UVM):
// compute kernels access pages through the GPU's page table; a miss is a far fault that lands in a
// fault buffer; the driver services faults in batches (fetch, merge duplicates, sort), either
// migrating the pages into GPU memory with migrate_vma_* (`migrate` mode) or mirroring the system
// pages with hmm_range_fault under the interval-notifier sequence protocol (`mirror` mode), then
// replays the faulted accesses. Every step goes through the modeled kernel, never around it.

import type { AccessStream } from '../../sim/accessStream.js';
import { linkTransferNs } from '../../sim/costModel.js';
import type { Actor, StepResult } from '../../sim/engine.js';
import { EAGAIN, EBUSY } from '../../sim/errno.js';
import { Log2Histogram } from '../../sim/histogram.js';
import type { CounterId } from '../../sim/stats.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../../hmm/hmmRangeFault.js';
import { PAGE_SIZE, VM_WRITE } from '../../mm/constants.js';
import type { Kernel } from '../../mm/kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../mm/migrateDevice.js';
import type { Mm } from '../../mm/mm.js';
import { PG_LOCKED } from '../../mm/physmem.js';
import { makeDeviceExclusiveRange } from '../../mm/deviceExclusive.js';
import {
  mmuIntervalReadBeginTry,
  mmuIntervalReadRetry,
  mmuIntervalWaitEven,
} from '../../notifier/interval.js';
import { GpuMemory } from './gpuMemory.js';
import { GPU_ATTR_ATOMIC, GPU_ATTR_LOCAL, GPU_ATTR_VALID, GPU_ATTR_WRITE, GpuVaSpace } from './vaSpace.js';

export type GpuMode = 'migrate' | 'mirror';

export interface GpuOptions {
  readonly name: string;
  /** GPU memory in bytes (a whole number of pages). */
  readonly memoryBytes: number;
  /** `migrate` (default): far faults move pages into GPU memory; `mirror`: map system pages. */
  readonly mode?: GpuMode;
  /** Accesses a kernel issues per step (a warp's worth of pages; default 64). */
  readonly accessesPerStep?: number;
  /** Pages evicted at once when GPU memory is full (default 64). */
  readonly evictBatchPages?: number;
  /** Fault-buffer entries; faults beyond it wait for the next replay (default 4096). */
  readonly faultBufferEntries?: number;
  /** Faulted accesses one kernel keeps parked before it waits for a replay (default 256). */
  readonly maxOutstandingFaults?: number;
  /** Name of the link for byte accounting (default `<name>.link`). */
  readonly link?: string;
  /**
   * Interconnect cluster (the P2P extension): with the kernel's `p2p` option on, this GPU reaches
   * pages in the memory of a peer of the same cluster in place instead of forcing them to RAM.
   */
  readonly p2pCluster?: unknown;
}

interface PendingFault {
  readonly space: GpuVaSpace;
  readonly vpn: number;
  write: boolean;
  readonly migrate: boolean;
  readonly atomic: boolean;
  readonly atNs: number;
}

/** A compute kernel's work: accesses to a region of one address space. */
export interface GpuKernelSpec {
  readonly mm: Mm;
  /** First page of the region the stream's offsets are relative to. */
  readonly baseVpn: number;
  readonly stream: AccessStream;
  readonly write: boolean;
  /** Atomic accesses: pages must be exclusive to the GPU (make_device_exclusive) or in its memory. */
  readonly atomic?: boolean;
  /** How the driver resolves this kernel's faults (default: the GPU's mode). */
  readonly mode?: GpuMode;
  /** Called when the kernel finishes (or fails on an access the driver could not resolve). */
  readonly onDone?: (kernel: GpuKernel) => void;
}

const MAX_RUN_PAGES = 512;

export class GpuDevice {
  readonly kernel: Kernel;
  readonly name: string;
  readonly mode: GpuMode;
  readonly memory: GpuMemory;
  readonly accessesPerStep: number;
  readonly faultBufferEntries: number;
  readonly maxOutstandingFaults: number;
  readonly linkName: string;
  readonly p2pCluster: unknown;
  private readonly spaces = new Map<Mm, GpuVaSpace>();
  private readonly faults: PendingFault[] = [];
  private readonly waiting = new Set<GpuKernel>();
  private readonly driver: GpuDriverActor;
  private driverAdded = false;
  readonly farFaultLatency: Log2Histogram;
  private readonly ctr: Record<
    | 'accesses'
    | 'remote'
    | 'farFaults'
    | 'batches'
    | 'toDevice'
    | 'toHost'
    | 'replays'
    | 'h2d'
    | 'd2h'
    | 'retries',
    CounterId
  >;

  constructor(kernel: Kernel, options: GpuOptions) {
    this.kernel = kernel;
    this.name = options.name;
    this.mode = options.mode ?? 'migrate';
    this.accessesPerStep = options.accessesPerStep ?? 64;
    this.faultBufferEntries = options.faultBufferEntries ?? 4096;
    this.maxOutstandingFaults = options.maxOutstandingFaults ?? 256;
    this.linkName = options.link ?? `${options.name}.link`;
    const pages = options.memoryBytes / PAGE_SIZE;
    if (!Number.isInteger(pages) || pages < 1) {
      throw new RangeError(
        `GPU ${this.name}: memory must be a whole number of 4 KiB pages, got ${options.memoryBytes} bytes`,
      );
    }
    this.memory = new GpuMemory(kernel, this, pages, options.evictBatchPages ?? 64);
    this.driver = new GpuDriverActor(this);
    this.p2pCluster = options.p2pCluster ?? null;
    this.memory.pgmap.p2pCluster = this.p2pCluster;
    this.farFaultLatency = new Log2Histogram(`latency.${this.name}.far_fault`);
    const s = kernel.stats;
    const p = `gpu.${this.name}`;
    this.ctr = {
      accesses: s.counter(`${p}.accesses`),
      remote: s.counter(`${p}.remote_accesses`),
      farFaults: s.counter(`${p}.far_faults`),
      batches: s.counter(`${p}.fault_batches`),
      toDevice: s.counter(`${p}.pages_to_device`),
      toHost: s.counter(`${p}.pages_to_host`),
      replays: s.counter(`${p}.replays`),
      retries: s.counter(`${p}.notifier_retries`),
      h2d: s.counter(`link.${this.linkName}.h2d_bytes`),
      d2h: s.counter(`link.${this.linkName}.d2h_bytes`),
    };
  }

  /** The GPU's view of `mm`, created (and its notifier inserted) on first use. */
  vaSpace(mm: Mm): GpuVaSpace {
    let s = this.spaces.get(mm);
    if (s === undefined) {
      s = new GpuVaSpace(mm, this);
      const rc = s.attach();
      if (rc < 0) throw new RangeError(`GPU ${this.name}: cannot mirror mm ${mm.id} (${rc})`);
      this.spaces.set(mm, s);
    }
    return s;
  }

  /**
   * The process is done with the GPU (its file was released): its kernels are torn down and the
   * GPU stops mirroring its address space.
   */
  releaseMm(mm: Mm): void {
    const s = this.spaces.get(mm);
    if (s === undefined) return;
    for (const k of [...this.running]) if (k.space === s) k.abort();
    s.detach();
    this.spaces.delete(mm);
  }

  /** Starts a compute kernel; it runs as the engine runs. */
  launch(spec: GpuKernelSpec): GpuKernel {
    const k = new GpuKernel(this, this.vaSpace(spec.mm), spec);
    this.running.add(k);
    const t = this.kernel.trace;
    if (t.enabled)
      t.asyncBegin(this.kernel.engine.nowNs, k.name, 'gpu', 'kernel', k.traceId, { mm: spec.mm.id });
    this.kernel.engine.addActor(k);
    return k;
  }

  /** @internal Kernels launched and not finished. */
  readonly running = new Set<GpuKernel>();

  // ---- GpuMemoryOwner ---------------------------------------------------------------------------

  forget(mmId: number, vpn: number): void {
    for (const s of this.spaces.values()) if (s.mm.id === mmId) s.table.delete(vpn);
  }

  noteToHost(pages: number): void {
    this.kernel.stats.add(this.ctr.toHost, pages);
    this.kernel.stats.add(this.ctr.d2h, pages * PAGE_SIZE);
  }

  // ---- accesses and far faults ------------------------------------------------------------------

  /** One access by a kernel: true when the GPU's table allows it (charges its time). */
  access(space: GpuVaSpace, vpn: number, write: boolean, atomic = false): boolean {
    const attr = space.table.attr(vpn);
    if (attr === 0 || (write && !(attr & GPU_ATTR_WRITE))) return false;
    if (atomic && !(attr & (GPU_ATTR_ATOMIC | GPU_ATTR_LOCAL))) return false;
    const kernel = this.kernel;
    kernel.stats.add(this.ctr.accesses);
    if (attr & GPU_ATTR_LOCAL) {
      kernel.charge(kernel.costs.gpuAccessNs);
    } else {
      kernel.stats.add(this.ctr.remote);
      kernel.charge(kernel.costs.gpuRemoteAccessNs);
    }
    if (write && kernel.contentMode === 'tokens')
      kernel.mem.content.setToken(space.table.pfn(vpn), kernel.newToken());
    return true;
  }

  /** A far fault: into the fault buffer (if it has room); the kernel waits for the replay. */
  farFault(k: GpuKernel, vpn: number, write: boolean): void {
    this.waiting.add(k);
    // An access retried at a replay while its fault still waits in the buffer raises nothing new.
    if (k.space.pendingFaults.has(vpn)) return;
    this.kernel.stats.add(this.ctr.farFaults);
    if (this.faults.length < this.faultBufferEntries) {
      k.space.pendingFaults.add(vpn);
      this.faults.push({
        space: k.space,
        vpn,
        write,
        migrate: (k.spec.mode ?? this.mode) === 'migrate',
        atomic: k.spec.atomic === true,
        atNs: this.kernel.engine.nowNs,
      });
    }
    if (!this.driverAdded) {
      this.driverAdded = true;
      this.kernel.engine.addActor(this.driver, this.kernel.costs.gpuFarFaultNs);
    } else {
      this.kernel.engine.wake(this.driver, this.kernel.costs.gpuFarFaultNs);
    }
  }

  /** The pass in progress: merged runs of faults and where the driver is in them. */
  private pass: ServicePass | null = null;

  /**
   * @internal One step of the driver's fault servicing: a pass takes up to batchesPerPass batches
   * of faults (merged, sorted), resolves them run by run, then replays. Mirroring splits at the
   * window the kernel opens between hmm_range_fault and the driver lock: the snapshot is one step,
   * the commit under the lock the next, so an invalidation can land in between (and the commit
   * sees read_retry). Returns the next step's delay, 'wait' (an invalidation is in flight) or
   * 'idle'.
   */
  serviceStep(wake: () => void): number | 'wait' | 'idle' {
    if (this.pass === null) {
      if (this.faults.length === 0) return 'idle';
      this.pass = this.beginPass();
    }
    const pass = this.pass;
    while (pass.run < pass.runs.length) {
      const r = pass.runs[pass.run];
      const step = this.serviceRun(r, wake);
      if (step === 'wait') return 'wait';
      if (step === 'next') {
        pass.run++;
        continue;
      }
      return 0;
    }
    this.endPass(pass);
    this.pass = null;
    return 0;
  }

  private beginPass(): ServicePass {
    const costs = this.kernel.costs;
    const trace = this.kernel.trace;
    if (trace.enabled)
      trace.begin(this.kernel.engine.nowNs, `${this.name}/driver`, 'gpu', 'service faults', {
        pending: this.faults.length,
      });
    const runs: FaultRun[] = [];
    const arrivals: number[] = [];
    for (let b = 0; b < costs.gpuFaultBatchesPerPass && this.faults.length > 0; b++) {
      this.kernel.stats.add(this.ctr.batches);
      const batch = this.faults.splice(0, costs.gpuFaultBatchSize);
      for (const f of batch) f.space.pendingFaults.delete(f.vpn);
      // Duplicates merge (a write wins); the rest is sorted by address space and page.
      batch.sort((a, b) => a.space.mm.id - b.space.mm.id || a.vpn - b.vpn);
      for (const f of batch) arrivals.push(f.atNs);
      let i = 0;
      while (i < batch.length) {
        const first = batch[i];
        const run: FaultRun = {
          space: first.space,
          start: first.vpn,
          end: first.vpn + 1,
          cursor: first.vpn,
          write: first.write,
          migrate: first.migrate,
          atomic: first.atomic,
          range: null,
          pieceEnd: 0,
          held: false,
        };
        let j = i + 1;
        while (
          j < batch.length &&
          batch[j].space === first.space &&
          batch[j].vpn <= run.end &&
          run.end - run.start < MAX_RUN_PAGES
        ) {
          if (batch[j].vpn === run.end) run.end++;
          run.write ||= batch[j].write;
          run.migrate ||= batch[j].migrate;
          run.atomic ||= batch[j].atomic;
          j++;
        }
        runs.push(run);
        i = j;
      }
    }
    return { runs, run: 0, arrivals };
  }

  private endPass(pass: ServicePass): void {
    const kernel = this.kernel;
    for (const at of pass.arrivals) this.farFaultLatency.add(kernel.engine.nowNs - at);
    // Replay: every waiting kernel retries its access.
    kernel.stats.add(this.ctr.replays);
    kernel.charge(kernel.costs.gpuReplayNs);
    const trace = kernel.trace;
    if (trace.enabled) trace.end(kernel.engine.nowNs, `${this.name}/driver`, 'gpu', 'service faults');
    for (const k of this.waiting) {
      k.replayed = true;
      kernel.engine.wake(k);
    }
    this.waiting.clear();
  }

  /**
   * Advances one run by one phase: 'next' when the run is finished, 'again' when it needs another
   * step, 'wait' when an invalidation in flight must end first.
   */
  private serviceRun(r: FaultRun, wake: () => void): 'next' | 'again' | 'wait' {
    const space = r.space;
    const mm = space.mm;
    if (r.range !== null) return this.commitMirror(r);
    if (r.cursor >= r.end) return 'next';
    if (!r.held) {
      if (!mm.mmgetNotZero()) return 'next';
      r.held = true;
    }
    const vma = mm.vmas.find(r.cursor);
    if (vma === null) {
      // No mapping at all: these accesses can never be served.
      for (let v = r.cursor; v < r.end; v++) space.fatal.add(v);
      return this.finishRun(r);
    }
    const end = Math.min(r.end, vma.end);
    if (r.migrate) this.migrateIn(space, vma, r.cursor, end);
    if (r.atomic && !r.migrate) {
      this.makeExclusive(space, r.cursor, end);
      r.cursor = end;
      return r.cursor >= r.end ? this.finishRun(r) : 'again';
    }
    // The snapshot half of mirroring: read_begin (waiting out an invalidation) and hmm_range_fault.
    const seq = mmuIntervalReadBeginTry(space.notifier);
    if (seq === -EAGAIN) {
      mmuIntervalWaitEven(space.notifier, wake);
      return 'wait';
    }
    const range = new HmmRange(space.notifier, r.cursor, end);
    range.defaultFlags = HMM_PFN_REQ_FAULT | (r.write ? HMM_PFN_REQ_WRITE : 0);
    range.devPrivateOwner = this;
    range.p2pCluster = this.p2pCluster;
    range.notifierSeq = seq;
    const rc = hmmRangeFault(range);
    if (rc === -EBUSY) {
      this.kernel.engine.noteRetry(`${this.name} hmm_range_fault`);
      this.kernel.stats.add(this.ctr.retries);
      return 'again';
    }
    if (rc < 0) {
      for (let v = r.cursor; v < end; v++) space.fatal.add(v);
      r.cursor = end;
      return r.cursor >= r.end ? this.finishRun(r) : 'again';
    }
    r.range = range;
    r.pieceEnd = end;
    return 'again';
  }

  /** The commit half: under the driver lock, program the table unless an invalidation intervened. */
  private commitMirror(r: FaultRun): 'next' | 'again' {
    const space = r.space;
    const range = r.range!;
    r.range = null;
    space.locked = true;
    if (mmuIntervalReadRetry(space.notifier, range.notifierSeq)) {
      space.locked = false;
      this.kernel.engine.noteRetry(`${this.name} mirror`);
      this.kernel.stats.add(this.ctr.retries);
      return 'again';
    }
    const mem = this.kernel.mem;
    for (let i = 0; i < r.pieceEnd - range.startVpn; i++) {
      const f = range.flags[i];
      if (!(f & HMM_PFN_VALID)) continue;
      const pfn = range.pfns[i];
      // A peer's page (P2P) is reached over the interconnect, like system memory.
      const local = mem.zone(pfn).owner === this ? GPU_ATTR_LOCAL : 0;
      space.table.set(
        range.startVpn + i,
        pfn,
        GPU_ATTR_VALID | local | (f & HMM_PFN_WRITE ? GPU_ATTR_WRITE : 0),
      );
    }
    space.locked = false;
    r.cursor = r.pieceEnd;
    return r.cursor >= r.end ? this.finishRun(r) : 'again';
  }

  private finishRun(r: FaultRun): 'next' {
    if (r.held) {
      r.held = false;
      r.space.mm.mmput();
    }
    r.cursor = r.end;
    return 'next';
  }

  /**
   * An explicit migration of [startVpn, endVpn) of `mm` (cudaMemPrefetchAsync, or a driver's
   * migrate ioctl): into GPU memory or back to system memory, 2 MiB at a time. Returns the pages
   * that moved; the time is charged to the caller.
   */
  prefetch(mm: Mm, startVpn: number, endVpn: number, to: 'device' | 'host'): number {
    if (!mm.mmgetNotZero()) return 0;
    const space = this.vaSpace(mm);
    const before = this.kernel.stats.get(
      `gpu.${this.name}.${to === 'device' ? 'pages_to_device' : 'pages_to_host'}`,
    );
    try {
      for (let vpn = startVpn; vpn < endVpn;) {
        const vma = mm.vmas.find(vpn);
        if (vma === null) {
          vpn++;
          continue;
        }
        const end = Math.min(endVpn, vma.end, vpn + MAX_RUN_PAGES);
        if (to === 'device') this.migrateIn(space, vma, vpn, end);
        else this.migrateOut(space, vma, vpn, end);
        vpn = end;
      }
    } finally {
      mm.mmput();
    }
    return (
      this.kernel.stats.get(`gpu.${this.name}.${to === 'device' ? 'pages_to_device' : 'pages_to_host'}`) -
      before
    );
  }

  /** This GPU's pages of [startVpn, endVpn) back to system memory (SELECT_DEVICE_PRIVATE). */
  private migrateOut(space: GpuVaSpace, vma: MigrateVma['vma'], startVpn: number, endVpn: number): void {
    const kernel = this.kernel;
    const mem = kernel.mem;
    const args = new MigrateVma(vma, startVpn, endVpn);
    args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
    args.pgmapOwner = this;
    if (migrateVmaSetup(args) < 0) return;
    let moved = 0;
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const dpage = mem.allocPage();
      if (dpage < 0) continue;
      mem.setPageFlag(dpage, PG_LOCKED);
      mem.content.copy(dpage, migratePfnToPfn(args.src[i]));
      args.dst[i] = migratePfn(dpage) + (args.src[i] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0);
      space.table.delete(startVpn + i);
      moved++;
    }
    if (moved > 0) kernel.charge(linkTransferNs(kernel.costs, moved * PAGE_SIZE));
    this.noteToHost(moved);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
  }

  /** Moves the system pages of [startVpn, endVpn) into GPU memory (migrate_vma with SELECT_SYSTEM). */
  private migrateIn(space: GpuVaSpace, vma: MigrateVma['vma'], startVpn: number, endVpn: number): void {
    const kernel = this.kernel;
    const mem = kernel.mem;
    const args = new MigrateVma(vma, startVpn, endVpn);
    args.flags = MIGRATE_VMA_SELECT_SYSTEM;
    args.pgmapOwner = this;
    const trace = kernel.trace;
    const spanId = this.nextMigrationId++;
    if (trace.enabled)
      trace.asyncBegin(kernel.engine.nowNs, `${this.name}/driver`, 'migrate', 'to device', spanId, {
        startVpn,
        pages: endVpn - startVpn,
      });
    if (migrateVmaSetup(args) < 0) {
      if (trace.enabled)
        trace.asyncEnd(kernel.engine.nowNs, `${this.name}/driver`, 'migrate', 'to device', spanId);
      return;
    }
    let moved = 0;
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const dpage = this.memory.alloc();
      if (dpage < 0) continue;
      const spage = migratePfnToPfn(args.src[i]);
      if (spage !== 0) mem.content.copy(dpage, spage);
      else mem.content.zero(dpage);
      const writable = args.src[i] & MIGRATE_PFN_WRITE || (spage === 0 && vma.flags & VM_WRITE);
      args.dst[i] = migratePfn(dpage) + (writable ? MIGRATE_PFN_WRITE : 0);
      if (spage !== 0) moved++;
    }
    if (moved > 0) kernel.charge(linkTransferNs(kernel.costs, moved * PAGE_SIZE));
    kernel.stats.add(this.ctr.h2d, moved * PAGE_SIZE);
    migrateVmaPages(args);
    space.locked = true;
    let placed = 0;
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE) || args.dst[i] === 0) continue;
      const dpage = migratePfnToPfn(args.dst[i]);
      const attr = GPU_ATTR_VALID | GPU_ATTR_LOCAL | (args.dst[i] & MIGRATE_PFN_WRITE ? GPU_ATTR_WRITE : 0);
      space.table.set(startVpn + i, dpage, attr);
      placed++;
    }
    space.locked = false;
    kernel.stats.add(this.ctr.toDevice, placed);
    migrateVmaFinalize(args);
    if (trace.enabled)
      trace.asyncEnd(kernel.engine.nowNs, `${this.name}/driver`, 'migrate', 'to device', spanId, {
        pages: placed,
      });
  }

  private nextMigrationId = 1;

  /**
   * Grants the GPU exclusive access to [startVpn, endVpn) for atomics (make_device_exclusive_range,
   * as nouveau does): the CPU's entries become device-exclusive; a CPU access revokes them.
   */
  private makeExclusive(space: GpuVaSpace, startVpn: number, endVpn: number): void {
    const mem = this.kernel.mem;
    const pages: number[] = [];
    for (let vpn = startVpn; vpn < endVpn; vpn += 64) {
      const next = Math.min(endVpn, vpn + 64);
      pages.length = 0;
      const n = makeDeviceExclusiveRange(space.mm, vpn, next, pages, this);
      if (n <= 0) {
        for (let v = vpn; v < next; v++) space.fatal.add(v);
        continue;
      }
      space.locked = true;
      for (let i = 0; i < n; i++) {
        if (pages[i] !== 0)
          space.table.set(vpn + i, pages[i], GPU_ATTR_VALID | GPU_ATTR_WRITE | GPU_ATTR_ATOMIC);
      }
      space.locked = false;
      for (let i = 0; i < n; i++) {
        if (pages[i] !== 0) {
          mem.unlock(pages[i]);
          mem.put(pages[i]);
        }
      }
    }
  }

  /** @internal A per-GPU sequence for kernel names (deterministic across runs). */
  nextKernelId = 1;
}

/** The driver's fault-servicing thread (UVM's bottom half): it steps while faults wait. */
class GpuDriverActor implements Actor {
  readonly name: string;
  readonly daemon = true;
  private readonly wake: () => void;

  constructor(private readonly gpu: GpuDevice) {
    this.name = `${gpu.name}/driver`;
    this.wake = () => gpu.kernel.engine.wake(this);
  }

  step(): StepResult {
    const r = this.gpu.serviceStep(this.wake);
    return r === 'idle' || r === 'wait' ? 'blocked' : r;
  }
}

/** A run of contiguous faulted pages of one address space, resolved piece by piece. */
interface FaultRun {
  readonly space: GpuVaSpace;
  readonly start: number;
  end: number;
  cursor: number;
  write: boolean;
  migrate: boolean;
  atomic: boolean;
  /** A snapshot waiting for its commit (between hmm_range_fault and the driver lock). */
  range: HmmRange | null;
  pieceEnd: number;
  /** The run holds a temporary mm user. */
  held: boolean;
}

interface ServicePass {
  readonly runs: FaultRun[];
  run: number;
  readonly arrivals: number[];
}

/**
 * A compute kernel: its warps issue the stream's accesses; an access that faults is parked while
 * the others go on, until `maxOutstandingFaults` are parked or the stream is exhausted; then the
 * kernel waits for the driver's replay and retries the parked accesses first.
 */
export class GpuKernel implements Actor {
  readonly name: string;
  private parked: number[] = [];
  private retry: number[] = [];
  private exhausted = false;
  accesses = 0;
  farFaults = 0;
  /** An access the driver could not resolve (no VMA, no permission) stopped the kernel. */
  failed = false;
  finished = false;

  constructor(
    readonly gpu: GpuDevice,
    readonly space: GpuVaSpace,
    readonly spec: GpuKernelSpec,
  ) {
    this.traceId = gpu.nextKernelId;
    this.name = `${gpu.name}/kernel${gpu.nextKernelId++}`;
  }

  step(): StepResult {
    if (this.finished) return 'done';
    const gpu = this.gpu;
    const write = this.spec.write;
    // After a replay the parked accesses go first.
    if (this.replayed && this.parked.length > 0) {
      this.replayed = false;
      const swap = this.retry;
      this.retry = this.parked;
      this.parked = swap;
      for (const vpn of this.retry) {
        if (this.space.fatal.delete(vpn)) return this.finish(true);
        this.issue(vpn, write);
      }
      this.retry.length = 0;
    }
    for (let n = 0; n < gpu.accessesPerStep && this.parked.length < gpu.maxOutstandingFaults; n++) {
      const off = this.spec.stream.next();
      if (off < 0) {
        this.exhausted = true;
        break;
      }
      this.issue(this.spec.baseVpn + off, write);
    }
    if (this.parked.length > 0 && (this.exhausted || this.parked.length >= gpu.maxOutstandingFaults))
      return 'blocked';
    if (this.exhausted && this.parked.length === 0) return this.finish(false);
    return 0;
  }

  private issue(vpn: number, write: boolean): void {
    if (this.gpu.access(this.space, vpn, write, this.spec.atomic)) {
      this.accesses++;
      return;
    }
    this.parked.push(vpn);
    this.farFaults++;
    this.gpu.farFault(this, vpn, write);
  }

  /** Torn down with its address space: it stops where it is (its next step does nothing). */
  abort(): void {
    if (this.finished) return;
    this.aborted = true;
    this.finish(true);
    this.gpu.kernel.engine.wake(this);
  }

  /** Stopped by `abort`. */
  aborted = false;
  /** The driver replayed since the accesses were parked. */
  replayed = false;
  readonly traceId: number;

  private finish(failed: boolean): StepResult {
    this.failed = failed;
    this.finished = true;
    this.gpu.running.delete(this);
    const k = this.gpu.kernel;
    if (k.trace.enabled)
      k.trace.asyncEnd(k.engine.nowNs, this.name, 'gpu', 'kernel', this.traceId, {
        accesses: this.accesses,
        farFaults: this.farFaults,
        failed,
      });
    this.spec.onDone?.(this);
    return 'done';
  }
}
