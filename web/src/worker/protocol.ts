// Messages between the page and the simulator's Web Worker.

import type { Recording } from '../../../src/view/recording.js';

/** The largest scenario the page accepts (the server refuses bigger ones too). */
export const MAX_SCENARIO_BYTES = 1024 * 1024;

export interface RunRequest {
  readonly type: 'run';
  readonly file: string;
  readonly text: string;
  readonly seed?: number;
}

/** One problem with a scenario, where it is. */
export interface ScenarioProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

export type WorkerMessage =
  | { readonly type: 'progress'; readonly events: number; readonly simNs: number }
  | { readonly type: 'done'; readonly recording: Recording; readonly ms: number }
  | {
      readonly type: 'error';
      readonly kind: 'input' | 'limit' | 'internal';
      readonly problems: readonly ScenarioProblem[];
    };
