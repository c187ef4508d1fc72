// Records a run for the visualizer: after every engine event it diffs each process's page table,
// each GPU's mirror of each process and each IOMMU device's PASID table against a shadow copy and
// keeps only what changed. A page's raw entry words decide whether it changed (the state is derived
// from them), so a frame costs one comparison per mapped page and classification only for the
// pages that moved. The recorder reads the model and never changes it.

import type { GpuDevice } from '../devices/gpu/gpu.js';
import { GPU_ATTR_ATOMIC, GPU_ATTR_LOCAL, GPU_ATTR_WRITE } from '../devices/gpu/vaSpace.js';
import { HPAGE_PMD_NR, PTRS_PER_TABLE } from '../mm/constants.js';
import type { Mm } from '../mm/mm.js';
import { PG_ZERO, ZONE_DEVICE_COHERENT, ZONE_RAM, type PhysMem } from '../mm/physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
} from '../mm/pte.js';
import type { RunResult } from '../report/types.js';
import { type ObservedRun, type RunObserver, SAMPLER_NAME } from '../workload/scenario/runner.js';
import type { Scenario } from '../workload/scenario/model.js';
import {
  makePageState,
  MAX_DEVICE_SLOTS,
  MIRROR_ATOMIC,
  MIRROR_LOCAL,
  MIRROR_VALID,
  MIRROR_WRITE,
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_MIGRATING,
  PAGE_NOT_PRESENT,
  PAGE_OTHER,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
} from './pageState.js';
import type { PasidSnapshot, RecordedDevice, RecordedProcess, Recording, Segment } from './recording.js';
import { GrowableLog } from './growableLog.js';

const CHUNK = PTRS_PER_TABLE;

export interface RecorderOptions {
  /** Stop recording page changes past this many (the run goes on; the recording says it was cut). */
  readonly maxChanges?: number;
}

/** The page states of one 512-page chunk as last seen, and the raw entry words they came from. */
interface ShadowChunk {
  readonly words: Uint32Array;
  readonly states: Uint8Array;
}

interface WatchedProcess {
  readonly pid: number;
  readonly name: string;
  readonly mm: Mm;
  readonly regions: ReadonlyMap<string, { readonly addr: number; readonly sizeBytes: number }>;
  readonly shadow: Map<number, ShadowChunk>;
  /** Every range a VMA ever covered, [start, end) in vpns, sorted and merged. */
  ranges: number[];
  /** Region names seen at each range start (for labels). */
  readonly labels: Map<number, string>;
  /** The VMAs' [start, end) pairs as last seen (a change means coverage must be recomputed). */
  readonly vmaBounds: number[];
}

/** The words of a chunk mapped by a huge PMD entry, expanded (scratch, reused). */
const hugeWords = new Uint32Array(CHUNK * 2);

export class Recorder implements RunObserver {
  private readonly maxChanges: number;
  private readonly processes: WatchedProcess[] = [];
  private readonly devices: RecordedDevice[] = [];
  private readonly gpus: GpuDevice[] = [];
  /** Device slot of each memory zone (-1: RAM or unknown). */
  private zoneSlot: Int8Array = new Int8Array(0);
  private mem: PhysMem | null = null;
  private readonly frameTime: number[] = [];
  private readonly frameActor: number[] = [];
  private readonly actorIndex = new Map<string, number>();
  private readonly traceStart: number[] = [];
  private readonly pages = new GrowableLog();
  private readonly mirrors = new GrowableLog();
  /** Mirror shadows (raw attribute words of each chunk) by GPU slot, then (target, chunk). */
  private readonly mirrorShadow = new Map<number, Map<number, Uint32Array>>();
  /** Mirror targets with a live address space in the scan under way (reused every frame). */
  private readonly liveTargets = new Set<number>();
  private readonly pasid: PasidSnapshot[] = [];
  private readonly lastPasid = new Map<string, string>();
  private eventsAtLastFrame = -1;
  /** Index of the frame being recorded. */
  private current = 0;
  private run: ObservedRun | null = null;
  truncated = false;

  constructor(options: RecorderOptions = {}) {
    this.maxChanges = options.maxChanges ?? 50_000_000;
  }

