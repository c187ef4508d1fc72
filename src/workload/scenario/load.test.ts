// Reading scenario files: every mistake becomes a message `file:line:col: field: expected X, got Y`
// pointing at the offending value, all mistakes of a file are reported at once, and what loads is
// normalized (bytes, nanoseconds, pattern objects). Also the units of sizes and durations, and the
// access patterns with the page-trace format.

import { describe, expect, it } from 'vitest';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { Rng } from '../../sim/rng.js';
import type { AccessStream } from '../../sim/accessStream.js';
import { makeStream, parsePageTrace, type PatternSpec } from '../patterns.js';
import { formatBytes, formatDuration, parseDuration, parseSize } from '../units.js';
import { loadScenario } from './load.js';
import type { Scenario } from './model.js';

const F = 's.yaml';

/** Reads the files a scenario names from `files`; anything else is missing. */
function reader(files: Record<string, string>) {
  return (path: string): string => {
    if (Object.hasOwn(files, path)) return files[path];
    throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  };
}

/** The problems loading `text` reports (it must not load), one InputError each. */
function problems(text: string, files: Record<string, string> = {}, file = F): InputError[] {
  let error: unknown = null;
  try {
    loadScenario(text, file, reader(files));
  } catch (e) {
    error = e;
  }
  expect(error, 'the scenario must not load').not.toBeNull();
  expect(error).toBeInstanceOf(InputError);
  const list = error instanceof InputErrorList ? error.errors : [error as InputError];
  // The thrown error's message lists every problem, one per line (what the CLI prints).
  expect((error as Error).message).toBe(list.map((e) => e.message).join('\n'));
  return [...list];
}

function messages(text: string, files: Record<string, string> = {}, file = F): string[] {
  return problems(text, files, file).map((e) => e.message);
}

/** `line:col` (1-based) of the first occurrence of `needle` in `text`. */
function pos(text: string, needle: string): string {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`test bug: ${needle} is not in the text`);
  expect(text.indexOf(needle, i + 1), `test bug: ${needle} occurs twice`).toBe(-1);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

const MACHINE = `machine:
  ram: 64MiB
  iommus:
    - { name: iommu0 }
  devices:
    - { kind: gpu, name: gpu0, memory: 16MiB }
    - { kind: accel, name: dsa0, iommu: iommu0 }`;

/** A scenario with one process `app` whose program is `ops` (flow maps, one per line). */
function withProgram(ops: string[], machine = MACHINE): string {
  return `name: t
${machine}
processes:
  - name: app
    program:
${ops.map((o) => `      - ${o}\n`).join('')}`;
}

