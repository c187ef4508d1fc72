// `hetmem run`: runs a scenario and prints what happened, as text or JSON.

import pc from 'picocolors';
import { InputError } from '../sim/errors.js';
import { runFoundationTour, type TourResult } from '../workload/foundationTour.js';

export interface RunOptions {
  readonly seed: number;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

export function runCommand(scenario: string | undefined, options: RunOptions): number {
  if (scenario !== undefined) {
    throw new InputError(
      { file: scenario },
      'no argument: this version has no scenario files yet; run without one for the built-in tour',
    );
  }
  const result = runFoundationTour(options.seed);
  process.stdout.write(
    options.json ? `${JSON.stringify(result, null, 2)}\n` : formatTour(result, options.quiet ?? false),
  );
  return isClean(result) ? 0 : 1;
}

function isClean(result: TourResult): boolean {
  return result.leaks.framesInUse === 0 && result.leaks.liveMms === 0 && result.leaks.sva.length === 0;
}

function formatTour(result: TourResult, quiet: boolean): string {
  const lines: string[] = [];
  lines.push(pc.bold(`hetmem run: built-in scenario "${result.scenario}" (seed ${result.seed})`));
  if (!quiet) {
    for (const step of result.steps) {
      lines.push('');
      lines.push(`${pc.cyan(step.actor.padEnd(6))} ${step.action}`);
      const effects = Object.entries(step.effects)
        .map(([k, v]) => `${k.replace(/^mm\./, '')} ${v > 0 ? '+' : ''}${v}`)
        .join(', ');
      lines.push(pc.dim(`       ${effects || 'no counter changed'}; RAM in use: ${step.ramUsedPages} pages`));
    }
  }
  lines.push('');
  lines.push(pc.bold('totals'));
  for (const [k, v] of Object.entries(result.counters)) if (v !== 0) lines.push(`  ${k.padEnd(34)} ${v}`);
  lines.push('');
  lines.push(
    isClean(result)
      ? pc.green('after every process exited: no frame in use, no mm alive, no bond or PASID left')
      : pc.red(
          `leak: ${result.leaks.framesInUse} frames in use, ${result.leaks.liveMms} mms alive` +
            result.leaks.sva.map((l) => `\n  ${l}`).join(''),
        ),
  );
  return `${lines.join('\n')}\n`;
}
