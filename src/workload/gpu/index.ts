// The GPU workloads' public API: the benchmark generators, the registry, the trace reader and
// writer, the layout of managed arrays, and the summary walker.

export type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';
export { arrayPages, layoutArrays, MANAGED_ALIGN_BYTES, workingSetPages } from './layout.js';
export { backprop, backpropParams, type BackpropParams } from './backprop.js';
export { bfs, bfsParams, type BfsParams } from './bfs.js';
export { makeBfsGraph, type BfsGraph } from './bfsGraph.js';
export { fdtd2d, fdtd2dParams, type Fdtd2dParams } from './fdtd2d.js';
export { hotspot, hotspotParams, type HotspotParams } from './hotspot.js';
export { nw, needleParams, type NeedleParams } from './needle.js';
export { pathfinder, pathfinderParams, type PathfinderParams } from './pathfinder.js';
export { srad, sradParams, type SradParams } from './srad.js';
export {
  buildGpuWorkload,
  findGpuWorkload,
  GPU_WORKLOADS,
  gpuWorkloadNames,
  workingSetBytes,
} from './registry.js';
export { formatGpuTrace, parseGpuTrace, TRACE_BLOCK_ACCESSES } from './trace.js';
export { forEachBlock, gridWords, summarizeWorkload, type WorkloadSummary } from './inspect.js';
