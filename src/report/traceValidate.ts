// Checks a Chrome Trace Event JSON document against the format's rules, as the importers of
// Perfetto and chrome://tracing apply them. Viewers are lenient: a stray 'E' or an unpaired async
// end is dropped silently and the picture is quietly wrong. This checker says so instead, so tests
// (and users with their own traces) learn about it. It validates the format, not hetmem's meaning.

/** Which rule a problem breaks; tests name one case per rule. */
export type TraceRule =
  | 'json' // the text is not JSON
  | 'container' // neither an array of events nor an object with a `traceEvents` array; bad top-level fields
  | 'event' // an event is not an object
  | 'phase' // `ph` missing or not a phase of the format
  | 'field' // a required field is missing or has the wrong type
  | 'args' // `args` is not a plain object
  | 'timestamp' // `ts` is not a finite number
  | 'order' // 'B'/'E' timestamps decrease on one thread
  | 'nesting' // 'E' without its 'B', with another name, or a 'B' never ended
  | 'async' // 'b' without its 'e' (same cat, id, name), or the other way round
  | 'metadata' // a metadata ('M') event is unknown or malformed
  | 'limit'; // too many problems; the rest were not listed

export interface TraceProblem {
  readonly rule: TraceRule;
  /** Index in `traceEvents`, or null for the document as a whole. */
  readonly index: number | null;
  readonly message: string;
}

export interface ValidateOptions {
  /** Stop listing after this many problems (a broken recorder can produce millions). */
  readonly maxProblems?: number;
}

/** Every phase the format defines, current and legacy; anything else is a typo or corruption. */
// prettier-ignore
const KNOWN_PHASES = new Set([
  'B', 'E', 'X', 'i', 'I', 'C', 'b', 'n', 'e', 'S', 'T', 'p', 'F', 's', 't', 'f',
  'P', 'N', 'O', 'D', 'M', 'V', 'v', 'R', 'c', '(', ')',
]);

/** Phases whose events are matched or grouped by `id` (async, flow, object events). */
const ID_PHASES = new Set(['b', 'n', 'e', 'S', 'T', 'p', 'F', 's', 't', 'f', 'N', 'O', 'D']);

const METADATA_ARGS: Readonly<Record<string, { key: string; kind: 'string' | 'integer'; thread: boolean }>> =
  {
    process_name: { key: 'name', kind: 'string', thread: false },
    process_labels: { key: 'labels', kind: 'string', thread: false },
    process_sort_index: { key: 'sort_index', kind: 'integer', thread: false },
    thread_name: { key: 'name', kind: 'string', thread: true },
    thread_sort_index: { key: 'sort_index', kind: 'integer', thread: true },
  };

/**
 * Problems in a trace given as JSON text (empty when it is valid).
 *
 * @example
 * expect(validateChromeTraceJson(chromeTraceJson(events, options))).toEqual([]);
 */
export function validateChromeTraceJson(text: string, options: ValidateOptions = {}): TraceProblem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    return [{ rule: 'json', index: null, message: `not JSON: ${(error as Error).message}` }];
  }
  return validateChromeTrace(doc, options);
}

/** Problems in a parsed trace document: the JSON Object Format or the bare JSON Array Format. */
export function validateChromeTrace(doc: unknown, options: ValidateOptions = {}): TraceProblem[] {
  const checker = new Checker(options.maxProblems ?? 1000);
  let events: unknown;
  if (Array.isArray(doc)) {
    events = doc;
  } else if (isObject(doc)) {
    events = doc.traceEvents;
    if (!Array.isArray(events)) checker.report('container', null, '`traceEvents` is not an array');
    if (doc.displayTimeUnit !== undefined && doc.displayTimeUnit !== 'ms' && doc.displayTimeUnit !== 'ns') {
      checker.report('container', null, '`displayTimeUnit` must be "ms" or "ns"');
    }
    if (doc.otherData !== undefined && !isObject(doc.otherData)) {
      checker.report('container', null, '`otherData` must be an object');
    }
  } else {
    checker.report('container', null, 'the document is neither an array nor an object');
  }
  if (Array.isArray(events)) {
    for (let index = 0; index < events.length && !checker.full; index++) checker.event(events[index], index);
    checker.finish();
  }
  return checker.problems;
}