  start(run: ObservedRun): void {
    this.run = run;
    const { machine } = run;
    this.mem = machine.kernel.mem;
    for (const [name, gpu] of machine.gpus) {
      this.gpus.push(gpu);
      this.devices.push({ slot: this.devices.length, name, kind: 'gpu' });
    }
    for (const name of machine.accels.keys())
      this.devices.push({ slot: this.devices.length, name, kind: 'accel' });
    this.mapZones();
    this.frame(run, '');
  }

  afterEvent(run: ObservedRun): void {
    const events = run.machine.kernel.events;
    // The sampler only reads the model: its events are not frames (nothing to see, nothing to scan).
    if (events.lastActor === SAMPLER_NAME && events.eventsRun !== this.eventsAtLastFrame) {
      this.eventsAtLastFrame = events.eventsRun;
      return;
    }
    const eventsRun = events.eventsRun;
    // The call after the run (idle work) is a frame only when something changed.
    const idle = eventsRun === this.eventsAtLastFrame;
    if (!this.frame(run, idle ? IDLE_WORK : events.lastActor) && idle) this.dropLastFrame();
  }

  /** Frames recorded so far (the last one is `frames - 1`). */
  get frames(): number {
    return this.frameTime.length;
  }

  /** The recording, once the run is over. */
  finish(scenario: Scenario, file: string, result: RunResult): Recording {
    const processes: RecordedProcess[] = [];
    const vpnToPage: ((vpn: number) => number)[] = [];
    for (const p of this.processes) {
      const segments: Segment[] = [];
      const starts: number[] = [];
      let pages = 0;
      for (const [start, end] of splitAtRegions(p)) {
        starts.push(start, end, pages);
        segments.push({ startVpn: start, pages: end - start, label: labelFor(p, start, end) });
        pages += end - start;
      }
      processes.push({ pid: p.pid, name: p.name, segments, pages });
      vpnToPage.push((vpn) => {
        for (let i = 0; i < starts.length; i += 3) {
          if (vpn >= starts[i] && vpn < starts[i + 1]) return starts[i + 2] + vpn - starts[i];
        }
        throw new Error(`vpn ${vpn} outside every recorded range`);
      });
    }
    const frames = this.frameTime.length;
    const pages = this.pages.finish(
      frames,
      (t) => t,
      (t, vpn) => vpnToPage[t](vpn),
    );
    const nproc = this.processes.length;
    const mirrors = this.mirrors.finish(
      frames,
      (t) => Math.floor(t / MIRROR_PROCESS_STRIDE) * nproc + (t % MIRROR_PROCESS_STRIDE),
      (t, vpn) => vpnToPage[t % nproc](vpn),
    );
    const trace = result.trace ?? [];
    return {
      format: 'hetmem-recording/1',
      scenario: { name: scenario.name, description: scenario.description, file },
      seed: result.summary.seed,
      frames: this.frameTime.length,
      frameTimeNs: Float64Array.from(this.frameTime),
      frameActor: Uint16Array.from(this.frameActor),
      actors: [...this.actorIndex.keys()],
      traceStart: Uint32Array.from([...this.traceStart, trace.length]),
      trace,
      processes,
      devices: this.devices,
      pages,
      mirrors,
      pasidTables: this.pasid,
      result: { ...result, trace: null },
      truncated: this.truncated,
    };
  }

  // ---- one frame ----------------------------------------------------------------------------------

  /** Records a frame; returns whether anything changed in it. */
  private frame(run: ObservedRun, actor: string): boolean {
    const k = run.machine.kernel;
    if (this.mem!.zones.length !== this.zoneSlot.length) this.mapZones();
    this.eventsAtLastFrame = k.events.eventsRun;
    this.current = this.frameTime.length;
    this.frameTime.push(k.clock.nowNs);
    let a = this.actorIndex.get(actor);
    if (a === undefined) {
      a = this.actorIndex.size;
      this.actorIndex.set(actor, a);
    }
    this.frameActor.push(a);
    this.traceStart.push(k.trace.events.length);
    const before = this.pages.length + this.mirrors.length + this.pasid.length;
    while (this.processes.length < run.processes.length) this.watch(run.processes[this.processes.length]);
    if (!this.truncated) {
      for (let i = 0; i < this.processes.length; i++) this.scanProcess(i);
      for (let g = 0; g < this.gpus.length; g++) this.scanMirrors(g);
      if (this.pages.length + this.mirrors.length > this.maxChanges) this.truncated = true;
    }
    this.scanPasidTables(run);
    return this.pages.length + this.mirrors.length + this.pasid.length !== before;
  }

