// `hetmem oracle replay FILE.ops` and `hetmem oracle check DIR`: replay operation sequences recorded
// on a real kernel and print (or compare) the outcome lines.

import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import pc from 'picocolors';
import { InputError } from '../sim/errors.js';
import { compareSequence, type SequenceComparison } from '../workload/oracle/corpus.js';
import { parseOpsFile } from '../workload/oracle/opsFile.js';
import { replayOracle } from '../workload/oracle/replay.js';

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError({ file }, 'a readable file', (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

/** Prints one outcome line per operation; exit 0 (operation failures are outcomes). */
export function oracleReplay(file: string): number {
  const ops = parseOpsFile(readText(file), file);
  const { lines } = replayOracle(ops);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Replays every NAME.ops of a folder that has a NAME.out and reports the matches; exit 1 on any mismatch. */
export function oracleCheck(dir: string, options: { verbose?: boolean; json?: boolean }): number {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.ops'))
      .map((f) => basename(f, '.ops'))
      .sort();
  } catch (error) {
    throw new InputError(
      { file: dir },
      'a folder of NAME.ops and NAME.out files',
      (error as NodeJS.ErrnoException).code,
    );
  }
  const results: SequenceComparison[] = [];
  for (const name of names) {
    const outFile = join(dir, `${name}.out`);
    results.push(compareSequence(name, readText(join(dir, `${name}.ops`)), readText(outFile)));
  }
  const matched = results.filter((r) => r.mismatches.length === 0);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ sequences: results.length, matched: matched.length, results }, null, 2)}\n`,
    );
  } else {
    for (const r of results) {
      if (r.mismatches.length === 0) {
        if (options.verbose) process.stdout.write(`${pc.green('match')}    ${r.name} (${r.lines} lines)\n`);
        continue;
      }
      const note = r.unsupported > 0 ? `, ${r.unsupported} not supported yet` : '';
      process.stdout.write(
        `${pc.red('mismatch')} ${r.name}: ${r.mismatches.length} of ${r.lines} lines${note}\n`,
      );
      if (options.verbose) {
        for (const m of r.mismatches.slice(0, 5)) {
          process.stdout.write(`  kernel: ${m.want}\n  model:  ${m.got}\n`);
        }
      }
    }
    process.stdout.write(`${matched.length} of ${results.length} sequences match the kernel line for line\n`);
  }
  return matched.length === results.length ? 0 : 1;
}
