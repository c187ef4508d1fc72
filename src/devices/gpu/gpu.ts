// A GPU sharing process memory the way an SVM driver does it (NVIDIA UVM, nouveau, amdgpu SVM):
// compute kernels access pages through a TLB and the GPU's page table; a miss is a far fault that
// lands in the fault buffer; the driver services faults in batches (driver.ts), migrating pages
// into GPU memory with migrate_vma_* or mirroring system pages with hmm_range_fault, under the
// policies chosen for it (policies/), then replays. Every step goes through the modeled kernel.
// This file is the device: its options, address spaces, the access path and the accounting.

import { Log2Histogram } from '../../sim/histogram.js';
import type { Rng } from '../../sim/rng.js';
import type { CounterId } from '../../sim/stats.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Program } from '../../sim/steps.js';
import { GpuDriver } from './driver.js';
import { FAULT_ATOMIC, FAULT_MIRROR, FAULT_WRITE, FaultBuffer } from './faultBuffer.js';
import { GpuMemory, type GpuMemoryOwner } from './gpuMemory.js';
import { GpuKernel, type GpuKernelSpec, type GpuMode, type KernelHost } from './kernel.js';
import { migrateToHost, type MigrationHost } from './migration.js';
import {
  createPolicy,
  DEFAULT_POLICIES,
  type PolicyChoice,
  type PolicyChoices,
  POLICY_KINDS,
  UVM_POLICIES,
} from './policies/registry.js';
import type { AccessCounterPolicy, PrefetchPolicy } from './policies/types.js';
import { GpuTlb } from './tlb.js';
import { VA_BLOCK_PAGES } from './vaBlock.js';
import { GPU_ATTR_ATOMIC, GPU_ATTR_LOCAL, GPU_ATTR_WRITE, GpuVaSpace } from './vaSpace.js';

export type { GpuKernelSpec, GpuMode } from './kernel.js';
export { GpuKernel } from './kernel.js';

/** Bytes a fault migrates at least: a page, a 64 KiB big page, or a whole 2 MiB VA block. */
export type MigrationGranularity = 4096 | 65536 | 2097152;

/**
 * How far faults take time. `per-pass` (a real driver): the driver starts a pass `gpuFarFaultNs`
 * after a fault wakes it (interrupt, fetch), however many faults it then serves, and its copies
 * are on its critical path. `accounted` (UVMSmart's default): faults are resolved as they occur
 * (a kernel step ends at its first new fault and the driver serves it at once), copies queue on
 * the copy engines while the driver goes on, and each distinct faulting page adds `gpuFarFaultNs`
 * to the `fault_latency_ns` counter instead of to the simulated timeline; the reported time is
 * then kernel time plus that sum, as Ganguly et al. report it.
 */
export type FaultLatencyMode = 'per-pass' | 'accounted';

export interface GpuOptions {
  readonly name: string;
  /** GPU memory in bytes (a whole number of pages). */
  readonly memoryBytes: number;
  /** `migrate` (default): far faults move pages into GPU memory; `mirror`: map system pages. */
  readonly mode?: GpuMode;
  /** Streaming multiprocessors (default 28, a GTX 1080 Ti). */
  readonly sms?: number;
  /** Core clock in MHz (default 1481). */
  readonly clockMHz?: number;
  /** Thread blocks resident per SM: the lanes that issue accesses concurrently (default 8). */
  readonly blocksPerSm?: number;
  /** SM cycles one page access of a block takes (its loads, stores and arithmetic; default 16). */
  readonly cyclesPerAccess?: number;
  /** Accesses a kernel issues per engine step (default 256). */
  readonly accessesPerStep?: number;
  /** GPU TLB entries and ways (default 8192, 8). */
  readonly tlbEntries?: number;
  readonly tlbWays?: number;
  /** Cycles of a page-table walk after a TLB miss (default 100). */
  readonly tlbMissCycles?: number;
  /** Fault-buffer entries; faults beyond it are dropped and raised again at a replay (default 4096). */
  readonly faultBufferEntries?: number;
  /** Bytes a fault migrates at least (default 4096). */
  readonly migrationGranularity?: MigrationGranularity;
  /** How far-fault latency is charged (default `per-pass`). */
  readonly faultLatency?: FaultLatencyMode;
  /** The driver's policies by kind (`uvm`: NVIDIA's defaults); unnamed kinds use DEFAULT_POLICIES. */
  readonly policies?: PolicyChoices | 'uvm';
  /**
   * The prefetch policy once GPU memory has filled (its first eviction); default: the same one.
   * UVMSmart's `-hwprefetch_oversub` (Ganguly et al. switch prefetching off there in some runs).
   */
  readonly prefetchAfterEviction?: PolicyChoice;
  /** The random stream of policies that draw (default: forked from the kernel's, so the seed decides it). */
  readonly rng?: Rng;
  /** Name of the link for byte accounting (default `<name>.link`). */
  readonly link?: string;
  /**
   * Interconnect cluster (the P2P extension): with the kernel's `p2p` option on, this GPU reaches
   * pages in the memory of a peer of the same cluster in place instead of forcing them to RAM.
   */
  readonly p2pCluster?: unknown;
}

