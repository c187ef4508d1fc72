// The deferred-work queue of the simulator: callbacks due at a simulated time, run in (time,
// sequence) order. Kernel work that the real system defers (work-queue items, interrupt threads,
// grace periods, device responses in flight) is scheduled here; "run the simulator until idle"
// drains it. The full engine (actors with their own clocks, issue 6) builds on the same ordering.

import { LimitError } from './errors.js';
import type { SimClock } from './clock.js';

/** A scheduled callback. `actor` names who runs it (for traces and error messages). */
interface PendingEvent {
  atNs: number;
  seq: number;
  actor: string;
  fn: ((arg: unknown) => void) | null;
  arg: unknown;
}

/** Spent event records kept for reuse, so a busy simulation allocates no record per event. */
const POOL_MAX = 4096;

export interface RunLimits {
  /** At most this many events in one run (default 10,000,000). */
  readonly maxEvents?: number;
}

export class EventQueue {
  private readonly heap: PendingEvent[] = [];
  private readonly pool: PendingEvent[] = [];
  private nextSeq = 0;
  /** Events run since the queue was made. */
  eventsRun = 0;
  /** Who ran the most recent event (observers name each step after it). */
  lastActor = '';

  /**
   * `offsetNs` is how far the operation in progress has got past the clock (the engine's charges):
   * work it schedules is due that much later.
   */
  constructor(
    private readonly clock: SimClock,
    private readonly offsetNs: () => number = () => 0,
  ) {}

  /** Who runs the earliest pending event (for messages). */
  nextActor(): string {
    return this.heap.length === 0 ? 'nothing' : `${this.heap[0].actor} at ${this.heap[0].atNs} ns`;
  }

  /** Whether the earliest pending event runs `fn` (what kind of work comes next). */
  nextRuns(fn: (arg: never) => void): boolean {
    return this.heap.length > 0 && this.heap[0].fn === fn;
  }

  /** When the earliest pending event is due (Infinity when none is). */
  nextAtNs(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0].atNs;
  }

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs `fn(arg)` as `actor` once `delayNs` of simulated time have passed (0: after what is due
   * now). Passing the argument instead of a closure keeps hot paths allocation-free.
   */
  schedule<T>(delayNs: number, actor: string, fn: (arg: T) => void, arg?: T): void {
    if (!Number.isInteger(delayNs) || delayNs < 0) {
      throw new RangeError(`event delay must be a whole ns >= 0, got ${delayNs} (${actor})`);
    }
    const ev = this.pool.pop() ?? { atNs: 0, seq: 0, actor: '', fn: null, arg: undefined };
    ev.atNs = this.clock.nowNs + this.offsetNs() + delayNs;
    ev.seq = this.nextSeq++;
    ev.actor = actor;
    ev.fn = fn as (arg: unknown) => void;
    ev.arg = arg;
    this.push(ev);
  }

  /** Runs the earliest event; returns false when none is pending. */
  step(): boolean {
    const ev = this.pop();
    if (ev === undefined) return false;
    // Work done synchronously may have moved the clock past an event's due time: it runs late.
    if (ev.atNs > this.clock.nowNs) this.clock.advanceTo(ev.atNs);
    this.eventsRun++;
    this.lastActor = ev.actor;
    const fn = ev.fn!;
    const arg = ev.arg;
    ev.fn = null;
    ev.arg = undefined;
    if (this.pool.length < POOL_MAX) this.pool.push(ev);
    fn(arg);
    return true;
  }

  /** Runs events until none is pending. Returns how many ran. */
  runUntilEmpty(limits: RunLimits = {}): number {
    const max = limits.maxEvents ?? 10_000_000;
    let n = 0;
    while (this.heap.length > 0) {
      if (n >= max) {
        const next = this.heap[0];
        throw new LimitError(
          'sim.maxEvents',
          max,
          `the simulator ran ${max} events without becoming idle (next: ${next.actor} at ${next.atNs} ns)`,
        );
      }
      this.step();
      n++;
    }
    return n;
  }

  private before(a: PendingEvent, b: PendingEvent): boolean {
    return a.atNs < b.atNs || (a.atNs === b.atNs && a.seq < b.seq);
  }

  private push(ev: PendingEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(ev, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = ev;
  }

  private pop(): PendingEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && this.before(h[r], h[l]) ? r : l;
        if (!this.before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
