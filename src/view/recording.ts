// A recorded run, as the visualizer plays it: the run's result (summary, series, histograms), its
// trace, and per frame (one engine event) what changed: page states of each process, each device's
// mirror of each process, each IOMMU device's PASID table. Changes are stored as deltas in flat
// typed arrays so a run of a million pages and thousands of events stays a few MB and crosses from
// the Web Worker to the page without copying (the arrays are transferred).

import type { RunResult } from '../report/types.js';
import type { TraceEvent } from '../sim/trace.js';

/** A run of pages of one process the map shows: the union of every VMA the process ever had there. */
export interface Segment {
  readonly startVpn: number;
  readonly pages: number;
  /** The scenario's region names that were mapped here, or the address range. */
  readonly label: string;
}

export interface RecordedProcess {
  readonly pid: number;
  readonly name: string;
  /** In address order; the map lays them out one after another. */
  readonly segments: readonly Segment[];
  /** Pages in all segments: the length of this process's state arrays. */
  readonly pages: number;
}

export interface RecordedDevice {
  readonly slot: number;
  readonly name: string;
  readonly kind: 'gpu' | 'accel';
}

/** Changes of one kind of per-page state: frame f's are [frameStart[f], frameStart[f + 1]). */
export interface DeltaLog {
  readonly frameStart: Uint32Array;
  /** Which array changed: the process index (pages) or `device * processes + process` (mirrors). */
  readonly target: Uint16Array;
  /** Index of the page in its process's layout (see `RecordedProcess.segments`). */
  readonly page: Uint32Array;
  readonly state: Uint8Array;
}

export interface PasidEntryView {
  readonly pasid: number;
  readonly state: string;
  /** The process whose address space the entry points at, or null. */
  readonly process: string | null;
}

/** A PASID table as it was from `frame` on (recorded only when it changed). */
export interface PasidSnapshot {
  readonly frame: number;
  readonly device: string;
  readonly iommu: string;
  readonly entries: readonly PasidEntryView[];
}

export interface Recording {
  readonly format: 'hetmem-recording/1';
  readonly scenario: { readonly name: string; readonly description: string; readonly file: string };
  readonly seed: number;
  /**
   * Frame 0 is the machine before the first event; each later frame is the machine after one more
   * event (the sampler's events, which only read the model, are left out).
   */
  readonly frames: number;
  /** Simulated time of each frame (ns). */
  readonly frameTimeNs: Float64Array;
  /** Index of the actor that ran each frame's event in `actors` (frame 0: 0xffff). */
  readonly frameActor: Uint16Array;
  readonly actors: readonly string[];
  /** Trace events of frame f are `trace[traceStart[f] .. traceStart[f + 1])`. */
  readonly traceStart: Uint32Array;
  readonly trace: readonly TraceEvent[];
  readonly processes: readonly RecordedProcess[];
  readonly devices: readonly RecordedDevice[];
  readonly pages: DeltaLog;
  /** Mirror entries of each (GPU, process) pair: target = device slot * processes.length + process. */
  readonly mirrors: DeltaLog;
  readonly pasidTables: readonly PasidSnapshot[];
  readonly result: RunResult;
  /** Page changes stopped being recorded past the recorder's limit (the run itself finished). */
  readonly truncated: boolean;
}
