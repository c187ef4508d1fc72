// Grid files: expansion order and counts, content hashes (stable, sensitive to values, blind to key
// order), and the messages bad grids get.

import { describe, expect, it } from 'vitest';
import { jobHash } from '../../cli/sweepHash.js';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { parseScenarioText } from '../scenario/load.js';
import { canonicalJson, expandGrid, formatParams, jobKey, parseGrid, type Sweep } from './grid.js';
import { formatScenarioPath, parseScenarioPath } from './path.js';

const BASE = `name: tiny
machine:
  ram: 64MiB
  costs: { profile: pcie4 }
  devices:
    - { kind: gpu, name: gpu0, memory: 4MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: buf, size: 2MiB }
      - { op: touch, region: buf, write: true }
      - { op: gpu, device: gpu0, region: buf, pattern: { kind: sequential, passes: 1 } }
expect:
  - { noLeaks: true }
`;

// The same scenario with every mapping's keys in another order.
const BASE_REORDERED = `processes:
  - program:
      - { name: buf, op: mmap, size: 2MiB }
      - { write: true, region: buf, op: touch }
      - { pattern: { passes: 1, kind: sequential }, region: buf, device: gpu0, op: gpu }
    name: app
expect:
  - { noLeaks: true }
machine:
  devices:
    - { memory: 4MiB, name: gpu0, kind: gpu }
  costs: { profile: pcie4 }
  ram: 64MiB
name: tiny
`;

const GRID = `scenario: base.yaml
seeds: [7, 9]
parameters:
  machine.devices[0].memory: [4MiB, 8MiB]
  machine.costs.profile: [pcie3, pcie4, pcie5]
`;

function noFiles(path: string): string {
  throw new Error(`no file ${path}`);
}

function sweepOf(grid: string, base = BASE): Sweep {
  return expandGrid(parseGrid(grid, 'grid.yaml'), parseScenarioText(base, 'base.yaml'), 'base.yaml', noFiles);
}

/** The problems a grid is rejected with, as messages. */
function problems(grid: string, base = BASE): string[] {
  try {
    sweepOf(grid, base);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e instanceof InputErrorList ? e.errors.map((x) => x.message) : [(e as Error).message];
  }
  throw new Error('the grid was accepted');
}

describe('paths', () => {
  it('parse and print the way scenario errors name fields', () => {
    expect(parseScenarioPath('machine.devices[0].memory')).toEqual(['machine', 'devices', 0, 'memory']);
    expect(parseScenarioPath('processes[0].program[2].pattern.kind')).toEqual([
      'processes',
      0,
      'program',
      2,
      'pattern',
      'kind',
    ]);
    expect(parseScenarioPath('machine["odd.key"]')).toEqual(['machine', 'odd.key']);
    for (const bad of ['', '[0].x', 'machine..ram', 'machine.', 'a[-1]', 'a[01]', '1abc', 'a b'])
      expect(parseScenarioPath(bad), bad).toBeNull();
    expect(formatScenarioPath(['machine', 'devices', 0, 'memory'])).toBe('machine.devices[0].memory');
    expect(formatScenarioPath(['parameters', 'machine.costs.profile', 1])).toBe(
      'parameters["machine.costs.profile"][1]',
    );
  });
});

describe('expansion', () => {
  it('is the cartesian product: parameters in file order (first slowest), values in list order, seeds last', () => {
    const s = sweepOf(GRID);
    expect(s.variants.length).toBe(6);
    expect(s.jobs.length).toBe(12);
    const got = s.jobs.map((j) => [
      j.index,
      j.variant.params['machine.devices[0].memory'],
      j.variant.params['machine.costs.profile'],
      j.seed,
    ]);
    const want: unknown[] = [];
    for (const mem of ['4MiB', '8MiB'])
      for (const profile of ['pcie3', 'pcie4', 'pcie5'])
        for (const seed of [7, 9]) want.push([want.length, mem, profile, seed]);
    expect(got).toEqual(want);
    // Params keep the grid's key order; the resolved scenario carries the values.
    expect(Object.keys(s.jobs[0].variant.params)).toEqual([
      'machine.devices[0].memory',
      'machine.costs.profile',
    ]);
    const last = s.jobs[11].variant.scenario as {
      machine: { devices: { memory: string }[]; costs: { profile: string } };
    };
    expect(last.machine.devices[0].memory).toBe('8MiB');
    expect(last.machine.costs.profile).toBe('pcie5');
    expect(formatParams(s.jobs[11].variant.params)).toBe(
      'machine.devices[0].memory=8MiB, machine.costs.profile=pcie5',
    );
  });

  it('leaves the base untouched and shares one resolved scenario between the seeds of a variant', () => {
    const base = parseScenarioText(BASE, 'base.yaml');
    const before = canonicalJson(base);
    const s = expandGrid(parseGrid(GRID, 'grid.yaml'), base, 'base.yaml', noFiles);
    expect(canonicalJson(base)).toBe(before);
    expect(s.jobs[0].variant).toBe(s.jobs[1].variant);
    expect(s.jobs[1].variant).not.toBe(s.jobs[2].variant);
  });

  it('takes seeds as { from, count } and works without parameters', () => {
    const s = sweepOf('scenario: base.yaml\nseeds: { from: 5, count: 3 }\n');
    expect(s.jobs.map((j) => j.seed)).toEqual([5, 6, 7]);
    expect(s.jobs.every((j) => j.variant === s.variants[0])).toBe(true);
  });
});

