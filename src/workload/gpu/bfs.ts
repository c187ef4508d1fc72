// Rodinia bfs (Harish and Narayanan's level-synchronous BFS) as a GPU workload, on a seeded
// synthetic graph with graph256k's counts (Ganguly et al., ISCA 2019: 261444 nodes, 1568420
// edges). Each host iteration launches `Kernel` (every frontier node scans its edge list and marks
// unvisited neighbours: data-dependent scattered accesses) and `Kernel2` (every marked node joins
// the next frontier); the loop ends after the iteration that marks nothing. Blocks are 512
// threads, one per node. The frontier of each kernel comes from running the BFS on the graph.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { Rng } from '../../sim/rng.js';
import { bfsCountsValid, makeBfsGraph, type BfsGraph } from './bfsGraph.js';
import {
  arrayBases,
  BOOL_BYTES,
  hostArrayStep,
  INT_BYTES,
  kernelStep,
  pushElement,
  pushElements,
} from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

const THREADS = 512;
const WARP = 32;
/** sizeof(struct Node): `starting` and `no_of_edges`. */
const NODE_BYTES = 8;

export const bfsParams = z
  .strictObject({
    nodes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 22)
      .default(261444)
      .describe('graph nodes (no_of_nodes)'),
    edges: z
      .number()
      .int()
      .min(4)
      .max(2 ** 25)
      .default(1568420)
      .describe('edge-list entries (edge_list_size): even, between 4 and 8 per node'),
    managedOver: z
      .boolean()
      .default(false)
      .describe(
        'make the `over` flag managed (the host writes it before and reads it after each iteration); ' +
          'the version behind the published runs keeps it in cudaMalloc memory',
      ),
  })
  .refine((p) => bfsCountsValid(p.nodes, p.edges), {
    message: 'edges must be even and between 4 and 8 times nodes (each node picks 2 to 4 neighbours)',
    path: ['edges'],
  });
export type BfsParams = z.output<typeof bfsParams>;

function bfsArrays(p: BfsParams): ManagedArray[] {
  // BFSGraph reads the file into all of these and sets cost to -1 before the first kernel.
  const arrays: ManagedArray[] = [
    { name: 'graph_nodes', bytes: p.nodes * NODE_BYTES, hostInit: true },
    { name: 'graph_mask', bytes: p.nodes * BOOL_BYTES, hostInit: true },
    { name: 'updating_graph_mask', bytes: p.nodes * BOOL_BYTES, hostInit: true },
    { name: 'graph_visited', bytes: p.nodes * BOOL_BYTES, hostInit: true },
    { name: 'graph_edges', bytes: p.edges * INT_BYTES, hostInit: true },
    { name: 'cost', bytes: p.nodes * INT_BYTES, hostInit: true },
  ];
  if (p.managedOver) arrays.push({ name: 'over', bytes: BOOL_BYTES, hostInit: true });
  return arrays;
}

