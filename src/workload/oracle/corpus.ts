// Compares replays with the kernel's recorded outcomes, line by line, for one sequence or a folder.

import { parseOpsFile } from './opsFile.js';
import { outcomeMatches, parseOutFile } from './outcome.js';
import { replayOracle } from './replay.js';

export interface Mismatch {
  readonly index: number;
  readonly want: string;
  readonly got: string;
}

export interface SequenceComparison {
  readonly name: string;
  readonly lines: number;
  readonly mismatches: readonly Mismatch[];
  /** Operations the model answered "not supported yet" for (they cannot match). */
  readonly unsupported: number;
}

/** Replays `opsText` and compares every outcome line with `outText`. */
export function compareSequence(name: string, opsText: string, outText: string): SequenceComparison {
  const ops = parseOpsFile(opsText, `${name}.ops`);
  const { lines } = replayOracle(ops);
  const want = parseOutFile(outText);
  const mismatches: Mismatch[] = [];
  let unsupported = 0;
  const n = Math.max(want.length, lines.length);
  for (let i = 0; i < n; i++) {
    const w = want[i] ?? '(missing)';
    const g = lines[i] ?? '(missing)';
    if (g.includes('rc=-EOPNOTSUPP')) unsupported++;
    if (!outcomeMatches(w, g)) mismatches.push({ index: i, want: w, got: g });
  }
  return { name, lines: want.length, mismatches, unsupported };
}