describe('content hashes', () => {
  it('are stable: the same job hashes the same from one release to the next', () => {
    const s = sweepOf(GRID);
    // Pinned: a change here orphans every results file written before it (resume and merge match
    // lines by hash). Change canonicalJson or jobKey only on purpose.
    expect(jobKey(s.jobs[0], '0.1.0')).toMatch(
      /^\{"scenario":\{"expect":\[\{"noLeaks":true\}\],"machine":\{"costs":\{"profile":"pcie3"\}/,
    );
    expect(jobKey(s.jobs[0], '0.1.0')).toMatch(/\},"seed":7,"version":"0\.1\.0"\}$/);
    expect(jobHash(s.jobs[0], '0.1.0')).toBe(jobHash(sweepOf(GRID).jobs[0], '0.1.0'));
    expect(jobHash(s.jobs[0], '0.1.0')).toBe(
      // sha256 of the key, checked with `sha256sum` when it was pinned.
      '2b46a482f60599e0582ebfe79f93d854a625f51c15766efc1a5fe523f008c4ed',
    );
  });

  it('differ between all jobs, and change with a value, the seed or the version', () => {
    const s = sweepOf(GRID);
    const hashes = s.jobs.map((j) => jobHash(j, '0.1.0'));
    expect(new Set(hashes).size).toBe(12);
    for (const h of hashes) expect(h).toMatch(/^[0-9a-f]{64}$/);
    const other = sweepOf(GRID.replace('[4MiB, 8MiB]', '[4MiB, 12MiB]'));
    // Jobs with 4MiB are the same jobs; those with 12MiB instead of 8MiB are new.
    expect(jobHash(other.jobs[0], '0.1.0')).toBe(hashes[0]);
    expect(jobHash(other.jobs[6], '0.1.0')).not.toBe(hashes[6]);
    expect(jobHash(s.jobs[0], '0.2.0')).not.toBe(hashes[0]);
    // A base scenario change reaches every job.
    const edited = sweepOf(GRID, BASE.replace('size: 2MiB', 'size: 4MiB'));
    expect(edited.jobs.map((j) => jobHash(j, '0.1.0')).some((h) => hashes.includes(h))).toBe(false);
  });

  it('ignore the key order of the base scenario and the order of the grid', () => {
    const a = sweepOf(GRID).jobs.map((j) => jobHash(j, '0.1.0'));
    expect(sweepOf(GRID, BASE_REORDERED).jobs.map((j) => jobHash(j, '0.1.0'))).toEqual(a);
    // Parameters swapped: other job numbers, the same set of jobs.
    const swapped = `parameters:
  machine.costs.profile: [pcie3, pcie4, pcie5]
  machine.devices[0].memory: [4MiB, 8MiB]
seeds: [7, 9]
scenario: base.yaml
`;
    const b = sweepOf(swapped).jobs.map((j) => jobHash(j, '0.1.0'));
    expect(b).not.toEqual(a);
    expect([...b].sort()).toEqual([...a].sort());
  });

  it('canonical JSON sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], u: undefined })).toBe(
      '{"a":[{"c":"x","d":null}],"b":1}',
    );
  });
});

