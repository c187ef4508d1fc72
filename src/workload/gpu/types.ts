// The shape of a GPU workload: the managed arrays a program allocates (cudaMallocManaged), and
// the program's steps in order: kernel launches (grids of thread blocks, see devices/gpu/grid.ts)
// and host phases where the CPU reads or writes part of an array between kernels.

import type { z } from 'zod';
import type { KernelGrid } from '../../devices/gpu/grid.js';

/** One managed allocation. */
export interface ManagedArray {
  readonly name: string;
  readonly bytes: number;
  /**
   * The host writes the array before the first kernel (an input). Outputs the program never
   * initializes on the host are first touched by the GPU.
   */
  readonly hostInit: boolean;
}

/** Where each array lives inside the workload's region, in pages. */
export interface ArrayLayout {
  /** First page of the array, relative to the region. */
  offset(array: string): number;
  /** Pages the array spans. */
  pages(array: string): number;
  /** Pages of the whole region (arrays and the alignment gaps between them). */
  readonly totalPages: number;
}

export type WorkloadStep =
  | {
      readonly kind: 'kernel';
      readonly name: string;
      readonly grid: KernelGrid;
    }
  | {
      /** The CPU touches pages [firstPage, lastPage] of one array (region-relative pages). */
      readonly kind: 'host';
      readonly name: string;
      readonly firstPage: number;
      readonly lastPage: number;
      readonly write: boolean;
    };

/** A workload instance: its arrays, and its steps for a given layout. */
export interface GpuWorkload {
  readonly name: string;
  readonly arrays: readonly ManagedArray[];
  /** The program's steps in order; generated lazily, so a long program costs no memory up front. */
  steps(layout: ArrayLayout): Iterable<WorkloadStep>;
}

/** A named workload generator with validated parameters. */
export interface WorkloadDefinition<P = unknown> {
  readonly name: string;
  /** Other names the workload is known by (the benchmark's directory or binary name). */
  readonly aliases?: readonly string[];
  /** One line: what the benchmark computes and its access pattern. */
  readonly description: string;
  /** `regular` streams are exact from the loop structure; `irregular` ones use seeded inputs. */
  readonly kind: 'regular' | 'irregular';
  /** Parameters; every field has a default (the input of Ganguly et al., ISCA 2019). */
  readonly params: z.ZodType<P>;
  /** The workload for parameters already validated by `params`; `seed` drives synthetic inputs. */
  build(params: P, seed: number): GpuWorkload;
}
