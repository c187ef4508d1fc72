// What a simulation run produces, in the shapes the reports (text, JSON, HTML, trace) consume.
// The engine's runner fills these; the report writers only read them.

import type { TraceEvent } from '../sim/trace.js';

/** A metric sampled over simulated time (one value per sample instant). */
export interface TimeSeries {
  /** e.g. `faults.cpu`, `resident.RAM`, `resident.gpu0`, `bytes.pcie:gpu0` */
  readonly name: string;
  readonly unit: string;
  /** What the plot groups it under: `faults`, `resident`, `bytes`. */
  readonly group: string;
  readonly tNs: readonly number[];
  readonly values: readonly number[];
}

/**
 * A latency distribution in power-of-two buckets: counts[i] holds samples in
 * [2^(i-1), 2^i) ns (bucket 0: below 1 ns).
 */
export interface Histogram {
  /** e.g. `latency.gpu_far_fault`, `latency.iopf`, `latency.dma_job` */
  readonly name: string;
  readonly unit: 'ns';
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumNs: number;
  readonly minNs: number;
  readonly maxNs: number;
}

/** The summary table of a run (issue 6, item 5). */
export interface SummaryTable {
  readonly simNs: number;
  readonly events: number;
  readonly cpuFaults: number;
  readonly deviceFaults: number;
  readonly pagesToDevice: number;
  readonly pagesToHost: number;
  /** Bytes moved per link, by link name. */
  readonly bytesPerLink: Readonly<Record<string, number>>;
  /** mmu-notifier invalidations by event type (`unmap`, `clear`, ...). */
  readonly invalidations: Readonly<Record<string, number>>;
  readonly pasidAllocs: number;
  readonly pasidFrees: number;
  readonly binds: number;
  readonly unbinds: number;
  readonly iopfGroups: number;
  readonly notifierSeqRetries: number;
}

export interface ExpectationResult {
  /** The expectation as written (for messages). */
  readonly text: string;
  readonly ok: boolean;
  /** What was measured. */
  readonly actual: string;
}

export interface ActorSummary {
  readonly name: string;
  readonly steps: number;
  readonly busyNs: number;
  readonly done: boolean;
}

export interface RunSummary {
  readonly scenario: string;
  readonly seed: number;
  readonly table: SummaryTable;
  /** Every counter of the kernel's statistics, by name. */
  readonly counters: Readonly<Record<string, number>>;
  readonly actors: readonly ActorSummary[];
  readonly expectations: readonly ExpectationResult[];
  /** Leaks and reference cycles found at shutdown (empty when clean). */
  readonly leaks: readonly string[];
  /** Operations the model refused at run time (ENOMEM, SIGSEGV, a DMA job that failed, ...). */
  readonly failures: readonly OperationFailure[];
}

/** An operation of a scenario that failed at run time. */
export interface OperationFailure {
  readonly process: string;
  /** Index of the operation in the process's program. */
  readonly op: number;
  readonly what: string;
  readonly why: string;
}

export interface RunResult {
  readonly summary: RunSummary;
  readonly series: readonly TimeSeries[];
  readonly histograms: readonly Histogram[];
  /** Recorded trace events when tracing was on, else null. */
  readonly trace: readonly TraceEvent[] | null;
}
