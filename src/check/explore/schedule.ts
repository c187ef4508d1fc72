// Runs one schedule: at every point, the enabled actors are offered to a chooser (the strategy);
// the chosen one runs to its next yield; the invariants are checked. The kernel's deferred work
// (the ends of invalidations, held open by the system call that started them; a real
// accelerator's DMA, page requests, I/O page-fault work and responses) is an actor too, one event
// per step, so drivers can be overtaken inside an invalidation window or a device's work.

import type { IommuCore } from '../../iommu/core.js';
import { auditMm } from '../mmAudit.js';
import { auditSva, watchFrameFrees } from '../svaAudit.js';
import { checkGpus } from './gpu.js';
import { checkMirrors, watchPasidReuse } from './invariants.js';
import { type Step, stepEnabled } from '../../sim/steps.js';
import { Violation } from './violation.js';
import { buildWorld, type World, type WorldSpec } from './world.js';

/** Picks one of `enabled` (actor indices; `kernelIndex` is the kernel's deferred work). */
export interface Chooser {
  /** `readsOnly(a)`: actor a's next step only reads shared state (for partial-order reduction). */
  choose(enabled: readonly number[], names: readonly string[], readsOnly: (actor: number) => boolean): number;
}

/** Thrown by a chooser to abandon a schedule (one partial-order reduction proves redundant). */
export class ScheduleAbandoned extends Error {}

export interface ScheduleOptions {
  /** Most steps in one schedule before it is called a driver error (a loop that never ends). */
  readonly maxSteps?: number;
  /** Told before each step runs (a watchdog names the actor when a step never returns). */
  readonly onStep?: (actor: string, label: string) => void;
}

/** One step taken: who, and what it was about to do. */
export interface TakenStep {
  readonly actor: number;
  readonly label: string;
}

export interface ScheduleResult {
  readonly steps: readonly TakenStep[];
  readonly violation: Violation | null;
  /** Names of the actors by index (the last is the kernel). */
  readonly names: readonly string[];
}

export const KERNEL_ACTOR = 'kernel';

interface Running {
  pending: Step | null;
}

/** Runs `spec` once under `chooser`. Never throws for what a driver does: that is the result. */
export function runSchedule(
  spec: WorldSpec,
  chooser: Chooser,
  options: ScheduleOptions = {},
): ScheduleResult {
  const maxSteps = options.maxSteps ?? 2000;
  const world = buildWorld(spec);
  const names = [...world.actors.map((a) => a.name), KERNEL_ACTOR];
  const kernelIndex = world.actors.length;
  const steps: TakenStep[] = [];
  const states: Running[] = world.actors.map(() => ({ pending: null }));
  const enabled: number[] = [];
  const finish = (violation: Violation | null): ScheduleResult => ({ steps, violation, names });
  const readsOnly = (a: number): boolean => {
    const p = a < states.length ? states[a].pending : null;
    return p !== null && p.kind === 'run' && p.readsOnly === true;
  };
  // The actor whose code is running (named when it throws before its first step).
  let running = -1;
  // R-SVA-93 as frames are freed: no IOTLB or ATC may still translate to them.
  const freedWhileCached = world.core === null ? null : watchFrameFrees(world.core);
  for (const { accel } of world.dmaAccels.values()) accel.observer = watchPasidReuse(world, accel);
  try {
    // Each program runs to its first yield (code before it is set-up, not a step).
    for (let i = 0; i < world.actors.length; i++) {
      running = i;
      options.onStep?.(names[i], '(start)');
      states[i].pending = advance(world, i);
    }
    for (;;) {
      enabled.length = 0;
      for (let i = 0; i < states.length; i++) if (isEnabled(world, i, states[i].pending)) enabled.push(i);
      if (kernelEnabled(world)) enabled.push(kernelIndex);
      if (enabled.length === 0) {
        // A device engine waiting for work at the end is idle, not stuck.
        const waiting = states.map((s, i) =>
          s.pending === null || world.actors[i].daemon === true
            ? null
            : `${names[i]} at "${s.pending.label}"`,
        );
        const stuck = waiting.filter((w) => w !== null);
        if (stuck.length > 0) {
          // Waiting on a lock whose holder has finished is a leaked lock, not a deadlock.
          for (const lock of world.locks) {
            const holder = names.indexOf(lock.holder ?? '');
            if (holder >= 0 && holder < states.length && states[holder].pending === null) {
              throw new Violation(
                'lock',
                `${lock.holder} finished holding ${lock.name} (lock held when returning to user space); ${stuck.join('; ')} waits for it`,
              );
            }
          }
          throw new Violation('deadlock', `no actor can go on: ${stuck.join('; ')}`);
        }
        break;
      }
      if (steps.length >= maxSteps) throw stepBoundViolation(steps, names, maxSteps);
      const i = chooser.choose(enabled, names, readsOnly);
      running = i;
      if (i === kernelIndex) {
        const label = kernelStepLabel(world);
        steps.push({ actor: i, label });
        options.onStep?.(KERNEL_ACTOR, label);
        setCurrent(world, KERNEL_ACTOR);
        world.kernel.events.step();
      } else {
        const s = states[i];
        steps.push({ actor: i, label: s.pending!.label });
        options.onStep?.(names[i], s.pending!.label);
        if (s.pending!.kind === 'acquire') s.pending!.lock.holder = names[i];
        s.pending = advance(world, i);
      }
      checkMirrors(world);
      if (world.gpus.size > 0) checkGpus(world.gpus.values(), world.startVpn, world.pages);
      if (world.core !== null) checkSva(world.core, freedWhileCached!);
    }
    for (const lock of world.locks) {
      if (lock.holder !== null)
        throw new Violation('lock', `${lock.name} is still held by ${lock.holder} at the end`);
    }
    checkDevicesIdle(world);
    const audit = auditMm(world.kernel);
    if (audit.length > 0) throw new Violation('audit', audit.slice(0, 3).join('; '));
    return finish(null);
  } catch (e) {
    if (e instanceof ScheduleAbandoned) throw e;
    if (e instanceof Violation) return finish(e);
    const last = steps[steps.length - 1];
    const where = last === undefined ? 'before its first step' : `at "${last.label}"`;
    const who = last === undefined ? (names[running] ?? 'an actor') : names[last.actor];
    const message = e instanceof Error ? e.message : String(e);
    return finish(new Violation('driver-error', `${who} failed ${where}: ${message}`));
  } finally {
    // The machine is not used after its schedule: its frame metadata serves the next one.
    world.kernel.mem.recycle();
  }
}