  private dropLastFrame(): void {
    this.frameTime.pop();
    const a = this.frameActor.pop()!;
    // Forget the idle-work name if this frame introduced it.
    if (a === this.actorIndex.size - 1 && !this.frameActor.includes(a)) this.actorIndex.delete(IDLE_WORK);
    this.traceStart.pop();
  }

  private watch(actor: ObservedRun['processes'][number]): void {
    this.processes.push({
      pid: actor.task.pid,
      name: actor.name,
      mm: actor.task.mm!,
      regions: actor.regions,
      shadow: new Map(),
      ranges: [],
      labels: new Map(),
      vmaBounds: [],
    });
  }

  private mapZones(): void {
    const zones = this.mem!.zones;
    this.zoneSlot = new Int8Array(zones.length).fill(-1);
    for (let g = 0; g < this.gpus.length && g < MAX_DEVICE_SLOTS; g++) {
      const zone = zones.find((z) => z.pgmap === this.gpus[g].memory.pgmap);
      if (zone !== undefined) this.zoneSlot[zone.id] = g;
    }
  }

  private scanProcess(index: number): void {
    const p = this.processes[index];
    const vmas = p.mm.vmas;
    if (vmasChanged(p.vmaBounds, vmas)) {
      p.vmaBounds.length = 0;
      for (let i = 0; i < vmas.size; i++) p.vmaBounds.push(vmas.at(i).start, vmas.at(i).end);
      for (let i = 0; i < vmas.size; i++) this.cover(p, vmas.at(i).start, vmas.at(i).end);
      this.unmapUncovered(index, p);
    }
    for (let i = 0; i < vmas.size; i++) {
      const v = vmas.at(i);
      for (let base = Math.floor(v.start / CHUNK) * CHUNK; base < v.end; base += CHUNK) {
        this.scanChunk(index, p, base, Math.max(v.start, base), Math.min(v.end, base + CHUNK));
      }
    }
  }

