// The GPU model end to end (device, kernel lanes, fault buffer, driver passes, policies, GPU
// memory), through scenarios and through the library, on behaviour a wrong model gets wrong:
// on-demand paging faults once per page touched; the migration granularity and the tree
// prefetcher cut faults to the counts their rules give; oversubscription evicts and completes for
// every eviction policy; CPU touches, munmap and mprotect reach the GPU's table and TLB; mirror
// mode never migrates; thrashing mitigation and access counters change where pages live; and a
// seed decides a run. Expected counts are worked out from the access pattern, not from the model.

import { describe, expect, it } from 'vitest';
import {
  BASE_VPN,
  counter,
  cpuTouch,
  exitProcess,
  gpuCounter,
  gpuRig,
  gpuViolations,
  launchList,
  leaksAfterExit,
  mapAt,
  runGpuScenario,
  sequentialOffsets,
  tlbEntries,
} from '../../../test/gpuHarness.js';
import { pteAt } from '../../../test/testDevice.js';
import { PAGE_SIZE, PROT_READ } from '../../mm/constants.js';
import { PTE_DEVICE_PRIVATE, PTE_PRESENT } from '../../mm/pte.js';
import { LimitError } from '../../sim/errors.js';
import { Rng } from '../../sim/rng.js';
import { summarizeWorkload } from '../../workload/gpu/inspect.js';
import { buildGpuWorkload } from '../../workload/gpu/registry.js';
import { makeStream } from '../../workload/patterns.js';
import type { RunResult } from '../../report/types.js';
import type { MigrationGranularity } from './gpu.js';
import { VA_BLOCK_PAGES } from './vaBlock.js';
import { GPU_ATTR_LOCAL, GPU_ATTR_WRITE } from './vaSpace.js';

const MAP_AND_FILL = (size: string) => [
  `{ op: mmap, name: d, size: ${size} }`,
  '{ op: touch, region: d, write: true }',
];

/** A run that completed: no failed op and no leak. */
function clean(r: RunResult): RunResult {
  expect(r.summary.failures).toEqual([]);
  expect(r.summary.leaks).toEqual([]);
  return r;
}

/** Pages of a `bytes`-long array. */
const pagesOf = (bytes: number): number => Math.ceil(bytes / PAGE_SIZE);

describe('on-demand paging (prefetch none, 4 KiB, memory larger than the working set)', () => {
  it.each(['per-pass', 'accounted'])('a sequential stream faults once per page (%s)', (latency) => {
    const r = clean(
      runGpuScenario(`memory: 64MiB, faultLatency: ${latency}`, [
        ...MAP_AND_FILL('8MiB'),
        '{ op: gpu, device: g, region: d }',
      ]),
    );
    expect(counter(r, 'far_faults')).toBe(2048);
    expect(counter(r, 'pages_to_device')).toBe(2048);
    expect(counter(r, 'prefetched_pages')).toBe(0);
    expect(counter(r, 'evicted_pages')).toBe(0);
    expect(counter(r, 'accesses')).toBe(2048);
  });

  it('a random stream faults once per distinct page, however often a page repeats', () => {
    const spec = { kind: 'random', count: 1500, seed: 11 } as const;
    const stream = makeStream(spec, 1024, new Rng(1));
    const distinct = new Set<number>();
    for (let p = stream.next(); p >= 0; p = stream.next()) distinct.add(p);
    expect(distinct.size).toBeLessThan(1024);
    const r = clean(
      runGpuScenario('memory: 64MiB', [
        ...MAP_AND_FILL('4MiB'),
        '{ op: gpu, device: g, region: d, pattern: { kind: random, count: 1500, seed: 11 } }',
      ]),
    );
    expect(counter(r, 'far_faults')).toBe(distinct.size);
    expect(counter(r, 'pages_to_device')).toBe(distinct.size);
    expect(counter(r, 'accesses')).toBe(1500);
  });

  /** A built-in workload on a roomy GPU, every array written by the CPU first, GPU steps only. */
  const workload = (name: string, params: string, hostInit = 'all') =>
    clean(
      runGpuScenario('memory: 64MiB', [
        `{ op: workload, device: g, name: ${name}, params: ${params}, hostInit: ${hostInit}, hostSteps: false }`,
      ]),
    );

  it('hotspot faults once per page of its two temperature grids and its power grid', () => {
    // Every kernel reads the whole source grid and the power grid and writes the destination
    // grid; the kernels alternate source and destination, so all three grids are touched whole.
    const n = 256;
    const pages = 3 * pagesOf(n * n * 4);
    for (const hostInit of ['all', 'none']) {
      const r = workload('hotspot', `{ gridSize: ${n} }`, hostInit);
      expect(counter(r, 'far_faults')).toBe(pages);
      expect(counter(r, 'pages_to_device')).toBe(pages);
      expect(counter(r, 'kernels')).toBe(4);
    }
  });

  it('backprop faults once per page its two kernels touch', () => {
    const params = { inputs: 4096 };
    const summary = summarizeWorkload(buildGpuWorkload('backprop', params));
    // Some arrays are host-only, so the GPU's pages are fewer than the working set.
    expect(summary.gpuPages).toBeLessThan(summary.workingSetPages);
    const r = workload('backprop', JSON.stringify(params));
    expect(counter(r, 'far_faults')).toBe(summary.gpuPages);
    expect(counter(r, 'pages_to_device')).toBe(summary.gpuPages);
    expect(counter(r, 'kernels')).toBe(summary.kernels);
  });
});

