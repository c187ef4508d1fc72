// The GPU driver's fault servicing (NVIDIA UVM's bottom half, nouveau's svm fault handler): a
// pass fetches up to `gpuFaultBatchesPerPass` batches of `gpuFaultBatchSize` faults, merges the
// duplicates, sorts them by address space and page, and serves them VA block by VA block. In
// migrate mode each block's faulted pages grow to the migration granularity, the prefetch policy
// adds its pages, the thrashing policy may keep some remote, room is reserved (evicting), and
// each contiguous run moves with migrate_vma_*. Whatever is still unmapped (mirror mode, remote
// pages, pages the migration skipped) is mirrored with hmm_range_fault, committed under the
// driver lock unless an invalidation intervened. The pass ends with a replay.
//
// The service thread is a step program (sim/steps.ts). The engine runs it one unit of work per
// engine step, so CPU threads interleave with it: a VA block's migrations and snapshot in one
// step, the snapshot's commit in the next (the window in which an invalidation can land, as in the
// kernel). The race finder runs the same program and may also stop it where the engine does not
// (taking the table lock, the fix-ups after a commit).

import { EAGAIN, EBUSY } from '../../sim/errno.js';
import type { Actor, StepResult } from '../../sim/engine.js';
import { advanceToEngineStep, type Program, type Step, step, stepEnabled } from '../../sim/steps.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../../hmm/hmmRangeFault.js';
import { FAULT_FLAG_REMOTE, FAULT_FLAG_WRITE, VM_FAULT_ERROR, VM_WRITE } from '../../mm/constants.js';
import { handleMmFault } from '../../mm/fault.js';
import type { MigrateVma } from '../../mm/migrateDevice.js';
import {
  mmuIntervalReadBeginTry,
  mmuIntervalReadRetry,
  mmuIntervalWaitEven,
} from '../../notifier/interval.js';
import { FAULT_ATOMIC, FAULT_MIRROR, FAULT_WRITE } from './faultBuffer.js';
import type { GpuDevice } from './gpu.js';
import { makeExclusive, migrateToGpu, migrateToHost } from './migration.js';
import { selectAlignedGroups } from './policies/prefetch.js';
import { THRASHING_REMOTE, type PrefetchRequest } from './policies/types.js';
import { VA_BLOCK_PAGES, type VaBlock } from './vaBlock.js';
import {
  GPU_ATTR_ATOMIC,
  GPU_ATTR_LOCAL,
  GPU_ATTR_VALID,
  GPU_ATTR_WRITE,
  type GpuVaSpace,
} from './vaSpace.js';

type Vma = MigrateVma['vma'];

/** Pass keys: (space * 2^36 + vpn) * 8 + fault flags, so one numeric sort orders and merges. */
const SPACE_SHIFT = 2 ** 36;
const FLAG_SPAN = 8;

/** A mirror snapshot waiting for its commit. */
interface PendingMirror {
  readonly space: GpuVaSpace;
  readonly range: HmmRange;
  /** The sub-unit to redo if the commit finds the snapshot stale. */
  readonly redoFrom: number;
}

export class GpuDriver implements Actor {
  readonly name: string;
  readonly daemon = true;
  private readonly wakeSelf: () => void;
  // The pass in progress: merged faults, in order.
  private readonly keys: Float64Array;
  private readonly arrivals: Float64Array;
  private keyCount = 0;
  private readonly uKey: Float64Array;
  private readonly uFlags: Uint8Array;
  private uCount = 0;
  private cursor = 0;
  private pending: PendingMirror | null = null;
  /** This block's migration found no room while copies were in flight. */
  private waitForRoom = false;
  // Per-block scratch for the policies.
  private readonly faulted = new Uint8Array(VA_BLOCK_PAGES);
  private readonly select = new Uint8Array(VA_BLOCK_PAGES);
  private readonly request: {
    block: VaBlock;
    firstIndex: number;
    endIndex: number;
    faulted: Uint8Array;
    select: Uint8Array;
    rng: PrefetchRequest['rng'];
  };

  /** The service thread the engine runs (suspended where it waits for work). */
  private readonly thread: Program<never>;
  /** The points the thread stops at (made once: the engine's hot path allocates none). */
  private readonly waitForWork: Step;
  private readonly nextBlock: Step;
  private readonly commitSnapshot: Step;
  private readonly replayStep: Step;
  /** The wait for an invalidation to end, made when one is met. */
  private waitForInvalidation: Step | null = null;

