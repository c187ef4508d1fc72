// End-to-end: the scenario commands as a user runs them, in a child process (`hetmem run FILE`
// with its output options, `validate`, `schema`, `examples`). Outputs go to a temporary folder.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ChromeTrace } from '../report/chromeTrace.js';
import { validateChromeTraceJson } from '../report/traceValidate.js';

const ROOT = join(import.meta.dirname, '../..');
const EXAMPLES = join(ROOT, 'examples');
const EXAMPLE_FILES = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const TMP = mkdtempSync(join(tmpdir(), 'hetmem-scenario-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function hetmem(...args: string[]): Promise<Output> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function file(name: string, text: string): string {
  const path = join(TMP, name);
  writeFileSync(path, text);
  return path;
}

const FAILING = file(
  'failing.yaml',
  `name: failing
description: Sixteen pages written; one expectation right, one wrong.
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 64KiB }
      - { op: touch, region: a, write: true }
expect:
  - { metric: cpuFaults, equals: 16 }
  - { metric: cpuFaults, max: 3 }
`,
);

const BROKEN_TEXT = `name: broken
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 12 parsecs }
      - { op: sleep, time: soon }
      - { op: touch, region: a, write: perhaps }
`;
const BROKEN = file('broken.yaml', BROKEN_TEXT);
const BROKEN_PROBLEMS = [
  `${BROKEN}:6:36: processes[0].program[0].size: expected a size such as 4096, "64KiB", "2MiB" or "1GiB", got "12 parsecs"`,
  `${BROKEN}:7:28: processes[0].program[1].time: expected a duration such as 500, "10us", "2ms" or "1s", got "soon"`,
  `${BROKEN}:8:40: processes[0].program[2].write: expected a value of type boolean, got "perhaps"`,
];

const BROKEN_REFS = file(
  'broken-refs.yaml',
  `name: broken-refs
machine:
  ram: 64MiB
  devices: [ { kind: gpu, name: gpu0, memory: 16MiB } ]
processes:
  - name: app
    program:
      - { op: touch, region: nowhere }
      - { op: gpu, device: gpu1, region: nowhere }
`,
);

describe.concurrent('hetmem run FILE', () => {
  it('exits 0 and prints the description and the summary', async ({ expect }) => {
    const r = await hetmem('run', join(EXAMPLES, 'sva-iopf.yaml'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^An accelerator works on process memory by PASID, faulting pages in through PRI\n\n/,
    );
    expect(r.stdout).toMatch(/^\s+scenario\s+sva-iopf$/m);
    expect(r.stdout).toMatch(/^\s+seed\s+1$/m);
    expect(r.stdout).toMatch(/^\s+device\s+2048$/m);
    expect(r.stdout).toContain('expectations (6 passed, 0 failed)');
    expect(r.stdout).toContain('PASS  iommu.page_requests == 2048 (actual: 2048)');
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.includes('\u001b[')).toBe(false);
  });

  it('exits 1 when an expectation fails, and marks it FAIL', async ({ expect }) => {
    const r = await hetmem('run', FAILING);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('expectations (1 passed, 1 failed)');
    expect(r.stdout).toContain('PASS  cpuFaults == 16 (actual: 16)');
    expect(r.stdout).toContain('FAIL  cpuFaults <= 3 (actual: 16)');
  });

  it('exits 2 on a malformed file, with every problem on stderr as hetmem: file:line:col: field: ...', async ({
    expect,
  }) => {
    const r = await hetmem('run', BROKEN);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(BROKEN_PROBLEMS.map((p) => `hetmem: ${p}\n`).join(''));
  });

  it('exits 2 on broken references, listing each', async ({ expect }) => {
    const r = await hetmem('run', BROKEN_REFS);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `hetmem: ${BROKEN_REFS}:8:30: processes[0].program[0].region: expected a region mapped earlier in this program (none yet), got "nowhere"`,
      `hetmem: ${BROKEN_REFS}:9:28: processes[0].program[1].device: expected the name of a gpu device (gpu0), got "gpu1"`,
      `hetmem: ${BROKEN_REFS}:9:42: processes[0].program[1].region: expected a region mapped earlier in this program (none yet), got "nowhere"`,
    ]);
  });

  it('--quiet prints one line', async ({ expect }) => {
    const r = await hetmem('run', join(EXAMPLES, 'sva-iopf.yaml'), '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sva-iopf: \d+(\.\d+)? (ns|us|ms|s) simulated, 6\/6 expectations met\n$/);
    const failing = await hetmem('run', FAILING, '--quiet');
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/^failing: .+ simulated, 1\/2 expectations met\n$/);
  });

  it('reads the page traces a scenario names relative to the scenario, not the working folder', async ({
    expect,
  }) => {
    const dir = mkdtempSync(join(TMP, 'trace-'));
    writeFileSync(join(dir, 'scan.trace'), '# pages\n0\n3\nW 0x3\n7\n99\n3\n');
    const scenario = join(dir, 'scan.yaml');
    writeFileSync(
      scenario,
      `name: scan
machine: { ram: 64MiB }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 32KiB }
      - { op: touch, region: a, pattern: { kind: trace, file: scan.trace } }
expect:
  - { metric: cpuFaults, equals: 3 }
`,
    );
    const r = await hetmem('run', scenario, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Pages 0, 3 and 7 (99 is outside the 8-page region).
    expect(JSON.parse(r.stdout).table.cpuFaults).toBe(3);
  });
});

