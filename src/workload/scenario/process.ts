// A process of a scenario: one CPU thread running its program, one operation (or one slice of an
// access pattern) per engine step, so other processes and the devices interleave with it. Device
// work is launched asynchronously; `wait` (or an op with `wait: true`) blocks the thread until it
// finishes. A process that faults fatally (SIGSEGV, SIGBUS) dies, as it would on Linux.

import { DmaJob } from '../../devices/accel/accelerator.js';
import type { GpuDevice } from '../../devices/gpu/gpu.js';
import {
  MADV_COLD,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_WILLNEED,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import type { Mm } from '../../mm/mm.js';
import type { Task } from '../../mm/task.js';
import type { AccessStream } from '../../sim/accessStream.js';
import type { Actor, Engine, StepResult } from '../../sim/engine.js';
import { errnoName } from '../../sim/errno.js';
import type { Rng } from '../../sim/rng.js';
import { makeStream } from '../patterns.js';
import type { Machine } from './machine.js';
import type { Op, RegionPart, Scenario } from './model.js';
import { WorkloadRun } from './workloadRun.js';

/** An operation that failed at run time (the scenario was valid, the model said no). */
export interface OpFailure {
  readonly process: string;
  readonly op: number;
  readonly what: string;
  readonly why: string;
}

/** What every process of a run shares. */
export interface RunContext {
  readonly scenario: Scenario;
  readonly machine: Machine;
  readonly rng: Rng;
  readonly failures: OpFailure[];
  /** Starts a forked child's thread. */
  spawn(actor: ProcessActor): void;
}

export interface Region {
  readonly addr: number;
  readonly sizeBytes: number;
}

/** CPU accesses per step of a touch: long enough to be cheap, short enough to interleave. */
const ACCESSES_PER_STEP = 64;

const PROTS = { rw: PROT_READ | PROT_WRITE, r: PROT_READ, none: PROT_NONE } as const;
const ADVICE = {
  dontneed: MADV_DONTNEED,
  hugepage: MADV_HUGEPAGE,
  willneed: MADV_WILLNEED,
  cold: MADV_COLD,
  'populate-read': MADV_POPULATE_READ,
  'populate-write': MADV_POPULATE_WRITE,
} as const;

export class ProcessActor implements Actor {
  readonly name: string;
  private pc = 0;
  private stream: AccessStream | null = null;
  /** Device work launched and not finished. */
  private outstanding = 0;
  private waiting = false;
  private readonly gpusUsed = new Set<GpuDevice>();
  /** The GPU program of the current `workload` op. */
  private workload: WorkloadRun | null = null;
  private readonly mm: Mm;

  constructor(
    private readonly ctx: RunContext,
    readonly task: Task,
    name: string,
    private readonly program: readonly Op[],
    /** The regions this process mapped, by name (observers label the address space with them). */
    readonly regions: Map<string, Region> = new Map(),
    private readonly fds: Map<string, number> = new Map(),
  ) {
    this.name = name;
    this.mm = task.mm!;
  }

  step(engine: Engine): StepResult {
    if (!this.task.alive) return 'done';
    if (this.waiting) {
      if (this.outstanding > 0) return 'blocked';
      this.waiting = false;
      this.pc++;
    }
    const op = this.program[this.pc];
    if (op === undefined) return this.exit();
    this.trace(engine, op);
    return this.run(engine, op);
  }

  private trace(engine: Engine, op: Op): void {
    const t = engine.trace;
    if (t === null || !t.enabled || this.stream !== null || this.workload !== null) return;
    t.instant(engine.nowNs, this.name, 'op', op.op, 'region' in op ? { region: op.region } : undefined);
  }

  private fail(what: string, why: string): StepResult {
    this.ctx.failures.push({ process: this.name, op: this.pc, what, why });
    return this.exit();
  }

  /** The byte range an op names inside its region, or null if it lies outside. */
  private range(regionName: string, part?: RegionPart): Region | null {
    const r = this.regions.get(regionName);
    if (r === undefined) return null;
    const offset = part?.offsetBytes ?? 0;
    const size = part?.sizeBytes ?? r.sizeBytes - offset;
    if (offset % PAGE_SIZE !== 0 || size <= 0 || offset + size > r.sizeBytes) return null;
    return { addr: r.addr + offset, sizeBytes: size };
  }

  private run(engine: Engine, op: Op): StepResult {
    const task = this.task;
    const costs = this.ctx.machine.kernel.costs;
    switch (op.op) {
      case 'mmap': {
        const fd = op.fd === undefined ? -1 : (this.fds.get(op.fd) ?? null);
        if (fd === null) return this.fail(`mmap ${op.name}`, `descriptor ${op.fd} is not open`);
        const flags =
          fd >= 0
            ? MAP_SHARED
            : (op.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | (op.populate ? MAP_POPULATE : 0);
        const addr = task.mmap(0, op.sizeBytes, PROTS[op.prot], flags, fd);
        if (addr < 0) return this.fail(`mmap ${op.name}`, errnoName(-addr));
        if (op.hugepage) task.madvise(addr, op.sizeBytes, MADV_HUGEPAGE);
        this.regions.set(op.name, { addr, sizeBytes: op.sizeBytes });
        break;
      }
      case 'munmap':
      case 'mprotect':
      case 'madvise': {
        const r = this.range(op.region, op);
        if (r === null)
          return this.fail(`${op.op} ${op.region}`, 'range outside the region (or not page-aligned)');
        // The invalidations stay open until the call completes: devices can land in that window.
        const rc = this.ctx.machine.kernel.withWindow(this.name, () =>
          op.op === 'munmap'
            ? task.munmap(r.addr, r.sizeBytes)
            : op.op === 'mprotect'
              ? task.mprotect(r.addr, r.sizeBytes, PROTS[op.prot])
              : task.madvise(r.addr, r.sizeBytes, ADVICE[op.advice]),
        );
        if (rc < 0) return this.fail(`${op.op} ${op.region}`, errnoName(-rc));
        if (op.op === 'munmap' && op.offsetBytes === 0 && op.sizeBytes === null)
          this.regions.delete(op.region);
        break;
      }
      case 'touch':
        return this.touch(op, costs.cpuAccessNs);
      case 'sleep':
        this.pc++;
        return op.timeNs;
      case 'exit':
        return this.exit();
      case 'fork': {
        const child = task.fork();
        const actor = new ProcessActor(
          this.ctx,
          child,
          op.name,
          op.program,
          new Map(this.regions),
          new Map(this.fds),
        );
        this.ctx.spawn(actor);
        break;
      }
      case 'gpu': {
        const gpu = this.ctx.machine.gpus.get(op.device)!;
        const r = this.range(op.region, op);
        if (r === null)
          return this.fail(`gpu ${op.region}`, 'range outside the region (or the region is gone)');
        this.gpusUsed.add(gpu);
        const at = this.pc;
        const stream = makeStream(
          op.pattern,
          r.sizeBytes / PAGE_SIZE,
          this.ctx.rng.fork(`${this.name}#${this.pc}`),
          this.ctx.scenario.traces,
        );
        this.outstanding++;
        gpu.launch({
          mm: this.mm,
          baseVpn: r.addr / PAGE_SIZE,
          stream,
          write: op.write,
          atomic: op.atomic,
          mode: op.mode,
          onDone: (k) => {
            if (k.failed && !k.aborted)
              this.ctx.failures.push({
                process: this.name,
                op: at,
                what: `gpu kernel ${k.name}`,
                why: 'an access the driver could not map (no VMA or no permission)',
              });
            this.deviceWorkDone(engine);
          },
        });
        return this.afterLaunch(op.wait);
      }
      case 'workload':
        return this.runWorkload(engine, op);
      case 'prefetch': {
        const gpu = this.ctx.machine.gpus.get(op.device)!;
        const r = this.range(op.region, op);
        if (r === null)
          return this.fail(`prefetch ${op.region}`, 'range outside the region (or not page-aligned)');
        this.gpusUsed.add(gpu);
        gpu.prefetch(this.mm, r.addr / PAGE_SIZE, (r.addr + r.sizeBytes) / PAGE_SIZE, op.to);
        break;
      }
      case 'open': {
        const fd = this.ctx.machine.accels.get(op.device)!.driver.open(task);
        if (fd < 0) return this.fail(`open ${op.device}`, errnoName(-fd));
        this.fds.set(op.as, fd);
        break;
      }
      case 'close': {
        const fd = this.fds.get(op.fd);
        if (fd === undefined || task.close(fd) < 0) return this.fail(`close ${op.fd}`, 'no such descriptor');
        this.fds.delete(op.fd);
        break;
      }
      case 'dma': {
        const { accel, driver } = this.ctx.machine.accels.get(op.device)!;
        const fd = this.fds.get(op.fd);
        const ctx = fd === undefined ? null : driver.contextOf(task, fd);
        if (ctx === null) return this.fail(`dma ${op.device}`, `descriptor ${op.fd} is not open`);
        const r = this.range(op.region, op);
        if (r === null)
          return this.fail(`dma ${op.region}`, 'range outside the region (or not page-aligned)');
        this.outstanding++;
        const at = this.pc;
        const job = accel.submit(
          { pasid: ctx.pasid, op: op.write ? 'write' : 'read', addr: r.addr, length: r.sizeBytes },
          (j) => {
            if (j.status === 'error')
              this.ctx.failures.push({
                process: this.name,
                op: at,
                what: `dma job ${j.id} on ${op.device}`,
                why: j.error ?? 'error',
              });
            this.deviceWorkDone(engine);
          },
        );
        if (!(job instanceof DmaJob)) {
          this.outstanding--;
          return this.fail(`dma ${op.device}`, errnoName(-job));
        }
        return this.afterLaunch(op.wait);
      }
      case 'wait':
        if (this.outstanding > 0) {
          this.waiting = true;
          return 'blocked';
        }
        break;
    }
    this.pc++;
    return 0;
  }

  /** One step of a GPU program; the thread stays on the op until the program ends. */
  private runWorkload(engine: Engine, op: Extract<Op, { op: 'workload' }>): StepResult {
    if (this.workload === null) {
      const gpu = this.ctx.machine.gpus.get(op.device)!;
      this.gpusUsed.add(gpu);
      this.workload = new WorkloadRun(
        op,
        this.task,
        gpu,
        op.seed ?? this.ctx.rng.fork(`${this.name}#${this.pc}`).u32(),
        () => engine.wake(this),
      );
    }
    const r = this.workload.step(this.ctx.machine.kernel.costs.cpuAccessNs);
    switch (r.kind) {
      case 'continue':
        return r.delayNs;
      case 'wait':
        return 'blocked';
      case 'failed':
        this.workload = null;
        return this.fail(r.what, r.why);
      case 'done':
        this.regions.set(op.region, { addr: this.workload.addr, sizeBytes: this.workload.regionBytes });
        this.workload = null;
        this.pc++;
        return 0;
    }
  }

  private afterLaunch(wait: boolean): StepResult {
    if (wait && this.outstanding > 0) {
      this.waiting = true;
      return 'blocked';
    }
    this.pc++;
    return 0;
  }

  private deviceWorkDone(engine: Engine): void {
    this.outstanding--;
    if (this.waiting && this.outstanding === 0) engine.wake(this);
  }

  private touch(op: Extract<Op, { op: 'touch' }>, accessNs: number): StepResult {
    const r = this.range(op.region, op);
    if (r === null)
      return this.fail(`touch ${op.region}`, 'range outside the region (or the region is gone)');
    if (this.stream === null) {
      this.stream = makeStream(
        op.pattern,
        r.sizeBytes / PAGE_SIZE,
        this.ctx.rng.fork(`${this.name}#${this.pc}`),
        this.ctx.scenario.traces,
      );
    }
    const kernel = this.ctx.machine.kernel;
    for (let n = 0; n < ACCESSES_PER_STEP; n++) {
      const off = this.stream.next();
      if (off < 0) {
        this.stream = null;
        this.pc++;
        return 0;
      }
      kernel.charge(accessNs);
      const res = this.task.touch(r.addr + off * PAGE_SIZE, PAGE_SIZE, op.write);
      if (res.signal !== 0) {
        this.stream = null;
        return this.fail(
          `touch ${op.region} page ${off}`,
          res.signal === 'oom' ? 'out of memory' : res.signal === 11 ? 'SIGSEGV' : 'SIGBUS',
        );
      }
    }
    return 0;
  }

  /** exit(2), then the GPU drivers' file releases stop mirroring the address space. */
  private exit(): StepResult {
    if (this.task.alive) this.task.exit();
    for (const gpu of this.gpusUsed) gpu.releaseMm(this.mm);
    this.gpusUsed.clear();
    return 'done';
  }
}
