// Figures of device memory: migrating anonymous pages to a device-private page map and back with
// the kernel's migrate_vma_* API, driven the way a GPU driver drives it, and making pages exclusive
// to a device (make_device_exclusive_range, 6.12).
//
// Timing method: as in mm.bench.ts, tinybench runs a fixed count of repetitions (warmup + REPS) and
// the median is reported. Every repetition gets a fresh Kernel in the untimed setup (populated, plus
// for the `to_sys` figures already migrated to the device); only the driver's migration loop (or the
// exclusive-access loop) is timed. The untimed teardown checks every page-table entry, the data, a
// CPU fault on a sample of pages, `auditMm`, and that no RAM or device frame is left after exit.

import { auditMm } from '../src/check/mmAudit.js';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_OK,
  VM_FAULT_SIGBUS,
} from '../src/mm/constants.js';
import { makeDeviceExclusiveRange } from '../src/mm/deviceExclusive.js';
import {
  DevPagemap,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  type VmFault,
  zoneDevicePageInit,
} from '../src/mm/devmap.js';
import { Kernel } from '../src/mm/kernel.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  migratePfn,
  migratePfnToPfn,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../src/mm/migrateDevice.js';
import type { Mm } from '../src/mm/mm.js';
import { ZONE_DEVICE_PRIVATE, ZONE_RAM } from '../src/mm/physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_PRESENT,
  PTE_WRITE,
  describePte,
} from '../src/mm/pte.js';
import type { Task } from '../src/mm/task.js';
import { type Figure, medianRate } from './harness.js';
import { check, exitAll, type Populated, populatedTokens } from './hmm.bench.js';

/** 1 Mi pages (4 GiB of modeled memory) for the tokens-mode figures. */
const PAGES = 1 << 20;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** Fits 1 Mi pages plus the zero page; the device page map gets as many pages again. */
const RAM = 8 * GiB;
const REPS = 5;
/**
 * Pages per migrate_vma_setup/pages/finalize call: one 2 MiB PMD's worth, what nouveau's
 * nouveau_dmem_migrate_vma uses since the device-THP series (`min(1UL << (PMD_SHIFT - PAGE_SHIFT),
 * npages)`; before it, SG_MAX_SINGLE_ALLOC = 128 pages on x86-64), and amdgpu's default SVM range
 * granularity (2 MiB). The src/dst arrays are allocated once per pass and reused by every batch,
 * as a driver allocates them once per migrate call.
 */
const MIGRATE_BATCH = 512;
/** Pages per make_device_exclusive_range call: dmirror's batch (lib/test_hmm.c). */
const EXCLUSIVE_BATCH = 64;
/** Pages whose CPU access is checked after each repetition (each one a fault). */
const CPU_SAMPLE_STRIDE = 65_521;
/** 256 MiB (64 Ki pages) for the bytes-mode figures. */
const BYTES = 256 * MiB;
const BYTES_PAGES = BYTES / PAGE_SIZE;
const BYTES_RAM = 1 * GiB;
/** Pages compared byte for byte in bytes mode (every page's stamp is checked as well). */
const BYTES_SAMPLE_STRIDE = 4093;

// ---- the device: a page map and a driver's migration loop --------------------------------------------

/**
 * A device with `nrPages` of device-private memory, owner `this` (the pgmap_owner cookie), and the
 * callbacks memremap_pages requires: page_free counts frees, migrate_to_ram moves the faulting page
 * back to RAM with the same migrate_vma_* calls as the bulk path.
 */
class BenchDevice {
  readonly pgmap: DevPagemap;
  /** Pages handed out by zoneDevicePageInit, and freed through page_free. */
  allocated = 0;
  freed = 0;
  /** CPU faults on device-private entries (migrate_to_ram calls). */
  cpuFaults = 0;
  /** Reused by every migration batch: one migrate-pfn word per page. */
  readonly src = new Float64Array(MIGRATE_BATCH);
  readonly dst = new Float64Array(MIGRATE_BATCH);

  constructor(
    readonly kernel: Kernel,
    nrPages: number,
  ) {
    this.pgmap = new DevPagemap({
      type: MEMORY_DEVICE_PRIVATE,
      owner: this,
      nrPages,
      name: 'bench-gpu0',
      ops: {
        pageFree: () => {
          this.freed++;
        },
        migrateToRam: (vmf) => this.migrateToRam(vmf),
      },
    });
    const rc = memremapPages(kernel, this.pgmap);
    check(rc === 0, `memremap_pages returned ${rc}`);
  }

