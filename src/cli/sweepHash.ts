// Content hashes of sweep jobs: sha256 of `jobKey` (the canonical JSON of the resolved scenario,
// the seed and the hetmem version). Host code: the model core has no `node:crypto`.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jobKey, type SweepJob } from '../workload/sweep/grid.js';

let version: string | null = null;

/** hetmem's version, from package.json (two levels up from both `src/cli/` and `dist/cli/`). */
export function hetmemVersion(): string {
  if (version === null) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
    version = pkg.version;
  }
  return version;
}

/** The job's content hash: 64 hex digits. */
export function jobHash(job: SweepJob, hetmem: string = hetmemVersion()): string {
  return createHash('sha256').update(jobKey(job, hetmem)).digest('hex');
}