  constructor(private readonly gpu: GpuDevice) {
    this.name = `${gpu.name}/driver`;
    this.wakeSelf = () => gpu.kernel.engine.wake(this);
    // Every step that may serve a VA block may call mmu notifiers (migrations, hmm_range_fault).
    this.waitForWork = step(`${this.name}: take faults from the buffer`, {
      enabled: () => gpu.faults.length > 0 || gpu.notifications.length > 0,
      invalidates: true,
    });
    this.nextBlock = step(`${this.name}: serve the next VA block`, { invalidates: true });
    this.commitSnapshot = step(`${this.name}: commit the mirror snapshot`);
    this.replayStep = step(`${this.name}: end the pass and replay`);
    const costs = gpu.kernel.costs;
    const cap = costs.gpuFaultBatchSize * costs.gpuFaultBatchesPerPass;
    this.keys = new Float64Array(cap);
    this.arrivals = new Float64Array(cap);
    this.uKey = new Float64Array(cap);
    this.uFlags = new Uint8Array(cap);
    this.request = {
      block: null as unknown as VaBlock,
      firstIndex: 0,
      endIndex: 0,
      faulted: this.faulted,
      select: this.select,
      rng: gpu.rng,
    };
    this.thread = this.service();
    this.thread.next(); // to where it waits for work: the first fault's step begins the pass
  }

  step(): StepResult {
    let next = advanceToEngineStep(this.thread, this.name);
    // Faults resolved as they occur (accounted latency): the whole pass is one step, so no access
    // of a kernel lands between a fault and its migration. A mirror's commit still waits a step.
    while (this.gpu.yieldOnFault && next !== this.commitSnapshot && stepEnabled(next))
      next = advanceToEngineStep(this.thread, this.name);
    return stepEnabled(next) ? 0 : 'blocked';
  }

  /** One engine step of servicing: 'busy' (more to do), 'wait' (an invalidation must end) or 'idle'. */
  serviceStep(): 'busy' | 'wait' | 'idle' {
    const next = advanceToEngineStep(this.thread, this.name);
    if (stepEnabled(next)) return 'busy';
    return next === this.waitForWork ? 'idle' : 'wait';
  }

  /**
   * The service thread: passes over the fault buffer, forever. It waits for faults (or
   * access-counter notifications), serves a pass VA block by VA block, and replays.
   */
  serviceThread(): Program<never> {
    return this.service();
  }

  private *service(): Program<never> {
    const gpu = this.gpu;
    for (;;) {
      yield this.waitForWork;
      if (gpu.notifications.length > 0) {
        this.serviceNotification();
        continue;
      }
      if (gpu.faults.length === 0) continue;
      this.beginPass();
      while (this.cursor < this.uCount) {
        if (this.serviceSubUnit() === 'wait') {
          // Served again from the same fault once the invalidation has ended.
          yield this.waitForInvalidation!;
          continue;
        }
        const snapshot = this.pending;
        if (snapshot !== null) {
          this.pending = null;
          yield this.commitSnapshot;
          yield* this.commitMirror(snapshot);
        }
        yield this.cursor < this.uCount ? this.nextBlock : this.replayStep;
      }
      this.endPass();
    }
  }

  // ---- passes -----------------------------------------------------------------------------------