const COUNTERS = {
  accesses: 'accesses',
  remote: 'remote_accesses',
  tlbMisses: 'tlb_misses',
  farFaults: 'far_faults',
  dropped: 'fault_buffer_overflows',
  batches: 'fault_batches',
  replays: 'replays',
  toDevice: 'pages_to_device',
  toHost: 'pages_to_host',
  prefetched: 'prefetched_pages',
  evicted: 'evicted_pages',
  notifications: 'access_counter_notifications',
  faultLatencyNs: 'fault_latency_ns',
  kernels: 'kernels',
  kernelNs: 'kernel_ns',
  retries: 'notifier_retries',
} as const;

type CounterName = keyof typeof COUNTERS;

function positive(what: string, gpu: string, v: number, integer: boolean): number {
  if (!(v > 0) || (integer && !Number.isInteger(v)))
    throw new RangeError(
      `GPU ${gpu}: ${what} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`,
    );
  return v;
}

export class GpuDevice implements KernelHost, MigrationHost, GpuMemoryOwner {
  readonly kernel: Kernel;
  readonly name: string;
  readonly mode: GpuMode;
  readonly memory: GpuMemory;
  readonly tlb: GpuTlb;
  readonly lanes: number;
  readonly accessesPerStep: number;
  readonly granularityPages: number;
  readonly faultLatency: FaultLatencyMode;
  readonly yieldOnFault: boolean;
  readonly linkName: string;
  readonly p2pCluster: unknown;
  readonly rng: Rng;
  private readonly prefetchBeforeEviction: PrefetchPolicy;
  private readonly prefetchOversubscribed: PrefetchPolicy;
  readonly accessCounterPolicy: AccessCounterPolicy;
  /** @internal The fault buffer the driver drains. */
  readonly faults: FaultBuffer;
  /** @internal Access-counter notifications waiting for the driver: (space index, first vpn) pairs. */
  readonly notifications: number[] = [];
  readonly farFaultLatency: Log2Histogram;
  /** @internal */
  readonly counters: Record<CounterName, CounterId>;
  /** @internal Ids of migration spans in the trace. */
  nextMigrationId = 1;
  /** Kernels launched and not finished. */
  readonly running = new Set<GpuKernel>();
  private readonly spaces = new Map<Mm, GpuVaSpace>();
  private readonly spaceList: (GpuVaSpace | null)[] = [];
  private readonly waiting = new Set<GpuKernel>();
  private readonly driver: GpuDriver;
  private driverAdded = false;
  private nextKernelId = 1;
  // Per-access costs (ns), and the counts not yet charged.
  private readonly localAccessNs: number;
  private readonly tlbWalkNs: number;
  private accessCount = 0;
  private remoteCount = 0;
  private tlbMissCount = 0;
  private accessNsCarry = 0;