  /**
   * Migrates [startVpn, startVpn + npages) of `mm` to the device (`toDevice`) or back to RAM, in
   * MIGRATE_BATCH-page pieces that stay inside one VMA. Returns the pages that moved.
   */
  migrate(mm: Mm, startVpn: number, npages: number, toDevice: boolean): number {
    const end = startVpn + npages;
    let moved = 0;
    for (let vpn = startVpn; vpn < end;) {
      const vma = mm.vmas.find(vpn);
      if (vma === null) check(false, `no VMA at vpn ${vpn}`);
      const next = Math.min(end, vpn + MIGRATE_BATCH, vma!.end);
      const args = new MigrateVma(vma!, vpn, next, this.src, this.dst);
      args.pgmapOwner = this;
      args.flags = toDevice ? MIGRATE_VMA_SELECT_SYSTEM : MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
      const rc = migrateVmaSetup(args);
      if (rc !== 0) check(false, `migrate_vma_setup at vpn ${vpn} returned ${rc}`);
      if (toDevice) this.allocAndCopyToDevice(args);
      else this.allocAndCopyToRam(args);
      migrateVmaPages(args);
      const src = args.src;
      for (let i = 0; i < args.npages; i++) if (src[i] & MIGRATE_PFN_MIGRATE) moved++;
      migrateVmaFinalize(args);
      vpn = next;
    }
    return moved;
  }

  /** A device page for every collected page, with the data copied (the driver's DMA). */
  private allocAndCopyToDevice(args: MigrateVma): void {
    const mem = this.kernel.mem;
    const { src, dst } = args;
    for (let i = 0; i < args.npages; i++) {
      const word = src[i];
      if (!(word & MIGRATE_PFN_MIGRATE)) continue;
      const dpage = zoneDevicePageInit(this.kernel, this.pgmap);
      if (dpage < 0) continue;
      this.allocated++;
      const spage = migratePfnToPfn(word);
      if (spage !== 0) mem.content.copy(dpage, spage);
      dst[i] = migratePfn(dpage) + (word & MIGRATE_PFN_WRITE);
    }
  }

  /** A locked system page for every collected device page, with the data copied back. */
  private allocAndCopyToRam(args: MigrateVma): void {
    const mem = this.kernel.mem;
    const { src, dst } = args;
    for (let i = 0; i < args.npages; i++) {
      const word = src[i];
      const spage = migratePfnToPfn(word);
      if (spage === 0 || !(word & MIGRATE_PFN_MIGRATE)) continue;
      const rpage = mem.allocPage();
      if (rpage < 0) continue;
      if (!mem.trylock(rpage)) check(false, `a fresh system page ${rpage} was already locked`);
      mem.content.copy(rpage, spage);
      dst[i] = migratePfn(rpage) + (word & MIGRATE_PFN_WRITE);
    }
  }

  /** dev_pagemap_ops.migrate_to_ram: the faulting page alone goes back to RAM. */
  private migrateToRam(vmf: VmFault): number {
    this.cpuFaults++;
    const args = new MigrateVma(vmf.vma, vmf.vpn, vmf.vpn + 1);
    args.pgmapOwner = this;
    args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
    args.faultPage = vmf.pfn;
    if (migrateVmaSetup(args) !== 0) return VM_FAULT_SIGBUS;
    this.allocAndCopyToRam(args);
    migrateVmaPages(args);
    migrateVmaFinalize(args);
    return VM_FAULT_OK;
  }

  /** After every task exited: every device page came back through page_free. */
  checkDrained(): void {
    const used = this.kernel.mem.usedPages(this.pgmap.zone!);
    check(used === 0 && this.pgmap.allocated === 0, `${used} device frames leaked after exit`);
    check(this.freed === this.allocated, `${this.allocated} device pages handed out, ${this.freed} freed`);
  }
}

// ---- checks ---------------------------------------------------------------------------------------------

/** The flags and pfn word of the PTE mapping `vpn` (the range is PTE-mapped throughout). */
function pteAt(mm: Mm, vpn: number): [number, number] {
  const table = mm.pt.pteTable(vpn);
  if (table === null) return [0, 0];
  const i = (vpn & 511) * 2;
  return [table.e[i], table.e[i + 1]];
}

