// Explore scenario files (YAML or JSON): the region, the mirror devices, the accelerators, the
// actors (built-in driver programs with their bug options, user driver modules, CPU threads,
// processes using the real accelerator driver) and the exploration's defaults. Every problem is an
// InputError naming the file, line, column and field.

import { z } from 'zod';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { Locator, parseYaml } from '../../workload/scenario/load.js';
import { accelJob, accelOpen, mirrorExclusive, mirrorFault, mirrorRelease } from './drivers.js';
import { ignoreOwnerInvalidate, standardInvalidate } from './mirrorDevice.js';
import type { Strategy } from './explore.js';
import { KERNEL_ACTOR } from './schedule.js';
import type { ActorSpec, CpuOp, DmaAccelOp, DriverProgram, WorldSpec } from './world.js';

const name = z.string().regex(/^[A-Za-z][\w.-]*$/, 'a name of letters, digits, ".", "_" or "-"');
const page = z.number().int().min(0);
const count = z.number().int().min(1);

const cpuOp = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('munmap'), first: page, pages: count }),
  z.strictObject({ op: z.literal('mprotect'), first: page, pages: count, prot: z.enum(['r', 'rw', 'none']) }),
  z.strictObject({ op: z.literal('dontneed'), first: page, pages: count }),
  z.strictObject({ op: z.literal('touch'), page, write: z.boolean().default(false) }),
]);

const builtinDriver = z.enum(['dmirror-fault', 'dmirror-exclusive', 'dmirror-release']);

const cpuActor = z.strictObject({ name, cpu: z.array(cpuOp).min(1) });
const accelActor = z.strictObject({
  name,
  accel: name,
  process: name,
  driver: z.enum(['accel-job', 'accel-open']),
  drain: z.boolean().optional(),
  exit: z.boolean().optional(),
});
const mirrorActor = z.strictObject({
  name,
  device: name,
  driver: z.union([builtinDriver, z.strictObject({ module: z.string().min(1), export: z.string().min(1) })], {
    error: `one of ${builtinDriver.options.join(', ')}, or { module, export } (a user driver)`,
  }),
  bug: z
    .enum(['none', 'no-retry-check', 'read-begin-hoisted', 'update-outside-lock', 'no-reference'])
    .optional(),
  first: page.optional(),
  pages: count.optional(),
  write: z.boolean().optional(),
  waitForReferences: z.boolean().optional(),
});
/** The real dmirror device's fault path (src/devices/dmirror), on one of the scenario's mirrors. */
const dmirrorActor = z.strictObject({
  name,
  dmirror: name,
  fault: z.strictObject({ first: page.default(0), pages: count, write: z.boolean().default(false) }),
});
/** A process using a real accelerator (src/devices/accel) through its driver's step programs. */
const dmaOp = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('open') }),
  z.strictObject({ op: z.literal('dma'), page, pages: count.default(1), write: z.boolean().default(false) }),
  z.strictObject({ op: z.literal('wait') }),
  z.strictObject({ op: z.literal('close') }),
  z.strictObject({ op: z.literal('exit') }),
]);
const dmaAccelActor = z.strictObject({
  name,
  dmaAccel: name,
  process: name.optional(),
  ops: z.array(dmaOp).min(1),
});
/** A GPU thread: accesses to pages of the region through the GPU `gpu`, served by its real driver. */
const gpuActor = z.strictObject({
  name,
  gpu: name,
  accesses: z
    .array(z.strictObject({ page, write: z.boolean().default(false), atomic: z.boolean().default(false) }))
    .min(1),
});
const actor = z.union([cpuActor, gpuActor, dmaAccelActor, accelActor, dmirrorActor, mirrorActor]);

/**
 * The branch an actor object is meant for, by its keys: zod reports a failed union as "Invalid
 * input" for the whole actor, so the loader re-checks the actor against its own branch.
 */
function actorBranch(raw: unknown) {
  if (typeof raw !== 'object' || raw === null) return null;
  if ('cpu' in raw) return cpuActor;
  if ('dmirror' in raw) return dmirrorActor;
  if ('gpu' in raw) return gpuActor;
  if ('dmaAccel' in raw) return dmaAccelActor;
  if ('accel' in raw || 'process' in raw) return accelActor;
  return mirrorActor;
}

