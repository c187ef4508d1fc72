// The explorer: runs schedules of a world under a strategy until one breaks an invariant or the
// budget is spent, then shrinks the failing schedule to as few steps as it can while it still
// fails the same way.

import { ExhaustiveWalk } from './exhaustive.js';
import {
  type Chooser,
  runSchedule,
  type ScheduleResult,
  ScheduleAbandoned,
  type TakenStep,
} from './schedule.js';
import { pctChooser, randomChooser, replayChooser } from './strategies.js';
import type { Violation } from './violation.js';
import type { WorldSpec } from './world.js';

export type Strategy = 'random' | 'pct' | 'exhaustive';

export interface ExploreOptions {
  readonly strategy: Strategy;
  /** Most schedules to run. */
  readonly schedules: number;
  readonly seed?: number;
  /** PCT's bug depth (default 3). */
  readonly depth?: number;
  readonly maxSteps?: number;
  /** Asked between schedules; true stops the exploration (a time budget). */
  readonly outOfTime?: () => boolean;
  /** Called after every schedule with how many have run. */
  readonly onProgress?: (schedules: number) => void;
  /** Shrink a failing schedule (default true). */
  readonly shrink?: boolean;
  /** Told before each step of each schedule (see ScheduleOptions.onStep). */
  readonly onStep?: (actor: string, label: string) => void;
}

export interface Failure {
  readonly violation: Violation;
  /** The steps of the (shrunk) failing schedule, up to the violation. */
  readonly steps: readonly TakenStep[];
  readonly names: readonly string[];
  /** The choices that replay it (`--schedule`): where they run out, the first enabled actor runs. */
  readonly schedule: readonly string[];
  /** The seed that replays the original failing schedule (random and pct). */
  readonly seed: number | null;
  /** Steps of the schedule as first found, before shrinking. */
  readonly foundSteps: number;
}

export interface ExploreResult {
  readonly schedules: number;
  /** Exhaustive only: every schedule (up to the reduction) was run. */
  readonly exhausted: boolean;
  /** Schedules the partial-order reduction skipped as equivalent to one already run. */
  readonly pruned: number;
  readonly failure: Failure | null;
}

/** The seed of schedule `i` of an exploration seeded with `seed`. */
export function scheduleSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

export function explore(spec: WorldSpec, options: ExploreOptions): ExploreResult {
  const seed = options.seed ?? 1;
  const depth = options.depth ?? 3;
  const actors = spec.actors.length + 1;
  const walk = options.strategy === 'exhaustive' ? new ExhaustiveWalk() : null;
  // PCT needs an estimate of a schedule's length (the same one a replay computes).
  const typicalSteps = options.strategy === 'pct' ? estimateSteps(spec, options.maxSteps, options.onStep) : 0;
  let pruned = 0;
  let n = 0;
  while (n < options.schedules && !(walk?.finished ?? false)) {
    if (n > 0 && options.outOfTime?.() === true) break;
    const s = scheduleSeed(seed, n);
    let chooser: Chooser;
    if (walk !== null) chooser = walk.chooser();
    else if (options.strategy === 'pct') chooser = pctChooser(s, actors, typicalSteps, depth);
    else chooser = randomChooser(s);
    let result: ScheduleResult | null = null;
    try {
      result = runSchedule(spec, chooser, { maxSteps: options.maxSteps, onStep: options.onStep });
    } catch (e) {
      if (!(e instanceof ScheduleAbandoned)) throw e;
      pruned++;
    }
    walk?.backtrack();
    n++;
    options.onProgress?.(n);
    if (result === null) continue;
    if (result.violation !== null) {
      const found = result;
      const shrunk =
        options.shrink === false
          ? { result: found, schedule: found.steps.map((t) => found.names[t.actor]) }
          : shrinkSchedule(spec, found, options.maxSteps, options.onStep);
      return {
        schedules: n,
        exhausted: false,
        pruned,
        failure: {
          violation: shrunk.result.violation!,
          steps: shrunk.result.steps,
          names: shrunk.result.names,
          schedule: shrunk.schedule,
          seed: walk === null ? s : null,
          foundSteps: found.steps.length,
        },
      };
    }
  }
  return { schedules: n, exhausted: walk?.finished ?? false, pruned, failure: null };
}

/** Runs exactly the schedule `names` (actor names in order), as `--schedule` replays it. */
export function replaySchedule(
  spec: WorldSpec,
  names: readonly string[],
  maxSteps?: number,
  onStep?: (actor: string, label: string) => void,
): ScheduleResult {
  return runSchedule(spec, replayChooser(names), { maxSteps, onStep });
}

/** Re-runs schedule number `seed` of a random or PCT exploration. */
export function replaySeed(
  spec: WorldSpec,
  strategy: 'random' | 'pct',
  seed: number,
  depth = 3,
  maxSteps?: number,
) {
  const chooser =
    strategy === 'pct'
      ? pctChooser(seed, spec.actors.length + 1, estimateSteps(spec, maxSteps), depth)
      : randomChooser(seed);
  return runSchedule(spec, chooser, { maxSteps });
}

/** The length of the schedule that always runs the first enabled actor: PCT's k. */
function estimateSteps(
  spec: WorldSpec,
  maxSteps?: number,
  onStep?: (actor: string, label: string) => void,
): number {
  return Math.max(
    1,
    runSchedule(spec, { choose: (enabled) => enabled[0] }, { maxSteps, onStep }).steps.length,
  );
}

/**
 * Delta debugging over the failing schedule's list of actors: drop chunks (halves, quarters, ...
 * single steps) while the replay still fails with the same kind of violation, then drop the tail
 * after the violation. Fewer choices mean fewer context switches: the replay runs the first enabled
 * actor where the list says nothing.
 */
export function shrinkSchedule(
  spec: WorldSpec,
  failing: ScheduleResult,
  maxSteps?: number,
  onStep?: (actor: string, label: string) => void,
): { result: ScheduleResult; schedule: string[] } {
  const kind = failing.violation!.kind;
  let best = failing;
  let names = failing.steps.map((t) => failing.names[t.actor]);
  const stillFails = (candidate: string[]): ScheduleResult | null => {
    const r = replaySchedule(spec, candidate, maxSteps, onStep);
    return r.violation !== null && r.violation.kind === kind ? r : null;
  };
  for (let chunk = Math.max(1, names.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let start = 0; start < names.length;) {
      const candidate = [...names.slice(0, start), ...names.slice(start + chunk)];
      const r = stillFails(candidate);
      if (r !== null && r.steps.length <= best.steps.length) {
        best = r;
        names = candidate;
      } else {
        start += chunk;
      }
    }
  }
  return { result: best, schedule: names };
}
