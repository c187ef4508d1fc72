// `hetmem run [SCENARIO]`: loads a scenario (or the built-in story), runs it with a progress line on
// stderr for runs longer than a second, prints the summary (text or JSON), and writes the trace
// and the HTML report when asked. Exit code 1 when an expectation failed.

import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { chromeTraceChunks } from '../report/chromeTrace.js';
import { renderHtmlReport } from '../report/html.js';
import { formatSummary, summaryJson } from '../report/summaryText.js';
import { InputError } from '../sim/errors.js';
import { DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME } from '../workload/scenario/builtin.js';
import { loadScenario } from '../workload/scenario/load.js';
import type { Scenario } from '../workload/scenario/model.js';
import { runScenario } from '../workload/scenario/runner.js';
import { formatDuration } from '../workload/units.js';
import { useColor } from './color.js';

export interface RunOptions {
  readonly seed?: number;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly trace?: string;
  readonly report?: string;
}

/** Reads a scenario file (or the built-in one), resolving the files it names next to it. */
export function readScenario(file: string | undefined): Scenario {
  if (file === undefined) return loadScenario(DEFAULT_SCENARIO, `(built-in) ${DEFAULT_SCENARIO_NAME}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(
      { file },
      'a readable scenario file',
      (e as NodeJS.ErrnoException).code ?? String(e),
    );
  }
  return loadScenario(text, file, (p) => readFileSync(resolve(dirname(file), p), 'utf8'));
}

/** A progress line on stderr, shown only on a terminal and only once a run has lasted a second. */
function progressReporter(name: string): {
  update: (simNs: number, events: number) => void;
  stop: () => void;
} {
  const started = Date.now();
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(simNs, events) {
      if (!process.stderr.isTTY) return;
      if (bar === null) {
        if (Date.now() - started < 1000) return;
        bar = new cliProgress.SingleBar(
          {
            format: `hetmem: ${name}: {sim} simulated, {value} events`,
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
          },
          cliProgress.Presets.legacy,
        );
        bar.start(0, events, { sim: formatDuration(simNs) });
      }
      bar.update(events, { sim: formatDuration(simNs) });
    },
    stop() {
      bar?.stop();
    },
  };
}

export async function runCommand(file: string | undefined, options: RunOptions): Promise<number> {
  const scenario = readScenario(file);
  const progress = progressReporter(scenario.name);
  let result;
  try {
    result = runScenario(scenario, {
      seed: options.seed,
      trace: options.trace !== undefined,
      onProgress: (simNs, events) => progress.update(simNs, events),
    });
  } finally {
    progress.stop();
  }
  if (options.trace !== undefined) {
    // Streamed piece by piece: a long trace is larger than one string may be.
    const fd = openSync(options.trace, 'w');
    try {
      for (const piece of chromeTraceChunks(result.trace ?? [], {
        scenario: scenario.name,
        seed: result.summary.seed,
      }))
        writeSync(fd, piece);
    } finally {
      closeSync(fd);
    }
  }
  if (options.report !== undefined) {
    writeFileSync(options.report, await renderHtmlReport(result, { title: `hetmem: ${scenario.name}` }));
  }
  if (options.json) {
    process.stdout.write(`${summaryJson(result.summary)}\n`);
  } else if (options.quiet) {
    const failed = result.summary.expectations.filter((e) => !e.ok);
    process.stdout.write(
      `${scenario.name}: ${formatDuration(result.summary.table.simNs)} simulated, ${result.summary.expectations.length - failed.length}/${result.summary.expectations.length} expectations met\n`,
    );
  } else {
    if (scenario.description !== '') process.stdout.write(`${scenario.description}\n\n`);
    process.stdout.write(formatSummary(result.summary, { color: useColor(process.stdout) }));
  }
  return result.summary.expectations.every((e) => e.ok) ? 0 : 1;
}