describe('hetmem run --json --trace --report', () => {
  let run: Output;
  const tracePath = join(TMP, 'story.trace.json');
  const reportPath = join(TMP, 'story.html');

  beforeAll(async () => {
    run = await hetmem('run', '--json', '--trace', tracePath, '--report', reportPath);
  });

  it('--json prints the summary as JSON with its fields', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const s = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(s)).toEqual([
      'scenario',
      'seed',
      'table',
      'counters',
      'actors',
      'expectations',
      'leaks',
      'failures',
    ]);
    expect(s.scenario).toBe('default-story');
    expect(s.seed).toBe(1);
    expect(s.table).toMatchObject({ pagesToDevice: 10240, binds: 1, unbinds: 1 });
    expect(Object.keys(s.table as object)).toEqual([
      'simNs',
      'events',
      'cpuFaults',
      'deviceFaults',
      'pagesToDevice',
      'pagesToHost',
      'bytesPerLink',
      'invalidations',
      'pasidAllocs',
      'pasidFrees',
      'binds',
      'unbinds',
      'iopfGroups',
      'notifierSeqRetries',
    ]);
    expect((s.expectations as { ok: boolean }[]).every((e) => e.ok)).toBe(true);
    expect(s.leaks).toEqual([]);
  });

  it('--json is the checked-in golden summary of the built-in story with seed 1', () => {
    const golden = readFileSync(join(ROOT, 'test/scenarios/golden/default-story.seed1.json'), 'utf8');
    expect(run.stdout).toBe(golden);
  });

  it('--trace writes a file that validates against the Trace Event format', () => {
    const text = readFileSync(tracePath, 'utf8');
    expect(validateChromeTraceJson(text)).toEqual([]);
    const trace = JSON.parse(text) as ChromeTrace;
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.otherData).toEqual({ source: 'hetmem', scenario: 'default-story', seed: 1 });
    // Timestamps are microseconds within the run.
    const simNs = (JSON.parse(run.stdout) as { table: { simNs: number } }).table.simNs;
    for (const e of trace.traceEvents) if (e.ts !== undefined) expect(e.ts).toBeLessThanOrEqual(simNs / 1000);
  });

  it('--trace has one thread per actor, named by thread_name metadata', () => {
    const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as ChromeTrace;
    const names = new Map<number, string>();
    for (const e of trace.traceEvents.filter((x) => x.ph === 'M' && x.name === 'thread_name')) {
      expect(names.has(e.tid), `tid ${e.tid} named twice`).toBe(false);
      names.set(e.tid, e.args!.name as string);
    }
    const threads = [...names.values()];
    expect(new Set(threads).size).toBe(threads.length);
    // The process, the GPU kernels, the GPU driver, the accelerator and the IOMMU's fault handling.
    for (const t of [
      'app',
      'gpu0/kernel1',
      'gpu0/kernel2',
      'gpu0/kernel3',
      'gpu0/driver',
      'dsa0',
      'dsa0/dma',
      'iommu0/iopf',
    ]) {
      expect(threads, t).toContain(t);
    }
    // Every actor of the summary has its thread; every event is on a named thread.
    for (const a of (JSON.parse(run.stdout) as { actors: { name: string }[] }).actors)
      expect(threads, a.name).toContain(a.name);
    for (const e of trace.traceEvents.filter((x) => x.ph !== 'M'))
      expect(names.has(e.tid), `${e.name} on tid ${e.tid}`).toBe(true);
    const app = [...names].find(([, n]) => n === 'app')![0];
    const appOps = trace.traceEvents.filter((e) => e.tid === app && e.ph === 'i').map((e) => e.name);
    expect(appOps).toEqual([
      'mmap',
      'touch',
      'gpu',
      'prefetch',
      'gpu',
      'mmap',
      'gpu',
      'touch',
      'mmap',
      'open',
      'dma',
      'dma',
      'exit',
    ]);
  });

  it('--trace shows migrations, binds and I/O fault groups as async spans (b/e)', () => {
    const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as ChromeTrace;
    const spans = (cat: string) => {
      const begins = trace.traceEvents.filter((e) => e.cat === cat && e.ph === 'b');
      const ends = trace.traceEvents.filter((e) => e.cat === cat && e.ph === 'e');
      expect(ends.length, `${cat}: as many ends as begins`).toBe(begins.length);
      for (const b of begins) {
        expect(b.id, `${cat} ${b.name} has an id`).toBeTypeOf('number');
        const end = ends.find((e) => e.id === b.id && e.name === b.name);
        expect(end, `${cat} ${b.name} #${b.id} ends`).toBeDefined();
        expect(end!.ts!).toBeGreaterThanOrEqual(b.ts!);
      }
      return begins;
    };
    expect(spans('migrate').length).toBeGreaterThan(0);
    expect(spans('migrate').every((b) => b.name === 'to device')).toBe(true);
    // One bond: the accelerator bound to the process's address space once.
    expect(spans('sva').map((b) => b.name)).toEqual(['bond']);
    // One span per I/O page-fault group, as many as the summary counts.
    const groups = spans('iopf');
    expect(groups.length).toBe(
      (JSON.parse(run.stdout) as { table: { iopfGroups: number } }).table.iopfGroups,
    );
  });

  it('--report writes one standalone HTML page with SVG plots', () => {
    const html = readFileSync(reportPath, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<html\b/g)).toHaveLength(1);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toContain('<title>hetmem: default-story</title>');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    expect(html).not.toMatch(/<link\b/);
  });
});

