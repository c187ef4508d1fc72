// Paths into a scenario object, as a sweep grid names the value it varies:
// `machine.devices[0].memory`, `machine.costs.profile`, `processes[0].program[2].pattern.kind`.
// Keys are names (a letter or _, then letters, digits, _ or -) or quoted (`["odd.key"]`), list
// items are `[n]`. A path is printed the way scenario errors print fields (`load.ts`), so an error
// about a resolved scenario can be traced back to the parameter that set the value.

/** A parsed path: object keys and list indexes, outermost first. */
export type ScenarioPath = readonly (string | number)[];

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*/;
const WHOLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Parses `machine.devices[0].memory` into `['machine', 'devices', 0, 'memory']`; null when the text
 * is not a path.
 *
 * @example parseScenarioPath('processes[0].program[2].pattern.kind') // ['processes', 0, 'program', 2, 'pattern', 'kind']
 */
export function parseScenarioPath(text: string): ScenarioPath | null {
  const out: (string | number)[] = [];
  let rest = text;
  let first = true;
  while (rest.length > 0) {
    if (rest.startsWith('[')) {
      const index = /^\[(0|[1-9][0-9]{0,8})\]/.exec(rest);
      const quoted = /^\["((?:[^"\\]|\\.)+)"\]/.exec(rest);
      if (index !== null) {
        // The root of a scenario is an object: a path cannot start with a list index.
        if (first) return null;
        out.push(Number(index[1]));
        rest = rest.slice(index[0].length);
      } else if (quoted !== null) {
        out.push(JSON.parse(`"${quoted[1]}"`) as string);
        rest = rest.slice(quoted[0].length);
      } else {
        return null;
      }
    } else {
      if (!first) {
        if (!rest.startsWith('.')) return null;
        rest = rest.slice(1);
      }
      const name = NAME.exec(rest);
      if (name === null) return null;
      out.push(name[0]);
      rest = rest.slice(name[0].length);
    }
    first = false;
  }
  return out.length === 0 ? null : out;
}

/** The path as scenario errors print fields: `machine.devices[0].memory`. */
export function formatScenarioPath(path: ScenarioPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (!WHOLE_NAME.test(p)) out += `[${JSON.stringify(p)}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

/** True when `prefix` is `path` or one of its ancestors. */
export function isPathPrefix(prefix: ScenarioPath, path: ScenarioPath): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== path[i]) return false;
  return true;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Why `path` does not lead to a value in `root` (naming the first step that fails and what is
 * there instead), or null when it does.
 */
export function missingPathStep(root: unknown, path: ScenarioPath): string | null {
  let v = root;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    const at = i === 0 ? 'the scenario' : formatScenarioPath(path.slice(0, i));
    if (typeof step === 'number') {
      if (!Array.isArray(v)) return `${at} is ${kindOf(v)}, not a list`;
      if (step >= v.length) return `${at} has ${v.length} item(s), no [${step}]`;
      v = v[step];
    } else {
      if (!isRecord(v)) return `${at} is ${kindOf(v)}, not an object`;
      if (!Object.hasOwn(v, step)) {
        const keys = Object.keys(v);
        return `${at} has no key ${JSON.stringify(step)} (it has ${keys.join(', ') || 'no keys'})`;
      }
      v = v[step];
    }
  }
  return null;
}

/**
 * Replaces the value at `path` inside `root`, in place. The path must exist (`missingPathStep` is
 * null); the caller owns `root` (a copy of the base scenario).
 */
export function setAtPath(root: unknown, path: ScenarioPath, value: unknown): void {
  let v = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) v = v[path[i]] as Record<string | number, unknown>;
  v[path[path.length - 1]] = value;
}
