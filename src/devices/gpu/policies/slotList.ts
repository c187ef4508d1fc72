// An intrusive doubly-linked list over GPU memory slots in typed arrays: the recency order LRU
// policies keep, with O(1) insert, move-to-back and unlink and no allocation per page.

export class SlotList {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly linked: Uint8Array;
  /** Sentinel index: the list is circular through it. */
  private readonly head: number;
  size = 0;

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity + 1);
    this.next = new Int32Array(capacity + 1);
    this.linked = new Uint8Array(capacity + 1);
    this.head = capacity;
    this.prev[capacity] = capacity;
    this.next[capacity] = capacity;
  }

  has(slot: number): boolean {
    return this.linked[slot] === 1;
  }

  /** Appends `slot` at the back (most recent); moves it there if it is already linked. */
  pushBack(slot: number): void {
    const h = this.head;
    if (this.linked[slot] === 1) {
      if (this.prev[h] === slot) return;
      this.unlink(slot);
    }
    const last = this.prev[h];
    this.next[last] = slot;
    this.prev[slot] = last;
    this.next[slot] = h;
    this.prev[h] = slot;
    this.linked[slot] = 1;
    this.size++;
  }

  unlink(slot: number): void {
    if (this.linked[slot] !== 1) return;
    const p = this.prev[slot];
    const n = this.next[slot];
    this.next[p] = n;
    this.prev[n] = p;
    this.linked[slot] = 0;
    this.size--;
  }

  /** The front (least recent) slot, or -1 when empty. */
  first(): number {
    const f = this.next[this.head];
    return f === this.head ? -1 : f;
  }

  /** The slot after `slot` towards the back, or -1 at the end. */
  after(slot: number): number {
    const n = this.next[slot];
    return n === this.head ? -1 : n;
  }
}
