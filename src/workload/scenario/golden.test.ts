// Golden summaries: the JSON summary of a few runs with fixed seeds is checked in under
// test/scenarios/golden/ and every run must reproduce it byte for byte (determinism across
// processes, machines and time). A change of the model that changes these numbers on purpose
// regenerates them with
//
//   UPDATE_GOLDEN=1 npx vitest run src/workload/scenario/golden.test.ts
//
// and the diff of the golden files is reviewed with the change. Without UPDATE_GOLDEN=1 nothing is
// written, and a missing golden file is a failure, never a silent first write.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summaryJson } from '../../report/summaryText.js';
import { DEFAULT_SCENARIO } from './builtin.js';
import { loadScenario } from './load.js';
import type { Scenario } from './model.js';
import { runScenario } from './runner.js';

const ROOT = join(import.meta.dirname, '../../..');
const EXAMPLES = join(ROOT, 'examples');
const GOLDEN = join(ROOT, 'test/scenarios/golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function example(file: string): Scenario {
  return loadScenario(readFileSync(join(EXAMPLES, file), 'utf8'), `examples/${file}`);
}

const CASES: { golden: string; scenario: () => Scenario; seed: number }[] = [
  {
    golden: 'default-story.seed1.json',
    scenario: () => loadScenario(DEFAULT_SCENARIO, 'default-story.yaml'),
    seed: 1,
  },
  { golden: 'gpu-oversubscribe.seed7.json', scenario: () => example('gpu-oversubscribe.yaml'), seed: 7 },
  {
    golden: 'sva-exit-dma-in-flight.seed3.json',
    scenario: () => example('sva-exit-dma-in-flight.yaml'),
    seed: 3,
  },
];

describe('golden summaries', () => {
  it.each(CASES)(
    '$golden: the summary of the run equals the checked-in file',
    ({ golden, scenario, seed }) => {
      const path = join(GOLDEN, golden);
      const json = `${summaryJson(runScenario(scenario(), { seed }).summary)}\n`;
      expect(JSON.parse(json).seed).toBe(seed);
      if (UPDATE) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(path, json);
      }
      expect(
        existsSync(path),
        `${path} is missing; generate it with UPDATE_GOLDEN=1 npx vitest run src/workload/scenario/golden.test.ts`,
      ).toBe(true);
      expect(json).toBe(readFileSync(path, 'utf8'));
    },
  );
});

describe('determinism', () => {
  it('the same scenario and seed run twice in one process give the same summary, series, histograms and trace', () => {
    const scenario = example('gpu-oversubscribe.yaml');
    const a = runScenario(scenario, { seed: 7, trace: true });
    const b = runScenario(scenario, { seed: 7, trace: true });
    expect(summaryJson(b.summary)).toBe(summaryJson(a.summary));
    expect(JSON.stringify(b.series)).toBe(JSON.stringify(a.series));
    expect(JSON.stringify(b.histograms)).toBe(JSON.stringify(a.histograms));
    expect(b.trace!.length).toBeGreaterThan(0);
    expect(JSON.stringify(b.trace)).toBe(JSON.stringify(a.trace));
  });

  it('a scenario loaded twice runs the same (no state kept between loads or runs)', () => {
    const a = runScenario(loadScenario(DEFAULT_SCENARIO, 'a.yaml'), { seed: 2 });
    runScenario(example('sva-iopf.yaml'));
    const b = runScenario(loadScenario(DEFAULT_SCENARIO, 'b.yaml'), { seed: 2 });
    expect(summaryJson(b.summary)).toBe(summaryJson(a.summary));
  });

  it('a random access pattern depends on the seed', () => {
    // 2048 random touches over 4096 pages fault in about 1600 distinct pages; which ones (and so
    // how many) depends on the seed.
    const scenario = loadScenario(
      `name: random-touch
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: buf, size: 16MiB }
      - { op: touch, region: buf, write: true, pattern: { kind: random, count: 2048 } }
`,
      'random.yaml',
    );
    const withoutSeed = (seed: number) => {
      const r = runScenario(scenario, { seed });
      expect(r.summary.seed).toBe(seed);
      expect(r.summary.failures).toEqual([]);
      return { summary: summaryJson({ ...r.summary, seed: 0 }), series: JSON.stringify(r.series), r };
    };
    const one = withoutSeed(1);
    const two = withoutSeed(2);
    const again = withoutSeed(1);
    expect(again.summary).toBe(one.summary);
    for (const { r } of [one, two]) {
      // Distinct pages: fewer than the accesses (repeats), more than half of them.
      expect(r.summary.table.cpuFaults).toBeGreaterThan(1024);
      expect(r.summary.table.cpuFaults).toBeLessThan(2048);
    }
    expect(two.summary).not.toBe(one.summary);
    expect(two.r.summary.table.cpuFaults).not.toBe(one.r.summary.table.cpuFaults);
    expect(two.series).not.toBe(one.series);
  });
});
