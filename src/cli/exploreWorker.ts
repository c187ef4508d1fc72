// The explorer's worker thread: runs `hetmem explore` while the main thread watches it. Before each
// step it bumps a shared counter and names the step, so a driver step that never returns (a loop
// with no yield) can be reported by name after the worker is stopped.

import { parentPort, workerData } from 'node:worker_threads';
import { InputError, InputErrorList, type InputLocation } from '../sim/errors.js';
import { exploreCommand, type ExploreCliOptions } from './explore.js';

export interface ExploreWorkerData {
  readonly file: string;
  readonly options: ExploreCliOptions;
  /** [0]: steps started; [1]: id of the current (actor, step) pair. */
  readonly heartbeat: SharedArrayBuffer;
}

export type ExploreWorkerMessage =
  | { readonly type: 'step-name'; readonly id: number; readonly actor: string; readonly label: string }
  | { readonly type: 'started' }
  | { readonly type: 'done'; readonly exitCode: number }
  | {
      readonly type: 'input-error';
      readonly errors: readonly { location: InputLocation; expected: string; got: string | undefined }[];
    };

const data = workerData as ExploreWorkerData;
const beat = new Int32Array(data.heartbeat);
const ids = new Map<string, number>();
const post = (m: ExploreWorkerMessage) => parentPort!.postMessage(m);

function onStep(actor: string, label: string): void {
  const key = `${actor}\u0000${label}`;
  let id = ids.get(key);
  if (id === undefined) {
    id = ids.size;
    ids.set(key, id);
    post({ type: 'step-name', id, actor, label });
  }
  Atomics.store(beat, 1, id);
  Atomics.add(beat, 0, 1);
}

try {
  const exitCode = await exploreCommand(data.file, data.options, {
    onStep,
    onStarted: () => post({ type: 'started' }),
  });
  post({ type: 'done', exitCode });
} catch (e) {
  if (e instanceof InputError) {
    const list = e instanceof InputErrorList ? e.errors : [e];
    post({
      type: 'input-error',
      errors: list.map((x) => ({ location: x.location, expected: x.expected, got: x.got })),
    });
  } else throw e;
}