describe.concurrent('hetmem validate', () => {
  it('accepts good files: exit 0, one line each', async ({ expect }) => {
    const files = ['gpu-migrate.yaml', 'sva-exit-dma-in-flight.yaml'].map((f) => join(EXAMPLES, f));
    const r = await hetmem('validate', ...files);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${files[0]}: ok (1 process(es), 4 operation(s), 1 device(s))\n` +
        `${files[1]}: ok (2 process(es), 10 operation(s), 1 device(s))\n`,
    );
  });

  it('rejects bad files: exit 2, every problem of every file listed, good files still said ok', async ({
    expect,
  }) => {
    const good = join(EXAMPLES, 'gpu-p2p.yaml');
    const r = await hetmem('validate', BROKEN, good, BROKEN_REFS);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe(`${good}: ok (1 process(es), 4 operation(s), 2 device(s))\n`);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(BROKEN_PROBLEMS.length + 3);
    for (const [i, p] of BROKEN_PROBLEMS.entries())
      expect(lines[i]).toMatch(new RegExp(`^(hetmem: )?${escape(p)}$`));
    for (const line of lines.slice(BROKEN_PROBLEMS.length))
      expect(line).toMatch(
        new RegExp(`^(hetmem: )?${escape(BROKEN_REFS)}:\\d+:\\d+: processes\\[0\\]\\.program\\[\\d\\]\\.`),
      );
  });

  it('a missing file is a problem too', async ({ expect }) => {
    const r = await hetmem('validate', join(TMP, 'no-such.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no-such\.yaml: expected a readable scenario file, got ENOENT/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type JsonSchema = { [k: string]: unknown };

/**
 * Problems of `value` against `schema`: the subset of JSON Schema 2020-12 that `hetmem schema`
 * uses. A keyword it does not know is itself a problem, so a new kind of schema fails loudly here.
 */
function schemaProblems(schema: JsonSchema, value: unknown, root: JsonSchema, at = '$'): string[] {
  const out: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  for (const [k, rule] of Object.entries(schema)) {
    switch (k) {
      case '$schema':
      case '$id':
      case '$defs':
      case 'title':
      case 'description':
      case 'default':
        break;
      case '$ref': {
        const m = /^#\/\$defs\/(.+)$/.exec(rule as string);
        if (m === null) out.push(`${at}: unsupported $ref ${String(rule)}`);
        else out.push(...schemaProblems((root.$defs as Record<string, JsonSchema>)[m[1]], value, root, at));
        break;
      }
      case 'type': {
        const ok =
          rule === 'object'
            ? isObject(value)
            : rule === 'array'
              ? Array.isArray(value)
              : rule === 'integer'
                ? Number.isInteger(value)
                : rule === 'null'
                  ? value === null
                  : typeof value === rule;
        if (!ok) out.push(`${at}: not of type ${String(rule)}`);
        break;
      }
      case 'const':
        if (value !== rule) out.push(`${at}: not ${JSON.stringify(rule)}`);
        break;
      case 'enum':
        if (!(rule as unknown[]).includes(value)) out.push(`${at}: not one of ${JSON.stringify(rule)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(rule as string, 'u').test(value))
          out.push(`${at}: does not match ${String(rule)}`);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum': {
        if (typeof value !== 'number') break;
        const n = rule as number;
        if (k === 'minimum' ? value < n : k === 'maximum' ? value > n : value <= n)
          out.push(`${at}: ${k} ${n}`);
        break;
      }
      case 'minLength':
        if (typeof value === 'string' && value.length < (rule as number)) out.push(`${at}: too short`);
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (rule as number)) out.push(`${at}: too few items`);
        break;
      case 'items':
        if (Array.isArray(value))
          value.forEach((v, i) => out.push(...schemaProblems(rule as JsonSchema, v, root, `${at}[${i}]`)));
        break;
      case 'required':
        if (isObject(value))
          for (const key of rule as string[]) if (!(key in value)) out.push(`${at}: missing ${key}`);
        break;
      case 'properties':
        if (isObject(value))
          for (const [key, sub] of Object.entries(rule as Record<string, JsonSchema>))
            if (key in value) out.push(...schemaProblems(sub, value[key], root, `${at}.${key}`));
        break;
      case 'additionalProperties':
        if (isObject(value)) {
          const known = Object.keys((schema.properties as object | undefined) ?? {});
          for (const key of Object.keys(value).filter((x) => !known.includes(x))) {
            if (rule === false) out.push(`${at}: unexpected key ${key}`);
            else if (rule !== true)
              out.push(...schemaProblems(rule as JsonSchema, value[key], root, `${at}.${key}`));
          }
        }
        break;
      case 'anyOf':
      case 'oneOf': {
        const matching = (rule as JsonSchema[]).filter(
          (s) => schemaProblems(s, value, root, at).length === 0,
        ).length;
        if (matching === 0) out.push(`${at}: matches none of ${k}`);
        if (k === 'oneOf' && matching > 1) out.push(`${at}: matches ${matching} branches of oneOf`);
        break;
      }
      default:
        out.push(`${at}: unsupported keyword ${k}`);
    }
  }
  return out;
}

