// A compute kernel running on the GPU: its grid's thread blocks are dealt to the GPU's lanes (SMs
// times resident blocks per SM); the lanes issue their blocks' page accesses in turn. An access
// that misses the GPU's page table is a far fault: its lane stalls on it while the other lanes go
// on, so the fault buffer fills with the faults of many blocks, as on real hardware. When every
// lane is stalled the kernel waits for the driver's replay, which lets each lane retry its access.

import type { AccessStream } from '../../sim/accessStream.js';
import type { Actor, Engine, StepResult } from '../../sim/engine.js';
import type { Mm } from '../../mm/mm.js';
import { AccessBuffer, type KernelGrid } from './grid.js';
import type { GpuVaSpace } from './vaSpace.js';

export type GpuMode = 'migrate' | 'mirror';

/** What a kernel runs: a grid of thread blocks over a region of one address space. */
export interface GpuKernelSpec {
  readonly mm: Mm;
  /** First page of the region the grid's page offsets are relative to. */
  readonly baseVpn: number;
  /** The thread blocks; or `stream` for a plain page stream (one access per block). */
  readonly grid?: KernelGrid;
  readonly stream?: AccessStream;
  /** Every access writes (a stream's accesses are all reads otherwise). */
  readonly write?: boolean;
  /** Atomic accesses: pages must be exclusive to the GPU (make_device_exclusive) or in its memory. */
  readonly atomic?: boolean;
  /** How the driver resolves this kernel's faults (default: the GPU's mode). */
  readonly mode?: GpuMode;
  /** What the kernel computes, for traces and reports: the actor is `<gpu>/kernelN.<name>`. */
  readonly name?: string;
  /** Called when the kernel finishes (or fails on an access the driver could not resolve). */
  readonly onDone?: (kernel: GpuKernel) => void;
}

/** What the kernel needs from its GPU. */
export interface KernelHost {
  readonly name: string;
  readonly lanes: number;
  readonly accessesPerStep: number;
  /** A step ends at its first new far fault, so the driver sees faults in the order they occur. */
  readonly yieldOnFault: boolean;
  /** One access; true when it completed (the GPU's table allowed it). */
  access(space: GpuVaSpace, vpn: number, write: boolean, atomic: boolean): boolean;
  /** A far fault on `vpn`; the kernel waits for the next replay. */
  farFault(kernel: GpuKernel, vpn: number, write: boolean): void;
  /** Charges the time of the accesses since the last call (they run in parallel on the SMs). */
  chargeAccesses(): void;
  finished(kernel: GpuKernel): void;
}

/**
 * A page stream as a grid: each access is one thread block's work (a streaming kernel's blocks
 * each cover a page-sized chunk), so the resident blocks touch consecutive pages at once.
 */
export function streamGrid(stream: AccessStream, write: boolean): KernelGrid {
  return {
    blocks: Infinity,
    fillBlock(_block, out) {
      const off = stream.next();
      if (off < 0) return false;
      out.push(off, write);
      return true;
    },
  };
}

export class GpuKernel implements Actor {
  readonly name: string;
  readonly traceId: number;
  readonly grid: KernelGrid;
  private readonly buffers: AccessBuffer[];
  private readonly pos: Int32Array;
  /** Per lane: 0 running, 1 stalled on a far fault, 2 out of blocks. */
  private readonly state: Uint8Array;
  private nextBlock = 0;
  private gridDone = false;
  private cursor = 0;
  private readonly forceWrite: boolean;
  private readonly atomic: boolean;
  /** When the kernel was launched (its time runs from there: launch latency included). */
  launchedAtNs = 0;
  accesses = 0;
  farFaults = 0;
  /** An access the driver could not resolve (no VMA, no permission) stopped the kernel. */
  failed = false;
  finished = false;
  /** Stopped by `abort`. */
  aborted = false;
  /**
   * Per lane: when its stalled access may retry (the replay of the pass that served it, once that
   * pass's copies have landed); 0 while no replay has come since it stalled. Each lane keeps its
   * own time, so later passes never hold back a lane an earlier one served.
   */
  private readonly retryAtNs: Float64Array;
  /** Stalled lanes with a retry time. */
  private replayed = 0;