interface Open {
  readonly name: string;
  readonly ts: number;
  readonly index: number;
}

class Checker {
  readonly problems: TraceProblem[] = [];
  full = false;
  /** Open 'B' events per thread ("pid:tid"), innermost last. */
  private readonly stacks = new Map<string, Open[]>();
  /** Time of the last 'B'/'E' per thread. */
  private readonly lastTs = new Map<string, number>();
  /** Open async 'b' events by their matching key. */
  private readonly openAsync = new Map<string, Open>();
  private readonly threadNames = new Map<string, string>();

  constructor(private readonly maxProblems: number) {}

  report(rule: TraceRule, index: number | null, message: string): void {
    if (this.full) return;
    if (this.problems.length >= this.maxProblems) {
      this.problems.push({ rule: 'limit', index: null, message: `more than ${this.maxProblems} problems` });
      this.full = true;
      return;
    }
    this.problems.push({ rule, index, message });
  }

  event(event: unknown, index: number): void {
    if (!isObject(event)) return this.report('event', index, 'an event must be an object');
    const ph = event.ph;
    if (typeof ph !== 'string' || !KNOWN_PHASES.has(ph)) {
      return this.report('phase', index, `unknown phase ${JSON.stringify(ph)}`);
    }
    if (event.args !== undefined && !isObject(event.args)) {
      this.report('args', index, '`args` must be an object');
    }
    if (!isInteger(event.pid)) this.report('field', index, `'${ph}' needs an integer \`pid\``);
    if (ph === 'M') return this.metadata(event, index);

    if (typeof event.name !== 'string' && ph !== 'E') {
      this.report('field', index, `'${ph}' needs a string \`name\``);
    }
    if (!isInteger(event.tid)) this.report('field', index, `'${ph}' needs an integer \`tid\``);
    if (event.ts === undefined) return this.report('field', index, `'${ph}' needs \`ts\``);
    if (typeof event.ts !== 'number' || !Number.isFinite(event.ts)) {
      return this.report(
        'timestamp',
        index,
        `\`ts\` must be a finite number, got ${JSON.stringify(event.ts)}`,
      );
    }
    if (ID_PHASES.has(ph) && !hasId(event)) {
      return this.report('field', index, `'${ph}' needs an \`id\` (number or string) or \`id2\``);
    }
    switch (ph) {
      case 'B':
      case 'E':
        return this.duration(event, ph, index, event.ts);
      case 'b':
      case 'e':
        return this.async(event, ph, index, event.ts);
      case 'i':
      case 'I':
        if (event.s !== undefined && event.s !== 'g' && event.s !== 'p' && event.s !== 't') {
          this.report('field', index, 'instant scope `s` must be "g", "p" or "t"');
        }
        return;
      case 'X':
        if (typeof event.dur !== 'number' || !Number.isFinite(event.dur) || event.dur < 0) {
          this.report('field', index, "'X' needs a finite, non-negative `dur`");
        }
        return;
      case 'C':
        if (!isObject(event.args) || !Object.values(event.args).every((v) => typeof v === 'number')) {
          this.report('args', index, "'C' needs `args` of numbers");
        }
        return;
    }
  }

  /** 'B'/'E' nest like calls on one thread: each 'E' closes the innermost open 'B'. */
  private duration(event: Record<string, unknown>, ph: 'B' | 'E', index: number, ts: number): void {
    const thread = `${String(event.pid)}:${String(event.tid)}`;
    const last = this.lastTs.get(thread);
    if (last !== undefined && ts < last) {
      this.report('order', index, `'${ph}' at ${ts} goes back in time on thread ${thread} (last ${last})`);
    }
    this.lastTs.set(thread, ts);
    let stack = this.stacks.get(thread);
    if (stack === undefined) this.stacks.set(thread, (stack = []));
    if (ph === 'B') {
      stack.push({ name: event.name as string, ts, index });
      return;
    }
    const open = stack.pop();
    if (open === undefined) {
      this.report('nesting', index, `'E' on thread ${thread} with no open 'B'`);
    } else if (event.name !== undefined && event.name !== open.name) {
      this.report(
        'nesting',
        index,
        `'E' ${JSON.stringify(event.name)} closes 'B' ${JSON.stringify(open.name)} (event ${open.index})`,
      );
    }
  }