describe('loadScenario: syntax', () => {
  it('a YAML syntax error names the line and column where the parser stopped', () => {
    const text = `name: t
machine: { ram: 64MiB }
name: u
processes:
  - name: a
    program: []
`;
    const got = problems(text);
    expect(got).toHaveLength(1);
    expect(got[0].location).toMatchObject({ file: F, line: 3, column: 1 });
    expect(got[0].message).toMatch(
      /^s\.yaml:3:1: (?:[^:]+: )?expected valid YAML or JSON, got Map keys must be unique$/,
    );
  });

  it('an unclosed flow map is reported with its position', () => {
    const text = `name: t
processes:
  - name: a
    program:
      - { op: mmap, name: x, size: 4KiB
      - { op: exit }
`;
    const got = problems(text);
    expect(got.length).toBeGreaterThan(0);
    for (const e of got) {
      expect(e.message).toMatch(/^s\.yaml:\d+:\d+: (?:[^:]+: )?expected valid YAML or JSON, got \S/);
      expect(e.location.line, e.message).toBeGreaterThanOrEqual(5);
    }
  });

  it('loads the JSON form of a scenario, equal to the same scenario in YAML', () => {
    const yaml = withProgram([
      '{ op: mmap, name: buf, size: 1MiB }',
      '{ op: touch, region: buf, write: true, pattern: { kind: strided, stride: 4 } }',
      '{ op: gpu, device: gpu0, region: buf, wait: false }',
      '{ op: wait }',
    ]);
    const json = JSON.stringify(
      {
        name: 't',
        machine: {
          ram: '64MiB',
          iommus: [{ name: 'iommu0' }],
          devices: [
            { kind: 'gpu', name: 'gpu0', memory: '16MiB' },
            { kind: 'accel', name: 'dsa0', iommu: 'iommu0' },
          ],
        },
        processes: [
          {
            name: 'app',
            program: [
              { op: 'mmap', name: 'buf', size: '1MiB' },
              { op: 'touch', region: 'buf', write: true, pattern: { kind: 'strided', stride: 4 } },
              { op: 'gpu', device: 'gpu0', region: 'buf', wait: false },
              { op: 'wait' },
            ],
          },
        ],
      },
      null,
      2,
    );
    const fromJson = loadScenario(json, 's.json');
    const fromYaml = loadScenario(yaml, F);
    expect(fromJson.source).toBe('s.json');
    expect({ ...fromJson, source: '' }).toEqual({ ...fromYaml, source: '' });
    expect(fromJson.processes[0].program[0]).toMatchObject({ op: 'mmap', sizeBytes: 1 << 20 });
  });

  it('errors in a JSON scenario point into the JSON text', () => {
    const json = JSON.stringify(
      { name: 't', machine: { ram: 'lots' }, processes: [{ name: 'a', program: [] }] },
      null,
      2,
    );
    expect(messages(json, {}, 's.json')).toEqual([
      `s.json:${pos(json, '"lots"')}: machine.ram: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "lots"`,
    ]);
  });
});

describe('loadScenario: schema', () => {
  it('an unknown top-level key is reported at that key, naming it', () => {
    const text = `name: t
machien: { ram: 64MiB }
processes:
  - name: a
    program: []
`;
    const got = messages(text);
    expect(got).toHaveLength(1);
    // The key's line (column of the key or of its value), the key as the field, and what it is.
    expect(got[0]).toMatch(/^s\.yaml:2:(1|10): machien: expected .*"machien"/);
  });

  it('an unknown op lists the valid ones', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 4KiB }', '{ op: frobnicate, region: a }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'frobnicate')}: processes[0].program[1].op: expected op to be one of "mmap", "munmap", "mprotect", "madvise", "touch", "sleep", "exit", "gpu", "prefetch", "workload", "open", "close", "dma", "wait", "fork", got "frobnicate"`,
    ]);
  });

  it('a value of the wrong type', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 4KiB, shared: "yes" }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, '"yes"')}: processes[0].program[0].shared: expected a value of type boolean, got "yes"`,
    ]);
  });

  it('a size that is not a size', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 12 parsecs }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, '12 parsecs')}: processes[0].program[0].size: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "12 parsecs"`,
    ]);
  });

  it('a size that is not a whole number of bytes', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 1.5B }']);
    const got = messages(text);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(
      new RegExp(
        `^s\\.yaml:${pos(text, '1.5B')}: processes\\[0\\]\\.program\\[0\\]\\.size: expected .+, got "1\\.5B"$`,
      ),
    );
  });

  it('a duration that is not a duration', () => {
    const text = withProgram(['{ op: sleep, time: 10 fortnights }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, '10 fortnights')}: processes[0].program[0].time: expected a duration such as 500, "10us", "2ms" or "1s", got "10 fortnights"`,
    ]);
  });

  it('negative numbers', () => {
    const text = withProgram(['{ op: mmap, name: a, size: -4096 }', '{ op: sleep, time: -5 }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, '-4096')}: processes[0].program[0].size: expected a value >= 0, got -4096`,
      `s.yaml:${pos(text, '-5')}: processes[0].program[1].time: expected a value >= 0, got -5`,
    ]);
  });

  it('a count that must be positive says so (not ">= 0" for a 0)', () => {
    const text = `name: t
machine: { ram: 64MiB, limits: { maxEvents: 0 } }
processes:
  - name: a
    program: []
`;
    const got = messages(text);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(
      new RegExp(
        `^s\\.yaml:${pos(text, '0 }')}: machine\\.limits\\.maxEvents: expected a value (> 0|>= 1), got 0$`,
      ),
    );
  });

  it('an unknown cost profile lists the profiles', () => {
    const text = `name: t
machine:
  costs: { profile: pcie9 }
processes:
  - name: a
    program: []
`;
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'pcie9')}: machine.costs.profile: expected one of "pcie3", "pcie4", "pcie5", "nvlink-c2c", got "pcie9"`,
    ]);
  });

  it('an unknown cost parameter lists the parameters', () => {
    const text = `name: t
