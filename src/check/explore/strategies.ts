// How the explorer picks the next actor. `random`: uniformly among the enabled ones, seeded.
// `pct`: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): actors get random
// priorities, the highest enabled one runs, and at d - 1 random steps the running actor drops to
// the lowest priority; a bug of depth d is found with probability at least 1/(n k^(d-1)).
// `replay`: follows a recorded list of actor names (a name whose actor is not enabled is skipped;
// once the list is used up, the first enabled actor runs), for replays and shrinking.

import { Rng } from '../../sim/rng.js';
import type { Chooser } from './schedule.js';

export function randomChooser(seed: number): Chooser {
  const rng = new Rng(seed);
  return { choose: (enabled) => enabled[rng.below(enabled.length)] };
}

/**
 * A PCT chooser for `actors` actors (the kernel included), schedules of about `steps` steps, and
 * bug depth `depth`.
 */
export function pctChooser(seed: number, actors: number, steps: number, depth: number): Chooser {
  const rng = new Rng(seed);
  // Initial priorities depth .. depth + actors - 1, in a random order (higher runs first).
  const priority = Array.from({ length: actors }, (_, i) => depth + i);
  for (let i = priority.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [priority[i], priority[j]] = [priority[j], priority[i]];
  }
  // Change points: at these step numbers the running actor drops to priority d - 1 - i.
  const changes = new Map<number, number>();
  for (let i = 0; i < depth - 1; i++) changes.set(1 + rng.below(Math.max(1, steps)), depth - 1 - i);
  let taken = 0;
  return {
    choose(enabled) {
      let best = enabled[0];
      for (const a of enabled) if (priority[a] > priority[best]) best = a;
      taken++;
      const drop = changes.get(taken);
      if (drop !== undefined) priority[best] = drop;
      return best;
    },
  };
}

/** Follows `names` in order; an entry whose actor is not enabled is skipped. */
export function replayChooser(names: readonly string[]): Chooser & { readonly followed: string[] } {
  let next = 0;
  const followed: string[] = [];
  return {
    followed,
    choose(enabled, actorNames) {
      while (next < names.length) {
        const want = names[next++];
        const i = enabled.find((a) => actorNames[a] === want);
        if (i !== undefined) {
          followed.push(want);
          return i;
        }
      }
      followed.push(actorNames[enabled[0]]);
      return enabled[0];
    },
  };
}
