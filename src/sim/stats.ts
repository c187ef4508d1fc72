// Named statistics counters. A counter is registered once and bumped by its numeric id, so the hot
// path is one typed-array add.

export type CounterId = number;

export class Stats {
  private values = new Float64Array(64);
  private readonly ids = new Map<string, CounterId>();
  private readonly names: string[] = [];

  /** The id of counter `name`, registering it (at zero) on first use. */
  counter(name: string): CounterId {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
      if (id >= this.values.length) {
        const grown = new Float64Array(this.values.length * 2);
        grown.set(this.values);
        this.values = grown;
      }
    }
    return id;
  }

  add(id: CounterId, n = 1): void {
    this.values[id] += n;
  }

  /** The value of a counter by id. */
  value(id: CounterId): number {
    return this.values[id];
  }

  /** The value of a counter by name (0 if it was never registered). */
  get(name: string): number {
    const id = this.ids.get(name);
    return id === undefined ? 0 : this.values[id];
  }

  /** Every registered counter, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of [...this.names].sort()) out[name] = this.values[this.ids.get(name)!];
    return out;
  }

  reset(): void {
    this.values.fill(0);
  }
}