const scenarioSchema = z.strictObject({
  name,
  description: z.string().default(''),
  pages: count.max(4096),
  devices: z
    .array(z.strictObject({ name, invalidate: z.enum(['standard', 'ignore-owner']).default('standard') }))
    .default([]),
  /** PASID accelerators behind one IOMMU. */
  accels: z.array(name).default([]),
  /** Mirrors opened on the real dmirror device by the (first) process. */
  dmirrors: z.array(name).default([]),
  /** Real PASID accelerators with their drivers (src/devices/accel), behind the same IOMMU. */
  dmaAccels: z.array(name).default([]),
  /** GPUs with their real driver (src/devices/gpu), mirroring the (first) process's region. */
  gpus: z
    .array(
      z.strictObject({
        name,
        mode: z.enum(['migrate', 'mirror']).default('migrate'),
        memoryPages: count.default(64),
        thrashing: z.enum(['none', 'pin', 'remote']).default('none'),
      }),
    )
    .default([]),
  /** Processes, each with its own written region of `pages` (default: one, `app`). */
  processes: z.array(name).min(1).optional(),
  actors: z.array(actor).min(1).max(200),
  explore: z
    .strictObject({
      strategy: z.enum(['random', 'pct', 'exhaustive']).default('pct'),
      schedules: count.default(2000),
      seed: z.number().int().min(0).default(1),
      depth: count.default(3),
      maxSteps: count.default(2000),
    })
    .prefault({}),
  /** What the scenario is for: the explorer should find a violation (buggy) or not (fixed). */
  expect: z.enum(['violation', 'clean']).optional(),
});

export interface ExploreScenario {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly spec: WorldSpec;
  readonly strategy: Strategy;
  readonly schedules: number;
  readonly seed: number;
  readonly depth: number;
  readonly maxSteps: number;
  readonly expect: 'violation' | 'clean' | null;
}

/** Loads a user driver module's export (a generator function over the driver's environment). */
export type DriverImporter = (module: string, exportName: string) => Promise<DriverProgram>;

export async function loadExploreScenario(
  text: string,
  file: string,
  importDriver: DriverImporter,
): Promise<ExploreScenario> {
  const { doc, lines } = parseYaml(text, file);
  const locator = new Locator(file, doc, lines);
  const at = (path: readonly PropertyKey[], expected: string, got?: string): InputError =>
    locator.error(path as (string | number)[], expected, got);
  const raw = doc.toJS() as { actors?: unknown[] } | null;
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: InputError[] = [];
    for (const issue of parsed.error.issues) {
      const [top, index] = issue.path;
      const branch =
        top === 'actors' && issue.path.length === 2 ? actorBranch(raw?.actors?.[index as number]) : null;
      const inner = branch?.safeParse(raw!.actors![index as number]);
      if (inner !== undefined && !inner.success) {
        for (const i of inner.error.issues) {
          const value = i.path.reduce<unknown>(
            (o, k) => (o as Record<PropertyKey, unknown> | undefined)?.[k],
            raw!.actors![index as number],
          );
          const got = typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
          problems.push(at(['actors', index, ...i.path], i.message, got));
        }
      } else {
        problems.push(at(issue.path, issue.message));
      }
    }
    throw new InputErrorList(problems);
  }
  const s = parsed.data;
  const problems: InputError[] = [];
  s.dmaAccels.forEach((d, i) => {
    if (s.accels.includes(d) || s.dmaAccels.indexOf(d) !== i)
      problems.push(at(['dmaAccels', i], 'a device name no other accelerator has', d));
  });
  const seen = new Set<string>();
  s.actors.forEach((a, i) => {
    if (seen.has(a.name)) problems.push(at(['actors', i, 'name'], 'a name no other actor has', a.name));
    if (a.name === KERNEL_ACTOR) {
      problems.push(
        at(
          ['actors', i, 'name'],
          `a name other than "${KERNEL_ACTOR}" (the kernel's deferred work has it)`,
          a.name,
        ),
      );
    }
    seen.add(a.name);
    if ('dmirror' in a) {
      if (!s.dmirrors.includes(a.dmirror)) {
        problems.push(
          at(
            ['actors', i, 'dmirror'],
            `one of the dmirrors (${s.dmirrors.join(', ') || 'none declared'})`,
            a.dmirror,
          ),
        );
      }
      if (a.fault.first + a.fault.pages > s.pages) {
        problems.push(
          at(
            ['actors', i, 'fault'],
            `pages inside the region (0..${s.pages - 1})`,
            `page ${a.fault.first + a.fault.pages - 1}`,
          ),
        );
      }
      return;
    }
    if ('dmaAccel' in a) {
      problems.push(...checkDmaAccelActor(a, i, s.dmaAccels, s.processes ?? ['app'], s.pages, at));
      return;
    }
    if ('gpu' in a) {
      if (!s.gpus.some((g) => g.name === a.gpu))
        problems.push(
          at(
            ['actors', i, 'gpu'],
            `one of the gpus (${s.gpus.map((g) => g.name).join(', ') || 'none declared'})`,
            a.gpu,
          ),
        );
      a.accesses.forEach((x, j) => {
        if (x.page >= s.pages)
          problems.push(
            at(
              ['actors', i, 'accesses', j],
              `a page inside the region (0..${s.pages - 1})`,
              `page ${x.page}`,
            ),
          );
      });
      return;
    }
    if ('accel' in a) {
      if (!s.accels.includes(a.accel))
        problems.push(
          at(
            ['actors', i, 'accel'],
            `one of the accelerators (${s.accels.join(', ') || 'none declared'})`,
            a.accel,
          ),
        );
      const procs = s.processes ?? ['app'];
      if (!procs.includes(a.process))
        problems.push(at(['actors', i, 'process'], `one of the processes (${procs.join(', ')})`, a.process));
      return;
    }
    if ('device' in a && !s.devices.some((d) => d.name === a.device)) {
      problems.push(
        at(
          ['actors', i, 'device'],
          `one of the devices (${s.devices.map((d) => d.name).join(', ')})`,
          a.device,
        ),
      );
    }
    const ops: readonly { first?: number; pages?: number; page?: number }[] =
      'cpu' in a ? a.cpu : [{ first: a.first, pages: a.pages }];
    ops.forEach((op, j) => {
      const last = (op.first ?? op.page ?? 0) + (op.pages ?? 1) - 1;
      if (last >= s.pages) {
        const path = 'cpu' in a ? ['actors', i, 'cpu', j] : ['actors', i];
        problems.push(at(path, `pages inside the region (0..${s.pages - 1})`, `page ${last}`));
      }
    });
  });
  if (problems.length > 0) throw new InputErrorList(problems);
  const actors: ActorSpec[] = [];
  for (const [i, a] of s.actors.entries()) {
    if ('cpu' in a) {
      actors.push({ name: a.name, cpu: a.cpu as CpuOp[] });
      continue;
    }
    if ('dmirror' in a) {
      actors.push({ name: a.name, dmirror: a.dmirror, fault: a.fault });
      continue;
    }
    if ('dmaAccel' in a) {
      actors.push({ name: a.name, dmaAccel: a.dmaAccel, process: a.process, dmaOps: a.ops as DmaAccelOp[] });
      continue;
    }
    if ('gpu' in a) {
      actors.push({ name: a.name, gpu: a.gpu, accesses: a.accesses });
      continue;
    }
    if ('accel' in a) {
      const accelDriver = a.driver === 'accel-job' ? accelJob({ drain: a.drain, exit: a.exit }) : accelOpen();
      actors.push({ name: a.name, accel: a.accel, process: a.process, accelDriver });
      continue;
    }
    let driver: DriverProgram;
    if (typeof a.driver === 'string') {
      if (a.driver === 'dmirror-fault') {
        driver = mirrorFault({ first: a.first, pages: a.pages, write: a.write, bug: a.bug });
      } else if (a.driver === 'dmirror-exclusive') {
        driver = mirrorExclusive({ first: a.first, pages: a.pages });
      } else {
        driver = mirrorRelease({ waitForReferences: a.waitForReferences });
      }
    } else {
      try {
        driver = await importDriver(a.driver.module, a.driver.export);
      } catch (e) {
        throw at(
          ['actors', i, 'driver'],
          'a module exporting a driver program',
          e instanceof Error ? e.message : String(e),
        );
      }
      if (typeof driver !== 'function') {
        throw at(['actors', i, 'driver', 'export'], 'a generator function (env) => Program', typeof driver);
      }
    }
    actors.push({ name: a.name, device: a.device, driver });
  }
  return {
    name: s.name,
    description: s.description,
    file,
    spec: {
      pages: s.pages,
      accels: s.accels,
      dmirrors: s.dmirrors,
      dmaAccels: s.dmaAccels,
      gpus: s.gpus,
      processes: s.processes,
      devices: s.devices.map((d) => ({
        name: d.name,
        invalidate: d.invalidate === 'ignore-owner' ? ignoreOwnerInvalidate : standardInvalidate,
      })),
      actors,
    },
    strategy: s.explore.strategy,
    schedules: s.explore.schedules,
    seed: s.explore.seed,
    depth: s.explore.depth,
    maxSteps: s.explore.maxSteps,
    expect: s.expect ?? null,
  };
}

