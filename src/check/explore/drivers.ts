// The built-in driver programs the explorer runs: dmirror's fault path (read_begin,
// hmm_range_fault, lock, read_retry, update, unlock — test_hmm's dmirror_range_fault), its
// exclusive-access path (make_device_exclusive with the owner cookie), and release. Each takes the
// known bugs as options, so every bug has a fixed twin that differs only in the option. Last, a
// process using the real accelerator driver (src/devices/accel), whose own step programs it runs.

import { DmaJob } from '../../devices/accel/accelerator.js';
import type { AccelDriver } from '../../devices/accel/driver.js';
import { PAGE_SIZE } from '../../mm/constants.js';
import { EBADF, EBUSY } from '../../sim/errno.js';
import { type Program, step } from './program.js';
import type { AccelEnv, AccelProgram, DmaAccelOp, DriverEnv, DriverProgram, WorldProcess } from './world.js';

export type FaultBug =
  'none' | 'no-retry-check' | 'read-begin-hoisted' | 'update-outside-lock' | 'no-reference';

export interface FaultOptions {
  /** First page of the region to mirror, and how many. */
  readonly first?: number;
  readonly pages?: number;
  readonly write?: boolean;
  readonly bug?: FaultBug;
}

/** dmirror_fault over part of the region. */
export function mirrorFault(options: FaultOptions = {}): DriverProgram {
  return function* ({ dev, startVpn, pages }: DriverEnv): Program {
    const bug = options.bug ?? 'none';
    const first = startVpn + (options.first ?? 0);
    const end = first + (options.pages ?? pages - (options.first ?? 0));
    const write = options.write ?? false;
    // The fault runs inside an ioctl: the open file keeps the device alive (the fixed design takes a
    // reference, which release waits for).
    if (bug !== 'no-reference' && !(yield* dev.get())) return;
    let seq = bug === 'read-begin-hoisted' ? yield* dev.readBegin() : 0;
    for (;;) {
      if (bug !== 'read-begin-hoisted') seq = yield* dev.readBegin();
      const { rc, range } = yield* dev.rangeFault(first, end, seq, write);
      if (rc === -EBUSY) continue;
      if (rc !== 0) break;
      if (bug === 'update-outside-lock') {
        yield* dev.takeLock();
        const retry = yield* dev.readRetry(seq);
        yield* dev.dropLock();
        if (retry) continue;
        yield* dev.commit(range);
        break;
      }
      yield* dev.takeLock();
      if (bug !== 'no-retry-check' && (yield* dev.readRetry(seq))) {
        yield* dev.dropLock();
        continue;
      }
      yield* dev.commit(range);
      yield* dev.dropLock();
      break;
    }
    if (bug !== 'no-reference') yield* dev.put();
  };
}

/** dmirror_exclusive: atomic access to pages through device-exclusive entries. */
export function mirrorExclusive(options: { first?: number; pages?: number } = {}): DriverProgram {
  return function* ({ dev, startVpn, pages }: DriverEnv): Program {
    const first = startVpn + (options.first ?? 0);
    const end = first + (options.pages ?? pages - (options.first ?? 0));
    if (!(yield* dev.get())) return;
    for (;;) {
      const seq = yield* dev.readBegin();
      const granted = yield* dev.makeExclusive(first, end);
      yield* dev.takeLock();
      if (yield* dev.readRetry(seq)) {
        yield* dev.dropLock();
        continue;
      }
      yield* dev.commitExclusive(first, granted, seq);
      yield* dev.dropLock();
      break;
    }
    yield* dev.put();
  };
}

/** The device file's release. `waitForReferences: false` is the racy design. */
export function mirrorRelease(options: { waitForReferences?: boolean } = {}): DriverProgram {
  return function* ({ dev }: DriverEnv): Program {
    yield* dev.teardown(options.waitForReferences ?? true);
  };
}

export interface AccelJobOptions {
  /** Drain the PASID's queued work before unbinding (idxd does; the bug does not). */
  readonly drain?: boolean;
  /** The process exits after closing the device. */
  readonly exit?: boolean;
}

/** A process that opens the accelerator, queues work on its first page, closes it, and exits. */
export function accelJob(options: AccelJobOptions = {}): AccelProgram {
  return function* ({ port, process, task, mm, startVpn }: AccelEnv): Program {
    const pasid = yield* port.bind(process, mm);
    if (pasid < 0) return;
    yield* port.submit(process, mm, pasid, startVpn);
    if (options.drain ?? true) yield* port.drain(pasid);
    yield* port.unbind(process);
    if (options.exit ?? true) yield* port.exit(process, task);
  };
}

/** A process that opens the accelerator and keeps it open for a while (a later user of a PASID). */
export function accelOpen(): AccelProgram {
  return function* ({ port, process, mm }: AccelEnv): Program {
    const pasid = yield* port.bind(process, mm);
    if (pasid < 0) return;
    yield step(`${process}: uses the device`);
    yield* port.unbind(process);
  };
}

/**
 * A process using the real accelerator through `driver`: each operation runs the driver's own step
 * program (open, submit, close) or is one step of the process (wait, exit). Return codes are not
 * looked at: a failed open makes later operations fail with -EBADF, as they would for the process.
 */
export function* accelUser(
  name: string,
  driver: AccelDriver,
  proc: WorldProcess,
  ops: readonly DmaAccelOp[],
): Program {
  const task = proc.task;
  const jobs: DmaJob[] = [];
  let fd = -EBADF;
  for (const op of ops) {
    switch (op.op) {
      case 'open':
        fd = yield* driver.openSteps(task);
        break;
      case 'dma': {
        const desc = {
          op: op.write === true ? ('write' as const) : ('read' as const),
          addr: (proc.startVpn + op.page) * PAGE_SIZE,
          length: (op.pages ?? 1) * PAGE_SIZE,
        };
        const job = yield* driver.submitSteps(task, fd, desc);
        if (job instanceof DmaJob) jobs.push(job);
        break;
      }
      case 'wait':
        yield step(`${name}: wait for its DMA`, { enabled: () => jobs.every((j) => j.finished) });
        break;
      case 'close':
        yield* driver.closeSteps(task, fd);
        break;
      case 'exit':
        // The address space goes first, then the files: their releases run inside this step.
        yield step(`${name}: exit`, { invalidates: true });
        task.exit();
        break;
    }
  }
}