/**
 * The schedule ends once the kernel has no event left, so a real accelerator's work has run out:
 * a job still unfinished waits for something that will never come (a page response lost, R-SVA-75).
 */
function checkDevicesIdle(world: World): void {
  for (const [name, { accel }] of world.dmaAccels) {
    if (accel.activeJobs > 0) {
      throw new Violation(
        'audit',
        `${name} still has ${accel.activeJobs} unfinished job(s) at the end, with no event left to run them: a page response that never came`,
      );
    }
  }
}

/** The [INV] rules of the SVA spec (R-SVA-19, 24, 44, 93): caches and PASID ownership. */
function checkSva(core: IommuCore, freedWhileCached: readonly string[]): void {
  const problems = [...freedWhileCached, ...auditSva(core)];
  if (problems.length > 0) throw new Violation('audit', problems.slice(0, 3).join('; '));
}

/** The actor with the most steps is the one looping: name it and the step it keeps taking. */
function stepBoundViolation(
  steps: readonly TakenStep[],
  names: readonly string[],
  maxSteps: number,
): Violation {
  const counts = new Map<number, number>();
  for (const t of steps) counts.set(t.actor, (counts.get(t.actor) ?? 0) + 1);
  let worst = steps[steps.length - 1].actor;
  for (const [a, n] of counts) if (n > (counts.get(worst) ?? 0)) worst = a;
  const last = [...steps].reverse().find((t) => t.actor === worst)!;
  return new Violation(
    'driver-error',
    `${names[worst]} took ${counts.get(worst)} of the schedule's ${maxSteps} steps (the step bound) and was still going, last at "${last.label}": a loop without end`,
  );
}

/** Resumes actor `i` to its next yield; null when its program is done. */
function advance(world: World, i: number): Step | null {
  setCurrent(world, world.actors[i].name);
  const r = world.actors[i].program.next();
  return r.done === true ? null : r.value;
}

function setCurrent(world: World, name: string): void {
  for (const d of world.devices) d.current = name;
  for (const p of world.ports) p.current = name;
}

/**
 * What the kernel's step runs: the event's actor (`kernel: iommu0/iopf at 26212 ns`). The end of an
 * invalidation keeps the label schedules have always shown for it.
 */
function kernelStepLabel(world: World): string {
  return world.kernel.nextEventEndsInvalidations()
    ? 'kernel: end of invalidation'
    : `kernel: ${world.kernel.events.nextActor()}`;
}

/**
 * The kernel runs its next event, if any. An invalidation's end takes no driver lock, so it may run
 * while a driver holds one. Other work may call mmu notifiers (the I/O page-fault work faults on
 * the mm: breaking copy-on-write invalidates; its mmput may tear the address space down), so, like
 * a driver's invalidating step, it starts only when no driver lock is held.
 */
function kernelEnabled(world: World): boolean {
  if (world.kernel.events.pending === 0) return false;
  return world.locks.every((lock) => lock.holder === null) || world.kernel.nextEventEndsInvalidations();
}

function isEnabled(world: World, i: number, step: Step | null): boolean {
  if (step === null || !stepEnabled(step)) return false;
  if (step.kind === 'run' && step.invalidates === true) {
    // The step may call every device's invalidate callback, which takes that device's lock: it
    // starts only when no other actor holds one (the kernel would sleep in the callback).
    const me = world.actors[i].name;
    for (const lock of world.locks) if (lock.holder !== null && lock.holder !== me) return false;
  }
  return true;
}
