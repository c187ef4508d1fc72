// The input graph of the bfs workload, made the way Rodinia's graphgen makes its graph files: each
// node picks 2 to 4 random neighbours (repeats and self-loops allowed) and every such edge is stored
// in both directions, so the average degree is 6 and the graph is connected with high probability.
// The per-node edge counts are nudged so the total is exactly the requested edge count (graph256k:
// 261444 nodes, 1568420 edges). Each node's edge list is sorted. BFS levels from node 0 (the
// program's source) are computed here, so the workload knows each kernel's frontier.

import type { Rng } from '../../sim/rng.js';

/** Neighbours a node picks itself (graphgen's MIN_EDGES and MAX_INIT_EDGES). */
export const OWN_EDGES_MIN = 2;
export const OWN_EDGES_MAX = 4;

export interface BfsGraph {
  readonly nodes: number;
  readonly edges: number;
  /** Node i's neighbours are `targets[offsets[i] .. offsets[i + 1])` (the program's `Node`). */
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
  /** BFS level of each node from node 0; -1 for a node node 0 does not reach. */
  readonly levels: Int32Array;
  /** Distinct levels reached (the deepest level + 1): the iterations of the host loop. */
  readonly levelCount: number;
}

/** Whether `makeBfsGraph` can make a graph with these counts. */
export function bfsCountsValid(nodes: number, edges: number): boolean {
  return edges % 2 === 0 && edges >= 2 * OWN_EDGES_MIN * nodes && edges <= 2 * OWN_EDGES_MAX * nodes;
}

/** Edge counts each node picks: uniform in [2, 4], then nudged until they sum to `total`. */
function ownEdgeCounts(nodes: number, total: number, rng: Rng): Uint8Array {
  const own = new Uint8Array(nodes);
  let sum = 0;
  for (let i = 0; i < nodes; i++) {
    own[i] = OWN_EDGES_MIN + rng.below(OWN_EDGES_MAX - OWN_EDGES_MIN + 1);
    sum += own[i];
  }
  // Random nodes first; a bounded number of tries, then a sweep finishes what is left.
  for (let tries = 0; sum !== total && tries < 8 * nodes; tries++) {
    const i = rng.below(nodes);
    if (sum > total && own[i] > OWN_EDGES_MIN) {
      own[i]--;
      sum--;
    } else if (sum < total && own[i] < OWN_EDGES_MAX) {
      own[i]++;
      sum++;
    }
  }
  for (let i = 0; i < nodes && sum !== total; i++) {
    while (sum > total && own[i] > OWN_EDGES_MIN) {
      own[i]--;
      sum--;
    }
    while (sum < total && own[i] < OWN_EDGES_MAX) {
      own[i]++;
      sum++;
    }
  }
  if (sum !== total) throw new RangeError(`cannot give ${nodes} nodes ${2 * total} edges`);
  return own;
}

/** Sorts `a[first, end)` in place (lists are short: about 6 entries). */
function insertionSort(a: Int32Array, first: number, end: number): void {
  for (let i = first + 1; i < end; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= first && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/** BFS levels from `source` over a CSR graph. */
export function bfsLevels(offsets: Int32Array, targets: Int32Array, source: number): Int32Array {
  const nodes = offsets.length - 1;
  const levels = new Int32Array(nodes).fill(-1);
  const queue = new Int32Array(nodes);
  let head = 0;
  let tail = 0;
  levels[source] = 0;
  queue[tail++] = source;
  while (head < tail) {
    const u = queue[head++];
    for (let e = offsets[u]; e < offsets[u + 1]; e++) {
      const v = targets[e];
      if (levels[v] < 0) {
        levels[v] = levels[u] + 1;
        queue[tail++] = v;
      }
    }
  }
  return levels;
}

/**
 * A graphgen-like graph with exactly `nodes` nodes and `edges` directed edge entries (each
 * undirected edge counted in both lists), and its BFS levels from node 0.
 *
 * @example makeBfsGraph(1000, 6000, new Rng(1)).offsets[1000] // 6000
 */
export function makeBfsGraph(nodes: number, edges: number, rng: Rng): BfsGraph {
  if (!Number.isInteger(nodes) || nodes < 1 || !bfsCountsValid(nodes, edges)) {
    throw new RangeError(
      `a bfs graph of ${nodes} nodes needs an even edge count in [${4 * nodes}, ${8 * nodes}], got ${edges}`,
    );
  }
  const own = ownEdgeCounts(nodes, edges / 2, rng);
  const picks = new Int32Array(edges / 2);
  const degree = new Int32Array(nodes);
  let k = 0;
  for (let i = 0; i < nodes; i++) {
    for (let n = 0; n < own[i]; n++) {
      const d = rng.below(nodes);
      picks[k++] = d;
      degree[i]++;
      degree[d]++;
    }
  }
  const offsets = new Int32Array(nodes + 1);
  for (let i = 0; i < nodes; i++) offsets[i + 1] = offsets[i] + degree[i];
  const cursor = offsets.slice(0, nodes);
  const targets = new Int32Array(edges);
  k = 0;
  for (let i = 0; i < nodes; i++) {
    for (let n = 0; n < own[i]; n++) {
      const d = picks[k++];
      targets[cursor[i]++] = d;
      targets[cursor[d]++] = i;
    }
  }
  for (let i = 0; i < nodes; i++) insertionSort(targets, offsets[i], offsets[i + 1]);
  const levels = bfsLevels(offsets, targets, 0);
  let deepest = 0;
  for (let i = 0; i < nodes; i++) deepest = Math.max(deepest, levels[i]);
  return { nodes, edges, offsets, targets, levels, levelCount: deepest + 1 };
}