/** Content tokens of every page of a populated range, read through its present PTEs (untimed). */
function tokensOf(p: Populated): Uint32Array {
  const tokens = new Uint32Array(p.pages);
  const mm = p.proc.mm!;
  for (let k = 0; k < p.pages; k++) {
    const [f, pfn] = pteAt(mm, p.vpn + k);
    if ((f & PTE_KIND_MASK) !== PTE_PRESENT) check(false, `vpn ${p.vpn + k} is not present before the run`);
    tokens[k] = p.kernel.mem.content.token(pfn);
  }
  return tokens;
}

/**
 * Every entry of the range is of `kind` and writable, points at a frame of `zoneKind`, and that
 * frame holds the page's token from before the run. Tokens are distinct, so pfns are too.
 */
function checkEntries(p: Populated, tokens: Uint32Array, kind: number, zoneKind: number): void {
  const mm = p.proc.mm!;
  const mem = p.kernel.mem;
  for (let k = 0; k < p.pages; k++) {
    const [f, pfn] = pteAt(mm, p.vpn + k);
    if ((f & (PTE_KIND_MASK | PTE_WRITE)) !== (kind | PTE_WRITE) || mem.zone(pfn).kind !== zoneKind) {
      check(false, `vpn ${p.vpn + k}: ${describePte(f, pfn)}, expected a writable kind-${kind} entry`);
    }
    if (mem.content.token(pfn) !== tokens[k]) {
      check(false, `vpn ${p.vpn + k}: token ${mem.content.token(pfn)}, expected ${tokens[k]}`);
    }
  }
  check(mm.rssAnon === p.pages, `rss ${mm.rssAnon}, expected ${p.pages}`);
}

/** auditMm finds no refcount, mapcount or RSS disagreement. */
function checkAudit(kernel: Kernel): void {
  const problems = auditMm(kernel);
  check(problems.length === 0, `auditMm: ${problems.slice(0, 3).join('; ')}`);
}

/** CPU loads of a spread of pages see the tokens from before the run. Returns the pages loaded. */
function checkCpuLoads(p: Populated, tokens: Uint32Array): number {
  let loaded = 0;
  for (let k = 0; k < p.pages; k += CPU_SAMPLE_STRIDE) {
    const r = p.proc.readTokens(p.addr + k * PAGE_SIZE, PAGE_SIZE);
    check(r.signal === 0, `CPU load of vpn ${p.vpn + k} ended with signal ${r.signal}`);
    check(r.tokens[0] === tokens[k], `CPU load of vpn ${p.vpn + k}: token ${r.tokens[0]}, not ${tokens[k]}`);
    const [f] = pteAt(p.proc.mm!, p.vpn + k);
    check((f & PTE_KIND_MASK) === PTE_PRESENT, `vpn ${p.vpn + k} not present after a CPU load`);
    loaded++;
  }
  return loaded;
}

/** Every task exits; neither RAM nor device frames may stay allocated. */
function exitAndCheck(kernel: Kernel, device: BenchDevice | null): void {
  exitAll(kernel);
  device?.checkDrained();
}

// ---- tokens mode: 1 Mi pages to the device and back ------------------------------------------------

interface TokensModel {
  readonly p: Populated;
  readonly device: BenchDevice;
  readonly tokens: Uint32Array;
  moved: number;
}

/** A populated process and a device large enough for all of it; with `onDevice`, already migrated. */
function tokensModel(onDevice: boolean): TokensModel {
  const p = populatedTokens(PAGES, RAM);
  const device = new BenchDevice(p.kernel, PAGES);
  const tokens = tokensOf(p);
  if (onDevice) {
    const moved = device.migrate(p.proc.mm!, p.vpn, PAGES, true);
    check(moved === PAGES, `setup migrated ${moved} of ${PAGES} pages to the device`);
  }
  return { p, device, tokens, moved: 0 };
}

