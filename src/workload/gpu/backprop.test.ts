// backprop against the kernels' index arithmetic (ganguly2019.md §6): the forward kernel sweeps
// input_weights once and the adjust kernel sweeps input_weights2 and input_prev_weights once, in
// ascending page order, with the CPU's work on the small arrays in between.

import { describe, expect, it } from 'vitest';
import { backprop, backpropParams } from './backprop.js';
import { gridWords, PAGE_READ, PAGE_WRITE, pageFlagDifferences, pageFlags } from './inspect.js';
import { layoutArrays } from './layout.js';
import type { ArrayLayout, WorkloadStep } from './types.js';

type Kernel = Extract<WorkloadStep, { kind: 'kernel' }>;

/** First-touch order of the pages of [base, base + pages) in a kernel's access stream. */
function firstTouches(words: Int32Array, base: number, pages: number): number[] {
  const seen = new Set<number>();
  const order: number[] = [];
  for (const w of words) {
    const p = w >>> 1;
    if (p >= base && p < base + pages && !seen.has(p)) {
      seen.add(p);
      order.push(p - base);
    }
  }
  return order;
}

/** Pages each kernel touches, from the kernels' index formulas (thread (tx, ty) of block by). */
function expectedKernels(layout: ArrayLayout, inputs: number): [Uint8Array, Uint8Array] {
  const forward = new Uint8Array(layout.totalPages);
  const adjust = new Uint8Array(layout.totalPages);
  const mark = (map: Uint8Array, array: string, index: number, flag: number): void => {
    map[layout.offset(array) + Math.floor((index * 4) / 4096)] |= flag;
  };
  for (let by = 0; by < inputs / 16; by++) {
    for (let ty = 0; ty < 16; ty++) {
      for (let tx = 0; tx < 16; tx++) {
        const index = 17 * 16 * by + 17 * ty + tx + 1 + 17;
        const indexIn = 16 * by + ty + 1;
        if (tx === 0) mark(forward, 'input_units', indexIn, PAGE_READ);
        mark(forward, 'input_weights', index, PAGE_READ | PAGE_WRITE);
        if (tx === 0) mark(forward, 'hidden_partial_sum', by * 16 + ty, PAGE_WRITE);
        mark(adjust, 'hidden_delta', tx + 1, PAGE_READ);
        mark(adjust, 'input_units', indexIn, PAGE_READ);
        mark(adjust, 'input_weights2', index, PAGE_READ | PAGE_WRITE);
        mark(adjust, 'input_prev_weights', index, PAGE_READ | PAGE_WRITE);
        if (ty === 0 && by === 0) {
          mark(adjust, 'input_weights2', tx + 1, PAGE_READ | PAGE_WRITE);
          mark(adjust, 'input_prev_weights', tx + 1, PAGE_READ | PAGE_WRITE);
        }
      }
    }
  }
  return [forward, adjust];
}

describe('backprop', () => {
  for (const inputs of [1024 + 16, 131056]) {
    it(`n_in = ${inputs}: two kernels touching exactly the pages the index formulas give`, () => {
      const w = backprop.build(backpropParams.parse({ inputs }), 0);
      const layout = layoutArrays(w.arrays);
      const steps = [...w.steps(layout)];
      expect(steps.map((s) => s.kind)).toEqual([
        'kernel',
        ...Array(10).fill('host'),
        'kernel',
        'host',
        'host',
      ]);
      const kernels = steps.filter((s): s is Kernel => s.kind === 'kernel');
      expect(kernels.map((k) => [k.name, k.grid.blocks])).toEqual([
        ['bpnn_layerforward_CUDA', inputs / 16],
        ['bpnn_adjust_weights_cuda', inputs / 16],
      ]);
      const want = expectedKernels(layout, inputs);
      for (const [k, step] of kernels.entries()) {
        expect(pageFlagDifferences(pageFlags(step.grid, layout.totalPages)[0], want[k]), step.name).toEqual(
          [],
        );
      }
      // Each weight matrix is swept once, in ascending page order, covering all its pages.
      const pages = Math.ceil(((inputs + 1) * 17 * 4) / 4096);
      const ascending = Array.from({ length: pages }, (_, i) => i);
      const forwardWords = gridWords(kernels[0].grid);
      const adjustWords = gridWords(kernels[1].grid);
      expect(firstTouches(forwardWords, layout.offset('input_weights'), pages)).toEqual(ascending);
      expect(firstTouches(adjustWords, layout.offset('input_weights2'), pages)).toEqual(ascending);
      expect(firstTouches(adjustWords, layout.offset('input_prev_weights'), pages)).toEqual(ascending);
      // Between the kernels the host sums hidden_partial_sum and writes hidden_delta.
      const hostNames = steps.filter((s) => s.kind === 'host').map((s) => s.name);
      expect(hostNames[0]).toBe('sum hidden_partial_sum');
      expect(hostNames).toContain('bpnn_hidden_error hidden_delta');
    });
  }

  it('the adjust kernel reads a weight before it writes it, in every block', () => {
    const w = backprop.build(backpropParams.parse({ inputs: 64 }), 0);
    const layout = layoutArrays(w.arrays);
    const adjust = [...w.steps(layout)].filter((s): s is Kernel => s.kind === 'kernel')[1];
    const words = gridWords(adjust.grid);
    const read = new Set<number>();
    for (const word of words) {
      if (word & 1) expect(read.has(word >>> 1), `page ${word >>> 1}`).toBe(true);
      else read.add(word >>> 1);
    }
  });
});