describe('migration granularity (accounted latency: faults resolved as they occur)', () => {
  const cases: [MigrationGranularity, number][] = [
    [65536, 0],
    [65536, 5],
    [2097152, 0],
    [2097152, 100],
  ];
  it.each(cases)('%i bytes, region at page offset %i: one fault per group touched', (granularity, offset) => {
    const npages = 1500;
    const base = BASE_VPN + offset;
    const rig = gpuRig({ memoryPages: 4096, migrationGranularity: granularity, faultLatency: 'accounted' });
    mapAt(rig.task, base, npages);
    cpuTouch(rig.task, base, npages, true);
    const k = launchList(rig, base, sequentialOffsets(npages));
    rig.kernel.runUntilIdle();
    expect(k.failed).toBe(false);
    // The aligned groups the region overlaps (a group is clipped to the VMA, never grown past it).
    const groupPages = granularity / PAGE_SIZE;
    const groups = Math.floor((base + npages - 1) / groupPages) - Math.floor(base / groupPages) + 1;
    expect(gpuCounter(rig, 'far_faults')).toBe(groups);
    expect(gpuCounter(rig, 'pages_to_device')).toBe(npages);
    expect(gpuCounter(rig, 'prefetched_pages')).toBe(npages - groups);
    expect(gpuViolations(rig.gpu, rig.gpu.vaSpace(rig.mm), base, base + npages)).toEqual([]);
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });
});

describe('tree prefetch (NVIDIA UVM, Ganguly TBNp)', () => {
  // The published rule: a 2 MiB block streamed in address order faults on big pages 0, 1, 2, 4,
  // 8 and 16; each fault pulls the largest subregion more than 51% resident, the last the rest.
  it.each([
    { lanes: 'one lane', sms: 1, blocksPerSm: 1 },
    { lanes: 'the default 224 lanes', sms: 28, blocksPerSm: 8 },
  ])('streams each 2 MiB block in 6 faults with $lanes', ({ sms, blocksPerSm }) => {
    const blocks = 4;
    const rig = gpuRig({
      memoryPages: 8192,
      faultLatency: 'accounted',
      policies: { prefetch: 'tree' },
      sms,
      blocksPerSm,
    });
    const npages = blocks * VA_BLOCK_PAGES;
    mapAt(rig.task, BASE_VPN, npages);
    cpuTouch(rig.task, BASE_VPN, npages, true);
    launchList(rig, BASE_VPN, sequentialOffsets(npages));
    rig.kernel.runUntilIdle();
    expect(gpuCounter(rig, 'far_faults')).toBe(6 * blocks);
    expect(gpuCounter(rig, 'pages_to_device')).toBe(npages);
  });
});

