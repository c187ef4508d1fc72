// Figures of the GPU model: simulated accesses per second on pages already in GPU memory (the
// access path: TLB, table walk on a miss, eviction-policy recency, the lanes' round robin), and
// far faults per second serviced end to end through the modeled kernel (fault buffer, batches,
// migrate_vma_* into GPU memory, replay).
//
// Timing method: as elsewhere, tinybench runs warmup + REPS repetitions and the median is
// reported; every repetition builds a fresh machine outside the timer and checks its result after.

import { GpuDevice } from '../src/devices/gpu/gpu.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Mm } from '../src/mm/mm.js';
import { type Figure, medianRate } from './harness.js';

const REPS = 5;

interface GpuRun {
  readonly kernel: Kernel;
  readonly gpu: GpuDevice;
  readonly mm: Mm;
  readonly baseVpn: number;
}

/** A machine with `pages` written by a process, and a GPU with room for them. */
function machine(pages: number): GpuRun {
  const kernel = new Kernel({ ramBytes: (pages + 8192) * PAGE_SIZE, contentMode: 'tokens' });
  const gpu = new GpuDevice(kernel, { name: 'gpu0', memoryBytes: pages * PAGE_SIZE });
  const p = kernel.spawn();
  const addr = p.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (p.touch(addr, pages * PAGE_SIZE, true).signal !== 0) throw new Error('touch failed');
  return { kernel, gpu, mm: p.mm!, baseVpn: addr / PAGE_SIZE };
}

/** A kernel reading `total` pages, cycling over the first `pages` of the region. */
function streamKernel(run: GpuRun, pages: number, total: number): void {
  let i = 0;
  run.gpu.launch({
    mm: run.mm,
    baseVpn: run.baseVpn,
    stream: { next: () => (i < total ? i++ % pages : -1) },
  });
  run.kernel.runUntilIdle();
}

function exitAndCheck({ kernel, gpu }: GpuRun): void {
  for (const t of [...kernel.tasks.values()]) t.exit();
  if (kernel.mem.usedPages() !== 0 || gpu.memory.usedPages !== 0) throw new Error('pages leaked after exit');
}

// ---- gpu.accesses_per_s ---------------------------------------------------------------------------

const RESIDENT_PAGES = 1 << 14;
const ACCESSES = 1 << 23;

const accessesPerS: Figure = {
  name: 'gpu.accesses_per_s',
  unit: 'accesses/s',
  target: { min: 5_000_000 },
  description: `a GPU kernel reads ${ACCESSES.toLocaleString('en-US')} pages cycling over ${RESIDENT_PAGES.toLocaleString('en-US')} already migrated to GPU memory (twice the TLB's reach): lanes in turn, TLB lookups and walks, LRU recency per access`,
  run: () =>
    medianRate(ACCESSES, {
      name: 'gpu_accesses',
      reps: REPS,
      setup: (): GpuRun => {
        const run = machine(RESIDENT_PAGES);
        streamKernel(run, RESIDENT_PAGES, RESIDENT_PAGES);
        if (run.gpu.memory.usedPages !== RESIDENT_PAGES) throw new Error('setup: pages not resident');
        return run;
      },
      measure: (run) => streamKernel(run, RESIDENT_PAGES, ACCESSES),
      teardown: (run) => {
        const accesses = run.kernel.stats.get('gpu.gpu0.accesses');
        const faults = run.kernel.stats.get('gpu.gpu0.far_faults');
        if (accesses !== RESIDENT_PAGES + ACCESSES || faults !== RESIDENT_PAGES)
          throw new Error(`${accesses} accesses and ${faults} far faults`);
        exitAndCheck(run);
      },
    }),
};

// ---- gpu.far_faults_per_s -------------------------------------------------------------------------

const FAULT_PAGES = 1 << 18;

const farFaultsPerS: Figure = {
  name: 'gpu.far_faults_per_s',
  unit: 'faults/s',
  target: { min: 500_000 },
  description: `tokens mode: a GPU kernel streams over ${FAULT_PAGES.toLocaleString('en-US')} resident pages it has never seen: each is a far fault into the fault buffer, serviced in batches by the driver actor with migrate_vma_* into GPU memory, then replayed`,
  run: () =>
    medianRate(FAULT_PAGES, {
      name: 'gpu_far_faults',
      reps: REPS,
      setup: () => machine(FAULT_PAGES),
      measure: (run) => streamKernel(run, FAULT_PAGES, FAULT_PAGES),
      teardown: (run) => {
        const faults = run.kernel.stats.get('gpu.gpu0.far_faults');
        const moved = run.kernel.stats.get('gpu.gpu0.pages_to_device');
        if (faults !== FAULT_PAGES || moved !== FAULT_PAGES)
          throw new Error(`${faults} far faults, ${moved} pages migrated; expected ${FAULT_PAGES}`);
        if (run.gpu.memory.usedPages !== FAULT_PAGES)
          throw new Error(`${run.gpu.memory.usedPages} GPU pages in use`);
        exitAndCheck(run);
      },
    }),
};

export const gpuFigures: readonly Figure[] = [accessesPerS, farFaultsPerS];
