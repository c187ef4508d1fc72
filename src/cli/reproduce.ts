// `hetmem reproduce ganguly2019`: runs every benchmark under every configuration of the paper on
// worker threads (the sweep executor), then prints our figures beside the published ones as a
// Markdown table (or JSON), the table docs/REPRODUCTIONS.md quotes.

import { availableParallelism } from 'node:os';
import {
  GANGULY_BENCHMARKS,
  GANGULY_CONFIGS,
  GANGULY_PAPER,
  type GangulyConfig,
  type GangulyMeasure,
  gangulyMeasure,
  gangulyScenario,
} from '../repro/ganguly2019.js';
import { InputError } from '../sim/errors.js';
import { createExecutor } from './sweep.js';

export interface ReproduceOptions {
  readonly workers?: number;
  readonly benchmarks?: string;
  readonly configs?: string;
  readonly json?: boolean;
}

export interface GangulyRow {
  readonly benchmark: string;
  readonly config: string;
  readonly ours: GangulyMeasure | null;
  readonly error?: string;
  readonly paper: { timeUs: number; faults: number } | null;
}

/** The comma-separated subset of `all` a flag names (all when absent); unknown names are input errors. */
function pick<T extends string>(flag: string, value: string | undefined, all: readonly T[]): T[] {
  if (value === undefined) return [...all];
  const names = value.split(',').map((s) => s.trim());
  for (const n of names)
    if (!all.includes(n as T))
      throw new InputError(
        { file: '(command line)', field: flag },
        `one or more of ${all.join(', ')}`,
        JSON.stringify(n),
      );
  return names as T[];
}

export async function reproduceCommand(study: string, options: ReproduceOptions): Promise<number> {
  if (study !== 'ganguly2019')
    throw new InputError({ file: '(command line)', field: 'study' }, 'ganguly2019', JSON.stringify(study));
  const benchmarks = pick('--benchmarks', options.benchmarks, GANGULY_BENCHMARKS);
  const configIds = pick(
    '--configs',
    options.configs,
    GANGULY_CONFIGS.map((c) => c.id),
  );
  const configs = GANGULY_CONFIGS.filter((c) => configIds.includes(c.id));
  const jobs: { benchmark: string; config: GangulyConfig }[] = [];
  for (const benchmark of benchmarks) for (const config of configs) jobs.push({ benchmark, config });
  const workers = Math.min(options.workers ?? availableParallelism(), jobs.length);
  const executor = createExecutor(workers);
  const rows: GangulyRow[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const { benchmark, config } = jobs[i];
      const outcome = await executor.run({
        scenario: gangulyScenario(benchmark, config),
        file: `ganguly2019/${benchmark}-${config.id}`,
        seed: 1,
      });
      const paper = GANGULY_PAPER[benchmark]?.[config.id] ?? null;
      rows[i] =
        outcome.kind === 'summary'
          ? {
              benchmark,
              config: config.id,
              ours: gangulyMeasure(
                (JSON.parse(outcome.summaryJson) as { counters: Record<string, number> }).counters,
              ),
              paper,
            }
          : { benchmark, config: config.id, ours: null, error: outcome.error.message, paper };
      done++;
      process.stderr.write(
        `hetmem: reproduce ganguly2019 [${done}/${jobs.length}] ${benchmark} ${config.id}\n`,
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: workers }, lane));
  } finally {
    await executor.close();
  }
  process.stdout.write(
    options.json === true ? `${JSON.stringify(rows, null, 2)}\n` : formatGangulyTables(rows),
  );
  return rows.some((r) => r.ours === null) ? 1 : 0;
}

const us = (v: number): string => v.toFixed(1);

/** One Markdown table per configuration: ours and the paper's time and faults, and the ratio. */
export function formatGangulyTables(rows: readonly GangulyRow[]): string {
  let out = '';
  for (const config of GANGULY_CONFIGS) {
    const mine = rows.filter((r) => r.config === config.id);
    if (mine.length === 0) continue;
    out += `\n### ${config.label} (\`${config.id}\`)\n\n`;
    out += '| benchmark | hetmem time µs (faults) | paper time µs (faults) | time ratio | fault ratio |\n';
    out += '|---|---|---|---|---|\n';
    for (const r of mine) {
      const ours = r.ours === null ? `error: ${r.error}` : `${us(r.ours.timeUs)} (${r.ours.faults})`;
      const paper = r.paper === null ? 'not published' : `${us(r.paper.timeUs)} (${r.paper.faults})`;
      const tr = r.ours !== null && r.paper !== null ? (r.ours.timeUs / r.paper.timeUs).toFixed(2) : '-';
      const fr = r.ours !== null && r.paper !== null ? (r.ours.faults / r.paper.faults).toFixed(2) : '-';
      out += `| ${r.benchmark} | ${ours} | ${paper} | ${tr} | ${fr} |\n`;
    }
  }
  out += speedups(rows);
  return out;
}

/** Speed-ups over on-demand paging, ours and the paper's, where both runs exist. */
function speedups(rows: readonly GangulyRow[]): string {
  const find = (b: string, c: string): GangulyRow | undefined =>
    rows.find((r) => r.benchmark === b && r.config === c);
  const lines: string[] = [];
  for (const c of ['rp', 'slp', 'tbnp']) {
    for (const b of GANGULY_BENCHMARKS) {
      const od = find(b, 'od');
      const x = find(b, c);
      if (od?.ours == null || x?.ours == null) continue;
      const ours = od.ours.timeUs / x.ours.timeUs;
      const paper =
        od.paper !== null && x.paper !== null ? (od.paper.timeUs / x.paper.timeUs).toFixed(2) : '-';
      lines.push(`| ${c} | ${b} | ${ours.toFixed(2)}× | ${paper === '-' ? '-' : `${paper}×`} |`);
    }
  }
  if (lines.length === 0) return '';
  return `\n### Speed-up over on-demand\n\n| prefetcher | benchmark | hetmem | paper |\n|---|---|---|---|\n${lines.join('\n')}\n`;
}
