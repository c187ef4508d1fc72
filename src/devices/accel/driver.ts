// The accelerator's driver, following the pattern of the kernel's SVA users (idxd, uacce; sva.md
// section 5.4): open() binds the opener's address space and records PASID -> context; the device
// works with that PASID; the release of the file (last close, or the last mapping of its portal
// going away) stops the PASID on the device, drains the device's error log for it, and unbinds.
// Nothing happens at process exit beyond what the file release does (R-SVA-46, R-SVA-48).
//
// Each entry point is a step program (sim/steps.ts) that yields before every point where another
// thread, the device or the kernel's deferred work can overtake it: the bind, queueing work,
// stopping the PASID, draining the error log, the unbind. Plain calls run the programs straight
// through (`runToCompletion`); the race finder (check/explore) interleaves them.

import { EBADF, ENODEV } from '../../sim/errno.js';
import { KernelBug } from '../../sim/errors.js';
import { type Program, runToCompletion, step } from '../../sim/steps.js';
import { VM_DONTEXPAND, VM_IO } from '../../mm/constants.js';
import { Inode, OpenFile, type FileOperations } from '../../mm/file.js';
import type { Mm } from '../../mm/mm.js';
import type { Task } from '../../mm/task.js';
import type { Vma } from '../../mm/vma.js';
import type { IommuSva } from '../../iommu/domain.js';
import { iopfQueueRemoveDevice } from '../../iommu/iopf.js';
import { iommuSvaBindDevice, iommuSvaGetPasid, iommuSvaUnbindDevice } from '../../iommu/sva.js';
import type { DmaAccelerator, DmaDescriptor, DmaJob } from './accelerator.js';

export interface AccelDriverOptions {
  /** How release stops the PASID on the device: wait for page responses (default) or a stop marker. */
  readonly stopMode?: 'wait' | 'marker';
  /**
   * A driver bug on purpose (sva.md S-15): keep an mm user from open until release, which
   * rebuilds the 2016 reference cycle when the release depends on the process's exit.
   */
  readonly holdMmUsers?: boolean;
}

/** One open file of the device: a user context bound to its opener's address space. */
export class AccelContext {
  released = false;

  constructor(
    readonly id: number,
    readonly mm: Mm,
    readonly bond: IommuSva,
    readonly pasid: number,
    /** The context keeps an mm user until release (the `holdMmUsers` bug); else `mm` is uncounted. */
    readonly holdsMmUsers = false,
  ) {}
}

export class AccelDriver {
  readonly accel: DmaAccelerator;
  readonly options: Required<AccelDriverOptions>;
  readonly ops: FileOperations;
  /** The driver's own PASID -> contexts map (upstream offers no lookup, R-SVA-18). */
  private readonly byPasid = new Map<number, AccelContext[]>();
  /**
   * Contexts whose release has begun but not yet unbound: a removal of the device meanwhile must
   * unbind them too, as it does the contexts still in `byPasid`.
   */
  private readonly releasing = new Set<AccelContext>();
  /** Files whose release `closeSteps` ran as steps: their last put has nothing left to do. */
  private readonly releasedAsSteps = new Set<OpenFile>();
  private nextContextId = 1;
  private removed = false;
  /** Who runs the programs of plain calls (named if one ever had to wait). */
  private readonly owner: string;

  constructor(accel: DmaAccelerator, options: AccelDriverOptions = {}) {
    this.accel = accel;
    this.options = { stopMode: options.stopMode ?? 'wait', holdMmUsers: options.holdMmUsers ?? false };
    this.owner = `accel-${accel.name}`;
    this.ops = {
      name: this.owner,
      release: (file) => this.release(file),
      mmap: (file, vma) => this.mmapPortal(file, vma),
    };
  }

  /** open(): binds `task`'s address space; returns an fd or -errno (the bind's error). */
  open(task: Task): number {
    return runToCompletion(this.openSteps(task), this.owner);
  }

