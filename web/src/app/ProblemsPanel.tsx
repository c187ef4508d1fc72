// Errors in a scenario, each with its place (file:line:column) and the offending line with a caret
// under the column, so the page never goes blank on bad input.

import { problems, scenarioFile, scenarioText } from './session.js';

export function ProblemsPanel() {
  const list = problems.value;
  if (list.length === 0) return null;
  const lines = scenarioText.value.split('\n');
  return (
    <section class="problems" data-testid="problems" role="alert">
      <h2>
        {list.length === 1 ? 'A problem' : `${list.length} problems`} in {scenarioFile.value}
      </h2>
      <ul>
        {list.map((p, i) => (
          <li key={i} data-testid="problem" data-line={p.line ?? ''} data-column={p.column ?? ''}>
            <div class="where">
              {p.file}
              {p.line !== undefined && `:${p.line}`}
              {p.column !== undefined && `:${p.column}`}
            </div>
            <div class="message">{p.message}</div>
            {p.line !== undefined && lines[p.line - 1] !== undefined && (
              <pre class="excerpt">
                {`${String(p.line).padStart(4)} | ${lines[p.line - 1]}\n`}
                {p.column !== undefined && `${' '.repeat(4)} | ${' '.repeat(Math.max(0, p.column - 1))}^`}
              </pre>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
