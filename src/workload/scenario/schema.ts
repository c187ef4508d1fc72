// The scenario file format, as a zod schema: the machine (RAM, cost profile, IOMMUs, devices),
// processes and the programs they run over time (memory operations, CPU access patterns, fork,
// exit, binding devices, device work as access patterns), and expectations checked at the end.
// `hetmem schema` prints it as JSON Schema so editors complete scenario files. Sizes and times
// are strings with units ("64MiB", "10us") or plain numbers (bytes, ns).

import { z } from 'zod';
import { COST_PROFILES, PROFILES } from '../../sim/costModel.js';
import { SIZE_PATTERN, TIME_PATTERN } from '../units.js';

const name = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a name: a letter or _, then letters, digits, _ . or -');
const size = z.union([
  z.number().int().nonnegative(),
  z.string().regex(SIZE_PATTERN, 'a size such as 4096, "64KiB", "2MiB" or "1GiB"'),
]);
const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(TIME_PATTERN, 'a duration such as 500, "10us", "2ms" or "1s"'),
]);
const count = z.number().int().positive();

export const patternSchema = z.union([
  z.enum(['sequential', 'strided', 'random', 'stencil']),
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('sequential'), passes: count.default(1) }),
    z.strictObject({
      kind: z.literal('strided'),
      stride: count,
      lanes: count.optional(),
      passes: count.default(1),
    }),
    z.strictObject({ kind: z.literal('random'), count, seed: z.number().int().optional() }),
    z.strictObject({ kind: z.literal('stencil'), rowPages: count, iterations: count.default(1) }),
    z.strictObject({ kind: z.literal('trace'), file: z.string().min(1) }),
  ]),
]);

const part = { offset: size.optional(), size: size.optional() };

const ops = {
  mmap: z
    .strictObject({
      op: z.literal('mmap'),
      name,
      size,
      prot: z.enum(['rw', 'r', 'none']).default('rw'),
      shared: z.boolean().default(false),
      hugepage: z.boolean().default(false),
      populate: z.boolean().default(false),
      fd: name
        .optional()
        .describe(
          "map this open descriptor's file instead of anonymous memory (an accelerator's portal): " +
            'always shared; the VMA holds the open file, so it stays open after close until unmapped',
        ),
    })
    .describe('mmap(2) as a named region: anonymous memory (private unless `shared`), or the file of `fd`'),
  munmap: z
    .strictObject({ op: z.literal('munmap'), region: name, ...part })
    .describe('munmap(2) of a region, or of `offset`/`size` inside it'),
  mprotect: z
    .strictObject({
      op: z.literal('mprotect'),
      region: name,
      prot: z.enum(['rw', 'r', 'none']),
      ...part,
    })
    .describe('mprotect(2) of a region (or part of it)'),
  madvise: z
    .strictObject({
      op: z.literal('madvise'),
      region: name,
      advice: z.enum(['dontneed', 'hugepage', 'willneed', 'cold', 'populate-read', 'populate-write']),
      ...part,
    })
    .describe('madvise(2) of a region (or part of it)'),
  touch: z
    .strictObject({
      op: z.literal('touch'),
      region: name,
      write: z.boolean().default(false),
      pattern: patternSchema.default('sequential'),
      ...part,
    })
    .describe('CPU loads or stores over a region, page by page, in a pattern'),
  sleep: z
    .strictObject({ op: z.literal('sleep'), time: duration })
    .describe('the thread does nothing for a while'),
  exit: z
    .strictObject({ op: z.literal('exit') })
    .describe('exit(2): the address space goes, then the files (a program ends with one anyway)'),
  gpu: z
    .strictObject({
      op: z.literal('gpu'),
      device: name,
      region: name,
      write: z.boolean().default(false),
      pattern: patternSchema.default('sequential'),
      wait: z.boolean().default(true),
      /** How the driver resolves this kernel's faults (default: the device's mode). */
      mode: z.enum(['migrate', 'mirror']).optional(),
      /** Atomic accesses: the driver makes pages exclusive to the GPU (make_device_exclusive). */
      atomic: z.boolean().default(false),
      ...part,
    })
    .describe('a GPU kernel over a region: accesses in a pattern; far faults migrate or mirror pages'),
  prefetch: z
    .strictObject({
      op: z.literal('prefetch'),
      device: name,
      region: name,
      to: z.enum(['device', 'host']).default('device'),
      ...part,
    })
    .describe('an explicit migration of a region to GPU memory or back (cudaMemPrefetchAsync)'),
  workload: z
    .strictObject({
      op: z.literal('workload'),
      device: name,
      name: z
        .string()
        .min(1)
        .optional()
        .describe('a built-in GPU workload (backprop, bfs, fdtd, hotspot, nw, pathfinder, srad)'),
      trace: z.string().min(1).optional().describe('a GPU page-access trace file instead of a built-in'),
      params: z.record(z.string(), z.unknown()).default({}).describe("the workload's parameters"),
      region: name.optional().describe("the region the workload's arrays are mapped as (default: its name)"),
      hostInit: z
        .enum(['inputs', 'all', 'none'])
        .default('inputs')
        .describe('which arrays the CPU writes before the first kernel: the inputs, all, or none'),
      seed: z
        .number()
        .int()
        .nonnegative()
        .optional()
        .describe("the seed of the workload's synthetic inputs (default: drawn from the run's seed)"),
      hostSteps: z
        .boolean()
        .default(true)
        .describe("run the program's host code between kernels (false: GPU kernels only, as UVMSmart)"),
      mode: z.enum(['migrate', 'mirror']).optional(),
    })
    .describe(
      'a GPU program: maps its managed arrays, initializes them, runs its kernels and host steps in order',
    ),
  open: z
    .strictObject({ op: z.literal('open'), device: name, as: name.optional() })
    .describe('open the accelerator: its driver binds this address space (SVA) and gets a PASID'),
  close: z
    .strictObject({ op: z.literal('close'), fd: name })
    .describe('close a descriptor: the driver stops the PASID and unbinds'),
  dma: z
    .strictObject({
      op: z.literal('dma'),
      device: name,
      fd: name.optional(),
      region: name,
      write: z.boolean().default(false),
      wait: z.boolean().default(true),
      ...part,
    })
    .describe("accelerator work on a region through the descriptor's PASID"),
  wait: z
    .strictObject({ op: z.literal('wait') })
    .describe("wait until this process's device work has finished"),
};

