// What an explored actor is: a generator that yields before each step it is about to take, so the
// explorer decides what runs next. A step is one of the points where a real driver or thread can
// be overtaken: before taking a lock, before calling hmm_range_fault, before updating the device
// page table, before a system call. Code between two yields runs atomically.

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
    }
  /** Taking `lock`: enabled when it is free; the explorer gives it to the actor as the step runs. */
  | { readonly kind: 'acquire'; readonly label: string; readonly lock: DriverLock };

/** An explored actor's program. */
export type Program = Generator<Step, void, undefined>;

/** A step of plain work. `invalidates`: it may call mmu notifiers (drivers' locks must be free). */
export function step(
  label: string,
  options: { enabled?: () => boolean; invalidates?: boolean; readsOnly?: boolean } = {},
): Step {
  return { kind: 'run', label, ...options };
}
