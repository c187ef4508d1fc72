// The shutdown reference graph (refGraph.ts): the 2016 exit cycle is reported as a cycle when bonds
// hold mm_users and never forms when they hold mm_count (through a scenario run, as `hetmem run`
// reports it); a leak without a cycle is reported with the path from the reference nobody holds;
// and the cycle finder agrees with brute-force reachability on random graphs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dma, mapAnon, svaWorld } from '../../test/svaHarness.js';
import { AccelContext } from '../devices/accel/driver.js';
import { iommuSvaBindDevice, iommuSvaGetPasid } from '../iommu/sva.js';
import { MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Inode, OpenFile } from '../mm/file.js';
import { loadScenarioObject, parseScenarioText } from '../workload/scenario/load.js';
import { runScenario } from '../workload/scenario/runner.js';
import { buildRefGraph, cycleComponents, refReport } from './refGraph.js';
import { auditShutdown } from './svaAudit.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/sva-legacy-exit-cycle.yaml');

/** The example scenario, with the bond's mm reference set as given. */
function exitScenario(bondHoldsMm: 'mm_count' | 'mm_users' | undefined) {
  const raw = parseScenarioText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE) as {
    machine: { sva?: Record<string, unknown> };
  };
  if (bondHoldsMm !== undefined) raw.machine.sva = { ...raw.machine.sva, bondHoldsMm };
  return loadScenarioObject(raw, EXAMPLE);
}