const toDevice: Figure = {
  name: 'migrate.to_dev_pages_per_s',
  unit: 'pages/s',
  target: { min: 2_000_000 },
  description:
    `migrate 1 Mi populated anonymous pages to a device-private page map (tokens mode) with ` +
    `migrate_vma_setup/pages/finalize in ${MIGRATE_BATCH}-page batches, the driver allocating device ` +
    'pages and copying the content',
  run: () =>
    medianRate(PAGES, {
      name: 'migrate_to_dev',
      reps: REPS,
      warmup: 3,
      setup: () => tokensModel(false),
      measure: (m) => {
        m.moved = m.device.migrate(m.p.proc.mm!, m.p.vpn, PAGES, true);
      },
      teardown: (m) => {
        check(m.moved === PAGES, `${m.moved} of ${PAGES} pages migrated to the device`);
        checkEntries(m.p, m.tokens, PTE_DEVICE_PRIVATE, ZONE_DEVICE_PRIVATE);
        checkAudit(m.p.kernel);
        // A CPU access to a device-private page faults it back through migrate_to_ram.
        const loaded = checkCpuLoads(m.p, m.tokens);
        check(
          m.device.cpuFaults === loaded,
          `${m.device.cpuFaults} migrate_to_ram calls for ${loaded} loads`,
        );
        exitAndCheck(m.p.kernel, m.device);
      },
    }),
};

const toSystem: Figure = {
  name: 'migrate.to_sys_pages_per_s',
  unit: 'pages/s',
  target: { min: 2_000_000 },
  description:
    `migrate 1 Mi device-private pages back to system RAM (tokens mode; MIGRATE_VMA_SELECT_DEVICE_PRIVATE ` +
    `with the device's owner) in ${MIGRATE_BATCH}-page batches, the driver allocating, locking and ` +
    'filling system pages',
  run: () =>
    medianRate(PAGES, {
      name: 'migrate_to_sys',
      reps: REPS,
      setup: () => tokensModel(true),
      measure: (m) => {
        m.moved = m.device.migrate(m.p.proc.mm!, m.p.vpn, PAGES, false);
      },
      teardown: (m) => {
        check(m.moved === PAGES, `${m.moved} of ${PAGES} pages migrated back to RAM`);
        check(m.device.freed === PAGES, `${m.device.freed} device pages freed, expected ${PAGES}`);
        checkEntries(m.p, m.tokens, PTE_PRESENT, ZONE_RAM);
        checkAudit(m.p.kernel);
        checkCpuLoads(m.p, m.tokens);
        check(m.device.cpuFaults === 0, `${m.device.cpuFaults} unexpected migrate_to_ram calls`);
        exitAndCheck(m.p.kernel, m.device);
      },
    }),
};

// ---- bytes mode: 256 MiB to the device and back ---------------------------------------------------

/** Byte `k` of page `page` as the CPU wrote it: the page number in bytes 0..3, a pattern elsewhere. */
function patternByte(page: number, k: number): number {
  if (k < 4) return (page >>> (8 * k)) & 0xff;
  return (k * 167 + (page & 0xff) * 13 + 5) & 0xff;
}

/** Fills `page` with what the CPU writes to page `n` (the pattern of `n & 0xff` from `templates`). */
function fillPattern(page: Uint8Array, n: number, templates: Uint8Array): void {
  const t = (n & 0xff) * PAGE_SIZE;
  page.set(templates.subarray(t, t + PAGE_SIZE));
  for (let k = 0; k < 4; k++) page[k] = patternByte(n, k);
}

/** The 256 page patterns (pages differ by `n & 0xff` beyond their stamps), 1 MiB, built once. */
function patternTemplates(): Uint8Array {
  const templates = new Uint8Array(256 * PAGE_SIZE);
  for (let n = 0; n < 256; n++)
    for (let k = 0; k < PAGE_SIZE; k++) templates[n * PAGE_SIZE + k] = patternByte(n, k);
  return templates;
}

interface BytesModel {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly addr: number;
  readonly vpn: number;
  readonly device: BenchDevice;
  moved: number;
}