describe('oversubscription', () => {
  it.each(['lru-4k', 'lru-2m', 'tree'])('evicts to RAM and completes with eviction %s', (eviction) => {
    const capacityPages = 1024;
    const r = clean(
      runGpuScenario(`memory: 4MiB, policies: { eviction: ${eviction} }`, [
        ...MAP_AND_FILL('6MiB'),
        '{ op: gpu, device: g, region: d, pattern: { kind: sequential, passes: 2 } }',
      ]),
    );
    expect(counter(r, 'kernels')).toBe(1);
    expect(counter(r, 'evicted_pages')).toBeGreaterThan(0);
    expect(counter(r, 'pages_to_host')).toBeGreaterThan(0);
    // Nothing but eviction sends pages back here.
    expect(counter(r, 'pages_to_host')).toBe(counter(r, 'evicted_pages'));
    // The working set (1536 pages) cannot stay: at least the excess left, and what stayed fits.
    expect(counter(r, 'pages_to_device')).toBeGreaterThanOrEqual(1536);
    const resident = counter(r, 'pages_to_device') - counter(r, 'pages_to_host');
    expect(resident).toBeLessThanOrEqual(capacityPages);
    const series = r.series.find((s) => s.name === 'resident.g')!;
    expect(Math.max(...series.values)).toBeLessThanOrEqual(capacityPages);
    expect(Math.max(...series.values)).toBeGreaterThan(capacityPages / 2);
  });
});

describe('CPU accesses to pages in GPU memory', () => {
  it('a CPU touch migrates the page back and the next GPU access faults again', () => {
    const r = clean(
      runGpuScenario('memory: 4MiB', [
        ...MAP_AND_FILL('64KiB'),
        '{ op: gpu, device: g, region: d }',
        '{ op: touch, region: d, size: 4096 }',
        '{ op: gpu, device: g, region: d }',
      ]),
    );
    expect(counter(r, 'pages_to_host')).toBe(1);
    expect(counter(r, 'far_faults')).toBe(17);
    expect(counter(r, 'pages_to_device')).toBe(17);
  });

  it("drops the GPU's entry and TLB translation of exactly that page", () => {
    const rig = gpuRig({ memoryPages: 256 });
    mapAt(rig.task, BASE_VPN, 16);
    cpuTouch(rig.task, BASE_VPN, 16, true);
    const space = rig.gpu.vaSpace(rig.mm);
    launchList(rig, BASE_VPN, sequentialOffsets(16));
    rig.kernel.runUntilIdle();
    const cached = (vpn: number) => tlbEntries(rig.gpu.tlb).some((e) => e.vpn === vpn);
    expect(cached(BASE_VPN)).toBe(true);
    expect(space.table.attr(BASE_VPN) & GPU_ATTR_LOCAL).toBeTruthy();
    cpuTouch(rig.task, BASE_VPN, 1, false);
    expect(space.table.attr(BASE_VPN)).toBe(0);
    expect(cached(BASE_VPN)).toBe(false);
    expect(cached(BASE_VPN + 1)).toBe(true);
    expect(space.table.attr(BASE_VPN + 1) & GPU_ATTR_LOCAL).toBeTruthy();
    expect(rig.gpu.memory.usedPages).toBe(15);
    expect(gpuCounter(rig, 'pages_to_host')).toBe(1);
    const k = launchList(rig, BASE_VPN, [0, 1]);
    rig.kernel.runUntilIdle();
    expect(k.failed).toBe(false);
    expect(gpuCounter(rig, 'far_faults')).toBe(17);
    expect(space.table.attr(BASE_VPN) & GPU_ATTR_LOCAL).toBeTruthy();
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 16)).toEqual([]);
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });
});