export type OpInput =
  z.input<(typeof ops)[keyof typeof ops]> | { op: 'fork'; name?: string; program: OpInput[] };

/** A program: operations run in order by one CPU thread. `fork` starts a child with its own program. */
export const opSchema: z.ZodType<unknown> = z.lazy(() =>
  z.discriminatedUnion('op', [
    ...Object.values(ops),
    z
      .strictObject({ op: z.literal('fork'), name: name.optional(), program: z.array(opSchema) })
      .describe('fork(2): a child process with a copy-on-write copy, running its own program'),
  ] as unknown as [z.ZodObject, ...z.ZodObject[]]),
);

const costKeys = Object.keys(PROFILES.pcie4).filter((k) => k !== 'profile');

const costsSchema = z
  .object({ profile: z.enum(COST_PROFILES as [string, ...string[]]).default('pcie4') })
  .catchall(z.number().nonnegative())
  .superRefine((v, ctx) => {
    for (const k of Object.keys(v)) {
      if (k !== 'profile' && !costKeys.includes(k)) {
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `a cost parameter (one of ${costKeys.join(', ')})`,
        });
      }
    }
  });

const iommuSchema = z.strictObject({
  name,
  flavour: z.enum(['vtd', 'smmu', 'amd']).default('vtd'),
  prqDepth: count.optional(),
  hwAccessDirty: z.boolean().optional(),
  asidBits: z.number().int().min(1).max(16).optional(),
  smmuPri: z.boolean().optional(),
  smmuSharedCpuAsid: z.boolean().optional(),
  forceStall: z.boolean().optional(),
});

/** A policy by name, or by name with its parameters (checked against the policy registry). */
const policyChoice = z.union([z.string().min(1), z.looseObject({ name: z.string().min(1) })]);

const gpuSchema = z
  .strictObject({
    kind: z.literal('gpu'),
    name,
    memory: size,
    mode: z.enum(['migrate', 'mirror']).default('migrate'),
    sms: count.optional().describe('streaming multiprocessors (default 28)'),
    clockMHz: z.number().positive().optional().describe('core clock (default 1481)'),
    blocksPerSm: count.optional().describe('thread blocks resident per SM (default 8)'),
    cyclesPerAccess: z.number().positive().optional().describe('SM cycles per page access (default 16)'),
    accessesPerStep: count.optional(),
    tlbEntries: count.optional(),
    tlbWays: count.optional(),
    tlbMissCycles: z.number().positive().optional(),
    faultBufferEntries: count.optional(),
    migrationGranularity: z
      .enum(['4KiB', '64KiB', '2MiB'])
      .default('4KiB')
      .describe('what a fault migrates at least: a page, a 64 KiB big page or a 2 MiB VA block'),
    faultLatency: z
      .enum(['per-pass', 'accounted'])
      .default('per-pass')
      .describe(
        'far-fault latency once per service pass (a driver), or accounted per faulting page (UVMSmart)',
      ),
    policies: z
      .union([
        z.literal('uvm'),
        z.strictObject({
          prefetch: policyChoice.optional(),
          eviction: policyChoice.optional(),
          thrashing: policyChoice.optional(),
          accessCounters: policyChoice.optional(),
        }),
      ])
      .optional()
      .describe('driver policies by kind (a name, or { name, ...params }), or uvm for NVIDIA defaults'),
    prefetchAfterEviction: policyChoice
      .optional()
      .describe(
        'the prefetch policy once memory has filled (default: the same; UVMSmart -hwprefetch_oversub)',
      ),
    /** Interconnect cluster for peer-to-peer access to another GPU's memory (needs machine.p2p). */
    cluster: name.optional(),
  })
  .describe('a GPU with its own memory: far faults migrate pages in (mode migrate) or map them (mirror)');

