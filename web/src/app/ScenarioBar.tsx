// Choosing what to run: a built-in scenario, the one `hetmem serve` was started with, or a file
// from disk (read in the page, limited in size, never uploaded or evaluated).

import { useRef } from 'preact/hooks';
import { BUILTIN_SCENARIOS } from '../scenarios.js';
import { MAX_SCENARIO_BYTES } from '../worker/protocol.js';
import { runScenarioText, scenarioFile, scenarioText, showProblem, status } from './session.js';

export function ScenarioBar({ served }: { served: { file: string; text: string } | null }) {
  const input = useRef<HTMLInputElement>(null);
  const choices = served === null ? BUILTIN_SCENARIOS : [served, ...BUILTIN_SCENARIOS];
  const s = status.value;
  const open = async (file: File) => {
    if (file.size > MAX_SCENARIO_BYTES) {
      showProblem(
        file.name,
        `a scenario of at most ${MAX_SCENARIO_BYTES / 1024} KiB, got ${Math.ceil(file.size / 1024)} KiB`,
      );
      return;
    }
    runScenarioText(file.name, await file.text());
  };
  return (
    <header class="bar">
      <h1>hetmem</h1>
      <label>
        scenario{' '}
        <select
          data-testid="scenario-select"
          value={choices.some((c) => c.file === scenarioFile.value) ? scenarioFile.value : ''}
          onChange={(e) => {
            const chosen = choices.find((c) => c.file === (e.target as HTMLSelectElement).value);
            if (chosen !== undefined) runScenarioText(chosen.file, chosen.text);
          }}
        >
          {choices.every((c) => c.file !== scenarioFile.value) && (
            <option value="">{scenarioFile.value || '…'}</option>
          )}
          {choices.map((c) => (
            <option value={c.file} key={c.file}>
              {c.file}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={() => input.current?.click()} data-testid="open-file">
        Open file…
      </button>
      <input
        ref={input}
        type="file"
        accept=".yaml,.yml,.json"
        hidden
        data-testid="file-input"
        onChange={(e) => {
          const f = (e.target as HTMLInputElement).files?.[0];
          if (f !== undefined) void open(f);
          (e.target as HTMLInputElement).value = '';
        }}
      />
      <button
        type="button"
        onClick={() => runScenarioText(scenarioFile.value, scenarioText.value)}
        disabled={scenarioText.value === ''}
      >
        Run again
      </button>
      <span class="status" data-testid="status" data-status={s.kind}>
        {s.kind === 'running' && `running… ${s.events.toLocaleString('en')} events`}
        {s.kind === 'ready' && `recorded in ${Math.round(s.ms)} ms`}
        {s.kind === 'error' &&
          (s.what === 'input'
            ? 'the scenario has errors'
            : s.what === 'limit'
              ? 'a limit was reached'
              : 'the simulator failed')}
      </span>
    </header>
  );
}