describe('hetmem schema', () => {
  let schema: JsonSchema;
  beforeAll(async () => {
    const r = await hetmem('schema');
    expect(r.code).toBe(0);
    schema = JSON.parse(r.stdout) as JsonSchema;
  });

  it('prints a JSON Schema with the sections of a scenario file', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['name', 'processes']);
    const props = schema.properties as Record<string, JsonSchema>;
    for (const key of ['name', 'description', 'seed', 'machine', 'processes', 'expect'])
      expect(props).toHaveProperty(key);
    expect(Object.keys(props.machine.properties as object)).toEqual(
      expect.arrayContaining(['ram', 'costs', 'limits', 'iommus', 'devices', 'sva']),
    );
    const proc = (props.processes.items as JsonSchema).properties as object;
    expect(Object.keys(proc)).toEqual(['name', 'start', 'program']);
    expect(props.expect.items).toBeDefined();
  });

  it('knows every op, so editors can complete them', () => {
    const text = JSON.stringify(schema);
    for (const op of [
      'mmap',
      'munmap',
      'mprotect',
      'madvise',
      'touch',
      'sleep',
      'exit',
      'gpu',
      'prefetch',
      'open',
      'close',
      'dma',
      'wait',
      'fork',
    ])
      expect(text, op).toContain(`"const":"${op}"`);
  });

  it('accepts every example scenario, and rejects malformed ones', () => {
    for (const f of EXAMPLE_FILES) {
      const doc: unknown = parseYaml(readFileSync(join(EXAMPLES, f), 'utf8'));
      expect(schemaProblems(schema, doc, schema), f).toEqual([]);
    }
    const program = [{ op: 'mmap', name: 'a', size: '4KiB' }];
    const ok = { name: 't', processes: [{ name: 'p', program }] };
    expect(schemaProblems(schema, ok, schema)).toEqual([]);
    for (const bad of [
      { name: 't', machien: {}, processes: [{ name: 'p', program }] },
      { name: 't', processes: [{ name: 'p', program: [{ op: 'frobnicate' }] }] },
      { name: 't', processes: [{ name: 'p', program: [{ op: 'mmap', name: 'a', size: '12 parsecs' }] }] },
      { name: 't', processes: [] },
      { name: 't', processes: [{ name: 'p', program }], expect: [{ noLeaks: false }] },
    ])
      expect(schemaProblems(schema, bad, schema), JSON.stringify(bad)).not.toEqual([]);
  });
});

