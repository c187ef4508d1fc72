// The discrete-event engine: actors (CPU threads, device engines, driver work) advance in steps on
// one simulated clock, ordered by (time, sequence). An operation an actor performs takes effect at
// once and charges simulated time through the cost model; the engine adds the charges up and the
// actor's next step comes that much later, so a CPU thread and a device running at the same time
// really overlap. Work the kernel defers (work queues, interrupt threads, responses in flight) is
// scheduled on the same queue, relative to the moment the charging operation reached that point.
// Outside a step (a library call from a test) charges only offset the deferred work it schedules.

import type { SimClock } from './clock.js';
import { LimitError } from './errors.js';
import { EventQueue } from './events.js';
import type { TraceRecorder } from './trace.js';

/** What an actor's step returns: the delay before its next step, or that it is done or waits. */
export type StepResult = number | 'done' | 'blocked';

/** Something that advances in steps: a CPU thread running a program, a device engine, a driver. */
export interface Actor {
  /** Unique name; also the trace track. */
  readonly name: string;
  /** Performs one step at the engine's current time; charges go through `engine.charge`. */
  step(engine: Engine): StepResult;
  /** A service that waits for work forever (a driver thread): never reported as stuck. */
  readonly daemon?: boolean;
}

export interface EngineLimits {
  /** Events in one run (default 50,000,000). */
  readonly maxEvents?: number;
  /** Simulated time a run may reach, in ns (default 1 hour). */
  readonly maxSimNs?: number;
  /** Retries of any one retry loop (notifier sequence, fault replays) before it is an error (default 10,000). */
  readonly maxRetries?: number;
}

export interface RunOptions {
  /** A tighter event limit for this run (default: the engine's). */
  readonly maxEvents?: number;
  /** Called every `progressEvery` events with the events run and the simulated time. */
  readonly onProgress?: (eventsRun: number, simNs: number) => void;
  readonly progressEvery?: number;
}

interface ActorState {
  readonly actor: Actor;
  /** Whether a step is scheduled (or the actor is finished). */
  scheduled: boolean;
  done: boolean;
  steps: number;
  /** Simulated time spent in this actor's steps (sum of charges). */
  busyNs: number;
}

export class Engine {
  readonly clock: SimClock;
  readonly events: EventQueue;
  readonly limits: Required<EngineLimits>;
  trace: TraceRecorder | null = null;
  /** Time charged by the operation in progress, not yet on the clock. */
  private chargedNs = 0;
  private current: ActorState | null = null;
  private readonly actors = new Map<Actor, ActorState>();
  private readonly retries = new Map<string, number>();

  constructor(clock: SimClock, limits: EngineLimits = {}) {
    this.clock = clock;
    this.events = new EventQueue(clock, () => this.chargedNs);
    this.limits = {
      maxEvents: limits.maxEvents ?? 50_000_000,
      maxSimNs: limits.maxSimNs ?? 3_600_000_000_000,
      maxRetries: limits.maxRetries ?? 10_000,
    };
  }

  /** The current instant of whoever is running: the clock plus what the running step charged. */
  get nowNs(): number {
    return this.clock.nowNs + this.chargedNs;
  }

  /** The actor whose step is running, or null (deferred work, or a caller outside the engine). */
  get currentActor(): Actor | null {
    return this.current?.actor ?? null;
  }

  /** Charges `ns` of simulated time to the operation in progress (cost-model durations only). */
  charge(ns: number): void {
    this.chargedNs += ns;
  }

  /** Starts `actor`: its first step runs `delayNs` from now. */
  addActor(actor: Actor, delayNs = 0): void {
    if (this.actors.has(actor)) throw new RangeError(`actor ${actor.name} was added twice`);
    const state: ActorState = { actor, scheduled: true, done: false, steps: 0, busyNs: 0 };
    this.actors.set(actor, state);
    this.events.schedule(delayNs, actor.name, this.runStep, state);
  }

  /** Wakes an actor whose last step returned 'blocked' (no effect if it is scheduled or done). */
  wake(actor: Actor, delayNs = 0): void {
    const state = this.actors.get(actor);
    if (state === undefined || state.done || state.scheduled) return;
    state.scheduled = true;
    this.events.schedule(delayNs, actor.name, this.runStep, state);
  }

  /** Counts one retry of the loop `what`; past the limit it is an error (a livelock, not a hang). */
  noteRetry(what: string): void {
    const n = (this.retries.get(what) ?? 0) + 1;
    this.retries.set(what, n);
    if (n > this.limits.maxRetries) {
      throw new LimitError(
        'engine.maxRetries',
        this.limits.maxRetries,
        `${what} retried more than ${this.limits.maxRetries} times`,
      );
    }
  }

  /** Per-actor statistics: steps taken and simulated time spent working. */
  actorStats(): { name: string; steps: number; busyNs: number; done: boolean }[] {
    return [...this.actors.values()].map((s) => ({
      name: s.actor.name,
      steps: s.steps,
      busyNs: s.busyNs,
      done: s.done || s.actor.daemon === true,
    }));
  }

  /** Actors neither finished nor scheduled: waiting for something that may never come. */
  blockedActors(): string[] {
    return [...this.actors.values()]
      .filter((s) => !s.done && !s.scheduled && s.actor.daemon !== true)
      .map((s) => s.actor.name);
  }

  /**
   * Runs events until none is left. Throws LimitError past `maxEvents` or `maxSimNs`. Returns the
   * number of events run.
   */
  run(options: RunOptions = {}): number {
    const every = options.progressEvery ?? 65_536;
    const max = options.maxEvents ?? this.limits.maxEvents;
    let n = 0;
    while (this.events.pending > 0) {
      if (n >= max) {
        throw new LimitError(
          'engine.maxEvents',
          max,
          `the run reached its limit of ${max} events at ${this.clock.nowNs} ns (next: ${this.events.nextActor()})`,
        );
      }
      if (this.events.nextAtNs() > this.limits.maxSimNs) {
        throw new LimitError(
          'engine.maxSimNs',
          this.limits.maxSimNs,
          `the run reached its limit of ${this.limits.maxSimNs} ns of simulated time`,
        );
      }
      this.step();
      n++;
      if (options.onProgress !== undefined && n % every === 0) options.onProgress(n, this.clock.nowNs);
    }
    return n;
  }

  /**
   * Runs one event. What it charges delays only its own continuation (an actor's next step, the
   * deferred work it scheduled), never the clock: the other actors go on meanwhile.
   */
  step(): boolean {
    this.chargedNs = 0;
    const ran = this.events.step();
    this.chargedNs = 0;
    return ran;
  }

  private readonly runStep = (state: ActorState): void => {
    state.scheduled = false;
    if (state.done) return;
    this.current = state;
    const before = this.chargedNs;
    let r: StepResult;
    try {
      r = state.actor.step(this);
    } finally {
      this.current = null;
    }
    const spent = this.chargedNs - before;
    state.steps++;
    state.busyNs += spent;
    if (r === 'done') {
      state.done = true;
    } else if (r !== 'blocked') {
      state.scheduled = true;
      this.events.schedule(r, state.actor.name, this.runStep, state);
    }
  };
}
