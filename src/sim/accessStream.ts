// What a workload hands a device or a CPU thread: a stream of page offsets to access, produced by
// an access pattern (workload/patterns.ts). Offsets are relative to the start of the region.

export interface AccessStream {
  /** The next page offset to access, or -1 when the stream is exhausted. */
  next(): number;
}