describe.concurrent('hetmem examples', () => {
  it('lists every example with its description', async ({ expect }) => {
    const r = await hetmem('examples');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    for (const f of EXAMPLE_FILES) {
      const name = f.replace(/\.yaml$/, '');
      const { description } = parseYaml(readFileSync(join(EXAMPLES, f), 'utf8')) as { description: string };
      const line = lines.find((l) => l.startsWith(`${name} `));
      expect(line, name).toBeDefined();
      expect(line!.slice(name.length).trim().startsWith(description.slice(0, 60)), `${line}`).toBe(true);
    }
    expect(lines.filter((l) => /^\S+\s{2,}\S/.test(l))).toHaveLength(EXAMPLE_FILES.length);
  });

  it('prints one example, byte for byte, by name with or without .yaml', async ({ expect }) => {
    const want = readFileSync(join(EXAMPLES, 'gpu-migrate.yaml'), 'utf8');
    const r = await hetmem('examples', 'gpu-migrate');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(want);
    expect((await hetmem('examples', 'gpu-migrate.yaml')).stdout).toBe(want);
  });

  it('an unknown example is exit 2, listing the names', async ({ expect }) => {
    const r = await hetmem('examples', 'gpu-teleport');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'hetmem: gpu-teleport: expected the name of an example (default-story, gpu-atomics,',
    );
  });
});
