// The kernel interface a PASID accelerator's driver program uses, as steps: bind a process's
// address space (iommu_sva_bind_device: the PASID), queue work tagged with the PASID, drain the
// PASID's queued work, unbind; and the process's exit (which frees the PASID with the mm). The
// device itself is an actor of the world: it takes queued work and runs it through the PASID
// table, which is where a PASID given to another process while work was queued shows up.

import { type Device } from '../../iommu/device.js';
import type { IommuSva } from '../../iommu/domain.js';
import { iommuSvaBindDevice, iommuSvaUnbindDevice } from '../../iommu/sva.js';
import type { Mm } from '../../mm/mm.js';
import type { Task } from '../../mm/task.js';
import { type Program, type Step, step } from './program.js';
import { Violation } from './violation.js';

/** Work queued on the device: a page of the submitting process, tagged with its PASID. */
interface QueuedWork {
  readonly pasid: number;
  /** The address space the PASID stood for when the work was queued. */
  readonly mm: Mm;
  readonly owner: string;
  readonly vpn: number;
}

export class AccelPort {
  private readonly queue: QueuedWork[] = [];
  /** Bonds by process name, while bound. */
  private readonly bonds = new Map<string, IommuSva>();
  /** The actor running now (set by the explorer before each step). */
  current = '';

  constructor(
    readonly name: string,
    readonly dev: Device,
  ) {}

  /** Work still queued (the device actor is enabled while there is some). */
  get pending(): number {
    return this.queue.length;
  }

  // ---- steps for driver programs ---------------------------------------------------------------

  /** open(): binds `process`'s address space; returns its PASID (or -errno). */
  *bind(process: string, mm: Mm): Generator<Step, number, undefined> {
    yield step(`${this.name}: iommu_sva_bind_device (${process})`, { invalidates: true });
    const bond = iommuSvaBindDevice(this.dev, mm);
    if (typeof bond === 'number') return bond;
    this.bonds.set(process, bond);
    return bond.pasid;
  }

  /** Queues work on page `vpn` with `pasid`. */
  *submit(process: string, mm: Mm, pasid: number, vpn: number): Program {
    yield step(`${this.name}: submit work (${process}, PASID ${pasid})`);
    this.queue.push({ pasid, mm, owner: process, vpn });
  }

  /** Waits until no work with `pasid` is queued (idxd's drain before unbind). */
  *drain(pasid: number): Program {
    yield step(`${this.name}: drain PASID ${pasid}`, {
      enabled: () => !this.queue.some((w) => w.pasid === pasid),
    });
  }

  /** close(): unbinds `process`. */
  *unbind(process: string): Program {
    yield step(`${this.name}: iommu_sva_unbind_device (${process})`, { invalidates: true });
    const bond = this.bonds.get(process);
    if (bond === undefined)
      throw new Violation('protocol', `${this.current} unbinds ${process}, which is not bound`);
    this.bonds.delete(process);
    iommuSvaUnbindDevice(bond);
  }

  /** The process exits: its mm goes (and the PASID with it, once nothing else holds the mm). */
  *exit(process: string, task: Task): Program {
    yield step(`${process}: exit`, { invalidates: true });
    task.exit();
  }

  // ---- the device -----------------------------------------------------------------------------

  /** The device's own actor: runs queued work, oldest first. */
  *device(): Program {
    for (;;) {
      yield step(`${this.name}: run queued work`, { enabled: () => this.queue.length > 0 });
      this.run(this.queue.shift()!);
    }
  }

  /** One piece of work: the PASID table names the address space the device's DMA goes to. */
  private run(work: QueuedWork): void {
    const entry = this.dev.pasidTable?.peek(work.pasid) ?? null;
    if (entry === null || entry.state !== 'ACTIVE' || entry.mm === null) return; // the DMA faults: no harm done
    if (entry.mm !== work.mm) {
      throw new Violation(
        'pasid-reuse',
        `${this.name} ran work ${work.owner} queued with PASID ${work.pasid}, but PASID ${work.pasid} now stands for another address space (mm ${entry.mm.id}, not mm ${work.mm.id}): the DMA reaches the wrong process`,
      );
    }
  }
}
