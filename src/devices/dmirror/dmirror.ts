// Models lib/test_hmm.c, the kernel's HMM test device ("dmirror"), per ../shared/spec/dmirror.md:
// each open file is a mirror of the opener's address space, kept with an interval notifier over the
// whole space and filled with hmm_range_fault, exactly as a real SVM driver does. READ and WRITE
// copy through the mirror (faulting missing pages in 64-page pieces), SNAPSHOT reports what
// hmm_range_fault sees. Device memory (MIGRATE_*, EXCLUSIVE, RELEASE) arrives with device page maps.

import { EBUSY, EFAULT, EINVAL, ENOENT, EPERM } from '../../sim/errno.js';
import { PAGE_SIZE, VM_READ, VM_WRITE, VPN_END_MAX } from '../../mm/constants.js';
import { makeDeviceExclusiveRange } from '../../mm/deviceExclusive.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../mm/migrateDevice.js';
import type { OpenFile } from '../../mm/file.js';
import type { Mm } from '../../mm/mm.js';
import { MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../mm/mmuNotify.js';
import { ZONE_DEVICE_COHERENT, ZONE_DEVICE_PRIVATE } from '../../mm/physmem.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadBeginTry,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../notifier/interval.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToMapOrder,
} from '../../hmm/hmmPfn.js';
import { HmmRange, hmmRangeFault } from '../../hmm/hmmRangeFault.js';
import { DriverLock, type Program, runToCompletion, step } from '../../sim/steps.js';
import { DeviceTable } from '../deviceTable.js';
import { backingPfn } from './devmem.js';
import type { DmirrorDevice } from './device.js';
import {
  type DmirrorCmd,
  DPT_ATTR_ATOMIC,
  DPT_ATTR_READ,
  DPT_ATTR_WRITE,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from './uapi.js';

/** Pages per hmm_range_fault call (the driver's pfns[] array). */
export const DMIRROR_RANGE_PAGES = 64;
/**
 * Attempts per range before giving up with -EBUSY. The kernel's bound is a 1000 ms deadline; a
 * sequential model passes no time while retrying, so it counts attempts instead.
 */
const RANGE_FAULT_ATTEMPTS = 1000;
/** Who holds the mutex in a plain (not explored) run. */
const MUTEX_OWNER = 'dmirror';

/** One open file of a dmirror device: the mirror of its opener's address space. */
export class Dmirror {
  /** Recorded in the backing pages this mirror migrates in (R-DMIR-7); never 0. */
  readonly id: number;
  readonly device: DmirrorDevice;
  /** The opener's mm: the mirror is bound to it forever (R-DMIR-9). */
  readonly mm: Mm;
  /** The device page table: vpn -> (page, READ/WRITE/ATOMIC). Holds no page references (R-DMIR-10). */
  readonly pt = new DeviceTable();
  readonly notifier: MmuIntervalNotifier;
  file: OpenFile | null = null;
  /** The mirror's mutex (dmirror->mutex); the fault path takes it as a step (see faultSteps). */
  readonly mutex = new DriverLock('dmirror.mutex');

  constructor(device: DmirrorDevice, mm: Mm, id: number) {
    this.id = id;
    this.device = device;
    this.mm = mm;
    this.notifier = new MmuIntervalNotifier({
      invalidate: (isub, range, seq) => this.invalidate(isub, range, seq),
    });
  }

  /** Inserts the notifier over the whole address space (R-DMIR-8). Returns 0 or -errno. */
  attach(): number {
    return mmuIntervalNotifierInsert(this.notifier, this.mm, 0, VPN_END_MAX - 1, this.notifier.ops);
  }

  /** R-DMIR-12: the mirror's invalidate callback. */
  private invalidate(isub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
    // The device's own migrations update the mirror themselves.
    if (range.event === MMU_NOTIFY_MIGRATE && range.owner === this.device) return true;
    if (this.mutexHeld) {
      if (!range.blockable) return false;
      throw new Error('dmirror invalidate would sleep on its own mutex');
    }
    this.mutex.holder = MUTEX_OWNER;
    mmuIntervalSetSeq(isub, curSeq);
    // The upper bound is inclusive in test_hmm.c: the page at `end` goes too.
    this.pt.eraseRange(range.startVpn, Math.min(range.endVpn, VPN_END_MAX - 1));
    this.mutex.holder = null;
    return true;
  }

  private get mutexHeld(): boolean {
    return this.mutex.holder !== null;
  }

  private lock(): void {
    if (this.mutexHeld) throw new Error('dmirror mutex taken twice');
    this.mutex.holder = MUTEX_OWNER;
  }

  private unlock(): void {
    this.mutex.holder = null;
  }

  // ---- the device fault path (R-DMIR-19..21) ---------------------------------------------------

  /** dmirror_fault: faults [start, end) in 64-page pieces. */
  fault(startVpn: number, endVpn: number, write: boolean): number {
    return runToCompletion(this.faultSteps(startVpn, endVpn, write), MUTEX_OWNER);
  }

  /**
   * dmirror_fault as a step program: plain calls run it straight through, the race finder
   * interleaves its steps with other actors'.
   */
  *faultSteps(startVpn: number, endVpn: number, write: boolean): Program<number> {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    let rc = 0;
    for (let vpn = startVpn; vpn < endVpn; vpn += DMIRROR_RANGE_PAGES) {
      const range = new HmmRange(this.notifier, vpn, Math.min(vpn + DMIRROR_RANGE_PAGES, endVpn));
      range.defaultFlags = HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0);
      range.devPrivateOwner = this.device;
      range.p2pCluster = this.device.p2pCluster;
      rc = yield* this.rangeFaultSteps(range);
      if (rc !== 0) break;
    }
    mm.mmput();
    return rc;
  }

  /** dmirror_range_fault: the read_begin / hmm_range_fault / lock / read_retry loop, as steps. */
  private *rangeFaultSteps(range: HmmRange): Program<number> {
    for (let attempt = 0; ; attempt++) {
      if (attempt === RANGE_FAULT_ATTEMPTS) return -EBUSY;
      yield step('dmirror: mmu_interval_read_begin', {
        enabled: () => mmuIntervalReadBeginTry(range.notifier) >= 0,
        readsOnly: true,
      });
      range.notifierSeq = mmuIntervalReadBegin(range.notifier);
      yield step('dmirror: hmm_range_fault', { invalidates: true });
      const rc = hmmRangeFault(range);
      if (rc === -EBUSY) continue;
      if (rc !== 0) return rc;
      yield { kind: 'acquire', label: 'dmirror: mutex_lock', lock: this.mutex };
      yield step('dmirror: mmu_interval_read_retry', { readsOnly: true });
      if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
        yield step('dmirror: mutex_unlock');
        this.unlock();
        continue;
      }
      yield step('dmirror: update device page table');
      const stored = this.doFault(range);
      yield step('dmirror: mutex_unlock');
      this.unlock();
      return stored;
    }
  }

  /** dmirror_do_fault: stores one entry per page, under the mutex. */
  private doFault(range: HmmRange): number {
    const mem = this.mm.kernel.mem;
    const write = (range.defaultFlags & HMM_PFN_REQ_WRITE) !== 0;
    for (let vpn = range.startVpn; vpn < range.endVpn; vpn++) {
      const i = vpn - range.startVpn;
      const flags = range.flags[i];
      if (flags & HMM_PFN_ERROR || !(flags & HMM_PFN_VALID))
        this.mm.kernel.warn('dmirror_do_fault: invalid hmm pfn');
      let pfn = range.pfns[i];
      // The oracle kernel's fix: a device-private page is stored as its backing page.
      if (mem.zone(pfn).kind === ZONE_DEVICE_PRIVATE) pfn = backingPfn(this.mm.kernel, pfn);
      if (flags & HMM_PFN_WRITE) {
        this.pt.set(vpn, pfn, DPT_ATTR_WRITE);
      } else {
        if (write) {
          this.mm.kernel.warn('dmirror_do_fault: write requested, page is read-only');
          return -EFAULT;
        }
        this.pt.set(vpn, pfn, DPT_ATTR_READ);
      }
    }
    return 0;
  }

  // ---- commands ---------------------------------------------------------------------------------

  /**
   * HMM_DMIRROR_READ (R-DMIR-22): copies the range out through the mirror, faulting missing pages.
   * Returns 0 with `cmd.cpages`/`cmd.faults` set and the data (bytes mode) or tokens in `out`.
   */
  read(cmd: DmirrorCmd, out: Uint8Array | Uint32Array | null): number {
    const end = cmd.addrVpn + cmd.npages;
    let start = cmd.addrVpn;
    for (;;) {
      this.lock();
      const missing = this.copyOut(start, end, cmd, out);
      this.unlock();
      if (!missing) return 0;
      start = cmd.addrVpn + cmd.cpages;
      const rc = this.fault(start, end, false);
      if (rc !== 0) return rc;
      cmd.faults++;
    }
  }

  /** dmirror_do_read: copies pages until the first page without an entry; true if one was missing. */
  private copyOut(
    start: number,
    end: number,
    cmd: DmirrorCmd,
    out: Uint8Array | Uint32Array | null,
  ): boolean {
    const content = this.mm.kernel.mem.content;
    for (let vpn = start; vpn < end; vpn++) {
      if (!this.pt.has(vpn)) return true;
      const pfn = this.pt.pfn(vpn);
      const i = vpn - cmd.addrVpn;
      if (out instanceof Uint8Array) content.read(pfn, 0, out, i * PAGE_SIZE, PAGE_SIZE);
      else if (out !== null) out[i] = content.token(pfn);
      cmd.cpages++;
    }
    return false;
  }

  /**
   * HMM_DMIRROR_WRITE (R-DMIR-23): copies `data` in through WRITE-tagged entries, faulting for
   * write where needed. `data` is bytes (npages × 4 KiB) or one token per page; null in tokens
   * mode gives every page a fresh token.
   */
  write(cmd: DmirrorCmd, data: Uint8Array | Uint32Array | null): number {
    const end = cmd.addrVpn + cmd.npages;
    let start = cmd.addrVpn;
    for (;;) {
      this.lock();
      const missing = this.copyIn(start, end, cmd, data);
      this.unlock();
      if (!missing) return 0;
      start = cmd.addrVpn + cmd.cpages;
      const rc = this.fault(start, end, true);
      if (rc !== 0) return rc;
      cmd.faults++;
    }
  }

  private copyIn(
    start: number,
    end: number,
    cmd: DmirrorCmd,
    data: Uint8Array | Uint32Array | null,
  ): boolean {
    const kernel = this.mm.kernel;
    const content = kernel.mem.content;
    for (let vpn = start; vpn < end; vpn++) {
      if (this.pt.attr(vpn) !== DPT_ATTR_WRITE) return true;
      const pfn = this.pt.pfn(vpn);
      const i = vpn - cmd.addrVpn;
      if (data instanceof Uint8Array) content.write(pfn, 0, data, i * PAGE_SIZE, PAGE_SIZE);
      else content.setToken(pfn, data === null ? kernel.newToken() : data[i]);
      cmd.cpages++;
    }
    return false;
  }

  /** HMM_DMIRROR_SNAPSHOT (R-DMIR-26): one byte per page into `out`. Never faults. */
  snapshot(cmd: DmirrorCmd, out: Uint8Array): number {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EINVAL;
    const end = cmd.addrVpn + cmd.npages;
    let rc = 0;
    for (let vpn = cmd.addrVpn; vpn < end; vpn += DMIRROR_RANGE_PAGES) {
      const next = Math.min(vpn + DMIRROR_RANGE_PAGES, end);
      rc = this.rangeSnapshot(vpn, next, out.subarray(vpn - cmd.addrVpn, next - cmd.addrVpn));
      if (rc !== 0) break;
      cmd.cpages += next - vpn;
    }
    mm.mmput();
    return rc;
  }

  /** dmirror_range_snapshot: a temporary notifier on exactly the piece, and the retry loop. */
  private rangeSnapshot(start: number, end: number, perm: Uint8Array): number {
    const temp = new MmuIntervalNotifier({
      invalidate: (isub, _range, curSeq) => {
        if (this.mutexHeld) throw new Error('dmirror snapshot notifier would sleep on the mutex');
        mmuIntervalSetSeq(isub, curSeq);
        return true;
      },
    });
    let rc = mmuIntervalNotifierInsert(temp, this.mm, start, end - start, temp.ops);
    if (rc !== 0) return rc;
    const range = new HmmRange(temp, start, end);
    range.devPrivateOwner = this.device;
    range.p2pCluster = this.device.p2pCluster;
    for (let attempt = 0; ; attempt++) {
      if (attempt === RANGE_FAULT_ATTEMPTS) {
        rc = -EBUSY;
        break;
      }
      range.notifierSeq = mmuIntervalReadBegin(temp);
      rc = hmmRangeFault(range);
      if (rc === -EBUSY) continue;
      if (rc !== 0) break;
      this.lock();
      if (mmuIntervalReadRetry(temp, range.notifierSeq)) {
        this.unlock();
        continue;
      }
      for (let i = 0; i < end - start; i++) perm[i] = this.mkentry(range.flags[i], range.pfns[i]);
      this.unlock();
      break;
    }
    mmuIntervalNotifierRemove(temp);
    return rc;
  }

  /** dmirror_mkentry: the snapshot byte of one hmm pfn (R-DMIR-27). */
  private mkentry(flags: number, pfn: number): number {
    if (flags & HMM_PFN_ERROR) return HMM_DMIRROR_PROT_ERROR;
    if (!(flags & HMM_PFN_VALID)) return HMM_DMIRROR_PROT_NONE;
    const mem = this.mm.kernel.mem;
    const zone = mem.zone(pfn);
    let perm: number;
    if (zone.kind === ZONE_DEVICE_PRIVATE) {
      perm =
        zone.owner === this.device ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
    } else if (zone.kind === ZONE_DEVICE_COHERENT) {
      perm =
        zone.owner === this.device
          ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
          : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
    } else if (mem.isZeroPfn(pfn) && !mem.isLargeFolio(pfn)) {
      perm = HMM_DMIRROR_PROT_ZERO;
    } else {
      perm = HMM_DMIRROR_PROT_NONE;
    }
    perm |= flags & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
    const order = hmmPfnToMapOrder(flags);
    if (order === 9) perm |= HMM_DMIRROR_PROT_PMD;
    else if (order === 18) perm |= HMM_DMIRROR_PROT_PUD;
    return perm;
  }

  /** HMM_DMIRROR_CHECK_EXCLUSIVE (R-DMIR-29): -EPERM while any page of the range is ATOMIC. */
  checkExclusive(cmd: DmirrorCmd): number {
    this.lock();
    let rc = 0;
    for (let vpn = cmd.addrVpn; vpn < cmd.addrVpn + cmd.npages; vpn++) {
      if (this.pt.attr(vpn) === DPT_ATTR_ATOMIC) {
        rc = -EPERM;
        break;
      }
    }
    this.unlock();
    return rc;
  }

  /** Erases this mirror's entry for one page (migrate_to_ram of a page this mirror migrated in). */
  erase(vpn: number): void {
    this.pt.delete(vpn);
  }

  /**
   * Walks [cmd.addr, end) in pieces of at most 64 pages that stay inside one readable VMA, as
   * MIGRATE_TO_DEV and MIGRATE_TO_SYS do. Returns 0 or -EINVAL (pieces done before stay done).
   */
  private forEachPiece(cmd: DmirrorCmd, piece: (args: MigrateVma) => number): number {
    const mm = this.mm;
    const end = cmd.addrVpn + cmd.npages;
    for (let vpn = cmd.addrVpn; vpn < end;) {
      const vma = mm.vmas.find(vpn);
      if (vma === null || !(vma.flags & VM_READ)) return -EINVAL;
      const next = Math.min(end, vpn + DMIRROR_RANGE_PAGES, vma.end);
      const args = new MigrateVma(vma, vpn, next);
      args.pgmapOwner = this.device;
      const rc = piece(args);
      if (rc !== 0) return rc;
      vpn = next;
    }
    return 0;
  }

  /** HMM_DMIRROR_MIGRATE_TO_DEV (R-DMIR-24): migrate, then read the range back from the mirror. */
  migrateToDevice(cmd: DmirrorCmd, out: Uint8Array | Uint32Array | null): number {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EINVAL;
    const rc = this.forEachPiece(cmd, (args) => {
      args.flags = MIGRATE_VMA_SELECT_SYSTEM;
      const r = migrateVmaSetup(args);
      if (r !== 0) return r;
      this.allocAndCopyToDevice(args);
      migrateVmaPages(args);
      this.finalizeAndMap(args);
      migrateVmaFinalize(args);
      return 0;
    });
    mm.mmput();
    if (rc !== 0) return rc;
    return this.readBack(cmd, out);
  }

  /** dmirror_migrate_alloc_and_copy: a device page for every migrating page (zero-filled for holes). */
  private allocAndCopyToDevice(args: MigrateVma): void {
    const kernel = this.mm.kernel;
    const mem = kernel.mem;
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const spage = migratePfnToPfn(args.src[i]);
      if (spage !== 0 && mem.zone(spage).kind !== 0) {
        kernel.warn(`dmirror: page already in device memory, pfn ${spage}`);
        continue;
      }
      const dpage = this.device.devmem.allocPage();
      if (dpage === 0) continue;
      const rpage = backingPfn(kernel, dpage);
      if (spage !== 0) mem.content.copy(rpage, spage);
      else mem.content.zero(rpage);
      mem.setZoneDeviceData(rpage, this.id);
      const writable = args.src[i] & MIGRATE_PFN_WRITE || (spage === 0 && args.vma.flags & VM_WRITE);
      args.dst[i] = migratePfn(dpage) + (writable ? MIGRATE_PFN_WRITE : 0);
    }
  }

  /** dmirror_migrate_finalize_and_map: mirror entries for the pages that moved. */
  private finalizeAndMap(args: MigrateVma): void {
    this.lock();
    for (let i = 0; i < args.npages; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const dpage = migratePfnToPfn(args.dst[i]);
      if (dpage === 0) continue;
      this.pt.set(
        args.start + i,
        backingPfn(this.mm.kernel, dpage),
        args.dst[i] & MIGRATE_PFN_WRITE ? DPT_ATTR_WRITE : DPT_ATTR_READ,
      );
    }
    this.unlock();
  }

  /** The read-back of MIGRATE_TO_DEV and EXCLUSIVE: like READ, but a missing entry is -ENOENT. */
  private readBack(cmd: DmirrorCmd, out: Uint8Array | Uint32Array | null): number {
    this.lock();
    const missing = this.copyOut(cmd.addrVpn, cmd.addrVpn + cmd.npages, cmd, out);
    this.unlock();
    return missing ? -ENOENT : 0;
  }

  /** HMM_DMIRROR_MIGRATE_TO_SYS (R-DMIR-25): this device's pages back to RAM; cpages counts them. */
  migrateToSystem(cmd: DmirrorCmd): number {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EINVAL;
    const devmem = this.device.devmem;
    const rc = this.forEachPiece(cmd, (args) => {
      args.flags = devmem.selectFlags;
      const r = migrateVmaSetup(args);
      if (r !== 0) return r;
      devmem.allocAndCopyToRam(args, this);
      migrateVmaPages(args);
      for (let i = 0; i < args.npages; i++) {
        if (args.src[i] & MIGRATE_PFN_VALID && args.src[i] & MIGRATE_PFN_MIGRATE) cmd.cpages++;
      }
      migrateVmaFinalize(args);
      return 0;
    });
    mm.mmput();
    return rc;
  }

  /**
   * HMM_DMIRROR_EXCLUSIVE (R-DMIR-28, 6.12): make_device_exclusive_range in 64-page batches with no
   * owner (so this mirror sees its own grant), ATOMIC entries when a whole batch succeeded, -EBUSY
   * otherwise; then the range is read back.
   */
  exclusive(cmd: DmirrorCmd, out: Uint8Array | Uint32Array | null): number {
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EINVAL;
    const mem = mm.kernel.mem;
    const end = cmd.addrVpn + cmd.npages;
    const pages: number[] = [];
    for (let vpn = cmd.addrVpn; vpn < end;) {
      const next = Math.min(end, vpn + DMIRROR_RANGE_PAGES);
      pages.length = 0;
      const n = makeDeviceExclusiveRange(mm, vpn, next, pages, null);
      let mapped = 0;
      if (n === next - vpn) {
        this.lock();
        for (let i = 0; i < n; i++) {
          if (pages[i] === 0) continue;
          this.pt.set(vpn + i, pages[i], DPT_ATTR_ATOMIC);
          mapped++;
        }
        this.unlock();
      }
      for (let i = 0; i < n; i++) {
        if (pages[i] !== 0) {
          mem.unlock(pages[i]);
          mem.put(pages[i]);
        }
      }
      if (mapped < next - vpn) {
        mm.mmput();
        return -EBUSY;
      }
      vpn = next;
    }
    mm.mmput();
    return this.readBack(cmd, out);
  }

  /** HMM_DMIRROR_RELEASE (R-DMIR-31): every chunk of the device evicted and removed. */
  releaseDeviceMemory(): number {
    this.device.devmem.removeChunks();
    return 0;
  }

  /** The last reference to the file went (R-DMIR-11). */
  release(): void {
    mmuIntervalNotifierRemove(this.notifier);
    this.device.devmem.evictAll();
    this.pt.clear();
    this.device.forget(this);
  }
}

/** Validates the command prologue shared by every ioctl (R-DMIR-16). */
export function checkCmd(cmd: DmirrorCmd): number {
  if (!Number.isInteger(cmd.addrVpn) || cmd.addrVpn < 0) return -EINVAL;
  if (!Number.isInteger(cmd.npages) || cmd.npages <= 0 || cmd.addrVpn + cmd.npages > VPN_END_MAX)
    return -EINVAL;
  cmd.cpages = 0;
  cmd.faults = 0;
  return 0;
}
