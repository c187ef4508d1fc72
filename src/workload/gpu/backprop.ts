// Rodinia backprop as a GPU workload: one training step of a perceptron with n_in inputs, 16
// hidden units and one output (Ganguly et al., ISCA 2019, run it with n_in = 131056). The forward
// kernel sweeps `input_weights` once, the CPU then sums the per-block partial sums and runs the
// small layers, and the weight-adjust kernel sweeps `input_weights2` and `input_prev_weights`
// once. Thread blocks are 16 x 16 (8 warps of two rows each) in a (1, n_in / 16) grid, so block
// `by` owns 16 rows of 17 floats of each weight matrix and the sweeps are in ascending pages.

import { z } from 'zod';
import type { AccessBuffer } from '../../devices/gpu/grid.js';
import { arrayBases, FLOAT_BYTES, hostArrayStep, hostStep, kernelStep, pushElements } from './steps.js';
import type { ArrayLayout, GpuWorkload, ManagedArray, WorkloadDefinition, WorkloadStep } from './types.js';

/** Tile edge of both kernels (WIDTH = HEIGHT = 16 in backprop.h). */
const TILE = 16;
/** Hidden units: fixed by the program (`bpnn_create(layer_size, 16, 1)`). */
const HIDDEN = 16;
const OUTPUTS = 1;
const WARPS = (TILE * TILE) / 32;

export const backpropParams = z.strictObject({
  inputs: z
    .number()
    .int()
    .min(TILE)
    .max(1 << 22)
    .multipleOf(TILE)
    .default(131056)
    .describe('input-layer units n_in (a multiple of 16); each weight matrix is (n_in + 1) x 17 floats'),
});
export type BackpropParams = z.output<typeof backpropParams>;

function backpropArrays(inputs: number): ManagedArray[] {
  const weights = (inputs + 1) * (HIDDEN + 1) * FLOAT_BYTES;
  const small = (n: number): number => (n + 1) * FLOAT_BYTES;
  // In allocation order: bpnn_internal_create, then the two buffers bpnn_train_cuda adds.
  return [
    { name: 'input_units', bytes: small(inputs), hostInit: true },
    { name: 'hidden_units', bytes: small(HIDDEN), hostInit: false },
    { name: 'output_units', bytes: small(OUTPUTS), hostInit: false },
    { name: 'hidden_delta', bytes: small(HIDDEN), hostInit: false },
    { name: 'output_delta', bytes: small(OUTPUTS), hostInit: false },
    { name: 'target', bytes: small(OUTPUTS), hostInit: true },
    { name: 'input_weights', bytes: weights, hostInit: true },
    { name: 'input_weights2', bytes: weights, hostInit: true },
    { name: 'hidden_weights', bytes: (HIDDEN + 1) * (OUTPUTS + 1) * FLOAT_BYTES, hostInit: true },
    { name: 'input_prev_weights', bytes: weights, hostInit: true },
    { name: 'hidden_prev_weights', bytes: (HIDDEN + 1) * (OUTPUTS + 1) * FLOAT_BYTES, hostInit: true },
    { name: 'output_hidden_cuda', bytes: small(HIDDEN), hostInit: false },
    { name: 'hidden_partial_sum', bytes: (inputs / TILE) * TILE * FLOAT_BYTES, hostInit: false },
  ];
}

/** Element of a weight matrix that thread (tx, ty) of block `by` owns (the kernels' `index`). */
function weightIndex(by: number, ty: number): number {
  const row = HIDDEN + 1;
  return row * TILE * by + row * ty + 1 + row;
}