describe('the 2016 exit cycle: open, map the device file, bind, exit without closing', () => {
  it('with bonds holding mm_users, the run reports file -> context -> bond -> mm users -> VMA -> file', () => {
    const { summary } = runScenario(exitScenario('mm_users'));
    expect(summary.failures).toEqual([]);
    const cycles = summary.leaks.filter((l) => l.startsWith('reference cycle'));
    expect(cycles, summary.leaks.join('\n')).toHaveLength(1);
    // The members, in order: the file holds the driver context (private_data), which holds the
    // bond (a bind reference), which holds the address space (mm_users), whose VMA tree holds the
    // portal VMA, which holds the file (vm_file).
    const walk = [...cycles[0].matchAll(/(?:^reference cycle #1: |-\[[^\]]+\]-> )([^;]+?)(?= -\[|;)/g)].map(
      (m) => m[1],
    );
    const edges = [...cycles[0].matchAll(/-\[([^\]]+)\]->/g)].map((m) => m[1]);
    expect(walk).toEqual([
      expect.stringMatching(/^file \d+ \(accel-dsa0\)$/),
      'user context 1 of dsa0',
      expect.stringMatching(/^SVA bond \d+ on dsa0, PASID 1$/),
      'address space of mm 1',
      expect.stringMatching(/^VMA 0x[0-9a-f]+-0x[0-9a-f]+ of mm 1$/),
      walk[0],
    ]);
    expect(edges).toEqual(['private_data', 'bind', 'mm_users', 'VMA', 'vm_file']);
    expect(cycles[0]).toContain('address space of mm 1 keeps mm_users 1 with no thread left');
    // Every object the cycle keeps is reported with its path; the PASID through the mm object.
    const leaked = summary.leaks.filter((l) => l.startsWith('leaked '));
    for (const what of [
      'file',
      'user context',
      'SVA bond',
      'address space of mm 1',
      'VMA',
      'mm 1',
      'SVA domain',
      'PASID 1',
    ])
      expect(
        leaked.some((l) => l.startsWith(`leaked ${what}`)),
        `${what} reported`,
      ).toBe(true);
    expect(leaked.find((l) => l.startsWith('leaked PASID 1'))).toMatch(
      /\[on cycle #1\] -\[mm_count\]-> mm 1 -\[iommu_mm\]-> PASID 1 of mm 1$/,
    );
    // exit_mmap never ran, so the process's pages leak too; nothing was unbound or freed.
    expect(summary.leaks.some((l) => /RAM pages still in use/.test(l))).toBe(true);
    expect(summary.table.unbinds).toBe(0);
    expect(summary.table.pasidFrees).toBe(0);
    expect(summary.expectations.find((e) => e.text === 'noLeaks')?.ok).toBe(false);
  });

  it.each([
    ['the upstream default', undefined],
    ['mm_count, explicitly', 'mm_count'],
  ] as const)('with %s, no cycle forms and nothing leaks', (_name, bondHoldsMm) => {
    const { summary } = runScenario(exitScenario(bondHoldsMm));
    expect(summary.failures).toEqual([]);
    expect(summary.leaks).toEqual([]);
    expect(summary.table.binds).toBe(1);
    expect(summary.table.unbinds).toBe(1);
    expect(summary.table.pasidFrees).toBe(1);
    for (const e of summary.expectations) expect(e.ok, `${e.text}: ${e.actual}`).toBe(true);
  });

  it('without the portal mapping, even mm_users bonds leak nothing: release at exit_files unbinds', () => {
    const raw = parseScenarioText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE) as {
      machine: { sva?: Record<string, unknown> };
      processes: { program: { op: string }[] }[];
    };
    raw.machine.sva = { bondHoldsMm: 'mm_users' };
    raw.processes[0].program = raw.processes[0].program.filter((op) => op.op !== 'mmap' || !('fd' in op));
    const { summary } = runScenario(loadScenarioObject(raw, EXAMPLE));
    expect(summary.leaks).toEqual([]);
    expect(summary.table.unbinds).toBe(1);
  });
});

describe('a leak without a cycle', () => {
  it('a driver that never unbinds: every object is reported with the path from the bind reference nobody holds', () => {
    // A driver whose release forgets iommu_sva_unbind_device: the bond's bind reference is held by
    // nothing once the file is gone.
    const w = svaWorld();
    const P = w.kernel.spawn();
    const buf = mapAnon(P, 4);
    const bond = iommuSvaBindDevice(w.A.dev, P.mm!);
    if (typeof bond === 'number') throw new Error(`bind: ${bond}`);
    const file = new OpenFile(w.kernel.newObjectId(), new Inode('device', w.kernel.newObjectId(), 0, null), {
      name: 'forgetful',
      release: () => {},
    });
    file.privateData = bond;
    P.installFile(file);
    expect(
      dma(w.A, { pasid: iommuSvaGetPasid(bond), op: 'write', addr: buf, length: PAGE_SIZE }).status,
    ).toBe('done');
    const mm = P.mm!;
    P.exit();
    w.core.runUntilIdle();
    expect(mm.torndown, 'upstream: exit_mmap ran all the same').toBe(true);

    const report = refReport(buildRefGraph(w.kernel, w.core));
    expect(report.cycles).toEqual([]);
    const source = `SVA bond ${bond.id} on A, PASID 1 [1 bind reference that no object holds (never dropped)]`;
    expect(report.lines).toEqual([
      `leaked SVA bond ${bond.id} on A, PASID 1 (users 1): ${source}`,
      `leaked mm ${mm.id} (mm_count 2, address space torn down): ${source} -[attachment]-> SVA domain ${bond.domain.id} (vtd0) of mm ${mm.id} -[mm_count]-> mm ${mm.id}`,
      `leaked SVA domain ${bond.domain.id} (vtd0) of mm ${mm.id} (users 1): ${source} -[attachment]-> SVA domain ${bond.domain.id} (vtd0) of mm ${mm.id}`,
      expect.stringMatching(
        /^leaked mmu notifier of SVA domain \d+ on mm \d+ \(users 1\): SVA bond .* -\[notifier\]-> mmu notifier/,
      ),
      expect.stringMatching(
        /^leaked PASID 1 of mm \d+: SVA bond .* -\[mm_count\]-> mm \d+ -\[iommu_mm\]-> PASID 1 of mm \d+$/,
      ),
    ]);
    // auditShutdown says the same (it adds unanswered fault groups, of which there are none).
    expect(auditShutdown(w.kernel, w.core)).toEqual(report.lines);
  });

  it('a driver holding an mm user it never drops: the address space is held by that reference', () => {
    const w = svaWorld();
    const P = w.kernel.spawn();
    const mm = P.mm!;
    mm.mmget(); // the forgotten mmput
    P.exit();
    w.core.runUntilIdle();
    expect(auditShutdown(w.kernel, w.core)).toEqual([
      `leaked address space of mm ${mm.id} (mm_users 1): address space of mm ${mm.id} [1 mm_users reference that no object holds (never dropped)]`,
      `leaked mm ${mm.id} (mm_count 1): address space of mm ${mm.id} [1 mm_users reference that no object holds (never dropped)] -[mm_count]-> mm ${mm.id}`,
    ]);
  });

  it('objects a live process holds are not leaks', () => {
    const w = svaWorld({ sva: { bondHoldsMm: 'mm_users' } });
    const P = w.kernel.spawn();
    const fd = w.drvA.open(P);
    expect(P.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd)).toBeGreaterThan(0);
    const g = buildRefGraph(w.kernel, w.core);
    // The cycle is already there, but a live thread reaches it: nothing to report yet.
    expect(refReport(g).lines).toEqual([]);
    expect(g.nodes.map((n) => n.kind)).toEqual([
      'task',
      'file',
      'context',
      'bond',
      'addressSpace',
      'vma',
      'mm',
      'domain',
      'notifier',
      'pasid',
    ]);
    expect((P.fds.get(fd)!.privateData as AccelContext).bond.users).toBe(1);
  });
});

