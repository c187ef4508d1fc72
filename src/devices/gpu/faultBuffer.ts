// The GPU's replayable fault buffer: a fixed number of entries the GPU writes a far fault into and
// the driver fetches in batches. A fault that finds the buffer full is dropped (its access simply
// faults again at the next replay), as with NVIDIA's hardware buffer. Entries are typed-array
// columns so raising a fault allocates nothing.

export const FAULT_WRITE = 1;
export const FAULT_ATOMIC = 2;
/** The faulting kernel wants its pages mirrored, not migrated (mode `mirror`). */
export const FAULT_MIRROR = 4;

export class FaultBuffer {
  readonly capacity: number;
  readonly space: Int32Array;
  readonly vpn: Float64Array;
  readonly flags: Uint8Array;
  readonly atNs: Float64Array;
  private head = 0;
  length = 0;
  /** Faults dropped because the buffer was full. */
  dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`fault buffer: need at least 1 entry, got ${capacity}`);
    this.capacity = capacity;
    this.space = new Int32Array(capacity);
    this.vpn = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.atNs = new Float64Array(capacity);
  }

  /** Writes a fault; false when the buffer is full (the fault is lost). */
  push(spaceIndex: number, vpn: number, flags: number, atNs: number): boolean {
    if (this.length === this.capacity) {
      this.dropped++;
      return false;
    }
    const i = (this.head + this.length) % this.capacity;
    this.space[i] = spaceIndex;
    this.vpn[i] = vpn;
    this.flags[i] = flags;
    this.atNs[i] = atNs;
    this.length++;
    return true;
  }

  /** Index of the oldest entry (valid while length > 0); `pop` releases it. */
  get oldest(): number {
    return this.head;
  }

  pop(): void {
    this.head = (this.head + 1) % this.capacity;
    this.length--;
  }
}
