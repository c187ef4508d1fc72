// The built-in scenario of `hetmem run` until the simulation engine lands: one process walks
// through the address-space mechanisms (zero page, allocation, fork and copy-on-write, mprotect,
// partial munmap, shared memory, exit), then a second one shares its memory with a PASID
// accelerator (bind, I/O page faults, device TLB invalidation at fork, exit while the device still
// works for it), and every step reports what the kernel model did.

import { auditShutdown } from '../check/svaAudit.js';
import { DmaAccelerator, DmaJob } from '../devices/accel/accelerator.js';
import { AccelDriver } from '../devices/accel/driver.js';
import { IommuCore } from '../iommu/core.js';
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
  readonly leaks: { readonly framesInUse: number; readonly liveMms: number; readonly sva: readonly string[] };
}

export function runFoundationTour(seed: number): TourResult {
  const kernel = new Kernel({ ramBytes: 256 * 1024 * 1024, contentMode: 'tokens', seed });
  const steps: TourStep[] = [];
  let before = kernel.stats.snapshot();
  const record = (actor: Task | string, action: string) => {
    const now = kernel.stats.snapshot();
    const effects: Record<string, number> = {};
    for (const [k, v] of Object.entries(now)) if (v !== before[k]) effects[k] = v - (before[k] ?? 0);
    const who = typeof actor === 'string' ? actor : `pid ${actor.pid}`;
    steps.push({ actor: who, action, effects, ramUsedPages: kernel.mem.usedPages() });
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
  const core = new IommuCore(kernel);
  svaChapter(kernel, core, record, npages);
  return {
    scenario: 'foundation-tour',
    seed,
    steps,
    counters: kernel.stats.snapshot(),
    leaks: {
      framesInUse: kernel.mem.usedPages(),
      liveMms: kernel.mms.size,
      sva: auditShutdown(kernel, core),
    },
  };
}

type Record_ = (actor: Task | string, action: string) => void;

function dma(
  accel: DmaAccelerator,
  pasid: number,
  op: 'read' | 'write',
  addr: number,
  length: number,
): DmaJob {
  const job = accel.run({ pasid, op, addr, length });
  if (!(job instanceof DmaJob)) throw new Error(`the tour's DMA could not start (${job})`);
  return job;
}

/** A process shares its address space with a PASID accelerator on a VT-d IOMMU, then exits under it. */
function svaChapter(kernel: Kernel, core: IommuCore, record: Record_, npages: number): void {
  const iommu = core.addIommu({ flavour: 'vtd' });
  const accel = new DmaAccelerator(iommu.addDevice({ name: 'accel0' }));
  const driver = new AccelDriver(accel);
  const p = kernel.spawn();
  const len = npages * PAGE_SIZE;
  const buf = p.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  record(p, `a new process maps ${npages} pages it never touches`);
  const fd = driver.open(p);
  const pasid = driver.contextOf(p, fd)!.pasid;
  record(p, `open the accelerator: bind its address space, PASID ${pasid}, PASID entry ACTIVE`);
  let job = dma(accel, pasid, 'write', buf, len);
  record(
    'accel0',
    `write all pages (${job.status}): ATS not granted, one page request per page, faulted in by the IOPF work, retried`,
  );
  job = dma(accel, pasid, 'read', buf, len);
  record('accel0', `read them back (${job.status}): every translation hits the device's ATC`);
  const helper = p.fork();
  record(
    p,
    `fork -> pid ${helper.pid}: write-protecting for COW invalidates the device's cached write permission`,
  );
  job = dma(accel, pasid, 'write', buf, PAGE_SIZE);
  record(
    'accel0',
    `write one page (${job.status}): not granted any more, a page request breaks COW in the parent`,
  );
  const inFlight = accel.submit({ pasid, op: 'read', addr: buf, length: len });
  p.exit();
  record(
    p,
    `exit with a device job in flight: the PASID entry is quiesced (${accel.dev.pasidTable!.state(pasid)}), caches flushed, no driver callback`,
  );
  kernel.runUntilIdle();
  const outcome = inFlight instanceof DmaJob ? `${inFlight.status}, ${inFlight.error}` : 'not started';
  record(
    'accel0',
    `the in-flight job ends (${outcome}); PASID ${pasid} is ${core.pasidState(pasid)}: the child still holds the file`,
  );
  helper.exit();
  kernel.runUntilIdle();
  record(
    helper,
    `exit: the last file reference goes, the driver stops the PASID and unbinds; PASID ${pasid} is ${core.pasidState(pasid)}`,
  );
}