describe('cycleComponents', () => {
  it('finds two-node cycles and self loops, not chains', () => {
    expect(
      cycleComponents(5, [
        [0, 1],
        [1, 0],
        [2, 2],
        [2, 3],
        [3, 4],
      ]),
    ).toEqual([[0, 1], [2]]);
    expect(
      cycleComponents(3, [
        [0, 1],
        [1, 2],
      ]),
    ).toEqual([]);
  });

  it('reports exactly the nodes of non-trivial strongly connected components (random graphs vs reachability)', () => {
    const graph = fc.integer({ min: 1, max: 9 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 20 }),
      }),
    );
    fc.assert(
      fc.property(graph, ({ n, edges }) => {
        // reach[a][b]: b is reachable from a by one edge or more (Floyd-Warshall closure).
        const reach = Array.from({ length: n }, () => new Array<boolean>(n).fill(false));
        for (const [a, b] of edges) reach[a][b] = true;
        for (let k = 0; k < n; k++)
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) if (reach[i][k] && reach[k][j]) reach[i][j] = true;
        const expected: number[][] = [];
        const placed = new Set<number>();
        for (let v = 0; v < n; v++) {
          if (placed.has(v) || !reach[v][v]) continue;
          const comp = [v];
          for (let u = v + 1; u < n; u++) if (reach[v][u] && reach[u][v]) comp.push(u);
          for (const u of comp) placed.add(u);
          expected.push(comp);
        }
        expect(cycleComponents(n, edges)).toEqual(expected);
      }),
      { numRuns: 500, seed: 2016 },
    );
  });
});

describe("the scenario's device mapping (mmap with fd)", () => {
  const base = (program: unknown[]) => ({
    name: 'portal',
    machine: { iommus: [{ name: 'iommu0' }], devices: [{ kind: 'accel', name: 'dsa0', iommu: 'iommu0' }] },
    processes: [{ name: 'app', program }],
  });

  it('maps the descriptor shared, and the mapping keeps the file open after close', () => {
    const s = loadScenarioObject(
      base([
        { op: 'open', device: 'dsa0', as: 'q' },
        { op: 'mmap', name: 'portal', size: '4KiB', fd: 'q' },
        { op: 'close', fd: 'q' },
        { op: 'sleep', time: '1us' },
      ]),
      'portal.yaml',
    );
    expect(s.processes[0].program[1]).toMatchObject({ op: 'mmap', fd: 'q', shared: true });
    const { summary } = runScenario(s);
    expect(summary.failures).toEqual([]);
    expect(summary.leaks).toEqual([]);
    expect(summary.table.unbinds).toBe(1);
  });

  it('rejects a descriptor never opened, and populate or hugepage on a device mapping', () => {
    expect(() =>
      loadScenarioObject(
        base([
          { op: 'mmap', name: 'portal', size: '4KiB', fd: 'q' },
          { op: 'open', device: 'dsa0', as: 'r' },
          { op: 'mmap', name: 'p2', size: '4KiB', fd: 'r', populate: true, hugepage: true },
        ]),
        'portal.yaml',
      ),
    ).toThrow(/processes\[0\]\.program\[0\]\.fd[\s\S]*program\[2\]\.hugepage[\s\S]*program\[2\]\.populate/);
  });
});
