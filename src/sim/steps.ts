// Driver code as steps: a generator that yields before each point where a real driver can be
// overtaken (taking a lock, calling hmm_range_fault, updating its page table, a system call).
// A plain run drives the generator straight through (`runToCompletion`); the race finder
// (check/explore) drives many of them at once and chooses who goes next at every yield.

/** A sleeping lock of a driver (a mutex): held by at most one actor at a time. */
export class DriverLock {
  holder: string | null = null;

  constructor(readonly name: string) {}
}

/** The step an actor is about to take. */
export type Step =
  /** Plain work; `enabled` says whether it can run now (a wait in the kernel, say). */
  | {
      readonly kind: 'run';
      readonly label: string;
      readonly enabled?: () => boolean;
      /** It may call mmu notifiers, so every other actor's driver locks must be free. */
      readonly invalidates?: boolean;
      /** It only reads shared state (the notifier sequence): it commutes with other reads. */
      readonly readsOnly?: boolean;
      /**
       * Another thread may run here in the kernel, but the timing model folds this point into the
       * engine step around it (an engine step is one instant): the race finder stops here, the
       * engine does not.
       */
      readonly withinEngineStep?: boolean;
    }
  /** Taking `lock`: enabled when it is free; whoever runs the program gives it the lock. */
  | { readonly kind: 'acquire'; readonly label: string; readonly lock: DriverLock };

/** A step program returning `T`. */
export type Program<T = void> = Generator<Step, T, undefined>;

/** A step of plain work. `invalidates`: it may call mmu notifiers (drivers' locks must be free). */
export function step(
  label: string,
  options: {
    enabled?: () => boolean;
    invalidates?: boolean;
    readsOnly?: boolean;
    withinEngineStep?: boolean;
  } = {},
): Step {
  return { kind: 'run', label, ...options };
}

/**
 * Runs a step program with nothing else interleaved, as a plain call: locks are taken as `owner`,
 * and a step that would have to wait can never be woken (a bug of the caller).
 */
export function runToCompletion<T>(program: Program<T>, owner: string): T {
  for (;;) {
    const r = program.next();
    if (r.done === true) return r.value;
    const s = r.value;
    if (s.kind === 'acquire') {
      if (s.lock.holder !== null)
        throw new Error(`${owner}: ${s.lock.name} is held by ${s.lock.holder}: would sleep forever`);
      s.lock.holder = owner;
    } else if (s.enabled !== undefined && !s.enabled()) {
      throw new Error(`${owner}: "${s.label}" would wait forever in a sequential run`);
    }
  }
}

/** Whether `s` could run now: a free lock, or plain work that is enabled. */
export function stepEnabled(s: Step): boolean {
  if (s.kind === 'acquire') return s.lock.holder === null;
  return s.enabled === undefined || s.enabled();
}

/**
 * Runs a program that an engine actor drives (a driver's service thread) to the next point that
 * ends an engine step, and returns that step: locks are taken as `owner` on the way (nothing else
 * runs inside an engine step, so they are free) and points `withinEngineStep` are passed.
 */
export function advanceToEngineStep(program: Program<never>, owner: string): Step {
  for (;;) {
    const s = program.next().value;
    if (s.kind === 'acquire') {
      if (s.lock.holder !== null)
        throw new Error(`${owner}: ${s.lock.name} is held by ${s.lock.holder} inside one engine step`);
      s.lock.holder = owner;
    } else if (s.withinEngineStep !== true) {
      return s;
    }
  }
}
