// A GPU program run by a process's thread (the `workload` op): it maps the program's managed
// arrays in one region aligned to 2 MiB (as cudaMallocManaged aligns them), has the CPU write the
// arrays it initializes, then runs the program's steps in order: each kernel launched on the GPU
// and waited for (one CUDA stream), each host step a CPU touch of part of an array, which brings
// pages back from the GPU as a real program's host code would.

import type { GpuDevice } from '../../devices/gpu/gpu.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import type { Task } from '../../mm/task.js';
import { errnoName } from '../../sim/errno.js';
import { layoutArrays, MANAGED_ALIGN_BYTES } from '../gpu/layout.js';
import type { ArrayLayout, GpuWorkload, WorkloadStep } from '../gpu/types.js';
import type { Op } from './model.js';

/** CPU page accesses per step of host work (as a touch op). */
const HOST_PAGES_PER_STEP = 64;

type WorkloadOp = Extract<Op, { op: 'workload' }>;

/** What a step of the run asks of its process. */
export type WorkloadStepResult =
  | { readonly kind: 'continue'; readonly delayNs: number }
  | { readonly kind: 'wait' }
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly what: string; readonly why: string };

const CONTINUE = { kind: 'continue', delayNs: 0 } as const;

export class WorkloadRun {
  readonly workload: GpuWorkload;
  readonly layout: ArrayLayout;
  /** Address of the region's first page (2 MiB aligned). */
  addr = 0;
  private readonly steps: Iterator<WorkloadStep>;
  /** Host pages still to touch: [cursor, end), write or not. */
  private hostQueue: { first: number; last: number; write: boolean }[] = [];
  private hostCursor = -1;
  private kernelRunning = false;
  private kernelFailed = false;
  private mapped = false;

  constructor(
    private readonly op: WorkloadOp,
    private readonly task: Task,
    private readonly gpu: GpuDevice,
    seed: number,
    /** Called when a kernel ends (the process wakes). */
    private readonly wake: () => void,
  ) {
    this.workload = op.build(seed);
    this.layout = layoutArrays(this.workload.arrays);
    this.steps = this.workload.steps(this.layout)[Symbol.iterator]();
  }

  get regionBytes(): number {
    return this.layout.totalPages * PAGE_SIZE;
  }

  step(cpuAccessNs: number): WorkloadStepResult {
    if (!this.mapped) return this.map();
    if (this.kernelRunning) return { kind: 'wait' };
    if (this.kernelFailed)
      return {
        kind: 'failed',
        what: `workload ${this.op.label}`,
        why: 'a kernel access the driver could not map',
      };
    if (this.hostQueue.length > 0) return this.host(cpuAccessNs);
    const next = this.steps.next();
    if (next.done === true) return { kind: 'done' };
    const s = next.value;
    if (s.kind === 'host') {
      if (this.op.hostSteps) this.hostQueue.push({ first: s.firstPage, last: s.lastPage, write: s.write });
      return CONTINUE;
    }
    this.kernelRunning = true;
    this.gpu.launch({
      mm: this.task.mm!,
      baseVpn: this.addr / PAGE_SIZE,
      grid: s.grid,
      name: `${this.op.label}.${s.name}`,
      mode: this.op.mode,
      onDone: (k) => {
        this.kernelRunning = false;
        if (k.failed && !k.aborted) this.kernelFailed = true;
        this.wake();
      },
    });
    return { kind: 'wait' };
  }

  /** Maps the arrays 2 MiB aligned (over-allocate, trim), and queues the host initialization. */
  private map(): WorkloadStepResult {
    this.mapped = true;
    const bytes = this.regionBytes;
    const task = this.task;
    const raw = task.mmap(
      0,
      bytes + MANAGED_ALIGN_BYTES,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
    );
    if (raw < 0) return { kind: 'failed', what: `workload ${this.op.label}: mmap`, why: errnoName(-raw) };
    const addr = Math.ceil(raw / MANAGED_ALIGN_BYTES) * MANAGED_ALIGN_BYTES;
    if (addr > raw) task.munmap(raw, addr - raw);
    const tail = raw + bytes + MANAGED_ALIGN_BYTES - (addr + bytes);
    if (tail > 0) task.munmap(addr + bytes, tail);
    this.addr = addr;
    if (this.op.hostInit !== 'none') {
      for (const a of this.workload.arrays) {
        if (this.op.hostInit === 'inputs' && !a.hostInit) continue;
        const first = this.layout.offset(a.name);
        this.hostQueue.push({ first, last: first + this.layout.pages(a.name) - 1, write: true });
      }
    }
    return CONTINUE;
  }

  /** Up to HOST_PAGES_PER_STEP CPU accesses of the host work queued. */
  private host(cpuAccessNs: number): WorkloadStepResult {
    const task = this.task;
    const kernel = task.mm!.kernel;
    const job = this.hostQueue[0];
    if (this.hostCursor < 0) this.hostCursor = job.first;
    for (let n = 0; n < HOST_PAGES_PER_STEP && this.hostCursor <= job.last; n++) {
      kernel.charge(cpuAccessNs);
      const res = task.touch(this.addr + this.hostCursor * PAGE_SIZE, PAGE_SIZE, job.write);
      if (res.signal !== 0)
        return {
          kind: 'failed',
          what: `workload ${this.op.label} host page ${this.hostCursor}`,
          why: res.signal === 'oom' ? 'out of memory' : res.signal === 11 ? 'SIGSEGV' : 'SIGBUS',
        };
      this.hostCursor++;
    }
    if (this.hostCursor > job.last) {
      this.hostQueue.shift();
      this.hostCursor = -1;
    }
    return CONTINUE;
  }
}