  /**
   * open() as steps: one step, before the bind (which may invalidate: it registers an mmu notifier
   * and programs the PASID table).
   *
   * @example
   *   const fd = runToCompletion(driver.openSteps(task), 'app'); // as driver.open(task)
   */
  *openSteps(task: Task): Program<number> {
    yield step(`${this.accel.name}: iommu_sva_bind_device`, {
      invalidates: true,
      enabled: () => task.mm === null || !this.bindWaits(task.mm),
    });
    const mm = task.mm;
    if (mm === null) throw new KernelBug('open from an exited process');
    if (this.removed) return -ENODEV;
    const bond = iommuSvaBindDevice(this.accel.dev, mm);
    if (typeof bond === 'number') return bond;
    const pasid = iommuSvaGetPasid(bond);
    if (this.options.holdMmUsers) mm.mmget();
    const ctx = new AccelContext(this.nextContextId++, mm, bond, pasid, this.options.holdMmUsers);
    const list = this.byPasid.get(pasid) ?? [];
    list.push(ctx);
    this.byPasid.set(pasid, list);
    const kernel = this.accel.kernel;
    const file = new OpenFile(
      kernel.newObjectId(),
      new Inode('device', kernel.newObjectId(), 0, null),
      this.ops,
    );
    file.privateData = ctx;
    return task.installFile(file);
  }

  /**
   * Whether a bind of `mm` has to wait: a first bind on this IOMMU registers the SVA domain's mmu
   * notifier, and mmu_notifier_register waits out an invalidation in flight on the mm (the call
   * that started it still holds the mmap lock the registration takes).
   */
  private bindWaits(mm: Mm): boolean {
    if (mm.invalidateDepth === 0) return false;
    const data = this.accel.core.mmData.get(mm);
    return data === undefined || !data.domains.some((d) => d.iommu === this.accel.dev.iommu);
  }

  /** The context behind a descriptor of `task`, or null. */
  contextOf(task: Task, fd: number): AccelContext | null {
    const file = task.fds.get(fd);
    if (file === undefined || file.ops !== this.ops) return null;
    return file.privateData as AccelContext;
  }

  /** The contexts using `pasid` (the driver's map). */
  contextsFor(pasid: number): readonly AccelContext[] {
    return this.byPasid.get(pasid) ?? [];
  }

  /** Submits work on the context of `fd`: the descriptor runs with the context's PASID. */
  submit(task: Task, fd: number, desc: Omit<DmaDescriptor, 'pasid'>): DmaJob | number {
    return runToCompletion(this.submitSteps(task, fd, desc), this.owner);
  }

  /** submit() as steps: one step, before the work is queued on the device. */
  *submitSteps(task: Task, fd: number, desc: Omit<DmaDescriptor, 'pasid'>): Program<DmaJob | number> {
    yield step(`${this.accel.name}: queue dma ${desc.op} (fd ${fd})`);
    const ctx = this.contextOf(task, fd);
    if (ctx === null) return -EBADF;
    return this.accel.submit({ ...desc, pasid: ctx.pasid });
  }

  /**
   * close(fd) as steps, for the race finder: the descriptor goes at once; when it held the file's
   * last reference, the release runs as steps while the closing task holds that reference (the
   * kernel's __fput), and the final put then finds nothing left to do. A plain close
   * (`task.close`) runs the same release straight through from the file's `release` operation.
   */
  *closeSteps(task: Task, fd: number): Program<number> {
    yield step(`${this.accel.name}: close(fd ${fd})`);
    const file = task.fds.get(fd);
    if (file === undefined) return -EBADF;
    // Not the last reference (a portal mapping, a forked child): nothing of the driver runs yet.
    if (file.ops !== this.ops || file.refcount > 1) return task.close(fd);
    file.get();
    task.close(fd);
    yield* this.releaseSteps(file);
    this.releasedAsSteps.add(file);
    file.put();
    return 0;
  }

