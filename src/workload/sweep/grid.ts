// Parameter sweeps: a grid file names a base scenario, a list of seeds and, for paths into the
// scenario object, the values to try. `parseGrid` reads and checks the file (InputErrors with
// file, line, column and field, as scenario files get); `expandGrid` applies every combination of
// values to a copy of the base scenario, validates each resolved scenario before anything runs,
// and numbers the jobs: the cartesian product with the first parameter varying slowest, values in
// list order, seeds last (fastest). A job's identity is its content, not its number: `jobKey` is the
// canonical JSON (sorted keys) of { resolved scenario, seed, hetmem version }, which the host
// hashes (sha256) to name results, resume runs and merge shards.
//
// Grid file:
//
//   scenario: ../gpu-oversubscribe.yaml        # relative to the grid file
//   seeds: [1, 2]                               # or { from: 1, count: 10 }
//   parameters:
//     machine.devices[0].memory: [16MiB, 32MiB, 64MiB]
//     machine.costs.profile: [pcie3, pcie5]
//   output: results.ndjson                      # optional; default <grid name>.ndjson beside it

import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { type FileReader, loadScenarioObject } from '../scenario/load.js';
import {
  formatScenarioPath,
  isPathPrefix,
  missingPathStep,
  parseScenarioPath,
  type ScenarioPath,
  setAtPath,
} from './path.js';

/** Most jobs one grid may expand to: a grid past it is an input error (split it). */
export const MAX_SWEEP_JOBS = 1_000_000;
/** Most distinct problems one grid reports (a bad value repeats in every combination). */
const MAX_PROBLEMS = 50;
const SEED_MAX = 0xffffffff;

const seed = z.number().int().min(0).max(SEED_MAX);

export const gridSchema = z.strictObject({
  description: z.string().optional(),
  /** The base scenario, relative to the grid file. */
  scenario: z.string().min(1),
  seeds: z.union([
    z.array(seed).min(1),
    z.strictObject({ from: seed, count: z.number().int().min(1).max(MAX_SWEEP_JOBS) }),
  ]),
  /** Path into the scenario object -> the values to try, in order. */
  parameters: z.record(z.string(), z.array(z.unknown()).min(1)).default({}),
  /** Results file, relative to the grid file (default `<grid name>.ndjson` beside it). */
  output: z.string().min(1).optional(),
});

export type GridInput = z.input<typeof gridSchema>;

/** One swept parameter: the key as written, the parsed path, the values in file order. */
export interface GridParameter {
  readonly key: string;
  readonly path: ScenarioPath;
  readonly values: readonly unknown[];
}

/** A checked grid file. */
export interface Grid {
  readonly file: string;
  /** The file's name without folder and extension: results default to `<name>.ndjson`. */
  readonly name: string;
  readonly description: string;
  /** The base scenario's path as written (relative to the grid file). */
  readonly scenario: string;
  readonly seeds: readonly number[];
  /** In file order. */
  readonly parameters: readonly GridParameter[];
  /** As written (relative to the grid file), or null for the default. */
  readonly output: string | null;
  /** An InputError pointing at a field of the grid file (line and column when the field exists). */
  errorAt(path: ScenarioPath, expected: string, got?: string): InputError;
  /** An InputError pointing at a parameter's key (where a bad path is written). */
  keyErrorAt(key: string, expected: string, got?: string): InputError;
}

/** One combination of parameter values: the resolved scenario all its seeds share. */
export interface SweepVariant {
  readonly index: number;
  /** Parameter key -> value, in file order. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The resolved scenario object (the base with the values applied); never modified. */
  readonly scenario: unknown;
  /** `canonicalJson(scenario)`, computed once for every seed's key. */
  readonly canonicalScenario: string;
}

/** One run of a sweep: a variant and a seed. */
export interface SweepJob {
  readonly index: number;
  readonly seed: number;
  readonly variant: SweepVariant;
}

export interface Sweep {
  readonly grid: Grid;
  /** The base scenario's file (messages and the page traces it names are relative to it). */
  readonly scenarioFile: string;
  readonly variants: readonly SweepVariant[];
  /** In index order: `jobs[i].index === i`. */
  readonly jobs: readonly SweepJob[];
}

type Path = ScenarioPath;

