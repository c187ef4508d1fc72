// The GPU parts of scenario files: policies chosen by name (an unknown name or a parameter out of
// range is an error at its line and column that lists the valid choices), the `workload` op (a
// built-in program with checked parameters, or a GPU trace file), and that a workload op runs its
// program: arrays mapped 2 MiB aligned, kernels in order, host steps when asked for.

import { describe, expect, it } from 'vitest';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { loadScenario } from './load.js';
import { runScenario } from './runner.js';

function problems(text: string, files: Record<string, string> = {}): string[] {
  try {
    loadScenario(text, 'g.yaml', (p) => {
      if (Object.hasOwn(files, p)) return files[p];
      throw new Error(`ENOENT: ${p}`);
    });
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e instanceof InputErrorList ? e.errors.map((x) => x.message) : [(e as Error).message];
  }
  throw new Error('the scenario loaded');
}

/** `line:col` of the only occurrence of `needle`. */
function pos(text: string, needle: string): string {
  const i = text.indexOf(needle);
  expect(text.indexOf(needle, i + 1)).toBe(-1);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

function scenario(gpu: string, ops: string[]): string {
  return `name: g
machine:
  ram: 256MiB
  devices:
    - ${gpu}
processes:
  - name: app
    program:
${(ops.length > 0 ? ops : ['{ op: sleep, time: 1us }']).map((o) => `      - ${o}\n`).join('')}`;
}

const GPU = '{ kind: gpu, name: gpu0, memory: 64MiB }';

describe('GPU policies in a scenario', () => {
  it('an unknown policy name is an error at the name, listing the valid choices', () => {
    const text = scenario('{ kind: gpu, name: gpu0, memory: 64MiB, policies: { prefetch: tre } }', []);
    expect(problems(text)).toEqual([
      `g.yaml:${pos(text, 'tre }')}: machine.devices[0].policies.prefetch: expected a prefetch policy: one of none, random, sequential-local, tree, got "tre"`,
    ]);
  });

  it('a parameter out of range is an error at the parameter, naming the policy', () => {
    const text = scenario(
      '{ kind: gpu, name: gpu0, memory: 64MiB, policies: { thrashing: { name: pin, threshold: 9 } } }',
      [],
    );
    const [message] = problems(text);
    expect(message).toContain(`g.yaml:${pos(text, '9 }')}: machine.devices[0].policies.thrashing.threshold:`);
    expect(message).toContain('thrashing policy pin');
  });

  it('an unknown eviction name in prefetchAfterEviction is checked as a prefetch policy', () => {
    const text = scenario('{ kind: gpu, name: gpu0, memory: 64MiB, prefetchAfterEviction: lru-4k }', []);
    expect(problems(text)[0]).toContain(
      'machine.devices[0].prefetchAfterEviction: expected a prefetch policy',
    );
  });

  it('accepts every built-in policy by name and uvm', () => {
    for (const p of [
      'uvm',
      '{ prefetch: tree, eviction: lru-2m, thrashing: remote, accessCounters: migrate }',
    ])
      expect(() =>
        loadScenario(scenario(`{ kind: gpu, name: gpu0, memory: 64MiB, policies: ${p} }`, []), 'g.yaml'),
      ).not.toThrow();
  });
});

describe('the workload op', () => {
  it('an unknown workload lists the built-in ones', () => {
    const text = scenario(GPU, ['{ op: workload, device: gpu0, name: lud }']);
    const [message] = problems(text);
    expect(message).toContain(
      `g.yaml:${pos(text, 'lud')}: processes[0].program[0].name: expected a GPU workload (one of`,
    );
    expect(message).toContain('hotspot');
  });

  it('a bad parameter is an error at the parameter', () => {
    const text = scenario(GPU, ['{ op: workload, device: gpu0, name: hotspot, params: { iterations: -1 } }']);
    expect(problems(text)[0]).toContain(
      `g.yaml:${pos(text, '-1')}: processes[0].program[0].params.iterations`,
    );
  });

  it('needs exactly one of name and trace', () => {
    const text = scenario(GPU, ['{ op: workload, device: gpu0 }']);
    expect(problems(text)[0]).toContain(
      'expected exactly one of name (a built-in workload) or trace (a file)',
    );
  });

  it('reports a trace file error with its own file and line', () => {
    const text = scenario(GPU, ['{ op: workload, device: gpu0, trace: k.trace }']);
    const [message] = problems(text, { 'k.trace': 'array a 8192\nkernel k\nR b 0\n' });
    expect(message).toMatch(/^k\.trace:3:/);
  });

  it('runs a program: every kernel, host init, and the host steps only when asked', () => {
    const run = (hostSteps: boolean) =>
      runScenario(
        loadScenario(
          scenario(GPU, [
            `{ op: workload, device: gpu0, name: hotspot, hostInit: all, hostSteps: ${hostSteps} }`,
          ]),
          'g.yaml',
        ),
      ).summary;
    const without = run(false);
    const withHost = run(true);
    // hotspot: 4 kernels over three 4 MiB arrays = 3072 pages, each faulted once on the way in.
    expect(without.counters['gpu.gpu0.kernels']).toBe(4);
    expect(without.counters['gpu.gpu0.far_faults']).toBe(3072);
    expect(without.counters['gpu.gpu0.pages_to_host']).toBe(0);
    expect(without.failures).toEqual([]);
    expect(without.leaks).toEqual([]);
    // The host reads the result back: pages return to RAM.
    expect(withHost.counters['gpu.gpu0.pages_to_host']).toBeGreaterThan(0);
  });
});

describe('accounted latency with more faults in flight than GPU memory', () => {
  // 224 lanes each stall on a page of a 512 KiB stream while the GPU holds 256 KiB: pages in
  // flight cannot be evicted and each lane retries when its own pass's copies land, so the run
  // ends (pages that find no room are mapped remotely) instead of evicting each other forever.
  it.each(['{}', '{ prefetch: tree }', 'uvm'])('ends, with policies %s', (policies) => {
    const text = `name: tight
machine:
  ram: 64MiB
  limits: { maxEvents: 1000000 }
  devices:
    - { kind: gpu, name: g, memory: 256KiB, faultLatency: accounted, policies: ${policies} }
processes:
  - name: app
    program:
      - { op: mmap, name: d, size: 512KiB }
      - { op: touch, region: d, write: true }
      - { op: gpu, device: g, region: d }
`;
    const { summary } = runScenario(loadScenario(text, 'tight.yaml'));
    expect(summary.failures).toEqual([]);
    expect(summary.leaks).toEqual([]);
    expect(summary.counters['gpu.g.accesses']).toBe(128);
    expect(summary.counters['gpu.g.evicted_pages']).toBeGreaterThan(0);
  });
});
