// A latency histogram in power-of-two buckets: constant memory and an add that allocates nothing,
// whatever the number of samples. Bucket 0 holds samples below 1 ns, bucket i samples in
// [2^(i-1), 2^i) ns.

const BUCKETS = 48;

export class Log2Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumNs = 0;
  minNs = Infinity;
  maxNs = 0;

  constructor(readonly name: string) {}

  add(ns: number): void {
    let b: number;
    if (ns < 1) b = 0;
    else if (ns < 2147483648) b = 32 - Math.clz32(ns);
    else b = Math.min(BUCKETS - 1, Math.floor(Math.log2(ns)) + 1);
    this.counts[b]++;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** The histogram as plain data (report/types.ts Histogram), trailing empty buckets dropped. */
  snapshot(): {
    name: string;
    unit: 'ns';
    counts: number[];
    count: number;
    sumNs: number;
    minNs: number;
    maxNs: number;
  } {
    let last = BUCKETS - 1;
    while (last > 0 && this.counts[last] === 0) last--;
    return {
      name: this.name,
      unit: 'ns',
      counts: Array.from(this.counts.subarray(0, last + 1)),
      count: this.count,
      sumNs: this.sumNs,
      minNs: this.count === 0 ? 0 : this.minNs,
      maxNs: this.maxNs,
    };
  }
}
