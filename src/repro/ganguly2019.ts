// The reproduction of Ganguly, Zhang, Yang and Melhem, "Interplay between Hardware Prefetcher and
// Page Eviction Policy in CPU-GPU Unified Virtual Memory" (ISCA 2019): each benchmark under each
// configuration of the paper as a scenario on a UVMSmart-like machine (a GTX 1080 Ti, PCIe 3 with
// the paper's size-dependent bandwidth, 45 µs far faults accounted per faulting page), and the
// published figures to compare with. Sources of every number are in
// docs/research/ganguly2019.md; the comparison is in docs/REPRODUCTIONS.md.

import type { PolicyChoice, PolicyChoices } from '../devices/gpu/policies/registry.js';
import { buildGpuWorkload, workingSetBytes } from '../workload/gpu/registry.js';

export interface GangulyConfig {
  readonly id: string;
  /** The paper's name for it. */
  readonly label: string;
  /** Working set / GPU memory: 1 (no oversubscription, 1 GiB of GPU memory) or 1.1. */
  readonly oversubscription: 1 | 1.1;
  readonly policies: PolicyChoices;
  readonly prefetchAfterEviction?: PolicyChoice;
}

/** UVMSmart's tree rule: strictly more than half (NVIDIA's driver: 51%). */
const TBNP = { name: 'tree', threshold: 50 } as const;
const TBNE = { name: 'tree', threshold: 50 } as const;

export const GANGULY_CONFIGS: readonly GangulyConfig[] = [
  { id: 'od', label: 'On-demand', oversubscription: 1, policies: { prefetch: 'none' } },
  { id: 'rp', label: 'Random 4KB (Rp)', oversubscription: 1, policies: { prefetch: 'random' } },
  {
    id: 'slp',
    label: 'Sequential-local 64KB (SLp)',
    oversubscription: 1,
    policies: { prefetch: 'sequential-local' },
  },
  { id: 'tbnp', label: 'Tree-based neighborhood (TBNp)', oversubscription: 1, policies: { prefetch: TBNP } },
  {
    id: 'lru4k-od',
    label: '110%: LRU 4KB, TBNp then on-demand after eviction',
    oversubscription: 1.1,
    policies: { prefetch: TBNP, eviction: 'lru-4k' },
    prefetchAfterEviction: 'none',
  },
  {
    id: 'lru2m-tbnp',
    label: '110%: LRU 2MB + TBNp',
    oversubscription: 1.1,
    policies: { prefetch: TBNP, eviction: 'lru-2m' },
  },
  {
    id: 'tbne-tbnp',
    label: '110%: TBNe + TBNp',
    oversubscription: 1.1,
    policies: { prefetch: TBNP, eviction: TBNE },
  },
];

/** The paper's benchmarks, by our workload names. */
export const GANGULY_BENCHMARKS = ['backprop', 'bfs', 'fdtd', 'hotspot', 'nw', 'pathfinder', 'srad'] as const;

/** A published figure: total time in µs (kernel time + faults x 45 µs) and far faults. */
export interface PaperFigure {
  readonly timeUs: number;
  readonly faults: number;
}

/**
 * The figures in the authors' committed logs (docs/research/ganguly2019.md §3); only backprop,
 * bfs, fdtd and hotspot logs were published. null: no log for that cell.
 */
export const GANGULY_PAPER: Readonly<Record<string, Readonly<Record<string, PaperFigure | null>>>> = {
  backprop: {
    od: { timeUs: 317347.8, faults: 6785 },
    rp: { timeUs: 224346.4, faults: 4718 },
    slp: { timeUs: 23867.7, faults: 460 },
    tbnp: { timeUs: 7321.1, faults: 100 },
    'lru4k-od': { timeUs: 18774.2, faults: 347 },
    'lru2m-tbnp': { timeUs: 7321.1, faults: 100 },
    'tbne-tbnp': { timeUs: 7374.0, faults: 100 },
  },
  bfs: {
    od: { timeUs: 116942.2, faults: 2491 },
    rp: { timeUs: 82505.2, faults: 1725 },
    slp: { timeUs: 8919.5, faults: 162 },
    tbnp: { timeUs: 3845.3, faults: 53 },
    'lru4k-od': { timeUs: 254615.1, faults: 5419 },
    'lru2m-tbnp': { timeUs: 12864.5, faults: 175 },
    'tbne-tbnp': { timeUs: 11780.4, faults: 143 },
  },
  fdtd: {
    od: { timeUs: 198156.6, faults: 4224 },
    rp: { timeUs: 144173.1, faults: 3018 },
    slp: { timeUs: 15046.3, faults: 277 },
    tbnp: { timeUs: 4883.6, faults: 58 },
    'lru4k-od': { timeUs: 280048.8, faults: 5951 },
    'lru2m-tbnp': { timeUs: 21061.0, faults: 230 },
    'tbne-tbnp': { timeUs: 18213.5, faults: 226 },
  },
  hotspot: {
    od: { timeUs: 144226.4, faults: 3072 },
    rp: { timeUs: 102153.2, faults: 2137 },
    slp: { timeUs: 10619.7, faults: 192 },
    tbnp: { timeUs: 3398.1, faults: 36 },
    'lru4k-od': null,
    'lru2m-tbnp': { timeUs: 6756.3, faults: 72 },
    'tbne-tbnp': { timeUs: 6563.1, faults: 72 },
  },
};