machine:
  costs: { profile: pcie4, cpuFaultNS: 5 }
processes:
  - name: a
    program: []
`;
    const got = messages(text);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(
      new RegExp(
        `^s\\.yaml:${pos(text, '5 }')}: machine\\.costs\\.cpuFaultNS: expected [^;]*one of cpuFaultNs, pageZeroNs, `,
      ),
    );
    expect(got[0]).toMatch(/gpuRemoteAccessNs\)?, got /);
    // "expected unknown cost parameter" reads as if an unknown one was wanted.
    expect(got[0]).not.toMatch(/expected unknown/);
  });

  it('a missing required field, and a device of an unknown kind', () => {
    const text = withProgram(
      ['{ op: mmap, size: 4KiB }'],
      `machine:
  devices:
    - { kind: fpga, name: f0 }`,
    );
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'fpga')}: machine.devices[0].kind: expected kind to be one of "gpu", "accel", got "fpga"`,
      `s.yaml:${pos(text, '{ op: mmap')}: processes[0].program[0].name: expected a value of type string, got nothing`,
    ]);
  });

  it('a scenario without processes, or with none', () => {
    const missing = `name: t\nmachine: { ram: 64MiB }\n`;
    expect(messages(missing)).toEqual([`s.yaml:1:1: processes: expected a value of type array, got nothing`]);
    const empty = `name: t\nmachine: { ram: 64MiB }\nprocesses: []\n`;
    expect(messages(empty)).toEqual([
      `s.yaml:${pos(empty, '[]')}: processes: expected at least 1 item(s), got []`,
    ]);
  });

  it('positions in block style point at the value', () => {
    const text = `name: t
machine:
  ram: 64MiB
processes:
  - name: app
    program:
      - op: mmap
        name: a
        size: 12 parsecs
      - op: touch
        region: a
        write: maybe
`;
    expect(messages(text)).toEqual([
      's.yaml:9:15: processes[0].program[0].size: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "12 parsecs"',
      's.yaml:12:16: processes[0].program[1].write: expected a value of type boolean, got "maybe"',
    ]);
  });

  it('a pattern object with a bad or missing field names that field', () => {
    // The pattern is a union (a name or an object); once `kind` picks the object's branch, the
    // message should be that branch's, about the field, not "one of ... or a value of type number".
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: touch, region: a, pattern: { kind: strided, stride: lots } }',
      '{ op: touch, region: a, pattern: { kind: stencil } }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'lots')}: processes[0].program[1].pattern.stride: expected a value of type number, got "lots"`,
      `s.yaml:${pos(text, '{ kind: stencil }')}: processes[0].program[2].pattern.rowPages: expected a value of type number, got nothing`,
    ]);
  });

  it('a scenario without a machine section gets the default machine', () => {
    const s = loadScenario(
      `name: t
processes:
  - name: a
    program: [ { op: mmap, name: x, size: 4KiB }, { op: touch, region: x } ]
`,
      F,
    );
    expect(s.machine).toMatchObject({
      ramBytes: 4 * 1024 ** 3,
      contentMode: 'tokens',
      thp: 'madvise',
      costProfile: 'pcie4',
      sampleEveryNs: 10_000,
      devices: [],
      iommus: [],
    });
  });
});

