// Random sequences in the corpus's style (every buffer type and dmirror command, forks, exits,
// inherited handles) must replay without an exception, and leave the model consistent: no
// reference count that disagrees with the structures holding it, and nothing alive once every
// process has exited. The kernel has no outcomes for them; fidelity is the corpus test's job.

import { describe, expect, it } from 'vitest';
import { randomOpsFile } from '../../../test/oracleFuzz.js';
import { auditMm } from '../../check/mmAudit.js';
import { parseOpsFile } from './opsFile.js';
import { replayOracle } from './replay.js';

describe('random oracle-style sequences', () => {
  it.each(Array.from({ length: 100 }, (_, i) => 1000 + i))('seed %i replays cleanly', (seed) => {
    const { kernel } = replayOracle(parseOpsFile(randomOpsFile(seed, 250), `fuzz${seed}`));
    expect(auditMm(kernel)).toEqual([]);
    expect(kernel.mem.zones.map((z) => `${z.name}:${z.usedPages}`).filter((s) => !s.endsWith(':0'))).toEqual(
      [],
    );
    expect(kernel.mms.size).toBe(0);
    expect(kernel.mem.liveMappings).toBe(0);
    // The only warning the oracle kernel prints: a device write to a read-only page of its own memory.
    expect(kernel.warnings.filter((w) => !w.startsWith('dmirror_do_fault: write requested'))).toEqual([]);
  });
});