describe('bad grids', () => {
  it('YAML syntax errors name the line', () => {
    expect(problems('scenario: base.yaml\nseeds: [1, 2\n')[0]).toMatch(
      /^grid\.yaml:\d+:\d+: expected valid YAML or JSON/,
    );
  });

  it('schema problems name file, line, column, field, expected and found', () => {
    const p = problems('scenario: base.yaml\nseeds: 3\nparameter:\n  machine.ram: [64MiB]\n');
    expect(p).toContain(
      'grid.yaml:2:8: seeds: expected a list of seeds (integers from 0 to 4294967295) or { from, count }, got 3',
    );
    expect(p.some((m) => m.startsWith('grid.yaml:4:3: parameter: expected no key "parameter"'))).toBe(true);
    expect(problems('seeds: [1]\n')).toEqual([
      'grid.yaml:1:1: scenario: expected a value of type string, got nothing',
    ]);
    expect(problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.ram: []\n')).toEqual([
      'grid.yaml:4:16: parameters["machine.ram"]: expected at least 1 item(s), got []',
    ]);
    expect(problems('scenario: base.yaml\nseeds: [1, 2, 1]\n')).toEqual([
      'grid.yaml:2:15: seeds[2]: expected distinct seeds (the same as seeds[0]), got 1',
    ]);
    expect(problems('scenario: base.yaml\nseeds: [-1]\n')[0]).toMatch(
      /^grid\.yaml:2:9: seeds\[0\]: expected a value >= 0/,
    );
  });

  it('a path that is not a path, overlaps another, or does not exist in the base scenario is named', () => {
    expect(problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine..ram: [1]\n')).toEqual([
      'grid.yaml:4:3: parameters["machine..ram"]: expected a path into the scenario such as machine.devices[0].memory, got "machine..ram"',
    ]);
    expect(
      problems(
        'scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.devices[0]: [{}]\n  machine.devices[0].memory: [4MiB]\n',
      ),
    ).toEqual([
      'grid.yaml:5:3: parameters["machine.devices[0].memory"]: expected a path that does not overlap another parameter\'s (machine.devices[0] sets the same value), got "machine.devices[0].memory"',
    ]);
    expect(
      problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.device[0].memory: [4MiB]\n'),
    ).toEqual([
      'grid.yaml:4:3: parameters["machine.device[0].memory"]: expected a path that exists in base.yaml, got machine has no key "device" (it has ram, costs, devices)',
    ]);
    expect(
      problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.devices[3].memory: [4MiB]\n'),
    ).toEqual([
      'grid.yaml:4:3: parameters["machine.devices[3].memory"]: expected a path that exists in base.yaml, got machine.devices has 1 item(s), no [3]',
    ]);
    expect(problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.thp: [always]\n')[0]).toContain(
      'got machine has no key "thp"',
    );
  });

  it('a bad value is reported at the grid field that gave it, once, before anything runs', () => {
    const grid = `scenario: base.yaml
seeds: [1, 2]
parameters:
  machine.costs.profile: [pcie3, pcie9]
  machine.devices[0].memory: [4MiB, lots, 5000]
  processes[0].program[2].pattern.kind: [sequential, sideways]
`;
    const p = problems(grid);
    expect(p).toContain(
      'grid.yaml:4:34: parameters["machine.costs.profile"][1]: expected one of "pcie3", "pcie4", "pcie5", "nvlink-c2c", got "pcie9"',
    );
    expect(p.filter((m) => m.includes('["machine.devices[0].memory"][1]'))).toEqual([
      'grid.yaml:5:37: parameters["machine.devices[0].memory"][1]: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "lots"',
    ]);
    expect(p).toContain(
      'grid.yaml:5:43: parameters["machine.devices[0].memory"][2]: expected a whole number of 4 KiB pages, got 5000',
    );
    // The union of patterns fails at the pattern, above the parameter's path: still this value.
    expect(
      p.some((m) =>
        m.startsWith('grid.yaml:6:54: parameters["processes[0].program[2].pattern.kind"][1]: expected'),
      ),
    ).toBe(true);
  });

  it('a problem no single value explains names the combination', () => {
    const grid = `scenario: base.yaml
seeds: [1]
parameters:
  machine.devices[0].name: [gpu0, gpu1]
`;
    expect(problems(grid)).toEqual([
      'grid.yaml: processes[0].program[2].device of the scenario with machine.devices[0].name=gpu1: expected the name of a gpu device (gpu1), got "gpu0"',
    ]);
  });

  it('refuses duplicate values and grids past the job limit', () => {
    expect(
      problems('scenario: base.yaml\nseeds: [1]\nparameters:\n  machine.ram: [64MiB, 32MiB, 64MiB]\n'),
    ).toEqual([
      'grid.yaml:4:31: parameters["machine.ram"][2]: expected distinct values (the same as [0]), got "64MiB"',
    ]);
    const values = `[${Array.from({ length: 1001 }, (_, i) => i + 1).join(', ')}]`;
    expect(
      problems(
        `scenario: base.yaml\nseeds: { from: 0, count: 1000 }\nparameters:\n  machine.hugetlbPages: ${values}\n`,
      ),
    ).toEqual([
      'grid.yaml:4:3: parameters: expected at most 1000000 jobs (split the grid into several files), got 1001000 jobs',
    ]);
  });
});