  constructor(kernel: Kernel, options: GpuOptions) {
    this.kernel = kernel;
    const name = options.name;
    this.name = name;
    this.mode = options.mode ?? 'migrate';
    const sms = positive('sms', name, options.sms ?? 28, true);
    const clockGHz = positive('clockMHz', name, options.clockMHz ?? 1481, false) / 1000;
    this.lanes = sms * positive('blocksPerSm', name, options.blocksPerSm ?? 8, true);
    // Blocks run in parallel on the SMs: an access costs its cycles spread over all of them.
    this.localAccessNs =
      positive('cyclesPerAccess', name, options.cyclesPerAccess ?? 16, false) / (sms * clockGHz);
    this.tlbWalkNs = positive('tlbMissCycles', name, options.tlbMissCycles ?? 100, false) / (sms * clockGHz);
    this.accessesPerStep = positive('accessesPerStep', name, options.accessesPerStep ?? 256, true);
    this.tlb = new GpuTlb(options.tlbEntries ?? 8192, options.tlbWays ?? 8);
    this.faults = new FaultBuffer(options.faultBufferEntries ?? 4096);
    const granularity = options.migrationGranularity ?? PAGE_SIZE;
    if (granularity !== 4096 && granularity !== 65536 && granularity !== 2097152)
      throw new RangeError(
        `GPU ${name}: migrationGranularity must be 4096, 65536 or 2097152, got ${granularity}`,
      );
    this.granularityPages = Math.min(VA_BLOCK_PAGES, granularity / PAGE_SIZE);
    this.faultLatency = options.faultLatency ?? 'per-pass';
    this.yieldOnFault = this.faultLatency === 'accounted';
    this.linkName = options.link ?? `${name}.link`;
    this.rng = options.rng ?? kernel.rng.fork(`gpu:${name}`);
    const pages = options.memoryBytes / PAGE_SIZE;
    if (!Number.isInteger(pages) || pages < 1) {
      throw new RangeError(
        `GPU ${name}: memory must be a whole number of 4 KiB pages, got ${options.memoryBytes} bytes`,
      );
    }
    this.memory = new GpuMemory(kernel, this, pages);
    const choices =
      options.policies === 'uvm' ? UVM_POLICIES : { ...DEFAULT_POLICIES, ...(options.policies ?? {}) };
    const context = { memory: this.memory, nowNs: () => kernel.engine.nowNs };
    for (const kind of POLICY_KINDS)
      if (choices[kind] === undefined) throw new RangeError(`no ${kind} policy`);
    this.prefetchBeforeEviction = createPolicy('prefetch', choices.prefetch!, context);
    this.prefetchOversubscribed =
      options.prefetchAfterEviction === undefined
        ? this.prefetchBeforeEviction
        : createPolicy('prefetch', options.prefetchAfterEviction, context);
    this.memory.eviction = createPolicy('eviction', choices.eviction!, context);
    this.memory.thrashing = createPolicy('thrashing', choices.thrashing!, context);
    this.accessCounterPolicy = createPolicy('accessCounters', choices.accessCounters!, context);
    this.driver = new GpuDriver(this);
    this.p2pCluster = options.p2pCluster ?? null;
    this.memory.pgmap.p2pCluster = this.p2pCluster;
    this.farFaultLatency = new Log2Histogram(`latency.${name}.far_fault`);
    const stats = kernel.stats;
    const counters = {} as Record<CounterName, CounterId>;
    for (const k of Object.keys(COUNTERS) as CounterName[])
      counters[k] = stats.counter(`gpu.${name}.${COUNTERS[k]}`);
    this.counters = counters;
    this.h2d = stats.counter(`link.${this.linkName}.h2d_bytes`);
    this.d2h = stats.counter(`link.${this.linkName}.d2h_bytes`);
  }

  private readonly h2d: CounterId;
  private readonly d2h: CounterId;

  /** The prefetch policy in force: it may change once memory has filled. */
  get prefetchPolicy(): PrefetchPolicy {
    return this.memory.evictedPages > 0 ? this.prefetchOversubscribed : this.prefetchBeforeEviction;
  }

  // ---- address spaces ---------------------------------------------------------------------------

  /** The GPU's view of `mm`, created (and its notifier inserted) on first use. */
  vaSpace(mm: Mm): GpuVaSpace {
    let s = this.spaces.get(mm);
    if (s === undefined) {
      s = new GpuVaSpace(mm, this, this.spaceList.length, this.tlb, this.name);
      const rc = s.attach();
      if (rc < 0) throw new RangeError(`GPU ${this.name}: cannot mirror mm ${mm.id} (${rc})`);
      this.spaces.set(mm, s);
      this.spaceList.push(s);
    }
    return s;
  }

  /** How many address spaces were ever attached (indices for `spaceAt`). */
  get spaceCount(): number {
    return this.spaceList.length;
  }

  /** @internal The address space with this index, or null once released. */
  spaceAt(index: number): GpuVaSpace | null {
    return this.spaceList[index] ?? null;
  }

  /**
   * The process is done with the GPU (its file was released): its kernels are torn down and the
   * GPU stops mirroring its address space.
   */
  releaseMm(mm: Mm): void {
    const s = this.spaces.get(mm);
    if (s === undefined) return;
    for (const k of [...this.running]) {
      if (k.space !== s) continue;
      k.abort();
      this.kernel.engine.wake(k);
    }
    s.detach();
    this.spaces.delete(mm);
    this.spaceList[s.index] = null;
  }

  // ---- kernels ----------------------------------------------------------------------------------

  /** Starts a compute kernel; it runs as the engine runs, after the launch latency. */
  launch(spec: GpuKernelSpec): GpuKernel {
    const k = new GpuKernel(this, this.vaSpace(spec.mm), spec, this.nextKernelId++);
    k.launchedAtNs = this.kernel.engine.nowNs;
    this.running.add(k);
    const t = this.kernel.trace;
    if (t.enabled)
      t.asyncBegin(this.kernel.engine.nowNs, k.name, 'gpu', 'kernel', k.traceId, { mm: spec.mm.id });
    this.kernel.engine.addActor(k, this.kernel.costs.gpuKernelLaunchNs);
    return k;
  }

