// Figures of the race finder (src/check/explore): schedules explored per second on the
// three-actor mirror scenario of examples/explore/mirror-retry-check.yaml (two dmirror faults and a
// CPU thread that unmaps part of the range and writes a page), fixed driver, so every schedule
// runs to its end and is checked.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { explore } from '../src/check/explore/explore.js';
import { loadExploreScenario } from '../src/check/explore/scenario.js';
import { medianRate, type Figure } from './harness.js';

const SCHEDULES = 4000;
const REPS = 5;
const SCENARIO = fileURLToPath(new URL('../examples/explore/mirror-retry-check.yaml', import.meta.url));

const schedulesPerS: Figure = {
  name: 'explore.schedules_per_s',
  unit: 'schedules/s',
  target: { min: 5000 },
  description: `random schedules of the three-actor mirror scenario (examples/explore/mirror-retry-check.yaml: two dmirror faults, a CPU munmap and write): a fresh machine per schedule, invariants after every step, the reference-count audit at the end; ${SCHEDULES.toLocaleString('en-US')} schedules per repetition, median of ${REPS}`,
  run: async () => {
    const scenario = await loadExploreScenario(readFileSync(SCENARIO, 'utf8'), SCENARIO, () => {
      throw new Error('no user drivers here');
    });
    return medianRate(SCHEDULES, {
      name: 'explore_schedules',
      reps: REPS,
      setup: () => scenario.spec,
      measure: (spec) => {
        const r = explore(spec, { strategy: 'random', schedules: SCHEDULES, seed: 1 });
        if (r.failure !== null) throw new Error(`the fixed driver failed: ${r.failure.violation.message}`);
        if (r.schedules !== SCHEDULES) throw new Error(`ran ${r.schedules} schedules`);
      },
    });
  },
};

export const exploreFigures: readonly Figure[] = [schedulesPerS];
