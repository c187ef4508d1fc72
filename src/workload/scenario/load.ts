// Reads a scenario file (YAML or JSON): syntax errors, schema violations and broken references
// (an unknown device, a region used before its mmap, a descriptor never opened) all become
// InputErrors naming the file, line, column, the field, what was expected and what was found.
// Every problem is reported, not just the first. The result is a normalized `Scenario`.

import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { InputError, InputErrorList } from '../../sim/errors.js';
import {
  checkPolicyChoice,
  type PolicyChoice,
  type PolicyChoices,
  POLICY_KINDS,
} from '../../devices/gpu/policies/registry.js';
import { findGpuWorkload, gpuWorkloadNames } from '../gpu/registry.js';
import { parseGpuTrace } from '../gpu/trace.js';
import type { GpuWorkload } from '../gpu/types.js';
import { parsePageTrace, type PatternSpec } from '../patterns.js';
import { parseDuration, parseSize } from '../units.js';
import type { DeviceSpec, Expectation, MachineSpec, Op, ProcessSpec, RegionPart, Scenario } from './model.js';
import { type ScenarioParsed, scenarioSchema } from './schema.js';

/** Reads a file the scenario names (page traces), relative to the scenario; throws if missing. */
export type FileReader = (path: string) => string;

type Path = readonly (string | number)[];

const GRANULARITY_BYTES = { '4KiB': 4096, '64KiB': 65536, '2MiB': 2097152 } as const;

/** Positions of the parsed document, for messages. */
export class Locator {
  constructor(
    readonly file: string,
    private readonly doc: Document | null,
    private readonly lines: LineCounter,
  ) {}

  error(path: Path, expected: string, got?: string): InputError {
    const field = formatPath(path);
    let node: unknown = null;
    // The deepest node that exists along the path (a missing key points at its parent).
    for (let n = path.length; n >= 0 && this.doc !== null; n--) {
      node = this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) break;
      node = null;
    }
    if (isNode(node) && node.range) {
      const pos = this.lines.linePos(node.range[0]);
      return new InputError({ file: this.file, line: pos.line, column: pos.col, field }, expected, got);
    }
    return new InputError({ file: this.file, field }, expected, got);
  }
}

