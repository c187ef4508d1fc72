import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GPU_ATTR_LOCAL, GPU_ATTR_WRITE } from '../devices/gpu/vaSpace.js';
import type { Mm } from '../mm/mm.js';
import { PG_ZERO, ZONE_DEVICE_PRIVATE, ZONE_RAM } from '../mm/physmem.js';
import { PTE_DEVICE_PRIVATE, PTE_KIND_MASK, PTE_MIGRATION, PTE_NONE, PTE_PRESENT } from '../mm/pte.js';
import { DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME } from '../workload/scenario/builtin.js';
import { loadScenario } from '../workload/scenario/load.js';
import { runScenario, type ObservedRun } from '../workload/scenario/runner.js';
import { RecordingCursor } from './cursor.js';
import { recordScenario } from './record.js';
import { Recorder } from './recorder.js';
import type { Recording } from './recording.js';
import {
  describePageState,
  MIRROR_ATOMIC,
  MIRROR_LOCAL,
  MIRROR_VALID,
  MIRROR_WRITE,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_NOT_PRESENT,
  PAGE_OTHER,
  PAGE_RAM,
  PAGE_UNMAPPED,
  PAGE_ZERO,
  pageDevice,
  pageKind,
} from './pageState.js';

/** Page state by vpn, read the independent way: a page-table walk of each VMA. */
function directStates(run: ObservedRun, mm: Mm): Map<number, string> {
  const mem = run.machine.kernel.mem;
  const out = new Map<number, string>();
  const kindOf = (flags: number, pfn: number): string => {
    switch (flags & PTE_KIND_MASK) {
      case PTE_NONE:
        return 'not present';
      case PTE_PRESENT: {
        const zone = mem.zone(pfn);
        if (zone.kind === ZONE_RAM) return mem.pageFlags(pfn) & PG_ZERO ? 'zero page' : 'RAM';
        return `device-${zone.kind === ZONE_DEVICE_PRIVATE ? 'private' : 'coherent'} on ${zone.name.replace(/\.vram$/, '')}`;
      }
      case PTE_MIGRATION:
        return 'under migration';
      case PTE_DEVICE_PRIVATE:
        return `device-private on ${mem.zone(pfn).name.replace(/\.vram$/, '')}`;
      default:
        return 'device-exclusive or other';
    }
  };
  for (const vma of mm.vmas.toArray()) {
    for (let vpn = vma.start; vpn < vma.end; vpn++) out.set(vpn, 'not present');
    mm.pt.walk(vma.start, vma.end, {
      ptes(table, first, end, baseVpn) {
        for (let i = first; i < end; i++) out.set(baseVpn + i, kindOf(table.e[2 * i], table.e[2 * i + 1]));
      },
      huge(pmd, idx, blockVpn) {
        for (let i = 0; i < 512; i++) {
          if (blockVpn + i >= vma.start && blockVpn + i < vma.end) {
            out.set(blockVpn + i, kindOf(pmd.huge![idx * 2], pmd.huge![idx * 2 + 1] + i));
          }
        }
      },
    });
  }
  return out;
}

/** Runs a scenario under a recorder and samples the live model at some frames for comparison. */
function recordWithSamples(text: string, sampleEvery: number) {
  const scenario = loadScenario(text, 'test.yaml');
  const recorder = new Recorder();
  const samples: { frame: number; states: Map<number, string>; mirror: Map<number, number> }[] = [];
  let sampled = 0;
  const observer = {
    start(run: ObservedRun) {
      recorder.start(run);
    },
    afterEvent(run: ObservedRun) {
      const before = recorder.frames;
      recorder.afterEvent(run);
      if (recorder.frames === before || ++sampled % sampleEvery !== 0) return;
      const frame = recorder.frames - 1;
      const mm = run.processes[0].task.mm;
      if (mm === null) return;
      const mirror = new Map<number, number>();
      for (const gpu of run.machine.gpus.values()) {
        for (let s = 0; s < gpu.spaceCount; s++) {
          const space = gpu.spaceAt(s);
          if (space?.mm !== mm) continue;
          for (const [vpn, , attr] of space.table.entries()) mirror.set(vpn, attr);
        }
      }
      samples.push({ frame, states: directStates(run, mm), mirror });
    },
  };
  const result = runScenario(scenario, { trace: true, observer });
  return { recording: recorder.finish(scenario, 'test.yaml', result), samples };
}

