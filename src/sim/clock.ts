// Simulated time: an integer count of nanoseconds that only moves when the model charges time.

export class SimClock {
  private now = 0;

  get nowNs(): number {
    return this.now;
  }

  /** Moves time forward by a whole, non-negative number of nanoseconds. */
  advance(ns: number): void {
    if (!Number.isInteger(ns) || ns < 0)
      throw new RangeError(`clock advance must be a whole ns >= 0, got ${ns}`);
    this.now += ns;
  }

  /** Sets time to `ns`, which must not be in the past (the scheduler uses this). */
  advanceTo(ns: number): void {
    if (!Number.isInteger(ns) || ns < this.now) {
      throw new RangeError(`clock can only move forward to a whole ns, now ${this.now}, asked ${ns}`);
    }
    this.now = ns;
  }
}
