// The dmirror devices (/dev/hmm_dmirror0..3) and their files: open creates a mirror of the
// opener's address space, the ioctls run the commands, mmap inserts zeroed pages (a VM_MIXEDMAP
// mapping), and the last close tears the mirror down. Devices 0 and 1 are device-private;
// 2 and 3 (device-coherent) exist only when configured, as with the module's spm_addr parameters.

import { EINVAL, ENOENT, ENOMEM, ENOTTY } from '../../sim/errno.js';
import { KernelBug } from '../../sim/errors.js';
import type { FileOperations, OpenFile } from '../../mm/file.js';
import { Inode, OpenFile as File } from '../../mm/file.js';
import { vmInsertPage } from '../../mm/insertPage.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Task } from '../../mm/task.js';
import type { Vma } from '../../mm/vma.js';
import { DmirrorDevmem, type DevmemOwner } from './devmem.js';
import { checkCmd, Dmirror } from './dmirror.js';
import {
  type DmirrorCmd,
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
  HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from './uapi.js';

/** Data passed with READ/WRITE (bytes, or one token per page in tokens mode) or SNAPSHOT (bytes). */
export type DmirrorBuffer = Uint8Array | Uint32Array | null;

export interface DmirrorDeviceOptions {
  /** Most 256 MiB chunks a private device may allocate (default: no bound, as in the kernel). */
  readonly maxChunks?: number;
  /**
   * Interconnect clusters of the P2P extension, by unit: devices in one cluster reach each other's
   * private pages in place when the kernel's `p2p` option is on (default: none).
   */
  readonly p2pClusters?: readonly (unknown | null)[];
}

export class DmirrorDevice implements DevmemOwner {
  readonly kernel: Kernel;
  readonly unit: number;
  /** HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT. */
  readonly type: number;
  readonly devmem: DmirrorDevmem;
  /** This device's interconnect cluster (P2P extension), or null. */
  readonly p2pCluster: unknown;
  private readonly ops: FileOperations;
  private readonly mirrors = new Map<number, Dmirror>();
  private nextMirrorId = 1;

  constructor(kernel: Kernel, unit: number, type: number, options: DmirrorDeviceOptions = {}) {
    this.kernel = kernel;
    this.unit = unit;
    this.type = type;
    this.p2pCluster = options.p2pClusters?.[unit] ?? null;
    this.devmem = new DmirrorDevmem(kernel, this, options.maxChunks);
    this.ops = {
      name: `hmm_dmirror${unit}`,
      release: (file) => (file.privateData as Dmirror).release(),
      mmap: (file, vma) => this.mmap(file, vma),
    };
  }

  get private(): boolean {
    return this.type === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
  }

  mirrorById(id: number): Dmirror | undefined {
    return this.mirrors.get(id);
  }

  /** @internal A mirror's file was released. */
  forget(mirror: Dmirror): void {
    this.mirrors.delete(mirror.id);
  }

  /** open("/dev/hmm_dmirrorN"): a new mirror of `task`'s address space. Returns an fd or -errno. */
  open(task: Task): number {
    if (task.mm === null) throw new KernelBug('open from an exited process');
    const mirror = new Dmirror(this, task.mm, this.nextMirrorId++);
    const rc = mirror.attach();
    if (rc < 0) return rc;
    this.mirrors.set(mirror.id, mirror);
    const inode = new Inode('device', this.kernel.newObjectId(), 0, null);
    const file = new File(this.kernel.newObjectId(), inode, this.ops);
    file.privateData = mirror;
    mirror.file = file;
    return task.installFile(file);
  }

  /** The mirror behind an open file of this device. */
  static mirrorOf(file: OpenFile): Dmirror {
    if (!(file.privateData instanceof Dmirror)) throw new KernelBug(`${file.ops.name} is not a dmirror file`);
    return file.privateData;
  }

  /**
   * ioctl(fd, HMM_DMIRROR_*, cmd). On success `cmd.cpages`/`cmd.faults` are updated; on failure
   * they keep their old values (the driver copies the command back only on success, R-DMIR-17).
   */
  ioctl(file: OpenFile, request: number, cmd: DmirrorCmd, buffer: DmirrorBuffer = null): number {
    const mirror = DmirrorDevice.mirrorOf(file);
    const work: DmirrorCmd = { ...cmd };
    let rc = checkCmd(work);
    if (rc < 0) return rc;
    switch (request) {
      case HMM_DMIRROR_READ:
        rc = mirror.read(work, buffer);
        break;
      case HMM_DMIRROR_WRITE:
        rc = mirror.write(work, buffer);
        break;
      case HMM_DMIRROR_SNAPSHOT:
        if (!(buffer instanceof Uint8Array) || buffer.length < work.npages) return -EINVAL;
        rc = mirror.snapshot(work, buffer);
        break;
      case HMM_DMIRROR_CHECK_EXCLUSIVE:
        rc = mirror.checkExclusive(work);
        break;
      case HMM_DMIRROR_MIGRATE_TO_DEV:
        rc = mirror.migrateToDevice(work, buffer);
        break;
      case HMM_DMIRROR_MIGRATE_TO_SYS:
        rc = mirror.migrateToSystem(work);
        break;
      case HMM_DMIRROR_EXCLUSIVE:
        rc = mirror.exclusive(work, buffer);
        break;
      case HMM_DMIRROR_RELEASE:
        rc = mirror.releaseDeviceMemory();
        break;
      default:
        return -ENOTTY;
    }
    if (rc === 0) {
      cmd.cpages = work.cpages;
      cmd.faults = work.faults;
    }
    return rc;
  }

  /** dmirror_fops_mmap: a zeroed page inserted for every page of the new mapping. */
  private mmap(_file: OpenFile, vma: Vma): number {
    const mem = this.kernel.mem;
    for (let vpn = vma.start; vpn < vma.end; vpn++) {
      const pfn = mem.allocPage();
      if (pfn < 0) return -ENOMEM;
      const rc = vmInsertPage(vma, vpn, pfn);
      mem.put(pfn);
      if (rc < 0) return rc;
    }
    return 0;
  }
}

/** The test_hmm module: devices 0 and 1 (private) always, 2 and 3 (coherent) when configured. */
export class DmirrorDriver {
  readonly devices: (DmirrorDevice | null)[];

  constructor(kernel: Kernel, options: { coherent?: boolean } & DmirrorDeviceOptions = {}) {
    this.devices = [0, 1, 2, 3].map((unit) => {
      if (unit < 2) return new DmirrorDevice(kernel, unit, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, options);
      return options.coherent
        ? new DmirrorDevice(kernel, unit, HMM_DMIRROR_MEMORY_DEVICE_COHERENT, options)
        : null;
    });
  }

  /** open("/dev/hmm_dmirror<unit>") in `task`: an fd, or -ENOENT for a unit that does not exist. */
  open(task: Task, unit: number): number {
    const device = this.devices[unit];
    if (device === undefined || device === null) return -ENOENT;
    return device.open(task);
  }

  /** ioctl on an fd of `task` that refers to a dmirror file. */
  ioctl(task: Task, fd: number, request: number, cmd: DmirrorCmd, buffer: DmirrorBuffer = null): number {
    const file = task.fds.get(fd);
    if (file === undefined) return -EINVAL;
    const mirror = DmirrorDevice.mirrorOf(file);
    return mirror.device.ioctl(file, request, cmd, buffer);
  }
}