function pageIndex(rec: Recording, process: number, vpn: number): number {
  let base = 0;
  for (const s of rec.processes[process].segments) {
    if (vpn >= s.startVpn && vpn < s.startVpn + s.pages) return base + vpn - s.startVpn;
    base += s.pages;
  }
  return -1;
}

const names = (rec: Recording) => rec.devices.map((d) => d.name);
const simple = (state: number, rec: Recording) =>
  pageKind(state) === PAGE_EXCLUSIVE || pageKind(state) === PAGE_OTHER
    ? 'device-exclusive or other'
    : describePageState(state, names(rec));

const SMALL = `
name: small
seed: 3
machine:
  ram: 64MiB
  thp: madvise
  devices:
    - { kind: gpu, name: gpu0, memory: 8MiB, mode: migrate }
processes:
  - name: p
    program:
      - { op: mmap, name: a, size: 4MiB, hugepage: true }
      - { op: touch, region: a, write: true }
      - { op: mmap, name: b, size: 1MiB }
      - { op: touch, region: b }
      - { op: gpu, device: gpu0, region: b, mode: mirror }
      - { op: prefetch, device: gpu0, region: a, size: 1MiB, to: device }
      - { op: munmap, region: a, offset: 2MiB, size: 1MiB }
      - { op: touch, region: a, size: 1MiB, write: true }
      - { op: madvise, region: b, advice: dontneed }
`;