describe('munmap and mprotect of memory the GPU maps', () => {
  it('after munmap a GPU access to the hole fails its kernel (scenario)', () => {
    const r = runGpuScenario('memory: 4MiB', [
      ...MAP_AND_FILL('64KiB'),
      '{ op: gpu, device: g, region: d }',
      '{ op: munmap, region: d, offset: 32KiB, size: 32KiB }',
      '{ op: gpu, device: g, region: d }',
    ]);
    expect(r.summary.failures).toHaveLength(1);
    expect(r.summary.failures[0]).toMatchObject({ op: 4, what: expect.stringContaining('gpu kernel') });
    expect(r.summary.leaks).toEqual([]);
  });

  it('munmap erases the table entries and TLB translations of the range and frees its GPU pages', () => {
    const rig = gpuRig({ memoryPages: 256 });
    mapAt(rig.task, BASE_VPN, 16);
    cpuTouch(rig.task, BASE_VPN, 16, true);
    const space = rig.gpu.vaSpace(rig.mm);
    launchList(rig, BASE_VPN, sequentialOffsets(16), true);
    rig.kernel.runUntilIdle();
    expect(space.table.size).toBe(16);
    expect(rig.task.munmap((BASE_VPN + 8) * PAGE_SIZE, 8 * PAGE_SIZE)).toBe(0);
    rig.kernel.runUntilIdle();
    for (let i = 0; i < 16; i++) expect(space.table.has(BASE_VPN + i)).toBe(i < 8);
    expect(tlbEntries(rig.gpu.tlb).filter((e) => e.vpn >= BASE_VPN + 8)).toEqual([]);
    expect(rig.gpu.memory.usedPages).toBe(8);
    // The mapped half still runs from the TLB and table, without a fault.
    const faults = gpuCounter(rig, 'far_faults');
    const ok = launchList(rig, BASE_VPN, sequentialOffsets(8), true);
    rig.kernel.runUntilIdle();
    expect(ok.failed).toBe(false);
    expect(gpuCounter(rig, 'far_faults')).toBe(faults);
    const bad = launchList(rig, BASE_VPN, sequentialOffsets(16));
    rig.kernel.runUntilIdle();
    expect(bad.failed).toBe(true);
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 16)).toEqual([]);
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });

  it('mprotect read-only erases the entries; reads map the GPU pages again, a write fails', () => {
    const rig = gpuRig({ memoryPages: 256 });
    mapAt(rig.task, BASE_VPN, 16);
    cpuTouch(rig.task, BASE_VPN, 16, true);
    const space = rig.gpu.vaSpace(rig.mm);
    launchList(rig, BASE_VPN, sequentialOffsets(16), true);
    rig.kernel.runUntilIdle();
    expect(space.table.attr(BASE_VPN + 3) & GPU_ATTR_WRITE).toBeTruthy();
    expect(rig.task.mprotect(BASE_VPN * PAGE_SIZE, 16 * PAGE_SIZE, PROT_READ)).toBe(0);
    rig.kernel.runUntilIdle();
    expect(space.table.size).toBe(0);
    expect(tlbEntries(rig.gpu.tlb)).toEqual([]);
    // The pages stay in GPU memory (device-private entries in the CPU page table).
    expect(rig.gpu.memory.usedPages).toBe(16);
    expect(pteAt(rig.mm, BASE_VPN + 3).kind).toBe(PTE_DEVICE_PRIVATE);
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 16)).toEqual([]);
    const read = launchList(rig, BASE_VPN, sequentialOffsets(16));
    rig.kernel.runUntilIdle();
    expect(read.failed).toBe(false);
    expect(gpuCounter(rig, 'far_faults')).toBe(32);
    expect(gpuCounter(rig, 'pages_to_host')).toBe(0);
    expect(space.table.attr(BASE_VPN + 3) & GPU_ATTR_LOCAL).toBeTruthy();
    expect(space.table.attr(BASE_VPN + 3) & GPU_ATTR_WRITE).toBe(0);
    const write = launchList(rig, BASE_VPN, [3], true);
    rig.kernel.runUntilIdle();
    expect(write.failed).toBe(true);
    expect(gpuCounter(rig, 'far_faults')).toBe(33);
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 16)).toEqual([]);
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });

  it.each(['migrate', 'mirror'])(
    'a write after mprotect read-only fails the kernel, not a livelock (%s)',
    (mode) => {
      const r = runGpuScenario(`memory: 4MiB, mode: ${mode}`, [
        ...MAP_AND_FILL('64KiB'),
        '{ op: gpu, device: g, region: d, write: true }',
        '{ op: mprotect, region: d, prot: r }',
        '{ op: gpu, device: g, region: d, write: true }',
      ]);
      expect(r.summary.failures.map((f) => f.op)).toEqual([4]);
      expect(r.summary.leaks).toEqual([]);
      expect(counter(r, 'far_faults')).toBeGreaterThan(16);
    },
  );

  it.each([
    [
      'mprotect read-only then read-write',
      ['{ op: mprotect, region: d, prot: r }', '{ op: mprotect, region: d, prot: rw }'],
    ],
    ['fork (copy-on-write)', ['{ op: fork, program: [{ op: sleep, time: 1ms }] }']],
  ])('a GPU write to its own read-only page after %s completes', (_label, between) => {
    // The device-private entries became read-only; the VMA allows writes, so the driver sends
    // each page back to RAM and breaks COW there, and the replayed write migrates it in again.
    const r = clean(
      runGpuScenario('memory: 4MiB', [
        ...MAP_AND_FILL('64KiB'),
        '{ op: gpu, device: g, region: d, write: true }',
        ...between,
        '{ op: gpu, device: g, region: d, write: true }',
      ]),
    );
    expect(counter(r, 'kernels')).toBe(2);
    expect(counter(r, 'pages_to_host')).toBe(16);
    expect(counter(r, 'pages_to_device')).toBe(32);
  });
});