describe('loadScenario: references', () => {
  it('an unknown device name lists the known ones', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 4KiB }', '{ op: gpu, device: gpu7, region: a }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'gpu7')}: processes[0].program[1].device: expected the name of a gpu device (gpu0), got "gpu7"`,
    ]);
  });

  it('a gpu op on an accelerator', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: prefetch, device: dsa0, region: a }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'dsa0, region')}: processes[0].program[1].device: expected the name of a gpu device (gpu0), got "dsa0"`,
    ]);
  });

  it('an accelerator op on a GPU', () => {
    const text = withProgram(['{ op: open, device: gpu0 }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'gpu0 }\n')}: processes[0].program[0].device: expected the name of a accel device (dsa0), got "gpu0"`,
    ]);
  });

  it('a region used before its mmap', () => {
    const text = withProgram(['{ op: touch, region: a }', '{ op: mmap, name: a, size: 4KiB }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'a }\n')}: processes[0].program[0].region: expected a region mapped earlier in this program (none yet), got "a"`,
    ]);
  });

  it('a forked child sees the regions of its parent, and only those mapped before the fork', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: fork, program: [ { op: touch, region: a }, { op: touch, region: late } ] }',
      '{ op: mmap, name: late, size: 4KiB }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'late } ]')}: processes[0].program[1].program[1].region: expected a region mapped earlier in this program (a), got "late"`,
    ]);
  });

  it('a descriptor closed before it is opened', () => {
    const text = withProgram(['{ op: close, fd: dsa0 }', '{ op: open, device: dsa0 }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'dsa0 }\n      - { op: open')}: processes[0].program[0].fd: expected a descriptor opened earlier (none yet), got "dsa0"`,
    ]);
  });

  it('a dma without an open', () => {
    const text = withProgram(['{ op: mmap, name: a, size: 4KiB }', '{ op: dma, device: dsa0, region: a }']);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'dsa0, region')}: processes[0].program[1].device: expected a descriptor of dsa0 opened earlier (add an open op), got "dsa0"`,
    ]);
  });

  it('a dma on a descriptor closed before it', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: open, device: dsa0, as: q }',
      '{ op: close, fd: q }',
      '{ op: dma, device: dsa0, fd: q, region: a }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'q, region')}: processes[0].program[3].fd: expected a descriptor of dsa0 opened earlier (add an open op), got "q"`,
    ]);
  });

  it('an accelerator naming an unknown IOMMU', () => {
    const text = withProgram(
      ['{ op: exit }'],
      `machine:
  iommus:
    - { name: iommu0 }
  devices:
    - { kind: accel, name: dsa0, iommu: smmu3 }`,
    );
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'smmu3')}: machine.devices[0].iommu: expected the name of an IOMMU in machine.iommus (iommu0), got "smmu3"`,
    ]);
  });

  it('duplicate process and device names', () => {
    const text = `name: t
machine:
  devices:
    - { kind: gpu, name: g, memory: 4MiB }
    - { kind: gpu, name: g, memory: 8MiB }
processes:
  - name: a
    program: []
  - name: a
    program: []
