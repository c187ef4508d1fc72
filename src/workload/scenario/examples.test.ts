// The shipped example scenarios (`examples/*.yaml`, what `hetmem examples` lists): each one loads,
// runs, meets every expectation it states and leaks nothing. The built-in story of `hetmem run` is
// embedded in builtin.ts and must stay the same text as examples/default-story.yaml.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME } from './builtin.js';
import { loadScenario } from './load.js';
import { runScenario } from './runner.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');
const FILES = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function load(file: string) {
  const path = join(EXAMPLES, file);
  return loadScenario(readFileSync(path, 'utf8'), path, (p) => readFileSync(join(EXAMPLES, p), 'utf8'));
}

describe('the example scenarios', () => {
  it('include one for every mechanism the README promises', () => {
    for (const name of [
      'default-story',
      'gpu-atomics',
      'gpu-migrate',
      'gpu-mirror',
      'gpu-oversubscribe',
      'gpu-p2p',
      'sva-exit-dma-in-flight',
      'sva-iopf',
    ]) {
      expect(FILES, `examples/${name}.yaml`).toContain(`${name}.yaml`);
    }
  });

  describe.each(FILES)('%s', (file) => {
    const scenario = load(file);
    const result = runScenario(scenario);
    const { summary } = result;

    it('is named after its file, describes itself and states expectations', () => {
      expect(scenario.name).toBe(file.replace(/\.yaml$/, ''));
      expect(scenario.description.length).toBeGreaterThan(20);
      expect(scenario.expect.length).toBeGreaterThan(0);
      expect(scenario.expect.some((e) => 'noLeaks' in e)).toBe(true);
    });

    it('meets every expectation it states', () => {
      expect(summary.expectations).toHaveLength(scenario.expect.length);
      for (const e of summary.expectations) expect(e.ok, `${e.text} (actual: ${e.actual})`).toBe(true);
    });

    it('leaks nothing and leaves no actor waiting', () => {
      expect(summary.leaks).toEqual([]);
      for (const a of summary.actors) expect(a.done, `${a.name} finished`).toBe(true);
      expect(summary.table.simNs).toBeGreaterThan(0);
      expect(summary.table.events).toBeGreaterThan(0);
    });

    it('has no operation failing except device work stopped by the exit the scenario describes', () => {
      // A DMA job on the PASID of a process that exits is stopped (STOPPED): that is what the
      // SVA exit examples show. Anything else (a SIGSEGV, ENOMEM, a GPU access the driver could
      // not map) is a mistake in the example that its expectations happen not to look at.
      const unexpected = summary.failures.filter(
        (f) => !/^dma job \d+ on /.test(f.what) || f.why !== 'STOPPED',
      );
      expect(
        unexpected.map((f) => `${f.process} op ${f.op}: ${f.what}: ${f.why}`),
        `${file}: operations that failed`,
      ).toEqual([]);
    });
  });
});

describe('the built-in scenario', () => {
  it('is examples/default-story.yaml, byte for byte', () => {
    expect(DEFAULT_SCENARIO_NAME).toBe('default-story.yaml');
    const onDisk = readFileSync(join(EXAMPLES, DEFAULT_SCENARIO_NAME), 'utf8');
    expect(DEFAULT_SCENARIO.length).toBe(onDisk.length);
    expect(DEFAULT_SCENARIO).toBe(onDisk);
  });
});