describe('races between the driver and the CPU', () => {
  it('a kernel that failed on read-only pages leaves no verdict behind for the next one', () => {
    // Every page of the first write faults and is cancelled, but the kernel stops at the first;
    // after mprotect read-write the same pages must be served, not failed on the old verdicts.
    for (const mode of ['migrate', 'mirror']) {
      const r = runGpuScenario(`memory: 4MiB, mode: ${mode}`, [
        ...MAP_AND_FILL('64KiB'),
        '{ op: mprotect, region: d, prot: r }',
        '{ op: gpu, device: g, region: d, write: true }',
        '{ op: mprotect, region: d, prot: rw }',
        '{ op: gpu, device: g, region: d, write: true }',
      ]);
      expect(r.summary.failures.map((f) => f.op)).toEqual([3]);
      expect(r.summary.leaks).toEqual([]);
    }
  });

  it('a CPU fault that takes a page back between a mirror snapshot and its commit makes it stale', () => {
    // The page is in GPU memory with no GPU entry (mprotect erased it); a mirror-mode kernel
    // faults on it, the driver snapshots it (hmm_range_fault reports its own device page), the
    // CPU touches it (migrate_to_ram frees that device page), and only then the driver commits.
    const rig = gpuRig({ memoryPages: 64 });
    mapAt(rig.task, BASE_VPN, 4);
    cpuTouch(rig.task, BASE_VPN, 4, true);
    launchList(rig, BASE_VPN, sequentialOffsets(4));
    rig.kernel.runUntilIdle();
    expect(rig.task.mprotect(BASE_VPN * PAGE_SIZE, 4 * PAGE_SIZE, PROT_READ)).toBe(0);
    rig.kernel.runUntilIdle();
    const space = rig.gpu.vaSpace(rig.mm);
    const k = launchList(rig, BASE_VPN, [2], false, 'mirror');
    for (let n = 0; n < 100 && rig.gpu.faults.length === 0; n++) rig.kernel.engine.step();
    expect(rig.gpu.faults.length).toBe(1);
    expect(rig.gpu.serviceStep()).toBe('busy'); // the snapshot, committed at the next step
    cpuTouch(rig.task, BASE_VPN + 2, 1, false);
    expect(pteAt(rig.mm, BASE_VPN + 2).kind).toBe(PTE_PRESENT);
    rig.gpu.serviceStep();
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 4)).toEqual([]);
    expect(space.table.attr(BASE_VPN + 2) & GPU_ATTR_LOCAL).toBe(0);
    rig.kernel.runUntilIdle();
    expect(k.failed).toBe(false);
    // Served again from the fresh state: the CPU's page, mapped remotely.
    expect(space.table.pfn(BASE_VPN + 2)).toBe(pteAt(rig.mm, BASE_VPN + 2).pfn);
    expect(gpuViolations(rig.gpu, space, BASE_VPN, BASE_VPN + 4)).toEqual([]);
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });
});