/** A bytes-mode process that wrote 256 MiB page by page, and a device; with `onDevice`, migrated. */
function bytesModel(onDevice: boolean, page: Uint8Array, templates: Uint8Array): BytesModel {
  const kernel = new Kernel({ ramBytes: BYTES_RAM, contentMode: 'bytes' });
  const proc = kernel.spawn();
  const addr = proc.mmap(0, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  check(addr >= 0, `mmap returned ${addr}`);
  for (let n = 0; n < BYTES_PAGES; n++) {
    fillPattern(page, n, templates);
    const r = proc.write(addr + n * PAGE_SIZE, page);
    if (r.signal !== 0) check(false, `CPU write of page ${n} ended with signal ${r.signal}`);
  }
  const device = new BenchDevice(kernel, BYTES_PAGES);
  const m: BytesModel = { kernel, proc, addr, vpn: addr / PAGE_SIZE, device, moved: 0 };
  if (onDevice) {
    const moved = device.migrate(proc.mm!, m.vpn, BYTES_PAGES, true);
    check(moved === BYTES_PAGES, `setup migrated ${moved} of ${BYTES_PAGES} pages to the device`);
  }
  return m;
}

/**
 * The data of every page where it now lives (read from the frame the entry names, device memory
 * included): the stamp of every page, and every byte of a spread of pages. Also checks the entries.
 */
function checkBytes(m: BytesModel, kind: number, zoneKind: number, buf: Uint8Array): void {
  const mm = m.proc.mm!;
  const mem = m.kernel.mem;
  for (let n = 0; n < BYTES_PAGES; n++) {
    const [f, pfn] = pteAt(mm, m.vpn + n);
    if ((f & (PTE_KIND_MASK | PTE_WRITE)) !== (kind | PTE_WRITE) || mem.zone(pfn).kind !== zoneKind) {
      check(false, `page ${n}: ${describePte(f, pfn)}, expected a writable kind-${kind} entry`);
    }
    const full = n % BYTES_SAMPLE_STRIDE === 0 || n === BYTES_PAGES - 1;
    mem.content.read(pfn, 0, buf, 0, full ? PAGE_SIZE : 4);
    const stamp = (buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)) >>> 0;
    if (stamp !== n) check(false, `page ${n} holds the stamp of page ${stamp}`);
    if (full) {
      for (let k = 0; k < PAGE_SIZE; k++) {
        if (buf[k] !== patternByte(n, k)) check(false, `page ${n} byte ${k} is ${buf[k]}`);
      }
    }
  }
}

/** CPU reads (through the process) of a spread of whole pages, which fault device pages back. */
function checkCpuReads(m: BytesModel): number {
  let reads = 0;
  for (let n = 0; n < BYTES_PAGES; n += BYTES_SAMPLE_STRIDE) {
    const r = m.proc.read(m.addr + n * PAGE_SIZE, PAGE_SIZE);
    check(r.signal === 0, `CPU read of page ${n} ended with signal ${r.signal}`);
    for (let k = 0; k < PAGE_SIZE; k++) {
      if (r.data[k] !== patternByte(n, k)) check(false, `CPU read of page ${n}: byte ${k} is ${r.data[k]}`);
    }
    reads++;
  }
  return reads;
}

function bytesFigure(toDev: boolean): Figure {
  const dir = toDev ? 'to_dev' : 'to_sys';
  return {
    name: `migrate.${dir}_MBps_bytes`,
    unit: 'MB/s',
    target: { min: 1_000 },
    description: toDev
      ? `bytes mode: migrate 256 MiB the CPU has written to a device-private page map in ` +
        `${MIGRATE_BATCH}-page batches (4 KiB copied per page); MB = 2^20 bytes`
      : `bytes mode: migrate those 256 MiB back from the device to system RAM in ` +
        `${MIGRATE_BATCH}-page batches; MB = 2^20 bytes`,
    run: () => {
      const page = new Uint8Array(PAGE_SIZE);
      const buf = new Uint8Array(PAGE_SIZE);
      const templates = patternTemplates();
      return medianRate(BYTES / MiB, {
        name: `migrate_${dir}_bytes`,
        reps: REPS,
        setup: () => bytesModel(!toDev, page, templates),
        measure: (m) => {
          m.moved = m.device.migrate(m.proc.mm!, m.vpn, BYTES_PAGES, toDev);
        },
        teardown: (m) => {
          check(m.moved === BYTES_PAGES, `${m.moved} of ${BYTES_PAGES} pages migrated`);
          if (toDev) checkBytes(m, PTE_DEVICE_PRIVATE, ZONE_DEVICE_PRIVATE, buf);
          else checkBytes(m, PTE_PRESENT, ZONE_RAM, buf);
          checkAudit(m.kernel);
          const reads = checkCpuReads(m);
          const faults = toDev ? reads : 0;
          check(m.device.cpuFaults === faults, `${m.device.cpuFaults} migrate_to_ram calls, not ${faults}`);
          exitAndCheck(m.kernel, m.device);
        },
      });
    },
  };
}