function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(top level)' : out;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** What a zod issue expected, in words. */
function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        return `${String(issue.discriminator)} to be one of ${((issue as { options?: unknown[] }).options ?? []).map((o) => JSON.stringify(o)).join(', ')}`;
      }
      // Report the branch that got furthest: the most specific message.
      const branches = issue.errors.map((b) => b.map(expectedOf).join('; '));
      return branches.length > 0 ? branches.join(', or ') : 'a valid value';
    }
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'unrecognized_keys':
      return `no key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} here (misspelled?)`;
    case 'too_small':
      return issue.origin === 'array'
        ? `at least ${String(issue.minimum)} item(s)`
        : `a value ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `at most ${String(issue.maximum)} item(s)`
        : `a value ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`;
    default:
      return issue.message.replace(/^Invalid input: expected /, '');
  }
}

/**
 * Parses and validates a scenario. `text` is the file's content, `file` its name for messages.
 * Throws InputError (InputErrorList for several problems).
 */
export function loadScenario(text: string, file: string, readFile: FileReader = noFiles): Scenario {
  const { doc, lines } = parseYaml(text, file);
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  return validate(raw, new Locator(file, doc, lines), readFile);
}

/** The YAML (or JSON) document; syntax errors become InputErrors with the parser's position. */
export function parseYaml(text: string, file: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputErrorList(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return new InputError(
          { file, line: pos.line, column: pos.col },
          'valid YAML or JSON',
          e.message.split('\n')[0],
        );
      }),
    );
  }
  return { doc, lines };
}

/**
 * Validates a scenario given as a plain object (a sweep's job after its parameters were applied).
 * Errors name `file` and the field, without line numbers.
 */
export function loadScenarioObject(raw: unknown, file: string, readFile: FileReader = noFiles): Scenario {
  return validate(raw, new Locator(file, null, new LineCounter()), readFile);
}

/** Parses a scenario file into a plain object (YAML syntax errors become InputErrors). */
export function parseScenarioText(text: string, file: string): unknown {
  return parseYaml(text, file).doc.toJS({ maxAliasCount: 100 });
}

function validate(raw: unknown, loc: Locator, readFile: FileReader): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: InputError[] = [];

    for (const issue of parsed.error!.issues) {
      for (const { path, issue: specific } of specificIssues(issue, issue.path as Path)) {
        if (specific.code === 'unrecognized_keys' && 'keys' in specific) {
          // Each unknown key at its own position.
          for (const key of specific.keys) {
            problems.push(
              loc.error(
                [...path, key],
                `no key ${JSON.stringify(key)} here (misspelled?)`,
                show(valueAt(raw, [...path, key])),
              ),
            );
          }
        } else {
          problems.push(loc.error(path, expectedOf(specific), show(valueAt(raw, path))));
        }
      }
    }
    throw new InputErrorList(problems);
  }
  return normalize(parsed.data, loc, readFile, raw);
}

/**
 * The issues worth showing for `issue` at `path`: a union that failed in every branch is reported
 * through the branch that got furthest into the value (its issues carry the deeper paths), unless
 * no branch got past the value itself.
 */
function specificIssues(issue: z.core.$ZodIssue, path: Path): { path: Path; issue: z.core.$ZodIssue }[] {
  if (
    issue.code !== 'invalid_union' ||
    ('discriminator' in issue && issue.discriminator) ||
    issue.errors.length === 0
  ) {
    return [{ path, issue }];
  }
  let best: z.core.$ZodIssue[] | null = null;
  let depth = 0;
  for (const branch of issue.errors) {
    const d = Math.max(...branch.map((b) => b.path.length));
    if (d > depth) {
      depth = d;
      best = branch;
    }
  }
  if (best === null) return [{ path, issue }];
  return best.flatMap((b) => specificIssues(b, [...path, ...(b.path as Path)]));
}

function noFiles(path: string): string {
  throw new Error(`no file reader: cannot read ${path}`);
}

function bytes(v: string | number): number {
  return parseSize(v);
}

function pattern(p: unknown): PatternSpec {
  if (typeof p === 'string') {
    if (p === 'sequential') return { kind: 'sequential', passes: 1 };
    if (p === 'strided') return { kind: 'strided', stride: 16, passes: 1 };
    if (p === 'random') return { kind: 'random', count: 1024 };
    return { kind: 'stencil', rowPages: 16, iterations: 1 };
  }
  return p as PatternSpec;
}

interface CheckState {
  readonly regions: Set<string>;
  readonly fds: Map<string, string>;
}

function normalize(s: ScenarioParsed, loc: Locator, readFile: FileReader, raw: unknown): Scenario {
  const problems: InputError[] = [];
  /** Bytes of a size field; a size that is no whole number of bytes ("1.5B") is a problem. */
  const sizeAt = (path: Path, v: string | number): number => {
    const n = bytes(v);
    if (Number.isNaN(n)) problems.push(loc.error(path, 'a whole number of bytes', show(v)));
    return n;
  };
  const part = (o: Record<string, unknown>, at: Path): RegionPart => {
    const offset = o.offset as string | number | undefined;
    const size = o.size as string | number | undefined;
    return {
      offsetBytes: offset === undefined ? 0 : sizeAt([...at, 'offset'], offset),
      sizeBytes: size === undefined ? null : sizeAt([...at, 'size'], size),
    };
  };
  const gpuSpec = (d: Extract<ScenarioParsed['machine']['devices'][number], { kind: 'gpu' }>, at: Path) => {
    const { memory, policies, migrationGranularity, prefetchAfterEviction, ...rest } = d;
    if (prefetchAfterEviction !== undefined) {
      for (const p of checkPolicyChoice('prefetch', prefetchAfterEviction as PolicyChoice)) {
        const path = [...at, 'prefetchAfterEviction', ...p.path];
        problems.push(loc.error(path, p.message, show(valueAt(raw, path))));
      }
    }
    if (policies !== undefined && policies !== 'uvm') {
      for (const kind of POLICY_KINDS) {
        const choice = policies[kind];
        if (choice === undefined) continue;
        for (const p of checkPolicyChoice(kind, choice as PolicyChoice)) {
          const path = [...at, 'policies', kind, ...p.path];
          problems.push(loc.error(path, p.message, show(valueAt(raw, path))));
        }
      }
    }
    return {
      ...rest,
      memoryBytes: sizeAt([...at, 'memory'], memory),
      migrationGranularity: GRANULARITY_BYTES[migrationGranularity],
      policies: policies as PolicyChoices | 'uvm' | undefined,
      prefetchAfterEviction: prefetchAfterEviction as PolicyChoice | undefined,
    };
  };
  const m = s.machine;
  const devices = new Map<string, DeviceSpec>();
  const iommus = new Set(m.iommus.map((i) => i.name));
  const machine: MachineSpec = {
    ramBytes: sizeAt(['machine', 'ram'], m.ram),
    contentMode: m.contentMode,
    thp: m.thp,
    hugetlbPages: m.hugetlbPages,
    p2p: m.p2p,
    costProfile: m.costs.profile as MachineSpec['costProfile'],
    costOverrides: Object.fromEntries(Object.entries(m.costs).filter(([k]) => k !== 'profile')),
    limits: {
      maxEvents: m.limits.maxEvents,
      maxSimNs: m.limits.maxSimTime === undefined ? undefined : parseDuration(m.limits.maxSimTime),
      maxRetries: m.limits.maxRetries,
    },
    sampleEveryNs: parseDuration(m.sampleEvery),
    iommus: m.iommus,
    sva: {
      ...m.sva,
      pasidQuarantineNs:
        m.sva.pasidQuarantine === undefined ? undefined : parseDuration(m.sva.pasidQuarantine),
    },
    devices: m.devices.map((d, i) => {
      const spec: DeviceSpec = d.kind === 'gpu' ? gpuSpec(d, ['machine', 'devices', i]) : d;
      if (devices.has(d.name))
        problems.push(
          loc.error(['machine', 'devices', i, 'name'], 'a device name used once', JSON.stringify(d.name)),
        );
      devices.set(d.name, spec);
      if (d.kind === 'gpu' && (spec as { memoryBytes: number }).memoryBytes % 4096 !== 0) {
        problems.push(
          loc.error(['machine', 'devices', i, 'memory'], 'a whole number of 4 KiB pages', show(d.memory)),
        );
      }
      if (d.kind === 'accel' && !iommus.has(d.iommu)) {
        problems.push(
          loc.error(
            ['machine', 'devices', i, 'iommu'],
            `the name of an IOMMU in machine.iommus (${[...iommus].join(', ') || 'none defined'})`,
            JSON.stringify(d.iommu),
          ),
        );
      }
      return spec;
    }),
  };
  if (machine.ramBytes % 4096 !== 0 || machine.ramBytes === 0) {
    problems.push(loc.error(['machine', 'ram'], 'a non-zero whole number of 4 KiB pages', show(m.ram)));
  }
  const traces = new Map<string, Int32Array>();
  const names = new Set<string>();

  const device = (path: Path, name: string, kind: 'gpu' | 'accel'): void => {
    const d = devices.get(name);
    const known = [...devices.values()].filter((x) => x.kind === kind).map((x) => x.name);
    if (d === undefined || d.kind !== kind)
      problems.push(
        loc.error(
          path,
          `the name of a ${kind} device (${known.join(', ') || 'none defined'})`,
          JSON.stringify(name),
        ),
      );
  };
  const region = (path: Path, name: string, st: CheckState): void => {
    if (!st.regions.has(name))
      problems.push(
        loc.error(
          path,
          `a region mapped earlier in this program (${[...st.regions].join(', ') || 'none yet'})`,
          JSON.stringify(name),
        ),
      );
  };
  const loadTrace = (path: Path, p: PatternSpec): void => {
    if (p.kind !== 'trace' || traces.has(p.file)) return;
    let text: string;
    try {
      text = readFile(p.file);
    } catch (e) {
      problems.push(
        loc.error(path, 'a readable page-trace file', `${JSON.stringify(p.file)} (${(e as Error).message})`),
      );
      return;
    }
    try {
      traces.set(p.file, parsePageTrace(text, p.file));
    } catch (e) {
      if (e instanceof InputError) problems.push(e);
      else throw e;
    }
  };

  /** A workload op: exactly one of a built-in (with valid params) or a trace file. */
  const workloadOp = (op: Record<string, unknown>, at: Path): Extract<Op, { op: 'workload' }> => {
    const name = op.name as string | undefined;
    const file = op.trace as string | undefined;
    const params = op.params as Record<string, unknown>;
    let build: (seed: number) => GpuWorkload = () => {
      throw new Error('invalid workload');
    };
    let label = name ?? file ?? 'workload';
    if ((name === undefined) === (file === undefined)) {
      problems.push(loc.error(at, 'exactly one of name (a built-in workload) or trace (a file)', show(op)));
    } else if (name !== undefined) {
      const def = findGpuWorkload(name);
      if (def === undefined) {
        problems.push(
          loc.error([...at, 'name'], `a GPU workload (one of ${gpuWorkloadNames().join(', ')})`, show(name)),
        );
      } else {
        const r = (def.params as z.ZodType).safeParse(params);
        if (!r.success) {
          for (const issue of r.error.issues) {
            const path = [...at, 'params', ...(issue.path as Path)];
            problems.push(loc.error(path, `${name}: ${issue.message}`, show(valueAt(raw, path))));
          }
        } else {
          const parsed = r.data;
          build = (seed) => def.build(parsed as never, seed);
        }
      }
    } else {
      try {
        const workload = parseGpuTrace(readFile(file!), file!);
        label = workload.name;
        build = () => workload;
      } catch (e) {
        if (e instanceof InputError) problems.push(e);
        else
          problems.push(
            loc.error(
              [...at, 'trace'],
              'a readable GPU trace file',
              `${JSON.stringify(file)} (${(e as Error).message})`,
            ),
          );
      }
    }
    return {
      op: 'workload',
      device: op.device as string,
      build,
      label,
      region: (op.region as string | undefined) ?? name ?? 'trace',
      hostInit: op.hostInit as 'inputs',
      hostSteps: op.hostSteps as boolean,
      seed: op.seed as number | undefined,
      mode: op.mode as 'migrate' | undefined,
    };
  };

  const program = (ops: readonly unknown[], path: Path, st: CheckState, procName: string): Op[] =>
    ops.map((o, i): Op => {
      const op = o as { op: string } & Record<string, unknown>;
      const at = [...path, i];
      switch (op.op) {
        case 'mmap': {
          st.regions.add(op.name as string);
          const fd = op.fd as string | undefined;
          if (fd !== undefined) {
            if (!st.fds.has(fd))
              problems.push(
                loc.error(
                  [...at, 'fd'],
                  `a descriptor opened earlier (${[...st.fds.keys()].join(', ') || 'none yet'})`,
                  JSON.stringify(fd),
                ),
              );
            // A device portal has no pages to populate and no huge pages.
            for (const key of ['hugepage', 'populate'] as const)
              if (op[key] === true)
                problems.push(loc.error([...at, key], 'false (not with fd: a device mapping)', 'true'));
          }
          return {
            op: 'mmap',
            name: op.name as string,
            sizeBytes: sizeAt([...at, 'size'], op.size as string),
            prot: op.prot as 'rw',
            shared: fd !== undefined || (op.shared as boolean),
            hugepage: op.hugepage as boolean,
            populate: op.populate as boolean,
            ...(fd === undefined ? {} : { fd }),
          };
        }
        case 'munmap':
        case 'mprotect':
        case 'madvise':
          region([...at, 'region'], op.region as string, st);
          if (op.op === 'munmap') return { op: 'munmap', region: op.region as string, ...part(op, at) };
          if (op.op === 'mprotect')
            return { op: 'mprotect', region: op.region as string, prot: op.prot as 'rw', ...part(op, at) };
          return {
            op: 'madvise',
            region: op.region as string,
            advice: op.advice as 'dontneed',
            ...part(op, at),
          };
        case 'touch': {
          region([...at, 'region'], op.region as string, st);
          const p = pattern(op.pattern);
          loadTrace([...at, 'pattern', 'file'], p);
          return {
            op: 'touch',
            region: op.region as string,
            write: op.write as boolean,
            pattern: p,
            ...part(op, at),
          };
        }
        case 'sleep':
          return { op: 'sleep', timeNs: parseDuration(op.time as string) };
        case 'exit':
        case 'wait':
          return { op: op.op };
        case 'fork': {
          const child = (op.name as string | undefined) ?? `${procName}.child${i}`;
          const childState: CheckState = { regions: new Set(st.regions), fds: new Map(st.fds) };
          return {
            op: 'fork',
            name: child,
            program: program(op.program as unknown[], [...at, 'program'], childState, child),
          };
        }
        case 'gpu': {
          device([...at, 'device'], op.device as string, 'gpu');
          region([...at, 'region'], op.region as string, st);
          const p = pattern(op.pattern);
          loadTrace([...at, 'pattern', 'file'], p);
          return {
            op: 'gpu',
            device: op.device as string,
            region: op.region as string,
            write: op.write as boolean,
            pattern: p,
            wait: op.wait as boolean,
            mode: op.mode as 'migrate' | undefined,
            ...part(op, at),
            atomic: op.atomic as boolean,
          };
        }
        case 'workload': {
          device([...at, 'device'], op.device as string, 'gpu');
          const w = workloadOp(op, at);
          st.regions.add(w.region);
          return w;
        }
        case 'prefetch':
          device([...at, 'device'], op.device as string, 'gpu');
          region([...at, 'region'], op.region as string, st);
          return {
            op: 'prefetch',
            device: op.device as string,
            region: op.region as string,
            to: op.to as 'device',
            ...part(op, at),
          };
        case 'open': {
          device([...at, 'device'], op.device as string, 'accel');
          const as = (op.as as string | undefined) ?? (op.device as string);
          st.fds.set(as, op.device as string);
          return { op: 'open', device: op.device as string, as };
        }
        case 'close':
          if (!st.fds.has(op.fd as string))
            problems.push(
              loc.error(
                [...at, 'fd'],
                `a descriptor opened earlier (${[...st.fds.keys()].join(', ') || 'none yet'})`,
                JSON.stringify(op.fd),
              ),
            );
          st.fds.delete(op.fd as string);
          return { op: 'close', fd: op.fd as string };
        case 'dma': {
          device([...at, 'device'], op.device as string, 'accel');
          region([...at, 'region'], op.region as string, st);
          const fd = (op.fd as string | undefined) ?? (op.device as string);
          if (st.fds.get(fd) !== op.device) {
            problems.push(
              loc.error(
                [...at, op.fd === undefined ? 'device' : 'fd'],
                `a descriptor of ${String(op.device)} opened earlier (add an open op)`,
                JSON.stringify(fd),
              ),
            );
          }
          return {
            op: 'dma',
            device: op.device as string,
            fd,
            region: op.region as string,
            write: op.write as boolean,
            wait: op.wait as boolean,
            ...part(op, at),
          };
        }
        default:
          throw new Error(`unhandled op ${op.op}`);
      }
    });

  const processes: ProcessSpec[] = s.processes.map((p, i) => {
    if (names.has(p.name))
      problems.push(loc.error(['processes', i, 'name'], 'a process name used once', JSON.stringify(p.name)));
    names.add(p.name);
    return {
      name: p.name,
      startNs: parseDuration(p.start),
      program: program(
        p.program,
        ['processes', i, 'program'],
        { regions: new Set(), fds: new Map() },
        p.name,
      ),
    };
  });
  const expect: Expectation[] = s.expect.map((e, i) => {
    if ('metric' in e && e.min === undefined && e.max === undefined && e.equals === undefined) {
      problems.push(
        loc.error(['expect', i], 'at least one of min, max, equals', show(valueAt(raw, ['expect', i]))),
      );
    }
    return e as Expectation;
  });
  if (problems.length > 0) throw new InputErrorList(problems);
  return {
    name: s.name,
    description: s.description ?? '',
    seed: s.seed,
    machine,
    processes,
    expect,
    traces,
    source: loc.file,
  };
}
