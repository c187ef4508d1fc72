// Exhaustive exploration for small configurations: a depth-first walk over every choice of actor
// at every step, re-running the schedule from the start for each branch (the model is
// deterministic, so a prefix of choices always leads to the same state). Sleep sets (Godefroid)
// prune orders that only differ by swapping independent steps: two steps are independent when both
// only read shared state (reading the notifier sequence). Every other pair counts as dependent,
// which keeps the reduction sound whatever the steps do.

import { type Chooser, ScheduleAbandoned } from './schedule.js';

interface Node {
  readonly enabled: readonly number[];
  readonly reads: ReadonlyMap<number, boolean>;
  readonly sleep: ReadonlySet<number>;
  readonly done: number[];
  chosen: number;
}

export class ExhaustiveWalk {
  private readonly stack: Node[] = [];
  private exhausted = false;

  get finished(): boolean {
    return this.exhausted;
  }

  /** A chooser for the next schedule: the current branch, extended by first choices. */
  chooser(): Chooser {
    let depth = 0;
    return {
      choose: (enabled, _names, readsOnly) => {
        if (depth < this.stack.length) return this.stack[depth++].chosen;
        const parent = this.stack[this.stack.length - 1];
        const sleep = parent === undefined ? new Set<number>() : childSleep(parent);
        const candidate = enabled.find((a) => !sleep.has(a));
        // Every enabled step is asleep: this order was already covered by an equivalent one.
        if (candidate === undefined) throw new ScheduleAbandoned();
        const reads = new Map(enabled.map((a) => [a, readsOnly(a)]));
        this.stack.push({ enabled: [...enabled], reads, sleep, done: [], chosen: candidate });
        depth++;
        return candidate;
      },
    };
  }

  /** After a schedule: moves to the next unexplored branch (or marks the walk finished). */
  backtrack(): void {
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1];
      top.done.push(top.chosen);
      const next = top.enabled.find((a) => !top.sleep.has(a) && !top.done.includes(a));
      if (next !== undefined) {
        top.chosen = next;
        return;
      }
      this.stack.pop();
    }
    this.exhausted = true;
  }
}

/** The sleep set after `parent` takes its chosen step: what stays independent of that step. */
function childSleep(parent: Node): Set<number> {
  const t = parent.chosen;
  const out = new Set<number>();
  const independent = (u: number) => u !== t && parent.reads.get(u) === true && parent.reads.get(t) === true;
  for (const u of parent.sleep) if (independent(u)) out.add(u);
  for (const u of parent.done) if (independent(u)) out.add(u);
  return out;
}
