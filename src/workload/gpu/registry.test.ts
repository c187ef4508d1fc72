// The registry, and the generators at the paper's inputs against the numbers in
// docs/research/ganguly2019.md: working sets against benchmark_workingset.txt (§2) and the pages
// the GPU touches against the on-demand far-fault counts of the authors' logs (§3.1).

import { describe, expect, it } from 'vitest';
import { summarizeWorkload } from './inspect.js';
import {
  buildGpuWorkload,
  findGpuWorkload,
  GPU_WORKLOADS,
  gpuWorkloadNames,
  workingSetBytes,
} from './registry.js';

const MiB = 2 ** 20;

describe('GPU workload registry', () => {
  it('lists the paper benchmarks in a stable order and finds them by name or alias', () => {
    expect(gpuWorkloadNames()).toEqual(['backprop', 'bfs', 'fdtd', 'hotspot', 'nw', 'pathfinder', 'srad']);
    expect(findGpuWorkload('needle')?.name).toBe('nw');
    expect(findGpuWorkload('fdtd-2d')?.name).toBe('fdtd');
    expect(findGpuWorkload('srad_v2')?.name).toBe('srad');
    expect(findGpuWorkload('nope')).toBeUndefined();
    for (const d of GPU_WORKLOADS) {
      expect(d.description.length).toBeGreaterThan(20);
      expect(['regular', 'irregular']).toContain(d.kind);
    }
  });

  it('rejects an unknown name with the valid names', () => {
    expect(() => buildGpuWorkload('lud', {}, 0)).toThrow(
      'no GPU workload "lud"; choose one of backprop, bfs, fdtd, hotspot, nw, pathfinder, srad',
    );
  });

  it('rejects bad parameters with their paths', () => {
    expect(() => buildGpuWorkload('hotspot', { pyramidHeight: 8 }, 0)).toThrow(
      /^GPU workload hotspot: pyramidHeight: /,
    );
    expect(() => buildGpuWorkload('nw', { size: 1000 }, 0)).toThrow(/size: .*multiple of 16/);
    expect(() => buildGpuWorkload('srad', { r2: 5000 }, 0)).toThrow(
      /r2: the region of interest needs r1 <= r2 < rows/,
    );
    expect(() => buildGpuWorkload('bfs', { edges: 3 }, 0)).toThrow(/edges: /);
    expect(() => buildGpuWorkload('backprop', { inputs: 64, hidden: 8 }, 0)).toThrow(/Unrecognized key/);
    expect(() => buildGpuWorkload('pathfinder', { cols: 'wide' }, 0)).toThrow(/cols: /);
    expect(() => buildGpuWorkload('bfs', {}, -1)).toThrow(
      'GPU workload bfs: the seed must be an integer in [0, 2^32), got -1',
    );
  });

  it('defaults are the inputs of the paper (benchmark_workingset.txt; srad region from its run script)', () => {
    expect(Object.fromEntries(GPU_WORKLOADS.map((d) => [d.name, d.params.parse({})]))).toEqual({
      backprop: { inputs: 131056 },
      bfs: { nodes: 261444, edges: 1568420, managedOver: false },
      fdtd: { nx: 1200, ny: 1200, tmax: 5 },
      hotspot: { gridSize: 1024, pyramidHeight: 2, iterations: 8 },
      nw: { size: 1024, penalty: 10 },
      pathfinder: { cols: 50000, rows: 200, pyramidHeight: 10 },
      srad: { rows: 3072, cols: 1024, r1: 0, r2: 127, c1: 0, c2: 127, iterations: 4 },
    });
  });
});

describe("the generators at the paper's inputs", () => {
  // "Total size" of benchmark_workingset.txt, in MiB, and how far ours may be from it.
  const files: Record<string, { totalMiB: number; tolerance: number }> = {
    // The file counts hidden_delta + input_units + input_weights2 + input_prev_weights only; the
    // program also allocates (and its forward kernel sweeps) input_weights and the partial sums.
    backprop: { totalMiB: 17.5625, tolerance: 0.52 },
    bfs: { totalMiB: 9.75, tolerance: 0.01 },
    // The file rounds each 5.5 MiB grid up to 6 MB.
    fdtd: { totalMiB: 18.0625, tolerance: 0.09 },
    hotspot: { totalMiB: 12, tolerance: 0 },
    nw: { totalMiB: 8.125, tolerance: 0.02 },
    pathfinder: { totalMiB: 38.5, tolerance: 0.01 },
    // The file says 4 MB, but 3072 x 1024 floats are 12 MiB.
    srad: { totalMiB: 4, tolerance: 2.01 },
  };
  // Kernels launched (the workingset file) and, where the logs are stored, the on-demand far
  // faults: every page the GPU touches faults once when nothing is prefetched or evicted.
  const expected: Record<string, { kernels: number; gpuPages?: number; workingSetPages: number }> = {
    backprop: { kernels: 2, gpuPages: 6785, workingSetPages: 6792 },
    bfs: { kernels: 20, gpuPages: 2491, workingSetPages: 2491 },
    fdtd: { kernels: 15, gpuPages: 4224, workingSetPages: 4224 },
    hotspot: { kernels: 4, gpuPages: 3072, workingSetPages: 3072 },
    nw: { kernels: 127, workingSetPages: 2054 },
    pathfinder: { kernels: 20, workingSetPages: 9815 },
    srad: { kernels: 8, workingSetPages: 3072 },
  };

  for (const name of gpuWorkloadNames()) {
    it(`${name}: working set, kernels and pages touched`, () => {
      const w = buildGpuWorkload(name, {}, 1);
      const { totalMiB, tolerance } = files[name];
      const oursMiB = workingSetBytes(w) / MiB;
      expect(Math.abs(oursMiB - totalMiB) / totalMiB).toBeLessThanOrEqual(tolerance);
      const s = summarizeWorkload(w);
      expect(s.workingSetPages).toBe(expected[name].workingSetPages);
      expect(s.workingSetPages * 4096).toBe(workingSetBytes(w));
      // bfs: 10 iterations with seed 1 (the file: 11, "input dependant").
      expect(s.kernels).toBe(expected[name].kernels);
      if (expected[name].gpuPages !== undefined) expect(s.gpuPages).toBe(expected[name].gpuPages);
      expect(s.gpuPages).toBeLessThanOrEqual(s.workingSetPages);
    });
  }
});
