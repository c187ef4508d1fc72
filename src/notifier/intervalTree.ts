// An interval tree over closed intervals [start, last] (an AVL tree keyed by start, each node
// carrying the largest `last` of its subtree). Finding the k intervals that intersect a range costs
// O(log n + k); hits come out in ascending start order, equal starts in insertion order, as the
// kernel's interval-tree iteration gives them. Used for interval mmu notifiers.

export interface IntervalNode<T> {
  readonly start: number;
  readonly last: number;
  readonly value: T;
}

class Node<T> implements IntervalNode<T> {
  left: Node<T> | null = null;
  right: Node<T> | null = null;
  height = 1;
  maxLast: number;

  constructor(
    readonly start: number,
    readonly last: number,
    readonly seq: number,
    readonly value: T,
  ) {
    this.maxLast = last;
  }
}

function height<T>(n: Node<T> | null): number {
  return n === null ? 0 : n.height;
}

function update<T>(n: Node<T>): void {
  n.height = 1 + Math.max(height(n.left), height(n.right));
  let m = n.last;
  if (n.left !== null && n.left.maxLast > m) m = n.left.maxLast;
  if (n.right !== null && n.right.maxLast > m) m = n.right.maxLast;
  n.maxLast = m;
}

function rotateRight<T>(n: Node<T>): Node<T> {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft<T>(n: Node<T>): Node<T> {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

function balance<T>(n: Node<T>): Node<T> {
  update(n);
  const bf = height(n.left) - height(n.right);
  if (bf > 1) {
    if (height(n.left!.left) < height(n.left!.right)) n.left = rotateLeft(n.left!);
    return rotateRight(n);
  }
  if (bf < -1) {
    if (height(n.right!.right) < height(n.right!.left)) n.right = rotateRight(n.right!);
    return rotateLeft(n);
  }
  return n;
}

/** Orders nodes by start, then by insertion sequence (so equal starts keep a fixed order). */
function before<T>(a: Node<T>, start: number, seq: number): boolean {
  return a.start < start || (a.start === start && a.seq < seq);
}

export class IntervalTree<T> {
  private root: Node<T> | null = null;
  private readonly nodes = new Map<T, Node<T>>();
  private nextSeq = 0;

  get size(): number {
    return this.nodes.size;
  }

  has(value: T): boolean {
    return this.nodes.has(value);
  }

  /** Inserts `value` covering [start, last]; a value may be in the tree once. */
  insert(start: number, last: number, value: T): void {
    if (last < start) throw new RangeError(`interval [${start}, ${last}] is empty`);
    if (this.nodes.has(value)) throw new Error('value already in the interval tree');
    const node = new Node(start, last, this.nextSeq++, value);
    this.nodes.set(value, node);
    this.root = this.insertAt(this.root, node);
  }

  remove(value: T): boolean {
    const node = this.nodes.get(value);
    if (node === undefined) return false;
    this.nodes.delete(value);
    this.root = this.removeAt(this.root, node);
    return true;
  }

  /** Calls `visit` for every interval intersecting [start, last], in ascending start order. */
  forEachIntersecting(start: number, last: number, visit: (value: T, node: IntervalNode<T>) => void): void {
    this.visit(this.root, start, last, visit);
  }

  /** The values intersecting [start, last], in ascending start order. */
  intersecting(start: number, last: number): T[] {
    const out: T[] = [];
    this.visit(this.root, start, last, (v) => out.push(v));
    return out;
  }

  /** Whether any interval intersects [start, last]. */
  anyIntersecting(start: number, last: number): boolean {
    let n = this.root;
    while (n !== null) {
      if (n.maxLast < start) return false;
      if (n.left !== null && n.left.maxLast >= start) {
        n = n.left;
        continue;
      }
      if (n.start <= last && n.last >= start) return true;
      if (n.start > last) return false;
      n = n.right;
    }
    return false;
  }

  values(): T[] {
    const out: T[] = [];
    this.visit(this.root, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, (v) => out.push(v));
    return out;
  }

  private visit(
    n: Node<T> | null,
    start: number,
    last: number,
    cb: (value: T, node: IntervalNode<T>) => void,
  ): void {
    while (n !== null) {
      if (n.maxLast < start) return;
      if (n.left !== null) this.visit(n.left, start, last, cb);
      if (n.start > last) return;
      if (n.last >= start) cb(n.value, n);
      n = n.right;
    }
  }

  private insertAt(n: Node<T> | null, node: Node<T>): Node<T> {
    if (n === null) return node;
    if (before(node, n.start, n.seq)) n.left = this.insertAt(n.left, node);
    else n.right = this.insertAt(n.right, node);
    return balance(n);
  }

  private removeAt(n: Node<T> | null, node: Node<T>): Node<T> | null {
    if (n === null) throw new Error('interval tree node not found');
    if (n === node) {
      if (n.left === null) return n.right;
      if (n.right === null) return n.left;
      // Replace by the smallest node of the right subtree.
      let min = n.right;
      while (min.left !== null) min = min.left;
      min.right = this.removeMin(n.right);
      min.left = n.left;
      return balance(min);
    }
    if (before(node, n.start, n.seq)) n.left = this.removeAt(n.left, node);
    else n.right = this.removeAt(n.right, node);
    return balance(n);
  }

  private removeMin(n: Node<T>): Node<T> | null {
    if (n.left === null) return n.right;
    n.left = this.removeMin(n.left);
    return balance(n);
  }
}