`;
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'g, memory: 8MiB')}: machine.devices[1].name: expected a device name used once, got "g"`,
      `s.yaml:9:11: processes[1].name: expected a process name used once, got "a"`,
    ]);
  });

  it('an expectation without bounds', () => {
    const text = `name: t
machine: { ram: 64MiB }
processes:
  - name: a
    program: []
expect:
  - { noLeaks: true }
  - { metric: cpuFaults }
`;
    expect(messages(text)).toEqual([
      `s.yaml:8:5: expect[1]: expected at least one of min, max, equals, got {"metric":"cpuFaults"}`,
    ]);
  });

  it('a page-trace file that is missing', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: touch, region: a, pattern: { kind: trace, file: nope.trace } }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'nope.trace')}: processes[0].program[1].pattern.file: expected a readable page-trace file, got "nope.trace" (ENOENT: no such file or directory, open 'nope.trace')`,
    ]);
  });

  it('a page-trace file with a bad line names the line of the trace file', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB }',
      '{ op: gpu, device: gpu0, region: a, pattern: { kind: trace, file: bad.trace } }',
    ]);
    const got = problems(text, { 'bad.trace': '# pages\n1\nW 0x10\nR 2 # ok\nbogus line\n' });
    expect(got.map((e) => e.message)).toEqual([
      'bad.trace:5:1: expected a page offset (decimal or 0x-hex), optionally after R or W, got "bogus line"',
    ]);
    expect(got[0].location).toMatchObject({ file: 'bad.trace', line: 5, column: 1 });
  });

  it('a trace file read once is shared by every op that names it', () => {
    let reads = 0;
    const s = loadScenario(
      withProgram([
        '{ op: mmap, name: a, size: 64KiB }',
        '{ op: touch, region: a, pattern: { kind: trace, file: t.trace } }',
        '{ op: gpu, device: gpu0, region: a, pattern: { kind: trace, file: t.trace } }',
      ]),
      F,
      () => {
        reads++;
        return '3\n0x1\nW 15\n';
      },
    );
    expect(reads).toBe(1);
    expect([...s.traces.get('t.trace')!]).toEqual([3, 1, 15]);
  });
});

describe('loadScenario: several problems at once', () => {
  it('reports every schema problem, each with its own line', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 12 parsecs }',
      '{ op: touch, region: a, write: maybe }',
      '{ op: sleep, time: soon }',
    ]);
    const got = problems(text);
    expect(got.map((e) => e.message)).toEqual([
      `s.yaml:${pos(text, '12 parsecs')}: processes[0].program[0].size: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "12 parsecs"`,
      `s.yaml:${pos(text, 'maybe')}: processes[0].program[1].write: expected a value of type boolean, got "maybe"`,
      `s.yaml:${pos(text, 'soon')}: processes[0].program[2].time: expected a duration such as 500, "10us", "2ms" or "1s", got "soon"`,
    ]);
    expect(got.map((e) => e.location.line)).toEqual([12, 13, 14]);
  });

  it('reports every broken reference, each with its own line and column', () => {
    const text = withProgram([
      '{ op: touch, region: b }',
      '{ op: gpu, device: gpu9, region: c }',
      '{ op: close, fd: x }',
    ]);
    expect(messages(text)).toEqual([
      `s.yaml:${pos(text, 'b }')}: processes[0].program[0].region: expected a region mapped earlier in this program (none yet), got "b"`,
      `s.yaml:${pos(text, 'gpu9')}: processes[0].program[1].device: expected the name of a gpu device (gpu0), got "gpu9"`,
      `s.yaml:${pos(text, 'c }')}: processes[0].program[1].region: expected a region mapped earlier in this program (none yet), got "c"`,
      `s.yaml:${pos(text, 'x }')}: processes[0].program[2].fd: expected a descriptor opened earlier (none yet), got "x"`,
    ]);
  });

  it('every problem names the file, a line, a column and a field', () => {
    const text = withProgram([
      '{ op: mmap, name: a, size: 4KiB, hugepage: 1 }',
      '{ op: madvise, region: a, advice: sometimes }',
      '{ op: prefetch, device: gpu0, region: a, to: moon }',
    ]);
    const got = problems(text);
    expect(got).toHaveLength(3);
    for (const e of got) {
      expect(e.location.file).toBe(F);
      expect(e.location.line, e.message).toBeGreaterThan(0);
      expect(e.location.column, e.message).toBeGreaterThan(0);
      expect(e.location.field, e.message).toMatch(/^processes\[0\]\.program\[\d\]\.\w+$/);
      expect(e.message).toMatch(/^s\.yaml:\d+:\d+: processes\[0\]\.program\[\d\]\.\w+: expected .+, got .+$/);
    }
  });
});

describe('loadScenario: normalization', () => {
  it('turns sizes into bytes, durations into ns, pattern names into objects, and fills defaults', () => {
    const s: Scenario = loadScenario(
      `name: norm