/** UVMSmart's GTX 1080 Ti and PCIe 3 model as cost overrides (docs/research/ganguly2019.md §1). */
export const UVMSMART_COSTS = {
  profile: 'pcie3',
  /** -page_fault_latency 66645 cycles at 1481 MHz. */
  gpuFarFaultNs: 45_000,
  /**
   * The config sets -gpgpu_kernel_launch_latency to 150 µs, but the kernel time in the logs does
   * not contain it (bfs with TBNp: 1460 µs of kernel time for 22 kernels).
   */
  gpuKernelLaunchNs: 0,
  /** speed = (2a/pi) atan(b KiB), a = 12 GiB/s, b = 0.07292 per KiB: half speed at 1/b KiB. */
  linkBytesPerNs: (12 * 2 ** 30) / 1e9,
  linkHalfBandwidthBytes: Math.round(1024 / 0.07292),
  linkLatencyNs: 0,
  /** UVMSmart has no replay cost of its own. */
  gpuReplayNs: 0,
} as const;

/** GPU memory for a configuration: 1 GiB, or the working set / 1.1 in whole pages. */
export function gangulyMemoryBytes(benchmark: string, config: GangulyConfig): number {
  if (config.oversubscription === 1) return 2 ** 30;
  const pages = Math.ceil(workingSetBytes(buildGpuWorkload(benchmark, {}, 0)) / 4096);
  return Math.floor(pages / config.oversubscription) * 4096;
}

/** The scenario (as a plain object, for loadScenarioObject) of one benchmark under one configuration. */
export function gangulyScenario(benchmark: string, config: GangulyConfig): unknown {
  return {
    name: `ganguly2019-${benchmark}-${config.id}`,
    description: `${benchmark}, ${config.label}`,
    machine: {
      ram: '2GiB',
      thp: 'never',
      costs: { ...UVMSMART_COSTS },
      devices: [
        {
          kind: 'gpu',
          name: 'gpu0',
          memory: gangulyMemoryBytes(benchmark, config),
          sms: 28,
          clockMHz: 1481,
          faultLatency: 'accounted',
          policies: config.policies,
          ...(config.prefetchAfterEviction === undefined
            ? {}
            : { prefetchAfterEviction: config.prefetchAfterEviction }),
        },
      ],
    },
    processes: [
      {
        name: 'app',
        // Every managed array starts in host memory; UVMSmart models no CPU page tables, so the
        // host code between kernels does not run.
        // Seed 0: the synthetic bfs graph then has 11 levels, as graph256k in the paper's logs.
        program: [
          { op: 'workload', device: 'gpu0', name: benchmark, hostInit: 'all', hostSteps: false, seed: 0 },
        ],
      },
    ],
    expect: [{ noLeaks: true }],
  };
}

/** What one run measured, in the paper's terms. */
export interface GangulyMeasure {
  /** Kernel time (launch to end, summed over kernels) plus far faults x 45 µs, in µs. */
  readonly timeUs: number;
  readonly kernelUs: number;
  readonly faults: number;
  readonly evictedPages: number;
}

/** The measure from a run's summary counters. */
export function gangulyMeasure(counters: Readonly<Record<string, number>>): GangulyMeasure {
  const c = (name: string): number => counters[`gpu.gpu0.${name}`] ?? 0;
  const kernelUs = c('kernel_ns') / 1000;
  return {
    timeUs: kernelUs + c('fault_latency_ns') / 1000,
    kernelUs,
    faults: c('far_faults'),
    evictedPages: c('evicted_pages'),
  };
}