describe('mirror mode', () => {
  it('maps system pages remotely: nothing migrates, every access is remote', () => {
    const r = clean(
      runGpuScenario('memory: 4MiB, mode: mirror', [
        ...MAP_AND_FILL('1MiB'),
        '{ op: gpu, device: g, region: d, pattern: { kind: sequential, passes: 3 } }',
      ]),
    );
    expect(counter(r, 'pages_to_device')).toBe(0);
    expect(counter(r, 'pages_to_host')).toBe(0);
    expect(counter(r, 'far_faults')).toBeGreaterThan(0);
    expect(counter(r, 'far_faults')).toBeLessThanOrEqual(256);
    expect(counter(r, 'remote_accesses')).toBe(768);
    expect(counter(r, 'accesses')).toBe(768);
  });

  it("the GPU's entries point at the CPU's own frames", () => {
    const rig = gpuRig({ memoryPages: 64, mode: 'mirror' });
    mapAt(rig.task, BASE_VPN, 32);
    cpuTouch(rig.task, BASE_VPN, 32, true);
    const space = rig.gpu.vaSpace(rig.mm);
    launchList(rig, BASE_VPN, sequentialOffsets(32), true);
    rig.kernel.runUntilIdle();
    expect(rig.gpu.memory.usedPages).toBe(0);
    for (let vpn = BASE_VPN; vpn < BASE_VPN + 32; vpn++) {
      expect(space.table.attr(vpn) & GPU_ATTR_LOCAL).toBe(0);
      expect(space.table.attr(vpn) & GPU_ATTR_WRITE).toBeTruthy();
      expect(pteAt(rig.mm, vpn).kind).toBe(PTE_PRESENT);
      expect(space.table.pfn(vpn)).toBe(pteAt(rig.mm, vpn).pfn);
    }
    exitProcess(rig);
    expect(leaksAfterExit(rig)).toEqual([]);
  });
});

describe('thrashing mitigation', () => {
  /** Six rounds of a GPU read and a CPU write of the same 4 pages, `gap` between rounds. */
  const bounce = (thrashing: string, gap?: string) =>
    clean(
      runGpuScenario(`memory: 4MiB, policies: { thrashing: ${thrashing} }`, [
        ...MAP_AND_FILL('16KiB'),
        ...Array.from({ length: 6 }, () => [
          '{ op: gpu, device: g, region: d }',
          '{ op: touch, region: d, write: true }',
          ...(gap === undefined ? [] : [`{ op: sleep, time: ${gap} }`]),
        ]).flat(),
      ]),
    );

  it('remote: a page bouncing between CPU and GPU ends up mapped remotely; none keeps migrating', () => {
    const none = bounce('none');
    expect(counter(none, 'pages_to_device')).toBe(24);
    expect(counter(none, 'pages_to_host')).toBe(24);
    expect(counter(none, 'remote_accesses')).toBe(0);
    // Migrations 1-4 of each page (GPU, CPU, GPU, CPU) are 3 within the 500 us lapse: the default
    // threshold of 3 marks it thrashing, so the 4 later GPU rounds map it remotely.
    const remote = bounce('remote');
    expect(counter(remote, 'pages_to_device')).toBe(8);
    expect(counter(remote, 'pages_to_host')).toBe(8);
    expect(counter(remote, 'remote_accesses')).toBe(16);
  });

  it('remote: migrations further apart than the lapse are not thrashing', () => {
    const r = bounce('remote', '1ms');
    expect(counter(r, 'remote_accesses')).toBe(0);
    expect(counter(r, 'pages_to_device')).toBe(24);
  });

  it('pin: pinned pages stay in GPU memory while another region evicts everything else', () => {
    // 64 pages of GPU memory. Region a (4 pages) bounces GPU, CPU, GPU, CPU (pinned for good at
    // the 4th migration), then migrates in once more; region b (128 pages) then streams through.
    // Pinned, a stays and the last kernel over it does not fault; unpinned, LRU evicted it. Four
    // lanes, so b's faults come a few per pass and b's own older pages are there to evict.
    const run = (thrashing: string) =>
      clean(
        runGpuScenario(`memory: 256KiB, sms: 1, blocksPerSm: 4, policies: { thrashing: ${thrashing} }`, [
          '{ op: mmap, name: a, size: 16KiB }',
          '{ op: mmap, name: b, size: 512KiB }',
          '{ op: touch, region: a, write: true }',
          '{ op: touch, region: b, write: true }',
          '{ op: gpu, device: g, region: a }',
          '{ op: touch, region: a, write: true }',
          '{ op: gpu, device: g, region: a }',
          '{ op: touch, region: a, write: true }',
          '{ op: gpu, device: g, region: a }',
          '{ op: gpu, device: g, region: b }',
          '{ op: gpu, device: g, region: a }',
        ]),
      );
    const pinned = run('{ name: pin, pinMs: 0 }');
    const unpinned = run('none');
    expect(counter(pinned, 'far_faults')).toBe(3 * 4 + 128);
    expect(counter(unpinned, 'far_faults')).toBe(3 * 4 + 128 + 4);
    // Pinned: b's 128 pages share the 60 slots a leaves, so exactly 68 of them are evicted.
    expect(counter(pinned, 'evicted_pages')).toBe(128 - 60);
    expect(counter(unpinned, 'pages_to_device')).toBe(counter(pinned, 'pages_to_device') + 4);
  });
});