  constructor(
    private readonly gpu: KernelHost,
    readonly space: GpuVaSpace,
    readonly spec: GpuKernelSpec,
    id: number,
  ) {
    this.traceId = id;
    this.name = `${gpu.name}/kernel${id}${spec.name === undefined ? '' : `.${spec.name}`}`;
    if (spec.grid !== undefined) this.grid = spec.grid;
    else if (spec.stream !== undefined) this.grid = streamGrid(spec.stream, spec.write === true);
    else throw new RangeError(`GPU kernel ${this.name}: needs a grid or a stream`);
    this.forceWrite = spec.write === true;
    this.atomic = spec.atomic === true;
    const lanes = gpu.lanes;
    this.buffers = Array.from({ length: lanes }, () => new AccessBuffer(64));
    this.pos = new Int32Array(lanes);
    this.state = new Uint8Array(lanes);
    this.retryAtNs = new Float64Array(lanes);
  }

  /** The driver serviced faults: lanes stalled until now retry from `atNs` (when the copies have landed). */
  replay(atNs: number): void {
    const state = this.state;
    for (let l = 0; l < state.length; l++) {
      if (state[l] !== 1 || this.retryAtNs[l] > 0) continue;
      this.retryAtNs[l] = Math.max(1, atNs);
      this.replayed++;
    }
  }

  step(engine: Engine): StepResult {
    if (this.finished) return 'done';
    const state = this.state;
    const lanes = state.length;
    const now = engine.nowNs;
    let nextRetryNs = Infinity;
    if (this.replayed > 0) {
      for (let l = 0; l < lanes; l++) {
        const at = this.retryAtNs[l];
        if (state[l] !== 1 || at === 0) continue;
        if (at > now) {
          nextRetryNs = Math.min(nextRetryNs, at);
          continue;
        }
        this.retryAtNs[l] = 0;
        this.replayed--;
        const word = this.buffers[l].words[this.pos[l]];
        if (this.space.fatal.delete(this.spec.baseVpn + (word >>> 1))) return this.finish(true);
        state[l] = 0;
      }
    }
    const gpu = this.gpu;
    let budget = gpu.accessesPerStep;
    let running: number;
    let stalled: number;
    // Lanes take turns, one access each, until the budget is spent or none can go on.
    for (;;) {
      running = 0;
      stalled = 0;
      for (let n = 0; n < lanes && budget > 0; n++) {
        const l = this.cursor;
        this.cursor = l + 1 === lanes ? 0 : l + 1;
        const s = state[l];
        if (s !== 0) {
          if (s === 1) stalled++;
          continue;
        }
        const buf = this.buffers[l];
        if (this.pos[l] >= buf.length && !this.refill(l)) continue;
        running++;
        const word = buf.words[this.pos[l]];
        const vpn = this.spec.baseVpn + (word >>> 1);
        const write = (word & 1) === 1 || this.forceWrite;
        if (gpu.access(this.space, vpn, write, this.atomic)) {
          this.pos[l]++;
          this.accesses++;
          budget--;
        } else {
          state[l] = 1;
          this.farFaults++;
          gpu.farFault(this, vpn, write);
          if (gpu.yieldOnFault) budget = 0;
        }
      }
      if (budget === 0 || running === 0) break;
    }
    gpu.chargeAccesses();
    if (running > 0) return 0;
    // Every lane waits: for a replay already announced, or for the next one.
    if (stalled > 0) return nextRetryNs < Infinity ? Math.max(1, nextRetryNs - now) : 'blocked';
    return this.finish(false);
  }

  /** Gives lane `l` the grid's next non-empty block; false (and the lane retires) when none is left. */
  private refill(l: number): boolean {
    const buf = this.buffers[l];
    while (!this.gridDone) {
      buf.clear();
      this.pos[l] = 0;
      if (this.nextBlock >= this.grid.blocks || !this.grid.fillBlock(this.nextBlock, buf)) {
        this.gridDone = true;
        break;
      }
      this.nextBlock++;
      if (buf.length > 0) return true;
    }
    buf.clear();
    this.pos[l] = 0;
    this.state[l] = 2;
    return false;
  }

  /** Torn down with its address space: it stops where it is (its next step does nothing). */
  abort(): void {
    if (this.finished) return;
    this.aborted = true;
    this.finish(true);
  }

  private finish(failed: boolean): StepResult {
    this.failed = failed;
    this.finished = true;
    this.gpu.finished(this);
    this.spec.onDone?.(this);
    return 'done';
  }
}
