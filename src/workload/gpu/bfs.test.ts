// bfs: the synthetic graph has exactly the requested counts, the same seed gives the same access
// stream, the BFS levels match the paper's iteration count, and each kernel touches exactly the
// pages its frontier implies, computed here from the graph (ganguly2019.md §6).

import { describe, expect, it } from 'vitest';
import { Rng } from '../../sim/rng.js';
import { bfs, bfsParams } from './bfs.js';
import { bfsLevels, makeBfsGraph, type BfsGraph } from './bfsGraph.js';
import { gridWords, PAGE_READ, PAGE_WRITE, pageFlagDifferences, pageFlags } from './inspect.js';
import { layoutArrays } from './layout.js';
import type { ArrayLayout, GpuWorkload, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;

/** The graph the workload runs on (the same derivation as bfs.ts: the seed's 'bfs-graph' fork). */
const graphFor = (nodes: number, edges: number, seed: number): BfsGraph =>
  makeBfsGraph(nodes, edges, new Rng(seed).fork('bfs-graph'));

/** Each step as a line: a kernel's name, blocks, access count and a hash of its access words. */
function fingerprint(w: GpuWorkload): string[] {
  const layout = layoutArrays(w.arrays);
  return [...w.steps(layout)].map((s) => {
    if (s.kind === 'host') return `${s.name} ${s.firstPage}-${s.lastPage} ${s.write}`;
    const words = gridWords(s.grid);
    let h = 0x811c9dc5;
    for (const x of words) h = Math.imul(h ^ x, 0x01000193);
    return `${s.name} ${s.grid.blocks} ${words.length} ${(h >>> 0).toString(16)}`;
  });
}

/** Pages Kernel (level k) and Kernel2 touch, from the graph: frontier = nodes at level k. */
function expectedKernels(
  layout: ArrayLayout,
  g: BfsGraph,
  k: number,
  over: boolean,
): [Uint8Array, Uint8Array] {
  const kernel = new Uint8Array(layout.totalPages);
  const kernel2 = new Uint8Array(layout.totalPages);
  const mark = (map: Uint8Array, array: string, index: number, bytes: number, flag: number): void => {
    map[layout.offset(array) + Math.floor((index * bytes) / 4096)] |= flag;
  };
  for (let tid = 0; tid < g.nodes; tid++) {
    mark(kernel, 'graph_mask', tid, 1, PAGE_READ);
    mark(kernel2, 'updating_graph_mask', tid, 1, PAGE_READ);
    if (g.levels[tid] === k) {
      mark(kernel, 'graph_mask', tid, 1, PAGE_WRITE);
      mark(kernel, 'graph_nodes', tid, 8, PAGE_READ);
      for (let e = g.offsets[tid]; e < g.offsets[tid + 1]; e++) {
        const id = g.targets[e];
        mark(kernel, 'graph_edges', e, 4, PAGE_READ);
        mark(kernel, 'graph_visited', id, 1, PAGE_READ);
        if (g.levels[id] === k + 1) {
          mark(kernel, 'cost', tid, 4, PAGE_READ);
          mark(kernel, 'cost', id, 4, PAGE_WRITE);
          mark(kernel, 'updating_graph_mask', id, 1, PAGE_WRITE);
        }
      }
    }
    if (g.levels[tid] === k + 1) {
      mark(kernel2, 'graph_mask', tid, 1, PAGE_WRITE);
      mark(kernel2, 'graph_visited', tid, 1, PAGE_WRITE);
      mark(kernel2, 'updating_graph_mask', tid, 1, PAGE_WRITE);
      if (over) mark(kernel2, 'over', 0, 1, PAGE_WRITE);
    }
  }
  return [kernel, kernel2];
}

describe('bfs graph', () => {
  it('has exactly the requested nodes and edges, symmetric lists, sorted per node', () => {
    const g = graphFor(5000, 29998, 3);
    expect(g.offsets).toHaveLength(5001);
    expect(g.offsets[5000]).toBe(29998);
    expect(g.targets).toHaveLength(29998);
    // Each undirected edge is in both lists (a self-loop twice in its node's list): counting u -> v
    // as +1 and v -> u as -1 per pair leaves zero, and lists are ascending.
    const balance = new Map<number, number>();
    let unsorted = 0;
    for (let u = 0; u < 5000; u++) {
      for (let e = g.offsets[u]; e < g.offsets[u + 1]; e++) {
        if (e > g.offsets[u] && g.targets[e] < g.targets[e - 1]) unsorted++;
        const v = g.targets[e];
        const key = Math.min(u, v) * 5000 + Math.max(u, v);
        balance.set(key, (balance.get(key) ?? 0) + (u < v ? 1 : u > v ? -1 : 0));
      }
    }
    expect(unsorted).toBe(0);
    expect([...balance.values()].filter((x) => x !== 0)).toEqual([]);
    expect(bfsLevels(g.offsets, g.targets, 0)).toEqual(g.levels);
  });

  it('rejects counts the graphgen scheme cannot make', () => {
    expect(() => graphFor(100, 399, 0)).toThrow(RangeError);
    expect(() => graphFor(100, 398, 0)).toThrow(/needs an even edge count in \[400, 800\]/);
    expect(bfsParams.safeParse({ nodes: 100, edges: 802 }).success).toBe(false);
  });
});

describe('bfs', () => {
  it('small graph: each kernel touches exactly the pages of its frontier, over managed', () => {
    const p = bfsParams.parse({ nodes: 3000, edges: 18000, managedOver: true });
    const w = bfs.build(p, 11);
    const g = graphFor(3000, 18000, 11);
    const layout = layoutArrays(w.arrays);
    const steps = [...w.steps(layout)];
    const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
    expect(kernels).toHaveLength(2 * g.levelCount);
    for (let k = 0; k < g.levelCount; k++) {
      const want = expectedKernels(layout, g, k, true);
      for (const x of [0, 1]) {
        const step = kernels[2 * k + x];
        expect(step.name).toBe(x === 0 ? 'Kernel' : 'Kernel2');
        expect(step.grid.blocks).toBe(Math.ceil(3000 / 512));
        expect(
          pageFlagDifferences(pageFlags(step.grid, layout.totalPages)[0], want[x]),
          `${step.name} ${k}`,
        ).toEqual([]);
      }
    }
    // Each iteration: the host clears `over`, two kernels, the host reads `over`; then cost is printed.
    const names = steps.map((s) => s.name);
    expect(names.slice(0, 4)).toEqual(['stop = false', 'Kernel', 'Kernel2', 'read stop']);
    expect(names[names.length - 1]).toBe('print cost');
  });

  it("at graph256k's counts: exact sizes, about the paper's 11 iterations, every edge scanned once", () => {
    const w = bfs.build(bfsParams.parse({}), 1);
    expect(w.arrays.map((a) => [a.name, a.bytes])).toEqual([
      ['graph_nodes', 261444 * 8],
      ['graph_mask', 261444],
      ['updating_graph_mask', 261444],
      ['graph_visited', 261444],
      ['graph_edges', 1568420 * 4],
      ['cost', 261444 * 4],
    ]);
    const g = graphFor(261444, 1568420, 1);
    // Seed 1 gives 10 levels (seeds 0 and 4: 11); graph256k took 11 iterations in the paper.
    expect(g.levelCount).toBe(10);
    // The graph is connected, so each node is in exactly one frontier and each edge list is
    // scanned exactly once over the run.
    let scanned = 0;
    for (let k = 0; k < g.levelCount; k++) {
      for (let u = 0; u < g.nodes; u++) if (g.levels[u] === k) scanned += g.offsets[u + 1] - g.offsets[u];
    }
    expect(g.levels.every((l) => l >= 0)).toBe(true);
    expect(scanned).toBe(1568420);
    // The edge pages the Kernel steps read are exactly their frontiers' edge ranges, and together
    // every page of graph_edges.
    const layout = layoutArrays(w.arrays);
    const kernels = [...w.steps(layout)].filter((s): s is Kernel => s.kind === 'kernel');
    expect(kernels).toHaveLength(20);
    const edgeBase = layout.offset('graph_edges');
    const union = new Set<number>();
    for (let k = 0; k < g.levelCount; k++) {
      const got = pageFlags(kernels[2 * k].grid, layout.totalPages)[0];
      const want = new Set<number>();
      for (let u = 0; u < g.nodes; u++) {
        if (g.levels[u] !== k) continue;
        for (let e = g.offsets[u]; e < g.offsets[u + 1]; e++) want.add(Math.floor((e * 4) / 4096));
      }
      const edgePages = [...got.subarray(edgeBase, edgeBase + 1532).keys()].filter(
        (q) => got[edgeBase + q] !== 0,
      );
      expect(edgePages).toEqual([...want].sort((a, b) => a - b));
      edgePages.forEach((q) => union.add(q));
    }
    expect(union.size).toBe(1532);
  });

  it('the same seed gives identical access words; another seed a different stream', () => {
    const p = bfsParams.parse({ nodes: 20000, edges: 120000 });
    const a = fingerprint(bfs.build(p, 5));
    expect(fingerprint(bfs.build(p, 5))).toEqual(a);
    expect(fingerprint(bfs.build(p, 6))).not.toEqual(a);
  });
});
