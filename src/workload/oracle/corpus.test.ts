// The fidelity test: every public oracle sequence is replayed and compared line by line with the
// outcomes the real kernel (Linux 6.12.117 with its HMM test device) recorded. Every one must match.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditMm } from '../../check/mmAudit.js';
import { compareSequence } from './corpus.js';
import { parseOpsFile } from './opsFile.js';
import { replayOracle } from './replay.js';

const CORPUS = join(import.meta.dirname, '../../../../shared/oracle/corpus');

const names = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.ops'))
  .map((f) => f.slice(0, -4))
  .sort();
const read = (name: string, ext: string) => readFileSync(join(CORPUS, `${name}.${ext}`), 'utf8');

describe('kernel oracle corpus', () => {
  it('is all there (266 pairs, 100 of them mirroring-subset sequences)', () => {
    expect(names.length).toBe(266);
    expect(names.filter((n) => n.startsWith('mirror_')).length).toBe(100);
  });

  it.each(names)('%s replays line for line', (name) => {
    const r = compareSequence(name, read(name, 'ops'), read(name, 'out'));
    const detail = r.mismatches
      .slice(0, 3)
      .map((m) => `\n  kernel: ${m.want}\n  model:  ${m.got}`)
      .join('');
    expect(r.mismatches.length, `${r.mismatches.length} of ${r.lines} lines differ${detail}`).toBe(0);
  });

  it('leaves no frame, mm or mapping behind once every process has exited', () => {
    for (const name of names.filter((_, i) => i % 5 === 0)) {
      const { kernel } = replayOracle(parseOpsFile(read(name, 'ops'), name));
      expect(auditMm(kernel), name).toEqual([]);
      expect(kernel.mem.usedPages(), name).toBe(0);
      expect(kernel.mms.size, name).toBe(0);
    }
  });
});
