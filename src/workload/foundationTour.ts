// The built-in scenario of `hetmem run` until the simulation engine lands: one process walks
// through the address-space mechanisms (zero page, allocation, fork and copy-on-write, mprotect,
// partial munmap, shared memory, exit) and every step reports what the kernel model did.

import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { Task } from '../mm/task.js';

export interface TourStep {
  readonly actor: string;
  readonly action: string;
  /** Counter changes caused by this step (only non-zero ones). */
  readonly effects: Readonly<Record<string, number>>;
  readonly ramUsedPages: number;
}

export interface TourResult {
  readonly scenario: string;
  readonly seed: number;
  readonly steps: readonly TourStep[];
  readonly counters: Readonly<Record<string, number>>;
  readonly leaks: { readonly framesInUse: number; readonly liveMms: number };
}

export function runFoundationTour(seed: number): TourResult {
  const kernel = new Kernel({ ramBytes: 256 * 1024 * 1024, contentMode: 'tokens', seed });
  const steps: TourStep[] = [];
  let before = kernel.stats.snapshot();
  const record = (actor: Task, action: string) => {
    const now = kernel.stats.snapshot();
    const effects: Record<string, number> = {};
    for (const [k, v] of Object.entries(now)) if (v !== before[k]) effects[k] = v - (before[k] ?? 0);
    steps.push({ actor: `pid ${actor.pid}`, action, effects, ramUsedPages: kernel.mem.usedPages() });
    before = now;
  };
  const rng = kernel.rng.fork('tour');
  const npages = 16 + rng.below(16);
  const len = npages * PAGE_SIZE;
  const parent = kernel.spawn();
  const buf = parent.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  record(parent, `mmap ${npages} pages of private anonymous memory at 0x${buf.toString(16)}`);
  parent.touch(buf, len, false);
  record(parent, `read all ${npages} pages: each maps the shared zero page`);
  parent.touch(buf, len, true);
  record(parent, `write all ${npages} pages: each zero-page mapping is replaced by a new page`);
  const child = parent.fork();
  record(parent, `fork -> pid ${child.pid}: private pages are shared copy-on-write, parent write-protected`);
  const half = Math.floor(npages / 2);
  child.touch(buf, half * PAGE_SIZE, true);
  record(child, `write ${half} pages: copy-on-write breaks give the child its own copies`);
  parent.touch(buf, len, true);
  record(parent, `write all ${npages} pages: pages the child copied are reused in place, the rest copied`);
  parent.mprotect(buf + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ);
  record(parent, 'mprotect 2 pages read-only: the VMA splits in three');
  parent.munmap(buf + 4 * PAGE_SIZE, 4 * PAGE_SIZE);
  record(parent, 'munmap 4 pages in the middle: one UNMAP invalidation, frames freed');
  const shared = parent.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  parent.touch(shared, 4 * PAGE_SIZE, true);
  record(parent, 'mmap and write 4 pages of shared anonymous memory (a shmem object)');
  child.exit();
  record(child, 'exit: its address space is torn down and its frames freed');
  parent.exit();
  record(parent, 'exit');
  return {
    scenario: 'foundation-tour',
    seed,
    steps,
    counters: kernel.stats.snapshot(),
    leaks: { framesInUse: kernel.mem.usedPages(), liveMms: kernel.mms.size },
  };
}