  /** Adds [start, end) to the process's ranges (kept sorted and merged) and names its region. */
  private cover(p: WatchedProcess, start: number, end: number): void {
    for (const [name, r] of p.regions) {
      const rs = Math.floor(r.addr / 4096);
      if (rs >= start && rs < end && !p.labels.has(rs)) p.labels.set(rs, name);
    }
    const merged: number[] = [];
    let s = start;
    let e = end;
    for (let i = 0; i < p.ranges.length; i += 2) {
      const a = p.ranges[i];
      const b = p.ranges[i + 1];
      if (b < s || a > e) merged.push(a, b);
      else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    merged.push(s, e);
    const pairs: [number, number][] = [];
    for (let i = 0; i < merged.length; i += 2) pairs.push([merged[i], merged[i + 1]]);
    pairs.sort((x, y) => x[0] - y[0]);
    p.ranges = pairs.flat();
  }

  /** After the VMAs changed: every shadowed page no VMA covers any more becomes unmapped. */
  private unmapUncovered(index: number, p: WatchedProcess): void {
    const vmas = p.mm.vmas;
    for (const [base, chunk] of p.shadow) {
      for (let i = 0; i < CHUNK; i++) {
        if (chunk.states[i] === PAGE_UNMAPPED) continue;
        const vma = vmas.find(base + i);
        if (vma !== null) continue;
        chunk.states[i] = PAGE_UNMAPPED;
        chunk.words[2 * i] = 0xffffffff; // never equal to a real entry: rescanned if mapped again
        this.pages.push(this.current, index, base + i, PAGE_UNMAPPED);
      }
    }
  }

  private scanChunk(index: number, p: WatchedProcess, base: number, from: number, to: number): void {
    let shadow = p.shadow.get(base);
    if (shadow === undefined) {
      shadow = { words: new Uint32Array(CHUNK * 2).fill(0xffffffff), states: new Uint8Array(CHUNK) };
      p.shadow.set(base, shadow);
    }
    const pt = p.mm.pt;
    let words: Uint32Array | null = null;
    const table = pt.pteTable(base);
    if (table !== null) words = table.e;
    else {
      const flags = pt.hugeFlags(base);
      if (flags !== 0) {
        const head = pt.hugePfn(base) + (base % HPAGE_PMD_NR);
        for (let i = 0; i < CHUNK; i++) {
          hugeWords[2 * i] = flags;
          hugeWords[2 * i + 1] = head + i;
        }
        words = hugeWords;
      }
    }
    const sw = shadow.words;
    // Most chunks are unchanged by most events: one tight pass over the raw words decides.
    const first = 2 * (from - base);
    if (words !== null && unchanged(words, first, sw, first, 2 * (to - from))) return;
    for (let vpn = from; vpn < to; vpn++) {
      const i = vpn - base;
      const flags = words === null ? 0 : words[2 * i];
      const pfn = words === null ? 0 : words[2 * i + 1];
      if (sw[2 * i] === flags && sw[2 * i + 1] === pfn) continue;
      sw[2 * i] = flags;
      sw[2 * i + 1] = pfn;
      const state = this.classify(flags, pfn);
      if (state === shadow.states[i]) continue;
      shadow.states[i] = state;
      this.pages.push(this.current, index, vpn, state);
    }
  }

  private classify(flags: number, pfn: number): number {
    switch (flags & PTE_KIND_MASK) {
      case PTE_NONE:
        return PAGE_NOT_PRESENT;
      case PTE_PRESENT: {
        const mem = this.mem!;
        const zone = mem.zone(pfn);
        if (zone.kind === ZONE_RAM) return mem.pageFlags(pfn) & PG_ZERO ? PAGE_ZERO : PAGE_RAM;
        const slot = Math.max(0, this.zoneSlot[zone.id]);
        return makePageState(
          zone.kind === ZONE_DEVICE_COHERENT ? PAGE_DEVICE_COHERENT : PAGE_DEVICE_PRIVATE,
          slot,
        );
      }
      case PTE_MIGRATION:
        return PAGE_MIGRATING;
      case PTE_DEVICE_PRIVATE:
        return makePageState(PAGE_DEVICE_PRIVATE, Math.max(0, this.zoneSlot[this.mem!.zone(pfn).id]));
      case PTE_DEVICE_EXCLUSIVE:
        return PAGE_EXCLUSIVE;
      default:
        return PAGE_OTHER;
    }
  }

  private scanMirrors(g: number): void {
    const gpu = this.gpus[g];
    let shadows = this.mirrorShadow.get(g);
    if (shadows === undefined) {
      shadows = new Map();
      this.mirrorShadow.set(g, shadows);
    }
    const live = this.liveTargets;
    live.clear();
    for (let s = 0; s < gpu.spaceCount; s++) {
      const space = gpu.spaceAt(s);
      if (space === null) continue;
      const index = this.processes.findIndex((p) => p.mm === space.mm);
      if (index < 0) continue;
      const target = g * MIRROR_PROCESS_STRIDE + index;
      live.add(target);
      space.table.forEachChunk((key, chunk) => {
        const shadowKey = target * 2 ** 36 + key;
        let shadow = shadows.get(shadowKey);
        if (shadow === undefined) {
          shadow = new Uint32Array(CHUNK);
          shadows.set(shadowKey, shadow);
        }
        if (unchanged(chunk, CHUNK, shadow, 0, CHUNK)) return;
        for (let i = 0; i < CHUNK; i++) {
          const attr = chunk[CHUNK + i];
          const before = shadow[i];
          if (attr === before) continue;
          shadow[i] = attr;
          const state = mirrorState(attr);
          if (state !== mirrorState(before)) this.mirrors.push(this.current, target, key * CHUNK + i, state);
        }
      });
    }
    // Spaces released since the last frame leave entries in the shadow: clear them.
    for (const [shadowKey, shadow] of shadows) {
      const target = Math.floor(shadowKey / 2 ** 36);
      if (live.has(target)) continue;
      const key = shadowKey - target * 2 ** 36;
      for (let i = 0; i < CHUNK; i++) {
        if (shadow[i] === 0) continue;
        shadow[i] = 0;
        this.mirrors.push(this.current, target, key * CHUNK + i, 0);
      }
    }
  }

  private scanPasidTables(run: ObservedRun): void {
    for (const iommu of run.machine.iommus.values()) {
      for (const dev of iommu.devices) {
        const table = dev.pasidTable;
        if (table === null) continue;
        const entries = [...table.live()]
          .map((e) => ({ pasid: e.pasid, state: e.state, process: this.processName(e.mm) }))
          .sort((a, b) => a.pasid - b.pasid);
        const key = `${iommu.name}/${dev.name}`;
        const text = JSON.stringify(entries);
        if (this.lastPasid.get(key) === text) continue;
        if (!this.lastPasid.has(key) && entries.length === 0) {
          this.lastPasid.set(key, text);
          continue;
        }
        this.lastPasid.set(key, text);
        this.pasid.push({ frame: this.frameTime.length - 1, device: dev.name, iommu: iommu.name, entries });
      }
    }
  }

  private processName(mm: Mm | null): string | null {
    if (mm === null) return null;
    return this.processes.find((p) => p.mm === mm)?.name ?? `mm ${mm.id}`;
  }
}

/**
 * While recording, mirror targets are `gpu slot * MIRROR_PROCESS_STRIDE + process index` (the
 * process count is known only at the end); `finish` renumbers them `slot * processes + index`.
 */
const MIRROR_PROCESS_STRIDE = 256;

/** The actor named for changes made after the last event, by the kernel's idle work. */
const IDLE_WORK = '(idle work)';

/** Whether a[from..to) equals b[from..to). */
/** Whether the VMA list differs from the bounds recorded last time (compared in place, per event). */
function vmasChanged(bounds: readonly number[], vmas: Mm['vmas']): boolean {
  if (bounds.length !== 2 * vmas.size) return true;
  for (let i = 0; i < vmas.size; i++) {
    const v = vmas.at(i);
    if (bounds[2 * i] !== v.start || bounds[2 * i + 1] !== v.end) return true;
  }
  return false;
}

/** Whether a[aFrom .. aFrom + n) equals b[bFrom .. bFrom + n) (no views made: it runs per event). */
function unchanged(a: Uint32Array, aFrom: number, b: Uint32Array, bFrom: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aFrom + i] !== b[bFrom + i]) return false;
  return true;
}