describe('the recorder', () => {
  it('reconstructs, at every sampled frame, exactly what a page-table walk of the live model shows', () => {
    for (const [text, every] of [
      [SMALL, 1],
      [DEFAULT_SCENARIO, 61],
    ] as const) {
      const { recording, samples } = recordWithSamples(text, every);
      expect(samples.length).toBeGreaterThan(10);
      const cursor = new RecordingCursor(recording);
      for (const sample of samples) {
        cursor.seek(sample.frame);
        expect(cursor.frame).toBe(sample.frame);
        const states = cursor.pages[0];
        const seen = new Set<number>();
        const wrong: string[] = [];
        for (const [vpn, want] of sample.states) {
          const i = pageIndex(recording, 0, vpn);
          if (i < 0) {
            wrong.push(`vpn ${vpn} has no place in the layout`);
            continue;
          }
          seen.add(i);
          const got = simple(states[i], recording);
          if (got !== want) wrong.push(`frame ${sample.frame} vpn ${vpn}: ${got}, want ${want}`);
          // The mirror agrees with the GPU's table, entry by entry.
          const attr = sample.mirror.get(vpn) ?? 0;
          const wantMirror =
            attr === 0
              ? 0
              : MIRROR_VALID |
                (attr & GPU_ATTR_WRITE ? MIRROR_WRITE : 0) |
                (attr & GPU_ATTR_LOCAL ? MIRROR_LOCAL : 0);
          const gotMirror = cursor.mirrors[0]![i] & ~MIRROR_ATOMIC;
          if (gotMirror !== wantMirror)
            wrong.push(`frame ${sample.frame} vpn ${vpn}: mirror ${gotMirror}, want ${wantMirror}`);
        }
        expect(wrong.slice(0, 5)).toEqual([]);
        // Every page outside the live VMAs shows as unmapped.
        let stray = 0;
        for (let i = 0; i < states.length; i++) if (!seen.has(i) && states[i] !== PAGE_UNMAPPED) stray++;
        expect(stray).toBe(0);
      }
    }
  });

  it('records the default story: the prefetch puts data on gpu0, the CPU pulls every 16th page back', () => {
    const rec = recordScenario(loadScenario(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME), DEFAULT_SCENARIO_NAME);
    // One frame per event but the sampler's (it only reads the model), plus the initial one.
    expect(rec.frames).toBeLessThan(rec.result.summary.table.events);
    expect(rec.frames).toBeGreaterThan(rec.result.summary.actors.reduce((n, a) => n + a.steps, 0));
    expect(rec.actors).not.toContain('sampler');
    expect(rec.processes.map((p) => p.segments.map((s) => s.label.split(' ')[0]))).toEqual([
      ['out', 'scratch', 'data'],
    ]);
    const data = rec.processes[0].segments[2];
    const dataStart = rec.processes[0].pages - data.pages;
    const cursor = new RecordingCursor(rec);
    const onGpu = (states: Uint8Array) => {
      let n = 0;
      for (let i = dataStart; i < states.length; i++) {
        if (pageKind(states[i]) === PAGE_DEVICE_PRIVATE && pageDevice(states[i]) === 0) n++;
      }
      return n;
    };
    const first = cursor.nextChange(0, (s) => pageKind(s) === PAGE_DEVICE_PRIVATE);
    expect(first).toBeGreaterThan(0);
    cursor.seek(first);
    expect(onGpu(cursor.pages[0])).toBe(data.pages);
    cursor.seek(first - 1);
    expect(onGpu(cursor.pages[0])).toBe(0);
    expect([...cursor.pages[0].subarray(dataStart)].every((s) => s === PAGE_RAM)).toBe(true);
    // At the end the process has exited: every page is unmapped, the PASID entry is gone.
    cursor.seek(rec.frames - 1);
    expect(cursor.pages[0].every((s) => s === PAGE_UNMAPPED)).toBe(true);
    // The history of a page the CPU read back: RAM, on the GPU, back in RAM, unmapped.
    const kinds = cursor.pageHistory(0, dataStart).map((c) => pageKind(c.state));
    // Migration entries live only inside one event, so no frame shows them for this page.
    expect(kinds).toEqual([PAGE_NOT_PRESENT, PAGE_RAM, PAGE_DEVICE_PRIVATE, PAGE_RAM, PAGE_UNMAPPED]);
    const pasids = rec.pasidTables;
    expect(pasids.map((p) => p.entries.map((e) => `${e.pasid}:${e.state}:${e.process}`))).toEqual([
      ['1:ACTIVE:app'],
      [],
    ]);
    expect(rec.devices.map((d) => `${d.name}/${d.kind}`)).toEqual(['gpu0/gpu', 'dsa0/accel']);
  });

  it('shows the zero page and a THP split across munmap in the small scenario', () => {
    const rec = recordScenario(loadScenario(SMALL, 'small.yaml'), 'small.yaml');
    const all = new Set<number>();
    for (const s of rec.pages.state) all.add(pageKind(s));
    expect(all.has(PAGE_ZERO)).toBe(true);
    expect(all.has(PAGE_UNMAPPED)).toBe(true);
    expect(all.has(PAGE_DEVICE_PRIVATE)).toBe(true);
  });

  it('is deterministic: the same scenario records the same frames and deltas', () => {
    const a = recordScenario(loadScenario(SMALL, 'small.yaml'), 'small.yaml');
    const b = recordScenario(loadScenario(SMALL, 'small.yaml'), 'small.yaml');
    expect(a.frames).toBe(b.frames);
    expect([...a.pages.page]).toEqual([...b.pages.page]);
    expect([...a.pages.state]).toEqual([...b.pages.state]);
    expect([...a.frameTimeNs]).toEqual([...b.frameTimeNs]);
  });
});

describe('the cursor', () => {
  const rec = recordScenario(loadScenario(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME), DEFAULT_SCENARIO_NAME);

  it('lands on the same states whatever path of seeks leads to a frame', () => {
    const reference = new RecordingCursor(rec);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: rec.frames - 1 }), { minLength: 1, maxLength: 12 }),
        (path) => {
          const c = new RecordingCursor(rec);
          for (const f of path) c.seek(f);
          const target = path[path.length - 1];
          reference.seek(0);
          reference.seek(target);
          expect(c.frame).toBe(target);
          expect(Buffer.compare(c.pages[0], reference.pages[0])).toBe(0);
          expect(Buffer.compare(c.mirrors[0]!, reference.mirrors[0]!)).toBe(0);
        },
      ),
      { seed: 7, numRuns: 60 },
    );
  });

  it('clamps seeks outside the recording', () => {
    const c = new RecordingCursor(rec);
    c.seek(-5);
    expect(c.frame).toBe(0);
    c.seek(rec.frames + 100);
    expect(c.frame).toBe(rec.frames - 1);
    expect(c.timeNs).toBe(rec.frameTimeNs[rec.frames - 1]);
    expect(c.timeNs).toBeLessThanOrEqual(rec.result.summary.table.simNs);
  });
});