// ---- devx: make_device_exclusive_range --------------------------------------------------------------

interface ExclusiveModel {
  readonly p: Populated;
  readonly tokens: Uint32Array;
  /** The pfn each page had before; device-exclusive entries keep naming it. */
  readonly pfns: Uint32Array;
  readonly pages: number[];
  granted: number;
}

/** The owner cookie passed to make_device_exclusive_range (a driver passes its own). */
const exclusiveOwner = { name: 'bench-gpu0 atomics' };

const makeExclusive: Figure = {
  name: 'devx.make_exclusive_pages_per_s',
  unit: 'pages/s',
  target: { min: 2_000_000 },
  description:
    `make_device_exclusive_range (6.12) over 1 Mi populated writable anonymous pages in ` +
    `${EXCLUSIVE_BATCH}-page batches (dmirror's), tokens mode, the caller unlocking and putting every ` +
    'returned page',
  run: () =>
    medianRate(PAGES, {
      name: 'make_exclusive',
      reps: REPS,
      setup: (): ExclusiveModel => {
        const p = populatedTokens(PAGES, RAM);
        const pfns = new Uint32Array(PAGES);
        for (let k = 0; k < PAGES; k++) pfns[k] = pteAt(p.proc.mm!, p.vpn + k)[1];
        return { p, tokens: tokensOf(p), pfns, pages: [], granted: 0 };
      },
      measure: (m) => {
        const mm = m.p.proc.mm!;
        const mem = m.p.kernel.mem;
        const pages = m.pages;
        const end = m.p.vpn + PAGES;
        let granted = 0;
        for (let vpn = m.p.vpn; vpn < end; vpn += EXCLUSIVE_BATCH) {
          const next = Math.min(end, vpn + EXCLUSIVE_BATCH);
          pages.length = 0;
          const n = makeDeviceExclusiveRange(mm, vpn, next, pages, exclusiveOwner);
          if (n !== next - vpn) check(false, `make_device_exclusive_range at vpn ${vpn} returned ${n}`);
          for (let i = 0; i < n; i++) {
            const pfn = pages[i];
            if (pfn === 0) continue;
            mem.unlock(pfn);
            mem.put(pfn);
            granted++;
          }
        }
        m.granted = granted;
      },
      teardown: (m) => {
        const { p } = m;
        const mm = p.proc.mm!;
        check(m.granted === PAGES, `${m.granted} of ${PAGES} pages made exclusive`);
        for (let k = 0; k < PAGES; k++) {
          const [f, pfn] = pteAt(mm, p.vpn + k);
          if ((f & (PTE_KIND_MASK | PTE_WRITE)) !== (PTE_DEVICE_EXCLUSIVE | PTE_WRITE) || pfn !== m.pfns[k]) {
            check(
              false,
              `vpn ${p.vpn + k}: ${describePte(f, pfn)}, expected device-exclusive pfn=${m.pfns[k]}`,
            );
          }
        }
        check(mm.rssAnon === PAGES, `rss ${mm.rssAnon} with every page device-exclusive`);
        checkAudit(p.kernel);
        // A CPU load of every page revokes the device's exclusive access and restores the mapping.
        const r = p.proc.readTokens(p.addr, PAGES * PAGE_SIZE);
        check(r.signal === 0, `CPU loads ended with signal ${r.signal}`);
        for (let k = 0; k < PAGES; k++) {
          if (r.tokens[k] !== m.tokens[k]) check(false, `vpn ${p.vpn + k}: CPU loaded token ${r.tokens[k]}`);
        }
        for (let k = 0; k < PAGES; k++) {
          const [f, pfn] = pteAt(mm, p.vpn + k);
          if ((f & (PTE_KIND_MASK | PTE_WRITE)) !== (PTE_PRESENT | PTE_WRITE) || pfn !== m.pfns[k]) {
            check(
              false,
              `vpn ${p.vpn + k}: ${describePte(f, pfn)} after the CPU load, expected pfn=${m.pfns[k]}`,
            );
          }
        }
        checkAudit(p.kernel);
        exitAndCheck(p.kernel, null);
      },
    }),
};

export const migrateFigures: readonly Figure[] = [
  toDevice,
  toSystem,
  bytesFigure(true),
  bytesFigure(false),
  makeExclusive,
];