  private beginPass(): void {
    const gpu = this.gpu;
    const kernel = gpu.kernel;
    const costs = kernel.costs;
    const buf = gpu.faults;
    const trace = kernel.trace;
    if (trace.enabled)
      trace.begin(kernel.engine.nowNs, this.name, 'gpu', 'service faults', { pending: buf.length });
    let n = 0;
    for (let b = 0; b < costs.gpuFaultBatchesPerPass && buf.length > 0; b++) {
      kernel.stats.add(gpu.counters.batches);
      for (let k = 0; k < costs.gpuFaultBatchSize && buf.length > 0; k++) {
        const i = buf.oldest;
        this.keys[n] = (buf.space[i] * SPACE_SHIFT + buf.vpn[i]) * FLAG_SPAN + buf.flags[i];
        this.arrivals[n] = buf.atNs[i];
        n++;
        buf.pop();
      }
    }
    this.keyCount = n;
    const sorted = this.keys.subarray(0, n).sort();
    // Duplicates merge: one entry per page, its flags the union (a write wins).
    let u = -1;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const page = Math.floor(sorted[i] / FLAG_SPAN);
      const flags = sorted[i] - page * FLAG_SPAN;
      if (page !== last) {
        u++;
        this.uKey[u] = page;
        this.uFlags[u] = flags;
        last = page;
      } else {
        this.uFlags[u] |= flags;
      }
    }
    this.uCount = u + 1;
    this.cursor = 0;
    gpu.noteFaultPass(this.uCount);
  }

  private endPass(): void {
    const gpu = this.gpu;
    const kernel = gpu.kernel;
    const now = kernel.engine.nowNs;
    for (let i = 0; i < this.keyCount; i++) gpu.farFaultLatency.add(now - this.arrivals[i]);
    for (let u = 0; u < this.uCount; u++) {
      const space = gpu.spaceAt(Math.floor(this.uKey[u] / SPACE_SHIFT));
      space?.pendingFaults.delete(this.uKey[u] % SPACE_SHIFT);
    }
    this.uCount = 0;
    this.keyCount = 0;
    kernel.stats.add(gpu.counters.replays);
    kernel.charge(kernel.costs.gpuReplayNs);
    if (kernel.trace.enabled) kernel.trace.end(kernel.engine.nowNs, this.name, 'gpu', 'service faults');
    gpu.replay();
  }

  // ---- one VA block of one VMA ------------------------------------------------------------------

  /**
   * Serves the faults from the cursor that share its address space, VA block and VMA: migrations
   * first, then a mirror snapshot of what is still unmapped.
   */
  private serviceSubUnit(): 'busy' | 'wait' {
    const gpu = this.gpu;
    const from = this.cursor;
    const key = this.uKey[from];
    const spaceIndex = Math.floor(key / SPACE_SHIFT);
    const firstVpn = key - spaceIndex * SPACE_SHIFT;
    const space = gpu.spaceAt(spaceIndex);
    const blockFirst = firstVpn - (firstVpn % VA_BLOCK_PAGES);
    const blockEnd = blockFirst + VA_BLOCK_PAGES;
    const vma = space === null ? null : space.mm.vmas.find(firstVpn);
    // The faults this sub-unit covers: same space, same block, inside the VMA.
    const limit = vma === null ? firstVpn + 1 : Math.min(blockEnd, vma.end);
    let to = from + 1;
    while (to < this.uCount && this.uKey[to] < spaceIndex * SPACE_SHIFT + limit) to++;
    if (space === null) {
      this.cursor = to;
      return 'busy';
    }
    if (vma === null || !space.mm.mmgetNotZero()) {
      // No mapping at all (or the process is gone): these accesses can never be served.
      for (let u = from; u < to; u++) space.fatal.add(this.uKey[u] - spaceIndex * SPACE_SHIFT);
      this.cursor = to;
      return 'busy';
    }
    this.waitForRoom = false;
    try {
      let migrate = false;
      for (let u = from; u < to; u++) if (!(this.uFlags[u] & FAULT_MIRROR)) migrate = true;
      if (migrate) {
        const first = Math.max(blockFirst, vma.start);
        const end = Math.min(blockEnd, vma.end);
        this.migrateFaulted(space, vma, space.block(blockFirst), first, end, from, to);
      }
      return this.mapRest(space, from, to);
    } finally {
      space.mm.mmput();
    }
  }

  /** The faulted pages of [from, to) and what the policies add, moved into GPU memory. */
  private migrateFaulted(
    space: GpuVaSpace,
    vma: Vma,
    block: VaBlock,
    first: number,
    end: number,
    from: number,
    to: number,
  ): void {
    const gpu = this.gpu;
    const { faulted, select, request } = this;
    const firstIndex = first - block.firstVpn;
    const endIndex = end - block.firstVpn;
    faulted.fill(0, firstIndex, endIndex);
    select.fill(0, firstIndex, endIndex);
    const base = space.index * SPACE_SHIFT + block.firstVpn;
    let faults = 0;
    for (let u = from; u < to; u++) {
      if (this.uFlags[u] & FAULT_MIRROR) continue;
      const index = this.uKey[u] - base;
      if (!block.isResident(index)) {
        faulted[index] = 1;
        faults++;
      }
    }
    if (faults === 0) return;
    request.block = block;
    request.firstIndex = firstIndex;
    request.endIndex = endIndex;
    selectAlignedGroups(request, gpu.granularityPages);
    gpu.prefetchPolicy.prefetch(request);
    const now = gpu.kernel.engine.nowNs;
    const thrashing = gpu.memory.thrashing;
    let n = 0;
    for (let i = firstIndex; i < endIndex; i++) {
      if (!select[i]) continue;
      if (block.isResident(i) || thrashing.hint(block, i, now) === THRASHING_REMOTE) select[i] = 0;
      else n++;
    }
    if (n === 0) return;
    const memory = gpu.memory;
    // No room while copies are in flight (accounted latency): the faults wait for them to land
    // and are raised again, rather than being mapped remotely for good.
    if (!memory.reserve(n) && gpu.yieldOnFault && memory.latestLandingNs > now) this.waitForRoom = true;
    let placed = 0;
    for (let i = firstIndex; i < endIndex;) {
      if (!select[i]) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < endIndex && select[j]) j++;
      placed += migrateToGpu(gpu, space, vma, block, block.firstVpn + i, block.firstVpn + j, faulted);
      i = j;
    }
    gpu.notePrefetched(Math.max(0, placed - faults));
  }

  /**
   * The faults of [from, to) the GPU still cannot complete: atomics on pages left in system memory
   * get exclusive access; the rest are mirrored (snapshot now, commit next step).
   */
  private mapRest(space: GpuVaSpace, from: number, to: number): 'busy' | 'wait' {
    const base = space.index * SPACE_SHIFT;
    let lo = -1;
    let hi = -1;
    for (let u = from; u < to; u++) {
      const vpn = this.uKey[u] - base;
      const flags = this.uFlags[u];
      const attr = space.table.attr(vpn);
      if (flags & FAULT_ATOMIC && !(attr & (GPU_ATTR_ATOMIC | GPU_ATTR_LOCAL))) {
        makeExclusive(this.gpu, space, vpn, vpn + 1);
        continue;
      }
      if (attr !== 0 && (!(flags & FAULT_WRITE) || attr & GPU_ATTR_WRITE)) continue;
      if (attr === 0 && this.waitForRoom && !(flags & FAULT_MIRROR)) continue;
      if (lo < 0) lo = vpn;
      hi = vpn;
    }
    if (lo < 0) {
      this.cursor = to;
      return 'busy';
    }
    const seq = mmuIntervalReadBeginTry(space.notifier);
    if (seq === -EAGAIN) {
      mmuIntervalWaitEven(space.notifier, this.wakeSelf);
      this.waitForInvalidation = step(`${this.name}: wait for the invalidation to end`, {
        enabled: () => mmuIntervalReadBeginTry(space.notifier) >= 0,
        invalidates: true,
      });
      return 'wait';
    }
    const gpu = this.gpu;
    const range = new HmmRange(space.notifier, lo, hi + 1);
    range.pfnFlagsMask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    for (let u = from; u < to; u++) {
      const vpn = this.uKey[u] - base;
      if (vpn < lo || vpn > hi) continue;
      range.flags[vpn - lo] = HMM_PFN_REQ_FAULT | (this.uFlags[u] & FAULT_WRITE ? HMM_PFN_REQ_WRITE : 0);
    }
    range.devPrivateOwner = gpu;
    range.p2pCluster = gpu.p2pCluster;
    range.notifierSeq = seq;
    const rc = hmmRangeFault(range);
    if (rc === -EBUSY) {
      gpu.kernel.engine.noteRetry(`${gpu.name} hmm_range_fault`);
      gpu.kernel.stats.add(gpu.counters.retries);
      return 'busy';
    }
    if (rc < 0) {
      // After an error the words are not answers (a request still reads as VALID | WRITE, the
      // same bits): every fault the table cannot serve is cancelled, as nouveau cancels the
      // faults of a range that failed (-EPERM: a write to a read-only VMA; -EFAULT).
      for (let u = from; u < to; u++) {
        const vpn = this.uKey[u] - base;
        const attr = space.table.attr(vpn);
        const flags = this.uFlags[u];
        if (
          attr === 0 ||
          (flags & FAULT_WRITE && !(attr & GPU_ATTR_WRITE)) ||
          (flags & FAULT_ATOMIC && !(attr & (GPU_ATTR_ATOMIC | GPU_ATTR_LOCAL)))
        )
          space.fatal.add(vpn);
      }
      this.cursor = to;
      return 'busy';
    }
    this.pending = { space, range, redoFrom: from };
    this.cursor = to;
    return 'busy';
  }

  /** Under the driver lock: program the table unless an invalidation made the snapshot stale. */
  private *commitMirror(p: PendingMirror): Program {
    const gpu = this.gpu;
    const { space, range } = p;
    const lock = space.lock;
    yield { kind: 'acquire', label: `${this.name}: take ${lock.name}`, lock };
    if (mmuIntervalReadRetry(space.notifier, range.notifierSeq)) {
      lock.holder = null;
      gpu.kernel.engine.noteRetry(`${gpu.name} mirror`);
      gpu.kernel.stats.add(gpu.counters.retries);
      this.cursor = p.redoFrom;
      return;
    }
    const mem = gpu.kernel.mem;
    for (let i = 0; i < range.endVpn - range.startVpn; i++) {
      const f = range.flags[i];
      if (!(f & HMM_PFN_VALID)) continue;
      const pfn = range.pfns[i];
      // A peer's page (P2P) is reached over the interconnect, like system memory.
      const local = mem.zone(pfn).owner === gpu ? GPU_ATTR_LOCAL : 0;
      space.setEntry(
        range.startVpn + i,
        pfn,
        GPU_ATTR_VALID | local | (f & HMM_PFN_WRITE ? GPU_ATTR_WRITE : 0),
      );
    }
    lock.holder = null;
    // hmm_range_fault reports the GPU's own device-private pages as they are, read-only ones too
    // (R-HRF-22: after fork, or mprotect(PROT_READ)). A write fault on one is served by moving the
    // page back to RAM and breaking COW there with a write fault (as hmm_range_fault would), if
    // the VMA allows writes, so the replayed fault migrates a writable page (migrating it back
    // read-only would repeat forever); otherwise it is a permission error and cancelled, as
    // nouveau cancels it, instead of replayed forever.
    const base = space.index * SPACE_SHIFT;
    let unlocked = false;
    for (let u = p.redoFrom; u < this.cursor; u++) {
      const vpn = this.uKey[u] - base;
      if (!(this.uFlags[u] & FAULT_WRITE) || vpn < range.startVpn || vpn >= range.endVpn) continue;
      const f = range.flags[vpn - range.startVpn];
      if (!(f & HMM_PFN_VALID) || f & HMM_PFN_WRITE) continue;
      if (!unlocked) {
        // Outside the lock: the moves and the fault below call mmu notifiers.
        unlocked = true;
        yield step(`${this.name}: write faults on read-only pages`, {
          invalidates: true,
          withinEngineStep: true,
        });
      }
      if (!space.mm.mmgetNotZero()) continue;
      const vma = space.mm.vmas.find(vpn);
      if (
        vma === null ||
        !(vma.flags & VM_WRITE) ||
        migrateToHost(gpu, space, vma, vpn, vpn + 1) === 0 ||
        handleMmFault(vma, vpn, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE) & VM_FAULT_ERROR
      )
        space.fatal.add(vpn);
      space.mm.mmput();
    }
  }

  // ---- migrations not caused by faults ----------------------------------------------------------

  /** An access-counter notification: the region's pages move to the GPU. */
  private serviceNotification(): void {
    const gpu = this.gpu;
    const spaceIndex = gpu.notifications.shift()!;
    const firstVpn = gpu.notifications.shift()!;
    const space = gpu.spaceAt(spaceIndex);
    if (space === null || !space.mm.mmgetNotZero()) return;
    try {
      this.migrateRange(space, firstVpn, firstVpn + gpu.accessCounterPolicy.regionPages);
    } finally {
      space.mm.mmput();
    }
    gpu.kernel.stats.add(gpu.counters.notifications);
  }

  /**
   * Moves every non-resident page of [startVpn, endVpn) into GPU memory, VA block by VA block
   * (an explicit prefetch, an access-counter notification). The caller holds an mm user.
   */
  migrateRange(space: GpuVaSpace, startVpn: number, endVpn: number): number {
    const gpu = this.gpu;
    let placed = 0;
    for (const vma of space.mm.vmas.range(startVpn, endVpn)) {
      const last = Math.min(endVpn, vma.end);
      for (let vpn = Math.max(startVpn, vma.start); vpn < last;) {
        const end = Math.min(last, vpn - (vpn % VA_BLOCK_PAGES) + VA_BLOCK_PAGES);
        const block = space.block(vpn);
        let want = 0;
        for (let v = vpn; v < end; v++) if (!block.isResident(v - block.firstVpn)) want++;
        if (want > 0) gpu.memory.reserve(want);
        for (let v = vpn; v < end && want > 0;) {
          if (block.isResident(v - block.firstVpn)) {
            v++;
            continue;
          }
          let w = v + 1;
          while (w < end && !block.isResident(w - block.firstVpn)) w++;
          placed += migrateToGpu(gpu, space, vma, block, v, w, null);
          v = w;
        }
        vpn = end;
      }
    }
    return placed;
  }
}