  /** @internal A kernel ended. */
  finished(k: GpuKernel): void {
    this.running.delete(k);
    this.waiting.delete(k);
    const stats = this.kernel.stats;
    stats.add(this.counters.kernels);
    stats.add(this.counters.kernelNs, this.kernel.engine.nowNs - k.launchedAtNs);
    const t = this.kernel.trace;
    if (t.enabled)
      t.asyncEnd(this.kernel.engine.nowNs, k.name, 'gpu', 'kernel', k.traceId, {
        accesses: k.accesses,
        farFaults: k.farFaults,
        failed: k.failed,
      });
  }

  // ---- the access path --------------------------------------------------------------------------

  /** One access by a kernel: true when the GPU's translation allows it (its time is charged later). */
  access(space: GpuVaSpace, vpn: number, write: boolean, atomic: boolean): boolean {
    const tlb = this.tlb;
    let attr: number;
    let pfn: number;
    if (tlb.lookup(space.index, vpn)) {
      attr = tlb.hitAttr;
      pfn = tlb.hitPfn;
    } else {
      attr = space.table.attr(vpn);
      if (attr === 0) return false;
      pfn = space.table.pfn(vpn);
      tlb.fill(space.index, vpn, pfn, attr);
      this.tlbMissCount++;
    }
    if (write && !(attr & GPU_ATTR_WRITE)) return false;
    if (atomic && !(attr & (GPU_ATTR_ATOMIC | GPU_ATTR_LOCAL))) return false;
    this.accessCount++;
    if (attr & GPU_ATTR_LOCAL) {
      this.memory.accessed(pfn);
    } else {
      this.remoteCount++;
      const region = this.accessCounterPolicy.remoteAccess(space.index, vpn);
      if (region >= 0) {
        this.notifications.push(space.index, region);
        this.wakeDriver(0);
      }
    }
    const kernel = this.kernel;
    if (write && kernel.contentMode === 'tokens') kernel.mem.content.setToken(pfn, kernel.newToken());
    return true;
  }

  /** @internal Charges the accesses since the last call and adds them to the counters. */
  chargeAccesses(): void {
    const local = this.accessCount - this.remoteCount;
    const ns =
      local * this.localAccessNs +
      this.tlbMissCount * this.tlbWalkNs +
      this.remoteCount * this.kernel.costs.gpuRemoteAccessNs;
    // Whole nanoseconds on the clock; the fraction carries over to the next charge.
    const total = ns + this.accessNsCarry;
    const whole = Math.floor(total);
    this.accessNsCarry = total - whole;
    if (whole > 0) this.kernel.charge(whole);
    const stats = this.kernel.stats;
    stats.add(this.counters.accesses, this.accessCount);
    stats.add(this.counters.remote, this.remoteCount);
    stats.add(this.counters.tlbMisses, this.tlbMissCount);
    this.accessCount = 0;
    this.remoteCount = 0;
    this.tlbMissCount = 0;
  }

  /** A far fault: into the fault buffer (if it has room); the kernel waits for the replay. */
  farFault(k: GpuKernel, vpn: number, write: boolean): void {
    this.waiting.add(k);
    const flags =
      (write ? FAULT_WRITE : 0) |
      (k.spec.atomic === true ? FAULT_ATOMIC : 0) |
      ((k.spec.mode ?? this.mode) === 'mirror' ? FAULT_MIRROR : 0);
    if (this.raiseFault(k.space, vpn, flags))
      this.wakeDriver(this.yieldOnFault ? 0 : this.kernel.costs.gpuFarFaultNs);
  }

  /**
   * @internal A fault on `vpn` into the buffer, unless one for the page is still pending; false
   * when nothing new was raised. The driver is not woken (the race finder runs it as an actor).
   */
  raiseFault(space: GpuVaSpace, vpn: number, flags: number): boolean {
    // An access retried at a replay while its fault still waits raises nothing new.
    if (space.pendingFaults.has(vpn)) return false;
    // A new fault is judged afresh: a verdict left by a kernel that failed on this page before
    // (its other lanes never consumed it) must not fail this one once the page can be served.
    space.fatal.delete(vpn);
    const stats = this.kernel.stats;
    stats.add(this.counters.farFaults);
    if (this.faults.push(space.index, vpn, flags, this.kernel.engine.nowNs)) space.pendingFaults.add(vpn);
    else stats.add(this.counters.dropped);
    return true;
  }