function* bfsSteps(
  p: BfsParams,
  graph: BfsGraph,
  arrays: ManagedArray[],
  layout: ArrayLayout,
): Iterable<WorkloadStep> {
  const [nodesBase, mask, updating, visited, edgesBase, cost, over] = arrayBases(layout, arrays);
  const { offsets, targets, levels } = graph;
  const n = p.nodes;
  const blocks = Math.ceil(n / THREADS);
  // Scratch for one warp, reused by every block of every kernel: the active lanes' node ids, and
  // at each step of the edge loop each lane's edge index and neighbour (-1: the lane is done).
  const lanes = new Int32Array(WARP);
  const laneEdge = new Int32Array(WARP);
  const laneNext = new Int32Array(WARP);
  const overArray = arrays.find((a) => a.name === 'over');
  // Local copies: the hot loops below read them millions of times.
  const bool = BOOL_BYTES;
  const int = INT_BYTES;

  /** Puts the warp's lanes in [t0, t1] whose node is at `level` in `lanes`; returns how many. */
  const activeLanes = (t0: number, t1: number, level: number): number => {
    let count = 0;
    for (let tid = t0; tid <= t1; tid++) if (levels[tid] === level) lanes[count++] = tid;
    return count;
  };

  for (let k = 0; k < graph.levelCount; k++) {
    if (overArray !== undefined) yield hostArrayStep('stop = false', layout, overArray, true);

    // Kernel: nodes of level k clear their mask bit and scan their edges; a neighbour not yet
    // visited (it is at level k + 1) gets its cost and its updating bit written.
    yield kernelStep('Kernel', blocks, (b: number, out: AccessBuffer) => {
      const end = Math.min((b + 1) * THREADS, n);
      for (let t0 = b * THREADS; t0 < end; t0 += WARP) {
        const t1 = Math.min(t0 + WARP, end) - 1;
        pushElements(out, mask, t0, t1, bool, false);
        const count = activeLanes(t0, t1, k);
        let degreeMax = 0;
        for (let l = 0; l < count; l++) pushElement(out, mask, lanes[l], bool, true);
        for (let l = 0; l < count; l++) {
          pushElement(out, nodesBase, lanes[l], NODE_BYTES, false);
          degreeMax = Math.max(degreeMax, offsets[lanes[l] + 1] - offsets[lanes[l]]);
        }
        // The lanes walk their edge lists in lockstep: step j is edge j of every lane that has one.
        for (let j = 0; j < degreeMax; j++) {
          for (let l = 0; l < count; l++) {
            const e = offsets[lanes[l]] + j;
            laneEdge[l] = e < offsets[lanes[l] + 1] ? e : -1;
            if (laneEdge[l] >= 0) pushElement(out, edgesBase, e, int, false);
          }
          for (let l = 0; l < count; l++) {
            if (laneEdge[l] < 0) continue;
            const id = targets[laneEdge[l]];
            pushElement(out, visited, id, bool, false);
            laneNext[l] = levels[id] === k + 1 ? id : -1;
          }
          // g_cost[id] = g_cost[tid] + 1, then g_updating_graph_mask[id] = true.
          for (let l = 0; l < count; l++) {
            if (laneEdge[l] >= 0 && laneNext[l] >= 0) pushElement(out, cost, lanes[l], int, false);
          }
          for (let l = 0; l < count; l++) {
            if (laneEdge[l] >= 0 && laneNext[l] >= 0) pushElement(out, cost, laneNext[l], int, true);
          }
          for (let l = 0; l < count; l++) {
            if (laneEdge[l] >= 0 && laneNext[l] >= 0) pushElement(out, updating, laneNext[l], bool, true);
          }
        }
      }
    });

    // Kernel2: the nodes marked above (level k + 1) set mask and visited, raise over, clear updating.
    yield kernelStep('Kernel2', blocks, (b: number, out: AccessBuffer) => {
      const end = Math.min((b + 1) * THREADS, n);
      for (let t0 = b * THREADS; t0 < end; t0 += WARP) {
        const t1 = Math.min(t0 + WARP, end) - 1;
        pushElements(out, updating, t0, t1, bool, false);
        const count = activeLanes(t0, t1, k + 1);
        if (count === 0) continue;
        for (let l = 0; l < count; l++) pushElement(out, mask, lanes[l], bool, true);
        for (let l = 0; l < count; l++) pushElement(out, visited, lanes[l], bool, true);
        if (overArray !== undefined) out.push(over, true);
        for (let l = 0; l < count; l++) pushElement(out, updating, lanes[l], bool, true);
      }
    });

    if (overArray !== undefined) yield hostArrayStep('read stop', layout, overArray, false);
  }
  // The host writes every node's cost to result.txt.
  yield hostArrayStep('print cost', layout, arrays[5], false);
}

/**
 * Rodinia bfs on a seeded graphgen-like graph (Ganguly et al.'s graph256k counts).
 *
 * @example bfs.build(bfsParams.parse({ nodes: 1000, edges: 6000 }), 7).arrays[4].bytes // 24000
 */
export const bfs: WorkloadDefinition<BfsParams> = {
  name: 'bfs',
  description:
    'Rodinia bfs: level-synchronous BFS on a seeded random graph; frontier nodes scatter to random neighbours',
  kind: 'irregular',
  params: bfsParams,
  build(p, seed): GpuWorkload {
    const arrays = bfsArrays(p);
    // The graph is made on first use: listing arrays or working sets costs nothing.
    let graph: BfsGraph | undefined;
    return {
      name: 'bfs',
      arrays,
      steps(layout) {
        graph ??= makeBfsGraph(p.nodes, p.edges, new Rng(seed).fork('bfs-graph'));
        return bfsSteps(p, graph, arrays, layout);
      },
    };
  },
};
