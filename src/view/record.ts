// Runs a scenario and records it for the visualizer (the Web Worker calls this; so can tests).

import { runScenario } from '../workload/scenario/runner.js';
import type { Scenario } from '../workload/scenario/model.js';
import { Recorder, type RecorderOptions } from './recorder.js';
import type { Recording } from './recording.js';

export interface RecordOptions extends RecorderOptions {
  readonly seed?: number;
  /** Called now and then with the simulated time and the events run. */
  readonly onProgress?: (simNs: number, events: number) => void;
}

/**
 * Runs `scenario` with its trace on and returns the recording of every event.
 *
 * @example
 * const rec = recordScenario(loadScenario(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME), 'default-story.yaml');
 * rec.frames; // events + 1
 */
export function recordScenario(scenario: Scenario, file: string, options: RecordOptions = {}): Recording {
  const recorder = new Recorder(options);
  const result = runScenario(scenario, {
    seed: options.seed,
    trace: true,
    observer: recorder,
    onProgress: options.onProgress,
  });
  return recorder.finish(scenario, file, result);
}
