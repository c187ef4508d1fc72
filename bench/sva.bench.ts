// Figures of the IOMMU layer (Shared Virtual Addressing): device translations through the ATC and
// ATS, I/O page faults resolved end to end, and bind/unbind pairs.
//
// Timing method: as elsewhere, tinybench runs warmup + REPS repetitions of the timed loop and the
// median is reported. Every repetition builds a fresh Kernel and IOMMU subsystem outside the timer;
// the untimed teardown checks that the work really happened (data, counters, the SVA audit) and
// that nothing leaked after exit.

import { auditShutdown, auditSva } from '../src/check/svaAudit.js';
import { DmaAccelerator, DmaJob } from '../src/devices/accel/accelerator.js';
import { IommuCore } from '../src/iommu/core.js';
import type { IommuSva } from '../src/iommu/domain.js';
import { iommuSvaBindDevice, iommuSvaUnbindDevice } from '../src/iommu/sva.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { Kernel } from '../src/mm/kernel.js';
import type { Task } from '../src/mm/task.js';
import { type Figure, medianRate } from './harness.js';

const REPS = 5;

interface SvaBench {
  readonly kernel: Kernel;
  readonly core: IommuCore;
  readonly accel: DmaAccelerator;
  readonly task: Task;
  readonly bond: IommuSva;
  readonly addr: number;
}

/** One process with `pages` pages mapped (touched or not), bound to accelerator A on a VT-d unit. */
function boundProcess(pages: number, touch: boolean): SvaBench {
  const kernel = new Kernel({ ramBytes: (pages + 4096) * PAGE_SIZE, contentMode: 'tokens' });
  const core = new IommuCore(kernel);
  const iommu = core.addIommu({ flavour: 'vtd', prqDepth: 1024 });
  const accel = new DmaAccelerator(iommu.addDevice({ name: 'A', atcEntries: 512 }));
  const task = kernel.spawn();
  const addr = task.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  if (touch && task.touch(addr, pages * PAGE_SIZE, true).signal !== 0) throw new Error('touch failed');
  const bond = iommuSvaBindDevice(accel.dev, task.mm!);
  if (typeof bond === 'number') throw new Error(`bind failed: ${bond}`);
  return { kernel, core, accel, task, bond, addr };
}

function finish(b: SvaBench): void {
  const problems = auditSva(b.core);
  if (problems.length > 0) throw new Error(`SVA audit: ${problems[0]}`);
  b.task.exit();
  iommuSvaUnbindDevice(b.bond);
  b.core.runUntilIdle();
  const leaks = auditShutdown(b.kernel, b.core);
  if (leaks.length > 0) throw new Error(`shutdown audit: ${leaks[0]}`);
}

function runJob(b: SvaBench, op: 'read' | 'write', addr: number, length: number): DmaJob {
  const job = b.accel.submit({ pasid: 1, op, addr, length });
  if (!(job instanceof DmaJob)) throw new Error(`submit failed: ${job}`);
  b.kernel.runUntilIdle();
  if (job.status !== 'done') throw new Error(`DMA job ended ${job.status} (${job.error})`);
  return job;
}

/** 64 Ki pages read in 256-page windows, each window four times: 1 miss per 4 translations. */
const XLATE_PAGES = 1 << 16;
const WINDOW = 256;
const PASSES = 4;

const dmaTranslations: Figure = {
  name: 'sva.dma_translations_per_s',
  unit: 'pages/s',
  target: { min: 5_000_000 },
  description:
    `tokens mode: a bound accelerator reads ${XLATE_PAGES} resident pages in ${WINDOW}-page windows, ` +
    `each window ${PASSES} times: one ATC miss (ATS translation + IOMMU walk) per ${PASSES} translations; ` +
    'counts page translations',
  run: () =>
    medianRate(XLATE_PAGES * PASSES, {
      name: 'sva_dma_translations',
      reps: REPS,
      setup: () => boundProcess(XLATE_PAGES, true),
      measure: (b) => {
        for (let w = 0; w < XLATE_PAGES; w += WINDOW) {
          for (let p = 0; p < PASSES; p++) runJob(b, 'read', b.addr + w * PAGE_SIZE, WINDOW * PAGE_SIZE);
        }
      },
      teardown: (b) => {
        const ats = b.kernel.stats.get('iommu.ats_translations');
        if (ats !== XLATE_PAGES) throw new Error(`expected ${XLATE_PAGES} ATS translations, saw ${ats}`);
        finish(b);
      },
    }),
};

const IOPF_PAGES = 1 << 16;

const iopf: Figure = {
  name: 'sva.iopf_per_s',
  unit: 'requests/s',
  target: { min: 500_000 },
  description:
    `tokens mode: a bound accelerator writes ${IOPF_PAGES} never-touched pages: each page is an ATS ` +
    'miss, one page request through the queue, the IOPF work, the CPU fault path, the response and ' +
    'the retried translation (page requests resolved end to end)',
  run: () =>
    medianRate(IOPF_PAGES, {
      name: 'sva_iopf',
      reps: REPS,
      setup: () => boundProcess(IOPF_PAGES, false),
      measure: (b) => {
        runJob(b, 'write', b.addr, IOPF_PAGES * PAGE_SIZE);
      },
      teardown: (b) => {
        const requests = b.kernel.stats.get('iommu.responses.success');
        if (requests !== IOPF_PAGES)
          throw new Error(`expected ${IOPF_PAGES} SUCCESS responses, saw ${requests}`);
        if (b.task.mm!.rssAnon !== IOPF_PAGES)
          throw new Error(`expected ${IOPF_PAGES} resident pages, saw ${b.task.mm!.rssAnon}`);
        finish(b);
      },
    }),
};

const BIND_PAIRS = 20_000;

const bindUnbind: Figure = {
  name: 'sva.bind_unbind_per_s',
  unit: 'pairs/s',
  target: { min: 200_000 },
  description:
    `${BIND_PAIRS} bind + unbind pairs of one process on one device (each a new SVA domain, notifier, ` +
    'PASID-entry write and teardown with its cache flushes and drain), grace periods run every 1,000 pairs',
  run: () =>
    medianRate(BIND_PAIRS, {
      name: 'sva_bind_unbind',
      reps: REPS,
      setup: () => {
        const b = boundProcess(16, false);
        iommuSvaUnbindDevice(b.bond);
        b.core.runUntilIdle();
        return b;
      },
      measure: (b) => {
        const dev = b.accel.dev;
        const mm = b.task.mm!;
        for (let i = 0; i < BIND_PAIRS; i++) {
          const bond = iommuSvaBindDevice(dev, mm);
          if (typeof bond === 'number') throw new Error(`bind failed: ${bond}`);
          iommuSvaUnbindDevice(bond);
          if (i % 1000 === 999) b.core.runUntilIdle();
        }
      },
      teardown: (b) => {
        const binds = b.kernel.stats.get('sva.binds');
        if (binds !== BIND_PAIRS + 1) throw new Error(`expected ${BIND_PAIRS + 1} binds, saw ${binds}`);
        b.task.exit();
        b.core.runUntilIdle();
        const leaks = auditShutdown(b.kernel, b.core);
        if (leaks.length > 0) throw new Error(`shutdown audit: ${leaks[0]}`);
      },
    }),
};

export const svaFigures: readonly Figure[] = [dmaTranslations, iopf, bindUnbind];