  private wakeDriver(delayNs: number): void {
    if (!this.driverAdded) {
      this.driverAdded = true;
      this.kernel.engine.addActor(this.driver, delayNs);
    } else {
      this.kernel.engine.wake(this.driver, delayNs);
    }
  }

  /**
   * @internal The pass is over: every kernel waiting on a fault retries (once the copies it
   * queued have landed, when copies run on the copy engines).
   */
  replay(): void {
    const now = this.kernel.engine.nowNs;
    const delay = Math.max(0, this.copyBusyUntilNs[0] - now);
    for (const k of this.waiting) {
      k.replay(now + delay);
      this.kernel.engine.wake(k, delay);
    }
    this.waiting.clear();
  }

  /** When each copy engine (0: host to device, 1: device to host) is free again. */
  private readonly copyBusyUntilNs = [0, 0];

  /**
   * @internal A DMA copy of `ns`: on the caller's time (per-pass), or queued on the direction's
   * copy engine, one copy at a time (accounted); a copy to the device also waits for the
   * write-backs queued before it, as UVMSmart starts a read only when its pages are free.
   * Returns when a queued copy lands (0: on the caller's time).
   */
  chargeTransfer(ns: number, toHost: boolean): number {
    if (!this.yieldOnFault) {
      this.kernel.charge(ns);
      return 0;
    }
    const busy = this.copyBusyUntilNs;
    const now = this.kernel.engine.nowNs;
    // A copy in starts once the write-backs queued before it have freed the room it lands in.
    if (toHost) return (busy[1] = Math.max(busy[1], now) + ns);
    return (busy[0] = Math.max(busy[0], busy[1], now) + ns);
  }

  /** @internal A pass began with `faults` distinct faulting pages (accounted latency). */
  noteFaultPass(faults: number): void {
    if (this.faultLatency === 'accounted')
      this.kernel.stats.add(this.counters.faultLatencyNs, faults * this.kernel.costs.gpuFarFaultNs);
  }

  /**
   * @internal One step of the driver outside the engine (tests): 'busy', 'wait' (an invalidation
   * must end first) or 'idle'.
   */
  serviceStep(): 'busy' | 'wait' | 'idle' {
    return this.driver.serviceStep();
  }

  /**
   * @internal The driver's service thread as a step program, for the race finder to run as an
   * actor (faults raised with `raiseFault`; the engine must not run this GPU's driver as well).
   */
  serviceThread(): Program<never> {
    return this.driver.serviceThread();
  }

  // ---- explicit migration -----------------------------------------------------------------------

  /**
   * An explicit migration of [startVpn, endVpn) of `mm` (cudaMemPrefetchAsync, or a driver's
   * migrate ioctl): into GPU memory or back to system memory. Returns the pages that moved; the
   * time is charged to the caller.
   */
  prefetch(mm: Mm, startVpn: number, endVpn: number, to: 'device' | 'host'): number {
    if (!mm.mmgetNotZero()) return 0;
    const space = this.vaSpace(mm);
    let moved = 0;
    try {
      if (to === 'device') return this.driver.migrateRange(space, startVpn, endVpn);
      for (const vma of mm.vmas.range(startVpn, endVpn)) {
        const last = Math.min(endVpn, vma.end);
        for (let vpn = Math.max(startVpn, vma.start); vpn < last;) {
          const end = Math.min(last, vpn - (vpn % VA_BLOCK_PAGES) + VA_BLOCK_PAGES);
          moved += migrateToHost(this, space, vma, vpn, end);
          vpn = end;
        }
      }
      return moved;
    } finally {
      mm.mmput();
    }
  }

  // ---- accounting (GpuMemoryOwner, MigrationHost) -----------------------------------------------

  forget(mmId: number, vpn: number): void {
    for (const s of this.spaces.values()) if (s.mm.id === mmId) s.clearRange(vpn, vpn + 1);
  }

  noteToDevice(pages: number, bytes: number): void {
    this.kernel.stats.add(this.counters.toDevice, pages);
    this.kernel.stats.add(this.h2d, bytes);
  }

  noteToHost(pages: number): void {
    this.kernel.stats.add(this.counters.toHost, pages);
    this.kernel.stats.add(this.d2h, pages * PAGE_SIZE);
  }

  noteEvicted(pages: number): void {
    this.kernel.stats.add(this.counters.evicted, pages);
  }

  /** @internal Pages a fault pass moved beyond the faulting ones. */
  notePrefetched(pages: number): void {
    if (pages > 0) this.kernel.stats.add(this.counters.prefetched, pages);
  }
}
