// The simulator in a Web Worker: loads the scenario text (YAML or JSON, never evaluated as code),
// runs and records it, and posts the recording back with its typed arrays transferred. Input
// errors come back as a list of problems with line and column; nothing is thrown at the page.

import { recordScenario } from '../../../src/view/record.js';
import { InputError, InputErrorList, LimitError } from '../../../src/sim/errors.js';
import { loadScenario } from '../../../src/workload/scenario/load.js';
import { MAX_SCENARIO_BYTES, type RunRequest, type ScenarioProblem, type WorkerMessage } from './protocol.js';

const post = (message: WorkerMessage, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(message, transfer);

function problemsOf(e: InputError): ScenarioProblem[] {
  const list = e instanceof InputErrorList ? e.errors : [e];
  return list.map((x) => ({
    file: x.location.file,
    line: x.location.line,
    column: x.location.column,
    message: x.message,
  }));
}

self.onmessage = (event: MessageEvent<RunRequest>) => {
  const req = event.data;
  if (req.type !== 'run') return;
  const started = performance.now();
  try {
    if (new TextEncoder().encode(req.text).length > MAX_SCENARIO_BYTES) {
      post({
        type: 'error',
        kind: 'input',
        problems: [{ file: req.file, message: `a scenario of at most ${MAX_SCENARIO_BYTES / 1024} KiB` }],
      });
      return;
    }
    const scenario = loadScenario(req.text, req.file, (path) => {
      throw new InputError(
        { file: req.file },
        `no page-trace files in the browser (${path}); run it with the CLI`,
      );
    });
    let lastPost = 0;
    const recording = recordScenario(scenario, req.file, {
      seed: req.seed,
      onProgress: (simNs, events) => {
        const now = performance.now();
        if (now - lastPost < 100) return;
        lastPost = now;
        post({ type: 'progress', events, simNs });
      },
    });
    const transfer: Transferable[] = [
      recording.frameTimeNs.buffer,
      recording.frameActor.buffer,
      recording.traceStart.buffer,
      recording.pages.frameStart.buffer,
      recording.pages.target.buffer,
      recording.pages.page.buffer,
      recording.pages.state.buffer,
      recording.mirrors.frameStart.buffer,
      recording.mirrors.target.buffer,
      recording.mirrors.page.buffer,
      recording.mirrors.state.buffer,
    ];
    post({ type: 'done', recording, ms: performance.now() - started }, transfer);
  } catch (e) {
    if (e instanceof InputError) post({ type: 'error', kind: 'input', problems: problemsOf(e) });
    else if (e instanceof LimitError)
      post({ type: 'error', kind: 'limit', problems: [{ file: req.file, message: e.message }] });
    else
      post({
        type: 'error',
        kind: 'internal',
        problems: [{ file: req.file, message: e instanceof Error ? e.message : String(e) }],
      });
  }
};