/**
 * A process using a real accelerator: a declared device and process, DMA inside the region, and
 * `exit` only last (nothing runs in a process after its exit).
 */
function checkDmaAccelActor(
  a: z.infer<typeof dmaAccelActor>,
  i: number,
  devices: readonly string[],
  processes: readonly string[],
  pages: number,
  at: (path: readonly PropertyKey[], expected: string, got?: string) => InputError,
): InputError[] {
  const problems: InputError[] = [];
  if (!devices.includes(a.dmaAccel)) {
    problems.push(
      at(
        ['actors', i, 'dmaAccel'],
        `one of the dmaAccels (${devices.join(', ') || 'none declared'})`,
        a.dmaAccel,
      ),
    );
  }
  if (a.process !== undefined && !processes.includes(a.process))
    problems.push(at(['actors', i, 'process'], `one of the processes (${processes.join(', ')})`, a.process));
  a.ops.forEach((op, j) => {
    if (op.op === 'dma' && op.page + op.pages > pages) {
      problems.push(
        at(
          ['actors', i, 'ops', j],
          `pages inside the region (0..${pages - 1})`,
          `page ${op.page + op.pages - 1}`,
        ),
      );
    }
    if (op.op === 'exit' && j !== a.ops.length - 1)
      problems.push(
        at(['actors', i, 'ops', j], 'exit as the last operation', `${a.ops.length - 1 - j} after it`),
      );
  });
  return problems;
}
