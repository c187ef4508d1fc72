// Runs one schedule: at every point, the enabled actors are offered to a chooser (the strategy);
// the chosen one runs to its next yield; the invariants are checked. The kernel's deferred work
// (the ends of invalidations, held open by the system call that started them) is an actor too, so
// drivers can be overtaken inside an invalidation window.

import type { IommuCore } from '../../iommu/core.js';
import { auditMm } from '../mmAudit.js';
import { auditSva, watchFrameFrees } from '../svaAudit.js';
import { checkMirrors } from './invariants.js';
import type { Step } from './program.js';
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
      if (world.kernel.events.pending > 0) enabled.push(kernelIndex);
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
        steps.push({ actor: i, label: 'kernel: end of invalidation' });
        options.onStep?.(KERNEL_ACTOR, 'kernel: end of invalidation');
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
      if (world.core !== null) checkSva(world.core, freedWhileCached!);
    }
    for (const lock of world.locks) {
      if (lock.holder !== null)
        throw new Violation('lock', `${lock.name} is still held by ${lock.holder} at the end`);
    }
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

function isEnabled(world: World, i: number, step: Step | null): boolean {
  if (step === null) return false;
  if (step.kind === 'acquire') return step.lock.holder === null;
  if (step.enabled !== undefined && !step.enabled()) return false;
  if (step.invalidates === true) {
    // The step may call every device's invalidate callback, which takes that device's lock: it
    // starts only when no other actor holds one (the kernel would sleep in the callback).
    const me = world.actors[i].name;
    for (const lock of world.locks) if (lock.holder !== null && lock.holder !== me) return false;
  }
  return true;
}