function mirrorState(attr: number): number {
  if (attr === 0) return 0;
  let s = MIRROR_VALID;
  if (attr & GPU_ATTR_WRITE) s |= MIRROR_WRITE;
  if (attr & GPU_ATTR_LOCAL) s |= MIRROR_LOCAL;
  if (attr & GPU_ATTR_ATOMIC) s |= MIRROR_ATOMIC;
  return s;
}

/**
 * The process's ranges cut where a named region starts, so regions the kernel merged into one VMA
 * still get a segment (and a label) each.
 */
function splitAtRegions(p: WatchedProcess): [number, number][] {
  const cuts = [...p.labels.keys()].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i < p.ranges.length; i += 2) {
    let start = p.ranges[i];
    const end = p.ranges[i + 1];
    for (const c of cuts) {
      if (c <= start || c >= end) continue;
      out.push([start, c]);
      start = c;
    }
    out.push([start, end]);
  }
  return out;
}

function labelFor(p: WatchedProcess, start: number, end: number): string {
  const names: string[] = [];
  for (const [vpn, name] of [...p.labels].sort((a, b) => a[0] - b[0]))
    if (vpn >= start && vpn < end) names.push(name);
  const range = `0x${(start * 4096).toString(16)}-0x${(end * 4096).toString(16)}`;
  return names.length > 0 ? `${names.join(', ')} (${range})` : range;
}
