// The GPU workload registry: the benchmark generators of Ganguly et al. (ISCA 2019) by name, and
// the checks that turn a name and raw parameters (from a scenario, a sweep grid or the command
// line) into a workload. An unknown name or a bad parameter is a RangeError that lists the choices.

import type { z } from 'zod';
import { PAGE_SIZE } from '../../mm/constants.js';
import { backprop } from './backprop.js';
import { bfs } from './bfs.js';
import { fdtd2d } from './fdtd2d.js';
import { hotspot } from './hotspot.js';
import { arrayPages } from './layout.js';
import { nw } from './needle.js';
import { pathfinder } from './pathfinder.js';
import { srad } from './srad.js';
import type { GpuWorkload, WorkloadDefinition } from './types.js';

type AnyDefinition = WorkloadDefinition<unknown>;

/** Every generator, in the order of the paper's plots. */
export const GPU_WORKLOADS: readonly AnyDefinition[] = [backprop, bfs, fdtd2d, hotspot, nw, pathfinder, srad];

/** Names of the generators, in registry order (aliases not included). */
export function gpuWorkloadNames(): string[] {
  return GPU_WORKLOADS.map((d) => d.name);
}

/**
 * The generator called `name` or known by it as an alias, or undefined.
 *
 * @example findGpuWorkload('needle')?.name // 'nw'
 */
export function findGpuWorkload(name: string): AnyDefinition | undefined {
  return GPU_WORKLOADS.find((d) => d.name === name || (d.aliases ?? []).includes(name));
}

/**
 * Builds a workload from a name and unvalidated parameters (missing ones take the paper's input).
 * Throws a RangeError naming the valid workloads for an unknown name, one listing each problem
 * with its parameter path for bad parameters, and one for a seed outside [0, 2^32).
 *
 * @example buildGpuWorkload('hotspot', { gridSize: 512 }, 1).arrays[0].bytes // 1048576
 */
export function buildGpuWorkload(name: string, rawParams: unknown = {}, seed = 0): GpuWorkload {
  const def = findGpuWorkload(name);
  if (def === undefined) {
    throw new RangeError(
      `no GPU workload ${JSON.stringify(name)}; choose one of ${gpuWorkloadNames().join(', ')}`,
    );
  }
  // Seeds are those of sim/rng.ts, so a run's seed can drive its synthetic inputs too.
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`GPU workload ${def.name}: the seed must be an integer in [0, 2^32), got ${seed}`);
  }
  const parsed = (def.params as z.ZodType).safeParse(rawParams ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.path.map((p) => String(p)).join('.');
      return path === '' ? i.message : `${path}: ${i.message}`;
    });
    throw new RangeError(`GPU workload ${def.name}: ${problems.join('; ')}`);
  }
  return def.build(parsed.data, seed);
}

/**
 * Bytes the workload's arrays span, each rounded up to whole pages (alignment gaps not counted).
 *
 * @example workingSetBytes({ name: 'w', arrays: [{ name: 'a', bytes: 5000, hostInit: true }], steps: () => [] }) // 8192
 */
export function workingSetBytes(workload: GpuWorkload): number {
  let bytes = 0;
  for (const a of workload.arrays) bytes += arrayPages(a.bytes) * PAGE_SIZE;
  return bytes;
}