seed: 9
machine:
  ram: 1GiB
  sampleEvery: 5us
  limits: { maxSimTime: 2ms }
  iommus: [ { name: i0 } ]
  devices:
    - { kind: gpu, name: g, memory: 2MiB }
    - { kind: accel, name: a, iommu: i0 }
processes:
  - name: p
    start: 1.5us
    program:
      - { op: mmap, name: r, size: 8KiB }
      - { op: touch, region: r, pattern: strided }
      - { op: touch, region: r, pattern: random }
      - { op: gpu, device: g, region: r, pattern: stencil }
      - { op: munmap, region: r, offset: 4KiB }
      - { op: open, device: a }
      - { op: dma, device: a, region: r, size: 4KiB }
      - { op: fork, program: [ { op: close, fd: a } ] }
      - { op: sleep, time: 1ms }
`,
      'norm.yaml',
    );
    expect(s.name).toBe('norm');
    expect(s.seed).toBe(9);
    expect(s.source).toBe('norm.yaml');
    expect(s.machine).toMatchObject({
      ramBytes: 1024 ** 3,
      sampleEveryNs: 5000,
      limits: { maxSimNs: 2_000_000 },
    });
    expect(s.machine.devices[0]).toMatchObject({
      kind: 'gpu',
      name: 'g',
      memoryBytes: 2 * 1024 ** 2,
      mode: 'migrate',
    });
    expect(s.machine.devices[1]).toMatchObject({ kind: 'accel', name: 'a', iommu: 'i0', bus: 'pci' });
    expect(s.processes[0].startNs).toBe(1500);
    expect(s.processes[0].program).toEqual([
      { op: 'mmap', name: 'r', sizeBytes: 8192, prot: 'rw', shared: false, hugepage: false, populate: false },
      {
        op: 'touch',
        region: 'r',
        write: false,
        pattern: { kind: 'strided', stride: 16, passes: 1 },
        offsetBytes: 0,
        sizeBytes: null,
      },
      {
        op: 'touch',
        region: 'r',
        write: false,
        pattern: { kind: 'random', count: 1024 },
        offsetBytes: 0,
        sizeBytes: null,
      },
      {
        op: 'gpu',
        device: 'g',
        region: 'r',
        write: false,
        pattern: { kind: 'stencil', rowPages: 16, iterations: 1 },
        wait: true,
        mode: undefined,
        atomic: false,
        offsetBytes: 0,
        sizeBytes: null,
      },
      expect.objectContaining({ op: 'munmap', region: 'r', offsetBytes: 4096, sizeBytes: null }),
      { op: 'open', device: 'a', as: 'a' },
      {
        op: 'dma',
        device: 'a',
        fd: 'a',
        region: 'r',
        write: false,
        wait: true,
        offsetBytes: 0,
        sizeBytes: 4096,
      },
      { op: 'fork', name: 'p.child7', program: [{ op: 'close', fd: 'a' }] },
      { op: 'sleep', timeNs: 1_000_000 },
    ]);
    expect(s.expect).toEqual([]);
  });
});

describe('units', () => {
  it('parseSize: numbers, binary and decimal prefixes, spaces, fractions that come out whole', () => {
    expect(parseSize(0)).toBe(0);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('4096B')).toBe(4096);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize(' 2 MiB ')).toBe(2 * 1024 ** 2);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('1TiB')).toBe(1024 ** 4);
    expect(parseSize('2MB')).toBe(2_000_000);
    expect(parseSize('1.5KiB')).toBe(1536);
    expect(parseSize('0.5GB')).toBe(500_000_000);
  });

  it('parseSize: NaN for what is not a whole, non-negative number of bytes', () => {
    for (const bad of ['', 'KiB', '12 parsecs', '1kib', '-1', '1.5B', '0.1KiB', '1e3', '1,024', '0x1000']) {
      expect(parseSize(bad), JSON.stringify(bad)).toBeNaN();
    }
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(parseSize(bad), String(bad)).toBeNaN();
  });

  it('parseDuration: numbers are ns, units ns/us/µs/ms/s, rounded to a whole ns', () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(500)).toBe(500);
    expect(parseDuration(1.6)).toBe(2);
    expect(parseDuration('500')).toBe(500);
    expect(parseDuration('500ns')).toBe(500);
    expect(parseDuration('10us')).toBe(10_000);
    expect(parseDuration('10µs')).toBe(10_000);
    expect(parseDuration(' 10 us ')).toBe(10_000);
    expect(parseDuration('1.5ms')).toBe(1_500_000);
    expect(parseDuration('2s')).toBe(2_000_000_000);
    expect(parseDuration('1.4ns')).toBe(1);
    expect(parseDuration('0.0005us')).toBe(1);
  });

  it('parseDuration: NaN for what is not a duration', () => {
    for (const bad of ['', 'soon', '10 fortnights', '-5', '5 min', '1h', 'ms', '10 US']) {
      expect(parseDuration(bad), JSON.stringify(bad)).toBeNaN();
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(parseDuration(bad), String(bad)).toBeNaN();
  });

  it('formatBytes and formatDuration: the unit that keeps the number small', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(64 * 1024 ** 2)).toBe('64 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3 GiB');
    expect(formatBytes(2048 * 1024 ** 4)).toBe('2048 TiB');
    expect(formatDuration(0)).toBe('0 ns');
    expect(formatDuration(999)).toBe('999 ns');
    expect(formatDuration(1000)).toBe('1.0 us');
    expect(formatDuration(12_500)).toBe('12.5 us');
    expect(formatDuration(3_200_000)).toBe('3.20 ms');
    expect(formatDuration(1_250_000_000)).toBe('1.250 s');
  });

  it('formatBytes and formatDuration: a value that rounds up moves to the next unit', () => {
    // 1048575 bytes is 1023.999 KiB: printed with one decimal that is "1024.0 KiB", not a size for people.
    expect(formatBytes(1024 ** 2 - 1)).toBe('1.0 MiB');
    expect(formatDuration(999_999)).toBe('1.00 ms');
    expect(formatDuration(999_999_999)).toBe('1.000 s');
  });
});

function drain(stream: AccessStream, max = 100_000): number[] {
  const out: number[] = [];
  for (let p = stream.next(); p >= 0; p = stream.next()) {
    out.push(p);
    if (out.length > max) throw new Error('the stream does not end');
  }
  // An exhausted stream stays exhausted.
  expect(stream.next()).toBe(-1);
  return out;
}

function pages(
  spec: PatternSpec,
  npages: number,
  rng = new Rng(1),
  traces?: Map<string, Int32Array>,
): number[] {
  return drain(makeStream(spec, npages, rng, traces));
}

describe('access patterns', () => {
  it('sequential: every page in order, once per pass', () => {
    expect(pages({ kind: 'sequential', passes: 1 }, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(pages({ kind: 'sequential', passes: 2 }, 4)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(pages({ kind: 'sequential', passes: 3 }, 1)).toEqual([0, 0, 0]);
  });

  it('strided: all lanes cover every page; fewer lanes cover their residues only', () => {
    expect(pages({ kind: 'strided', stride: 4, passes: 1 }, 10)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 3, 7]);
    expect(pages({ kind: 'strided', stride: 4, lanes: 1, passes: 1 }, 10)).toEqual([0, 4, 8]);
    expect(pages({ kind: 'strided', stride: 4, lanes: 2, passes: 2 }, 10)).toEqual([
      0, 4, 8, 1, 5, 9, 0, 4, 8, 1, 5, 9,
    ]);
    // More lanes than the stride or the region: each page still once per pass.
    expect(pages({ kind: 'strided', stride: 3, lanes: 8, passes: 1 }, 4)).toEqual([0, 3, 1, 2]);
    expect(pages({ kind: 'strided', stride: 16, passes: 1 }, 3)).toEqual([0, 1, 2]);
  });

  it('stencil: for each row, the rows above, itself and below', () => {
    expect(pages({ kind: 'stencil', rowPages: 3, iterations: 1 }, 9)).toEqual([
      ...[0, 1, 2, 3, 4, 5], // row 0: rows 0 and 1
      ...[0, 1, 2, 3, 4, 5, 6, 7, 8], // row 1: rows 0, 1, 2
      ...[3, 4, 5, 6, 7, 8], // row 2: rows 1 and 2
    ]);
    expect(pages({ kind: 'stencil', rowPages: 2, iterations: 2 }, 4)).toEqual([
      ...[0, 1, 2, 3, 0, 1, 2, 3],
      ...[0, 1, 2, 3, 0, 1, 2, 3],
    ]);
    // A partial last row is not part of the grid.
    expect(Math.max(...pages({ kind: 'stencil', rowPages: 3, iterations: 1 }, 10))).toBe(8);
  });

  it('random: count pages, all in range, the same for the same seed, others for another', () => {
    const a = pages({ kind: 'random', count: 300 }, 7, new Rng(5));
    expect(a).toHaveLength(300);
    for (const p of a) expect(p >= 0 && p < 7 && Number.isInteger(p), String(p)).toBe(true);
    expect(new Set(a).size).toBe(7);
    expect(pages({ kind: 'random', count: 300 }, 7, new Rng(5))).toEqual(a);
    expect(pages({ kind: 'random', count: 300 }, 7, new Rng(6))).not.toEqual(a);
    const s1 = pages({ kind: 'random', count: 50, seed: 1 }, 1000, new Rng(5));
    expect(pages({ kind: 'random', count: 50, seed: 1 }, 1000, new Rng(5))).toEqual(s1);
    expect(pages({ kind: 'random', count: 50, seed: 2 }, 1000, new Rng(5))).not.toEqual(s1);
    expect(pages({ kind: 'random', count: 0 }, 10)).toEqual([]);
  });

  it('trace: the recorded offsets in order, skipping those outside the region', () => {
    const traces = new Map([['t', Int32Array.from([0, 5, 2, 100, 3, 4, 3])]]);
    expect(pages({ kind: 'trace', file: 't' }, 4, new Rng(1), traces)).toEqual([0, 2, 3, 3]);
    expect(pages({ kind: 'trace', file: 't' }, 1000, new Rng(1), traces)).toEqual([0, 5, 2, 100, 3, 4, 3]);
    expect(() => makeStream({ kind: 'trace', file: 'other' }, 4, new Rng(1), traces)).toThrow(/other/);
  });

  it('parsePageTrace: decimal or hex, optional R/W, comments and blank lines', () => {
    const t = parsePageTrace('# header\n1\nW 0x10\nr 3 # tail\n\n   7   \nw 0xfF\n', 't.trace');
    expect([...t]).toEqual([1, 16, 3, 7, 255]);
    expect([...parsePageTrace('', 'e.trace')]).toEqual([]);
  });

  it('parsePageTrace: a bad line names the file and its line', () => {
    expect(() => parsePageTrace('1\n2\n\nX 4\n', 't.trace')).toThrow(
      new InputError(
        { file: 't.trace', line: 4, column: 1 },
        'a page offset (decimal or 0x-hex), optionally after R or W',
        '"X 4"',
      ),
    );
    let error: unknown;
    try {
      parsePageTrace('# big\n2147483648\n', 'big.trace');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe('big.trace:2:1: expected a page offset below 2^31, got 2147483648');
    expect(() => parsePageTrace('-1\n', 'neg.trace')).toThrow(/^neg\.trace:1:1: expected a page offset/);
  });
});