function* backpropSteps(inputs: number, arrays: ManagedArray[], layout: ArrayLayout): Iterable<WorkloadStep> {
  const [input, , , hiddenDelta, , , weights, weights2, , prevWeights, , , partialSum] = arrayBases(
    layout,
    arrays,
  );
  const blocks = inputs / TILE;
  const byName = (name: string): ManagedArray => arrays.find((a) => a.name === name)!;
  const f = FLOAT_BYTES;

  // bpnn_layerforward_CUDA: the barriers split each block into four phases.
  yield kernelStep('bpnn_layerforward_CUDA', blocks, (by: number, out: AccessBuffer) => {
    for (let w = 0; w < WARPS; w++) {
      // Lanes with tx == 0 of the warp's two rows load input_node[ty].
      const first = TILE * by + 2 * w + 1;
      pushElements(out, input, first, first + 1, f, false);
    }
    for (let w = 0; w < WARPS; w++) {
      for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
        const i = weightIndex(by, ty);
        pushElements(out, weights, i, i + TILE - 1, f, false);
      }
    }
    for (let w = 0; w < WARPS; w++) {
      for (let ty = 2 * w; ty <= 2 * w + 1; ty++) {
        const i = weightIndex(by, ty);
        pushElements(out, weights, i, i + TILE - 1, f, true);
      }
    }
    for (let w = 0; w < WARPS; w++) {
      const first = by * HIDDEN + 2 * w;
      pushElements(out, partialSum, first, first + 1, f, true);
    }
  });

  // The CPU finishes the forward pass and computes the deltas (bpnn_train_cuda, between kernels).
  yield hostArrayStep('sum hidden_partial_sum', layout, byName('hidden_partial_sum'), false);
  yield hostStep('read input_weights[1..16]', layout, 'input_weights', f, (HIDDEN + 1) * f - 1, false);
  yield hostArrayStep('write hidden_units', layout, byName('hidden_units'), true);
  yield hostArrayStep('bpnn_layerforward hidden_weights', layout, byName('hidden_weights'), false);
  yield hostArrayStep('write output_units', layout, byName('output_units'), true);
  yield hostArrayStep('bpnn_output_error target', layout, byName('target'), false);
  yield hostArrayStep('write output_delta', layout, byName('output_delta'), true);
  yield hostArrayStep('bpnn_hidden_error hidden_delta', layout, byName('hidden_delta'), true);
  yield hostArrayStep('bpnn_adjust_weights hidden_weights', layout, byName('hidden_weights'), true);
  yield hostArrayStep('bpnn_adjust_weights hidden_prev_weights', layout, byName('hidden_prev_weights'), true);

  // bpnn_adjust_weights_cuda: two statements per thread, then block 0's first row adjusts the bias
  // weights. Loads are taken in source order, the compound assignment's target last.
  yield kernelStep('bpnn_adjust_weights_cuda', blocks, (by: number, out: AccessBuffer) => {
    for (let w = 0; w < WARPS; w++) {
      const ly = TILE * by + 2 * w + 1;
      const i0 = weightIndex(by, 2 * w);
      const i1 = weightIndex(by, 2 * w + 1);
      // w[index] += ETA * delta[tx + 1] * ly[index_y] + MOMENTUM * oldw[index]
      pushElements(out, hiddenDelta, 1, TILE, f, false);
      pushElements(out, input, ly, ly + 1, f, false);
      pushElements(out, prevWeights, i0, i0 + TILE - 1, f, false);
      pushElements(out, prevWeights, i1, i1 + TILE - 1, f, false);
      pushElements(out, weights2, i0, i0 + TILE - 1, f, false);
      pushElements(out, weights2, i1, i1 + TILE - 1, f, false);
      pushElements(out, weights2, i0, i0 + TILE - 1, f, true);
      pushElements(out, weights2, i1, i1 + TILE - 1, f, true);
      // oldw[index] = ETA * delta[tx + 1] * ly[index_y] + MOMENTUM * oldw[index]
      pushElements(out, hiddenDelta, 1, TILE, f, false);
      pushElements(out, input, ly, ly + 1, f, false);
      pushElements(out, prevWeights, i0, i0 + TILE - 1, f, false);
      pushElements(out, prevWeights, i1, i1 + TILE - 1, f, false);
      pushElements(out, prevWeights, i0, i0 + TILE - 1, f, true);
      pushElements(out, prevWeights, i1, i1 + TILE - 1, f, true);
    }
    if (by !== 0) return;
    // ty == 0 && by == 0: lanes 0..15 of warp 0 update w[1..16] and oldw[1..16].
    pushElements(out, hiddenDelta, 1, TILE, f, false);
    pushElements(out, prevWeights, 1, TILE, f, false);
    pushElements(out, weights2, 1, TILE, f, false);
    pushElements(out, weights2, 1, TILE, f, true);
    pushElements(out, hiddenDelta, 1, TILE, f, false);
    pushElements(out, prevWeights, 1, TILE, f, false);
    pushElements(out, prevWeights, 1, TILE, f, true);
  });

  // The DEBUG block at the end writes input_units and input_weights2 to result.txt.
  yield hostArrayStep('dump input_units', layout, byName('input_units'), false);
  yield hostArrayStep('dump input_weights2', layout, byName('input_weights2'), false);
}

/**
 * Rodinia backprop (Ganguly et al.'s input: 131056 input units, 2 kernels).
 *
 * @example backprop.build(backpropParams.parse({}), 0).arrays.length // 13
 */
export const backprop: WorkloadDefinition<BackpropParams> = {
  name: 'backprop',
  description:
    'Rodinia backprop: one training step; two kernels each stream the 8.5 MiB weight matrices once, in order',
  kind: 'regular',
  params: backpropParams,
  build({ inputs }): GpuWorkload {
    const arrays = backpropArrays(inputs);
    return { name: 'backprop', arrays, steps: (layout) => backpropSteps(inputs, arrays, layout) };
  },
};