/** Positions in the grid file, for messages. */
class GridLocator {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  error(path: Path, expected: string, got?: string): InputError {
    const field = path.length === 0 ? '(top level)' : formatScenarioPath(path);
    // The deepest node that exists along the path (a missing key points at its parent).
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return new InputError({ file: this.file, line: pos.line, column: pos.col, field }, expected, got);
      }
    }
    return new InputError({ file: this.file, field }, expected, got);
  }

  /** An error pointing at a parameter's key (a bad path) rather than its values. */
  keyError(key: string, expected: string, got?: string): InputError {
    const map: unknown = this.doc.get('parameters', true);
    if (isMap(map)) {
      for (const pair of map.items) {
        if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
          const pos = this.lines.linePos(pair.key.range[0]);
          return new InputError(
            {
              file: this.file,
              line: pos.line,
              column: pos.col,
              field: formatScenarioPath(['parameters', key]),
            },
            expected,
            got,
          );
        }
      }
    }
    return this.error(['parameters', key], expected, got);
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** What a zod issue expected, in words (the grid's own wording for the seeds union). */
function expectedOf(issue: z.core.$ZodIssue): string {
  if (issue.path[0] === 'seeds' && issue.path.length === 1 && issue.code === 'invalid_union') {
    return `a list of seeds (integers from 0 to ${SEED_MAX}) or { from, count }`;
  }
  switch (issue.code) {
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'unrecognized_keys':
      return `no key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (a grid has scenario, seeds, parameters, output, description)`;
    case 'too_small':
      return issue.origin === 'array'
        ? `at least ${String(issue.minimum)} item(s)`
        : `a value >= ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `at most ${String(issue.maximum)} item(s)`
        : `a value <= ${String(issue.maximum)}`;
    default:
      return issue.message.replace(/^Invalid input: expected /, '');
  }
}

/** The grid's name: its file name without folder and extension. */
export function gridName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.(ya?ml|json)$/i, '') || 'sweep';
}

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, undefined members left
 * out. Two objects with the same content give the same text whatever their key order.
 *
 * @example canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/**
 * What a job's hash is computed over: the canonical JSON of { scenario, seed, version }. Equal
 * resolved scenarios, seeds and versions give equal keys, whatever the grid's layout or the key
 * order of the files.
 */
export function jobKey(job: SweepJob, version: string): string {
  // Keys in sorted order, as canonicalJson would write them.
  return `{"scenario":${job.variant.canonicalScenario},"seed":${job.seed},"version":${JSON.stringify(version)}}`;
}

/** `machine.devices[0].memory=16MiB, machine.costs.profile=pcie3` */
export function formatParams(params: Readonly<Record<string, unknown>>): string {
  const parts = Object.entries(params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : show(v)}`);
  return parts.length === 0 ? '(no parameters)' : parts.join(', ');
}

/**
 * Parses and checks a grid file. `text` is its content, `file` its name for messages. Throws
 * InputError (InputErrorList for several problems); the base scenario is not read here.
 */
export function parseGrid(text: string, file: string): Grid {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputErrorList(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return new InputError(
          { file, line: pos?.line, column: pos?.col },
          'valid YAML or JSON',
          e.message.split('\n')[0],
        );
      }),
    );
  }
  const loc = new GridLocator(file, doc, lines);
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = gridSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InputErrorList(
      parsed.error.issues.flatMap((issue) =>
        // A misspelled key is pointed at itself, not at the object holding it.
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) =>
              loc.error([...(issue.path as Path), k], expectedOf({ ...issue, keys: [k] }), show(k)),
            )
          : [loc.error(issue.path as Path, expectedOf(issue), show(valueAt(raw, issue.path as Path)))],
      ),
    );
  }
  const g = parsed.data;
  const problems: InputError[] = [];

  let seeds: number[];
  if (Array.isArray(g.seeds)) {
    seeds = g.seeds;
    const seen = new Map<number, number>();
    seeds.forEach((s, i) => {
      const first = seen.get(s);
      if (first !== undefined)
        problems.push(loc.error(['seeds', i], `distinct seeds (the same as seeds[${first}])`, String(s)));
      else seen.set(s, i);
    });
  } else {
    const { from, count } = g.seeds;
    if (from + count - 1 > SEED_MAX) {
      problems.push(
        loc.error(['seeds', 'count'], `at most ${SEED_MAX - from + 1} seeds from ${from}`, String(count)),
      );
    }
    seeds = Array.from({ length: Math.min(count, SEED_MAX - from + 1) }, (_, i) => from + i);
  }

  // Parameters in file order: the YAML map's order, which toJS keeps for non-numeric keys; a key
  // that parses as a path never looks like an integer.
  const parameters: GridParameter[] = [];
  for (const [key, values] of Object.entries(g.parameters)) {
    const path = parseScenarioPath(key);
    if (path === null) {
      problems.push(
        loc.keyError(key, 'a path into the scenario such as machine.devices[0].memory', JSON.stringify(key)),
      );
      continue;
    }
    const overlap = parameters.find((p) => isPathPrefix(p.path, path) || isPathPrefix(path, p.path));
    if (overlap !== undefined) {
      problems.push(
        loc.keyError(
          key,
          `a path that does not overlap another parameter's (${overlap.key} sets the same value)`,
          JSON.stringify(key),
        ),
      );
      continue;
    }
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const c = canonicalJson(v);
      const first = seen.get(c);
      if (first !== undefined)
        problems.push(loc.error(['parameters', key, i], `distinct values (the same as [${first}])`, show(v)));
      else seen.set(c, i);
    });
    parameters.push({ key, path, values });
  }

  const total = parameters.reduce((n, p) => n * p.values.length, seeds.length);
  if (total > MAX_SWEEP_JOBS) {
    problems.push(
      loc.error(
        parameters.length > 0 ? ['parameters'] : ['seeds'],
        `at most ${MAX_SWEEP_JOBS} jobs (split the grid into several files)`,
        `${total} jobs`,
      ),
    );
  }
  if (problems.length > 0) throw new InputErrorList(problems);
  return {
    file,
    name: gridName(file),
    description: g.description ?? '',
    scenario: g.scenario,
    seeds,
    parameters,
    output: g.output ?? null,
    errorAt: (path, expected, got) => loc.error(path, expected, got),
    keyErrorAt: (key, expected, got) => loc.keyError(key, expected, got),
  };
}

