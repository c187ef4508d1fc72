// The three kinds of failure hetmem distinguishes. Modeled failures are errno results (errno.ts);
// these exceptions are for the other two: input the user got wrong, and a model that broke its own
// rules (or a caller that broke a kernel precondition, which the kernel would answer with BUG()).

/** Where in a user's input something was wrong. Lines and columns count from 1. */
export interface InputLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The field the problem is in, as a path (`processes[0].program[2].size`). */
  readonly field?: string;
}

/** Bad user input: a scenario, an operation file, a command-line value. Never a model bug. */
export class InputError extends Error {
  readonly location: InputLocation;
  readonly expected: string;
  readonly got: string | undefined;

  constructor(location: InputLocation, expected: string, got?: string) {
    super(InputError.format(location, expected, got));
    this.name = 'InputError';
    this.location = location;
    this.expected = expected;
    this.got = got;
  }

  static format(location: InputLocation, expected: string, got?: string): string {
    let where = location.file;
    if (location.line !== undefined) where += `:${location.line}`;
    if (location.column !== undefined) where += `:${location.column}`;
    if (location.field !== undefined) where += `: ${location.field}`;
    return got === undefined
      ? `${where}: expected ${expected}`
      : `${where}: expected ${expected}, got ${got}`;
  }
}

/** Several problems found in one input (a scenario with more than one mistake): all are reported. */
export class InputErrorList extends InputError {
  readonly errors: readonly InputError[];

  constructor(errors: readonly InputError[]) {
    const first = errors[0];
    super(first.location, first.expected, first.got);
    this.name = 'InputError';
    this.errors = errors;
    this.message = errors.map((e) => e.message).join('\n');
  }
}

/** A broken model invariant. Never caught inside the model: it means hetmem itself is wrong. */
export class InvariantError extends Error {
  readonly objects: Readonly<Record<string, unknown>>;

  constructor(message: string, objects: Record<string, unknown> = {}) {
    super(message);
    this.name = 'InvariantError';
    this.objects = objects;
  }
}

/**
 * A caller broke a precondition that the kernel enforces with BUG() or WARN() (for example registering
 * a notifier on an mm whose users count is zero). Thrown, because no errno exists for it.
 */
export class KernelBug extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelBug';
  }
}

/** A bound on something that grows (events, retries, queue depth, simulated time) was reached. */
export class LimitError extends Error {
  readonly limit: string;
  readonly value: number;

  constructor(limit: string, value: number, message: string) {
    super(message);
    this.name = 'LimitError';
    this.limit = limit;
    this.value = value;
  }
}

/** A kernel behavior hetmem does not model (yet): it fails loudly rather than answer wrongly. */
export class NotModeledError extends Error {
  constructor(what: string) {
    super(`not modeled: ${what}`);
    this.name = 'NotModeledError';
  }
}

/** Shorthand for an assertion that states what must not happen. */
export function invariant(
  condition: boolean,
  message: string,
  objects?: Record<string, unknown>,
): asserts condition {
  if (!condition) throw new InvariantError(message, objects);
}