describe('access counters', () => {
  const run = (accessCounters: string) =>
    clean(
      runGpuScenario(`memory: 4MiB, mode: mirror, policies: { accessCounters: ${accessCounters} }`, [
        ...MAP_AND_FILL('1MiB'),
        '{ op: gpu, device: g, region: d, pattern: { kind: sequential, passes: 2 } }',
      ]),
    );

  it('migrate: a region with enough remote accesses moves into GPU memory in mirror mode', () => {
    const r = run('{ name: migrate, threshold: 4 }');
    expect(counter(r, 'access_counter_notifications')).toBeGreaterThan(0);
    // The 2 MiB counting region covers the whole 256-page VMA: it moves whole, once.
    expect(counter(r, 'pages_to_device')).toBe(256);
    expect(counter(r, 'remote_accesses')).toBeLessThan(512);
    expect(counter(r, 'accesses')).toBe(512);
  });

  it('no migration without access counters, or below the threshold', () => {
    for (const r of [run('none'), run('{ name: migrate, threshold: 600 }')]) {
      expect(counter(r, 'access_counter_notifications')).toBe(0);
      expect(counter(r, 'pages_to_device')).toBe(0);
      expect(counter(r, 'remote_accesses')).toBe(512);
    }
  });
});

describe('determinism', () => {
  const busy = [
    '{ op: mmap, name: d, size: 6MiB }',
    '{ op: touch, region: d, write: true, pattern: { kind: random, count: 800 } }',
    '{ op: gpu, device: g, region: d, pattern: { kind: random, count: 3000 }, wait: false }',
    '{ op: touch, region: d, pattern: { kind: random, count: 300 } }',
    '{ op: wait }',
    '{ op: gpu, device: g, region: d, write: true, pattern: { kind: strided, stride: 7 } }',
  ];
  const device =
    'memory: 4MiB, policies: { prefetch: { name: random, pages: 2 }, eviction: tree, thrashing: pin }';

  it('the same scenario and seed give identical summaries', () => {
    const a = runGpuScenario(device, busy, { seed: 9 });
    const b = runGpuScenario(device, busy, { seed: 9 });
    clean(a);
    expect(counter(a, 'evicted_pages')).toBeGreaterThan(0);
    expect(b.summary).toEqual(a.summary);
    expect(b.series).toEqual(a.series);
  });

  it('the random prefetch policy draws from the run seed', () => {
    // The access pattern's own seed is fixed, so only the policy's draws differ between seeds.
    const program = [
      ...MAP_AND_FILL('4MiB'),
      '{ op: gpu, device: g, region: d, pattern: { kind: random, count: 200, seed: 5 } }',
    ];
    const toDevice = (seed: number) =>
      counter(
        clean(runGpuScenario('memory: 16MiB, policies: { prefetch: random }', program, { seed })),
        'pages_to_device',
      );
    const bySeed = [1, 2, 3].map(toDevice);
    expect(new Set(bySeed).size).toBeGreaterThan(1);
    expect(toDevice(2)).toBe(bySeed[1]);
    // Without the policy's draws the seed changes nothing.
    const none = (seed: number) =>
      counter(clean(runGpuScenario('memory: 16MiB', program, { seed })), 'pages_to_device');
    expect(none(1)).toBe(none(2));
  });
});

describe('limits', () => {
  it('a scenario that cannot finish in its event budget is a LimitError, not a hang', () => {
    expect(() =>
      runGpuScenario('memory: 64MiB', [...MAP_AND_FILL('8MiB'), '{ op: gpu, device: g, region: d }'], {
        maxEvents: 100,
      }),
    ).toThrow(LimitError);
  });
});