/** The parameters an error at `field` of a resolved scenario concerns (the field is at, inside or above the value). */
function parametersAt(grid: Grid, field: string): GridParameter[] {
  return grid.parameters.filter((p) => {
    const fp = formatScenarioPath(p.path);
    const inside = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
    return inside(field, fp) || inside(fp, field);
  });
}

/**
 * Expands a grid over its base scenario (`base`: the plain object `parseScenarioText` gives, from
 * `scenarioFile`): every parameter path must exist in it, and every resolved scenario must be
 * valid (`readFile` reads the files it names, relative to `scenarioFile`). A bad value is reported
 * at the grid's field (`parameters["machine.devices[0].memory"][2]`), with its line and column;
 * a problem no single value explains names the combination. Throws InputError(List).
 */
export function expandGrid(grid: Grid, base: unknown, scenarioFile: string, readFile: FileReader): Sweep {
  const missing: InputError[] = [];
  for (const p of grid.parameters) {
    const why = missingPathStep(base, p.path);
    if (why !== null) missing.push(grid.keyErrorAt(p.key, `a path that exists in ${scenarioFile}`, why));
  }
  if (missing.length > 0) throw new InputErrorList(missing);

  const problems = new Map<string, InputError>();
  const variants: SweepVariant[] = [];
  const radix = grid.parameters.map((p) => p.values.length);
  const digits = radix.map(() => 0);
  const count = radix.reduce((n, r) => n * r, 1);
  for (let v = 0; v < count; v++) {
    const scenario = structuredClone(base);
    const params: Record<string, unknown> = {};
    grid.parameters.forEach((p, i) => {
      const value = p.values[digits[i]];
      setAtPath(scenario, p.path, structuredClone(value));
      params[p.key] = value;
    });
    try {
      loadScenarioObject(scenario, scenarioFile, readFile);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      const list = e instanceof InputErrorList ? e.errors : [e];
      for (const err of list) {
        const field = err.location.field ?? '(top level)';
        const at = parametersAt(grid, field);
        let mapped: InputError;
        if (at.length === 1) {
          const p = at[0];
          const i = grid.parameters.indexOf(p);
          const where = field === formatScenarioPath(p.path) ? '' : ` (at ${field} of the scenario)`;
          mapped = grid.errorAt(['parameters', p.key, digits[i]], `${err.expected}${where}`, err.got);
        } else {
          mapped = new InputError(
            { file: grid.file, field: `${field} of the scenario with ${formatParams(params)}` },
            err.expected,
            err.got,
          );
        }
        if (problems.size < MAX_PROBLEMS && !problems.has(mapped.message))
          problems.set(mapped.message, mapped);
      }
    }
    variants.push({ index: v, params, scenario, canonicalScenario: canonicalJson(scenario) });
    // Next combination: the last parameter varies fastest.
    for (let i = digits.length - 1; i >= 0; i--) {
      if (++digits[i] < radix[i]) break;
      digits[i] = 0;
    }
  }
  if (problems.size > 0) throw new InputErrorList([...problems.values()]);

  const jobs: SweepJob[] = [];
  for (const variant of variants)
    for (const seed of grid.seeds) jobs.push({ index: jobs.length, seed, variant });
  return { grid, scenarioFile, variants, jobs };
}
