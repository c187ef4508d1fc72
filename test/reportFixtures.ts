// A hand-made run result for the report tests: every field set, numbers easy to look for.

import type { RunResult, RunSummary } from '../src/report/types.js';

export function sampleSummary(): RunSummary {
  return {
    scenario: 'gpu-migrate',
    seed: 7,
    table: {
      simNs: 29_990_000,
      events: 5123,
      cpuFaults: 121,
      deviceFaults: 43,
      pagesToDevice: 512,
      pagesToHost: 64,
      bytesPerLink: { 'pcie:gpu0': 2_359_296, 'nvlink:gpu1': 1000 },
      invalidations: { unmap: 3, clear: 12, migrate: 4 },
      pasidAllocs: 2,
      pasidFrees: 1,
      binds: 5,
      unbinds: 4,
      iopfGroups: 9,
      notifierSeqRetries: 6,
    },
    counters: { 'mm.faults': 121, 'iommu.prq': 9 },
    actors: [
      { name: 'cpu0', steps: 40, busyNs: 1_500_000, done: true },
      { name: 'gpu0', steps: 12, busyNs: 800, done: false },
    ],
    expectations: [
      { text: 'faults.cpu >= 100', ok: true, actual: '121' },
      { text: 'leaks == 0 </script><!--', ok: false, actual: '1' },
    ],
    leaks: ['mm 3: 1 user, no thread'],
    failures: [{ process: 'trainer', op: 4, what: 'mmap 8 GiB', why: 'ENOMEM' }],
  };
}

export function emptySummary(): RunSummary {
  return {
    scenario: 'empty',
    seed: 0,
    table: {
      simNs: 0,
      events: 0,
      cpuFaults: 0,
      deviceFaults: 0,
      pagesToDevice: 0,
      pagesToHost: 0,
      bytesPerLink: {},
      invalidations: {},
      pasidAllocs: 0,
      pasidFrees: 0,
      binds: 0,
      unbinds: 0,
      iopfGroups: 0,
      notifierSeqRetries: 0,
    },
    counters: {},
    actors: [],
    expectations: [],
    leaks: [],
    failures: [],
  };
}

export function sampleResult(): RunResult {
  const t = Array.from({ length: 200 }, (_, i) => i * 150_000);
  const step = (every: number) => t.map((_, i) => Math.floor(i / every));
  return {
    summary: sampleSummary(),
    series: [
      { name: 'faults.cpu', unit: 'faults', group: 'faults', tNs: t, values: step(2) },
      { name: 'faults.device', unit: 'faults', group: 'faults', tNs: t, values: step(5) },
      { name: 'resident.RAM', unit: 'pages', group: 'resident', tNs: t, values: t.map((_, i) => 1000 - i) },
      { name: 'resident.gpu0', unit: 'pages', group: 'resident', tNs: t, values: t.map((_, i) => i) },
      { name: 'bytes.pcie:gpu0', unit: 'bytes', group: 'bytes', tNs: t, values: t.map((_, i) => i * 11_796) },
    ],
    histograms: [
      {
        name: 'latency.iopf',
        unit: 'ns',
        counts: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 10, 25, 7, 1],
        count: 46,
        sumNs: 138_000,
        minNs: 600,
        maxNs: 9000,
      },
      { name: 'latency.dma_job', unit: 'ns', counts: [], count: 0, sumNs: 0, minNs: 0, maxNs: 0 },
    ],
    trace: null,
  };
}