const accelSchema = z
  .strictObject({
    kind: z.literal('accel'),
    name,
    iommu: name,
    bus: z.enum(['pci', 'platform']).default('pci'),
    maxPasids: z
      .number()
      .int()
      .min(0)
      .max(1 << 20)
      .optional(),
    ats: z.boolean().optional(),
    pri: z.boolean().optional(),
    prgRespPasidRequired: z.boolean().optional(),
    priAllocation: z.number().int().nonnegative().optional(),
    stall: z.boolean().optional(),
    atcEntries: count.optional(),
    pagesPerGroup: count.optional(),
  })
  .describe('a PASID DMA accelerator behind an IOMMU (SVA): ATS, PRI page requests or stall');

const svaSchema = z.strictObject({
  pasidReuse: z.enum(['smallestFree', 'cyclic', 'quarantine', 'exhaustFirst']).optional(),
  pasidQuarantine: duration.optional(),
  pasidQuarantineNeedsAck: z.boolean().optional(),
  exitQuiesceMode: z.enum(['flavour', 'notPresentSuppressed', 'dummyRoot', 'clearReporting']).optional(),
  dummyRootReports: z.boolean().optional(),
  strictUnbind: z.boolean().optional(),
  bondHoldsMm: z
    .enum(['mm_count', 'mm_users'])
    .optional()
    .describe(
      'what an SVA bond keeps of its mm: mm_count, the object only (default, upstream since 2016), or ' +
        'mm_users, the address space, as the first VT-d SVM did: a process that maps the device file ' +
        'and exits without unbinding is then held by a reference cycle (file, bond, mm, VMA, file), ' +
        'the reason the 2016 exit discussion moved bonds to mm_count',
    ),
});

const machineSchema = z.strictObject({
  ram: size.default('4GiB'),
  contentMode: z.enum(['tokens', 'bytes']).default('tokens'),
  thp: z.enum(['never', 'madvise', 'always']).default('madvise'),
  hugetlbPages: z.number().int().nonnegative().default(0),
  /** The 2025 P2P proposal: GPUs of one cluster reach each other's memory in place (default off). */
  p2p: z.boolean().default(false),
  costs: costsSchema.prefault({ profile: 'pcie4' } as never),
  limits: z
    .strictObject({
      maxEvents: count.optional(),
      maxSimTime: duration.optional(),
      maxRetries: count.optional(),
    })
    .prefault({}),
  sampleEvery: duration.default('10us'),
  iommus: z.array(iommuSchema).default([]),
  sva: svaSchema.prefault({}),
  devices: z.array(z.discriminatedUnion('kind', [gpuSchema, accelSchema])).default([]),
});

const expectationSchema = z.union([
  z.strictObject({
    metric: z.string().min(1),
    min: z.number().optional(),
    max: z.number().optional(),
    equals: z.number().optional(),
  }),
  z.strictObject({ noLeaks: z.literal(true) }),
]);

export const scenarioSchema = z.strictObject({
  name: name.describe("the scenario's name (reports, traces)"),
  description: z.string().optional().describe('what the scenario shows, printed before the summary'),
  seed: z
    .number()
    .int()
    .nonnegative()
    .default(1)
    .describe('random seed (random patterns); --seed overrides it'),
  machine: machineSchema
    .prefault({} as never)
    .describe('RAM, content mode, THP, cost profile, limits, IOMMUs and devices'),
  processes: z
    .array(
      z.strictObject({
        name,
        start: duration.default(0).describe('when the process starts'),
        program: z.array(opSchema).describe("operations run in order by the process's thread"),
      }),
    )
    .min(1)
    .describe('the processes and what each does over time'),
  expect: z
    .array(expectationSchema)
    .default([])
    .describe('checked at the end: a metric (summary field or counter) with min/max/equals, or noLeaks'),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type ScenarioParsed = z.output<typeof scenarioSchema>;
