// The accelerator's driver, following the pattern of the kernel's SVA users (idxd, uacce; sva.md
// section 5.4): open() binds the opener's address space and records PASID -> context; the device
// works with that PASID; the release of the file (last close, or the last mapping of its portal
// going away) stops the PASID on the device, drains the device's error log for it, and unbinds.
// Nothing happens at process exit beyond what the file release does (R-SVA-46, R-SVA-48).

import { EBADF, ENODEV } from '../../sim/errno.js';
import { KernelBug } from '../../sim/errors.js';
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
  private nextContextId = 1;
  private removed = false;

  constructor(accel: DmaAccelerator, options: AccelDriverOptions = {}) {
    this.accel = accel;
    this.options = { stopMode: options.stopMode ?? 'wait', holdMmUsers: options.holdMmUsers ?? false };
    this.ops = {
      name: `accel-${accel.name}`,
      release: (file) => this.release(file),
      mmap: (file, vma) => this.mmapPortal(file, vma),
    };
  }

  /** open(): binds `task`'s address space; returns an fd or -errno (the bind's error). */
  open(task: Task): number {
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
    const ctx = this.contextOf(task, fd);
    if (ctx === null) return -EBADF;
    return this.accel.submit({ ...desc, pasid: ctx.pasid });
  }

  /** mmap of the device's portal (MMIO doorbell page): the VMA keeps the file open. */
  private mmapPortal(_file: OpenFile, vma: Vma): number {
    vma.flags |= VM_IO | VM_DONTEXPAND;
    return 0;
  }

  /** The file's last reference went: stop the PASID, drain its errors, unbind (R-SVA-48). */
  private release(file: OpenFile): void {
    const ctx = file.privateData as AccelContext;
    ctx.released = true;
    const list = this.byPasid.get(ctx.pasid) ?? [];
    list.splice(list.indexOf(ctx), 1);
    if (list.length === 0) this.byPasid.delete(ctx.pasid);
    if (!this.removed) {
      // Other contexts of the same process share the PASID: stop it only with the last one.
      if (list.length === 0) this.accel.dev.stopPasid(ctx.pasid, this.options.stopMode);
      this.drainErrors(ctx.pasid);
      iommuSvaUnbindDevice(ctx.bond);
    }
    if (ctx.holdsMmUsers) ctx.mm.mmput();
  }

  private drainErrors(pasid: number): void {
    const log = this.accel.errorLog;
    for (let i = log.length - 1; i >= 0; i--) if (log[i].desc.pasid === pasid) log.splice(i, 1);
  }

  /**
   * Hot-unplug: the device is gone. Its pending fault groups are answered INVALID at once (R-SVA-76),
   * then every context is unbound; later releases of the files find nothing left to undo.
   */
  remove(): void {
    if (this.removed) return;
    const dev = this.accel.dev;
    dev.present = false;
    if (dev.iommu !== null) iopfQueueRemoveDevice(dev.iommu.iopfQueue, dev);
    this.removed = true;
    for (const list of this.byPasid.values()) {
      for (const ctx of list) if (!ctx.bond.detached) iommuSvaUnbindDevice(ctx.bond);
    }
  }
}