  /** mmap of the device's portal (MMIO doorbell page): the VMA keeps the file open. */
  private mmapPortal(_file: OpenFile, vma: Vma): number {
    vma.flags |= VM_IO | VM_DONTEXPAND;
    return 0;
  }

  /** The file's last reference went: the release runs straight through, unless it ran as steps. */
  private release(file: OpenFile): void {
    if (this.releasedAsSteps.delete(file)) return;
    runToCompletion(this.releaseSteps(file), this.owner);
  }

  /**
   * The file's release as steps: stop the PASID on the device (with the PASID's last context),
   * drain the device's error log for it, unbind (R-SVA-48). Stopping and unbinding may call mmu
   * notifiers (page requests served while stopping, the notifier's removal) and invalidate IOMMU
   * caches. A removal of the device in between leaves the rest undone: removal unbinds for it.
   */
  *releaseSteps(file: OpenFile): Program {
    const { ctx, last } = this.forgetContext(file);
    if (last && !this.removed) {
      yield step(`${this.accel.name}: stop PASID ${ctx.pasid}`, { invalidates: true });
      if (!this.removed) this.accel.dev.stopPasid(ctx.pasid, this.options.stopMode);
    }
    if (!this.removed) {
      yield step(`${this.accel.name}: drain the error log of PASID ${ctx.pasid}`);
      if (!this.removed) this.drainErrors(ctx.pasid);
    }
    if (!this.removed) {
      yield step(`${this.accel.name}: iommu_sva_unbind_device (PASID ${ctx.pasid})`, { invalidates: true });
      if (!this.removed) this.unbindContext(ctx);
    }
    this.releasing.delete(ctx);
    if (ctx.holdsMmUsers) {
      yield step(`${this.accel.name}: mmput`, { invalidates: true });
      ctx.mm.mmput();
    }
  }

  /**
   * Takes the file's context out of the PASID map as its release begins. `last`: no other context
   * uses the PASID (contexts of one process share it: only the last one stops it on the device).
   */
  private forgetContext(file: OpenFile): { ctx: AccelContext; last: boolean } {
    const ctx = file.privateData as AccelContext;
    ctx.released = true;
    const list = this.byPasid.get(ctx.pasid) ?? [];
    list.splice(list.indexOf(ctx), 1);
    if (list.length === 0) this.byPasid.delete(ctx.pasid);
    this.releasing.add(ctx);
    return { ctx, last: list.length === 0 };
  }

  private drainErrors(pasid: number): void {
    const log = this.accel.errorLog;
    for (let i = log.length - 1; i >= 0; i--) if (log[i].desc.pasid === pasid) log.splice(i, 1);
  }

  private unbindContext(ctx: AccelContext): void {
    if (!ctx.bond.detached) iommuSvaUnbindDevice(ctx.bond);
  }

  /**
   * Hot-unplug: the device is gone. Its pending fault groups are answered INVALID at once (R-SVA-76),
   * then every context is unbound; later releases of the files find nothing left to undo.
   */
  remove(): void {
    runToCompletion(this.removeSteps(), this.owner);
  }

  /** remove() as steps: one before the device goes, one before each context's unbind. */
  *removeSteps(): Program {
    if (this.removed) return;
    yield step(`${this.accel.name}: remove the device`, { invalidates: true });
    if (this.removed) return;
    const dev = this.accel.dev;
    dev.present = false;
    if (dev.iommu !== null) iopfQueueRemoveDevice(dev.iommu.iopfQueue, dev);
    this.removed = true;
    // Contexts opened later find the device removed; those released meanwhile are unbound already.
    const contexts = [...[...this.byPasid.values()].flat(), ...this.releasing];
    for (const ctx of contexts) {
      if (ctx.bond.detached) continue;
      yield step(`${this.accel.name}: iommu_sva_unbind_device (PASID ${ctx.pasid})`, { invalidates: true });
      this.unbindContext(ctx);
    }
  }
}
