// Runs one sweep job: validates the resolved scenario and runs it with the job's seed. Used as a
// piscina worker (its default export) and, with one worker, in-process. Errors the job throws (a
// limit reached, a behaviour not modeled) come back as an outcome, not as a rejection: an Error
// crossing threads loses its class, and a failed job is a result to record, not a crash.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { summaryJson } from '../report/summaryText.js';
import { loadScenarioObject } from '../workload/scenario/load.js';
import { runScenario } from '../workload/scenario/runner.js';
import type { SweepOutcome } from '../workload/sweep/results.js';

/** What a worker gets: the resolved scenario object, its base file (for traces), the seed. */
export interface SweepTask {
  readonly scenario: unknown;
  readonly file: string;
  readonly seed: number;
}

export function runSweepJob(task: SweepTask): SweepOutcome {
  try {
    const scenario = loadScenarioObject(task.scenario, task.file, (p) =>
      readFileSync(resolve(dirname(task.file), p), 'utf8'),
    );
    const { summary } = runScenario(scenario, { seed: task.seed });
    // summaryJson fixes the key order; one line for NDJSON.
    return {
      kind: 'summary',
      summaryJson: JSON.stringify(JSON.parse(summaryJson(summary))),
      expectationsMet: summary.expectations.every((e) => e.ok),
    };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    return { kind: 'error', error: { name: error.name, message: error.message } };
  }
}

export default runSweepJob;