  /** An async 'e' ends the open 'b' with the same category, id and name; they need not nest. */
  private async(event: Record<string, unknown>, ph: 'b' | 'e', index: number, ts: number): void {
    if (typeof event.cat !== 'string') this.report('field', index, `'${ph}' needs a string \`cat\``);
    const key = asyncKey(event);
    const open = this.openAsync.get(key);
    if (ph === 'b') {
      if (open !== undefined) {
        this.report('async', index, `'b' ${key} begins again while event ${open.index} is still open`);
      }
      this.openAsync.set(key, { name: event.name as string, ts, index });
      return;
    }
    if (open === undefined) return this.report('async', index, `'e' ${key} has no open 'b'`);
    if (ts < open.ts) this.report('async', index, `'e' ${key} at ${ts} ends before its 'b' at ${open.ts}`);
    this.openAsync.delete(key);
  }

  private metadata(event: Record<string, unknown>, index: number): void {
    const name = event.name;
    const rule = typeof name === 'string' ? METADATA_ARGS[name] : undefined;
    if (rule === undefined) return this.report('metadata', index, `unknown metadata ${JSON.stringify(name)}`);
    if (rule.thread && !isInteger(event.tid))
      this.report('field', index, `${name as string} needs a \`tid\``);
    if (event.ts !== undefined && (typeof event.ts !== 'number' || !Number.isFinite(event.ts))) {
      this.report('timestamp', index, '`ts` must be a finite number');
    }
    const value = isObject(event.args) ? event.args[rule.key] : undefined;
    if (rule.kind === 'string' ? typeof value !== 'string' : !isInteger(value)) {
      return this.report('metadata', index, `${name as string} needs args.${rule.key} (${rule.kind})`);
    }
    if (name === 'thread_name') {
      const thread = `${String(event.pid)}:${String(event.tid)}`;
      const earlier = this.threadNames.get(thread);
      if (earlier !== undefined && earlier !== value) {
        this.report('metadata', index, `thread ${thread} is named both ${earlier} and ${value as string}`);
      }
      this.threadNames.set(thread, value as string);
    }
  }

  /** What is still open when the trace ends never ended. */
  finish(): void {
    for (const [thread, stack] of this.stacks) {
      for (const open of stack) {
        this.report('nesting', open.index, `'B' ${JSON.stringify(open.name)} on thread ${thread} never ends`);
      }
    }
    for (const [key, open] of this.openAsync) this.report('async', open.index, `'b' ${key} never ends`);
  }
}

/**
 * Legacy async ids are global (matched across processes) unless given as `id2.local`, which is
 * scoped to the process; `scope` further separates namespaces.
 */
function asyncKey(event: Record<string, unknown>): string {
  const id2 = isObject(event.id2) ? event.id2 : undefined;
  const id =
    id2 === undefined
      ? `id ${String(event.id)}`
      : id2.local !== undefined
        ? `local ${String(event.pid)}/${String(id2.local)}`
        : `global ${String(id2.global)}`;
  return `cat=${String(event.cat)} ${id} name=${JSON.stringify(event.name)} scope=${String(event.scope ?? '')}`;
}

function hasId(event: Record<string, unknown>): boolean {
  if (typeof event.id === 'string' || isInteger(event.id)) return true;
  if (!isObject(event.id2)) return false;
  const { local, global } = event.id2;
  return typeof local === 'string' || isInteger(local) || typeof global === 'string' || isInteger(global);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}
