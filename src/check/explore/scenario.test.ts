// Explore scenario files: a valid file becomes a world spec with the exploration's defaults and its
// user driver modules imported through the importer; every mistake is an InputError (or a list of
// them) naming the file, the line, the column and the field.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, InputErrorList } from '../../sim/errors.js';
import { replaySchedule } from './explore.js';
import { standardInvalidate } from './mirrorDevice.js';
import { type Program, step } from './program.js';
import { type DriverImporter, loadExploreScenario } from './scenario.js';
import { runSchedule } from './schedule.js';
import { randomChooser } from './strategies.js';
import type { DriverProgram } from './world.js';

const FILE = 'scenarios/race.yaml';

function* userDriver(): Program {
  yield step('user step');
}

/** An importer that knows one module, and records what it was asked for. */
function fakeImporter(calls: string[] = []): DriverImporter {
  return async (module, exportName) => {
    calls.push(`${module}#${exportName}`);
    if (module !== './drivers/mine.mjs') throw new Error(`cannot find module ${module}`);
    const exports: Record<string, unknown> = { mine: userDriver, answer: 42 };
    if (!(exportName in exports)) throw new Error(`${module} has no export ${exportName}`);
    return exports[exportName] as DriverProgram;
  };
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;

/** The InputError a load throws (fails the test when it does not throw one). */
async function loadError(text: string, importer = fakeImporter()): Promise<InputError> {
  try {
    await loadExploreScenario(text, FILE, importer);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('the scenario loaded without an error');
}

const messages = (e: InputError) => (e instanceof InputErrorList ? e.errors : [e]).map((x) => x.message);

const HEADER = ['name: race', 'pages: 4', 'devices:', '  - { name: m0 }', 'actors:'];

describe('loadExploreScenario: valid files', () => {
  it('builds the world spec, with the exploration defaults', async () => {
    const calls: string[] = [];
    const s = await loadExploreScenario(
      lines(
        ...HEADER,
        '  - { name: f0, device: m0, driver: dmirror-fault, bug: no-retry-check, first: 1, pages: 2 }',
        '  - { name: cpu, cpu: [{ op: touch, page: 3 }, { op: mprotect, first: 0, pages: 4, prot: r }] }',
        '  - { name: mine, device: m0, driver: { module: ./drivers/mine.mjs, export: mine } }',
      ),
      FILE,
      fakeImporter(calls),
    );
    expect(s).toMatchObject({
      name: 'race',
      description: '',
      file: FILE,
      strategy: 'pct',
      schedules: 2000,
      seed: 1,
      depth: 3,
      maxSteps: 2000,
      expect: null,
    });
    expect(s.spec.pages).toBe(4);
    expect(s.spec.devices.map((d) => d.name)).toEqual(['m0']);
    expect(s.spec.devices[0].invalidate).toBe(standardInvalidate);
    expect(s.spec.actors.map((a) => a.name)).toEqual(['f0', 'cpu', 'mine']);
    expect(s.spec.actors[1].cpu).toEqual([
      { op: 'touch', page: 3, write: false },
      { op: 'mprotect', first: 0, pages: 4, prot: 'r' },
    ]);
    expect(s.spec.actors[2]).toEqual({ name: 'mine', device: 'm0', driver: userDriver });
    expect(calls).toEqual(['./drivers/mine.mjs#mine']);
    // The built-in driver was given its options: without the retry check it is a protocol violation.
    const r = runSchedule({ ...s.spec, actors: [s.spec.actors[0]] }, randomChooser(1));
    expect(r.violation?.kind).toBe('protocol');
  });

  it('reads the explore block, expect and an ignore-owner device; JSON is YAML too', async () => {
    const s = await loadExploreScenario(
      JSON.stringify({
        name: 'j',
        pages: 2,
        devices: [{ name: 'm0', invalidate: 'ignore-owner' }],
        actors: [{ name: 'x', device: 'm0', driver: 'dmirror-exclusive' }],
        explore: { strategy: 'exhaustive', schedules: 5, seed: 9, depth: 2, maxSteps: 50 },
        expect: 'violation',
      }),
      'j.json',
      fakeImporter(),
    );
    expect(s).toMatchObject({
      strategy: 'exhaustive',
      schedules: 5,
      seed: 9,
      depth: 2,
      maxSteps: 50,
      expect: 'violation',
    });
    expect(s.spec.devices[0].invalidate).toBeTypeOf('function');
    expect(s.spec.devices[0].invalidate).not.toBe(standardInvalidate);
    // The callback that ignores the owner cookie makes the exclusive path livelock.
    expect(runSchedule(s.spec, randomChooser(1)).violation?.kind).toBe('livelock');
  });
});

describe('loadExploreScenario: errors at line and column', () => {
  it('a YAML syntax error', async () => {
    const e = await loadError(lines('name: race', 'pages: 2', 'devices: [ { name: m0 }', 'actors: []'));
    expect(e).toBeInstanceOf(InputErrorList);
    expect(e.message).toMatch(/^scenarios\/race\.yaml:4:1: expected valid YAML or JSON, got /);
    expect(e.location).toMatchObject({ file: FILE, line: 4, column: 1 });
  });

  // The actor schema is a union (CPU thread | accelerator program | driver): the loader re-checks a
  // failing actor against its own branch so the message names the field, the value and the choices.
  it('an unknown built-in driver name is reported at the driver field, with what was expected and got', async () => {
    const e = await loadError(lines(...HEADER, '  - { name: a, device: m0, driver: dmirror-frob }'));
    expect(e.message).toContain('actors[0].driver');
    expect(e.message).toContain('dmirror-fault');
    expect(e.message).toContain('got dmirror-frob');
  });

  it('an actor naming an unknown device', async () => {
    const e = await loadError(lines(...HEADER, '  - { name: a, device: m9, driver: dmirror-fault }'));
    expect(messages(e)).toEqual([
      'scenarios/race.yaml:6:24: actors[0].device: expected one of the devices (m0), got m9',
    ]);
    expect(e.location).toEqual({ file: FILE, line: 6, column: 24, field: 'actors[0].device' });
  });

  it('a CPU operation or a driver range outside the region', async () => {
    const cpuOp = await loadError(
      lines(
        ...HEADER,
        '  - name: c',
        '    cpu:',
        '      - { op: touch, page: 0 }',
        '      - { op: munmap, first: 3, pages: 2 }',
      ),
    );
    expect(messages(cpuOp)).toEqual([
      'scenarios/race.yaml:9:9: actors[0].cpu[1]: expected pages inside the region (0..3), got page 4',
    ]);
    const touch = await loadError(lines(...HEADER, '  - { name: c, cpu: [{ op: touch, page: 4 }] }'));
    expect(touch.message).toBe(
      'scenarios/race.yaml:6:22: actors[0].cpu[0]: expected pages inside the region (0..3), got page 4',
    );
    const drv = await loadError(
      lines(...HEADER, '  - { name: a, device: m0, driver: dmirror-fault, first: 2, pages: 3 }'),
    );
    expect(drv.message).toBe(
      'scenarios/race.yaml:6:5: actors[0]: expected pages inside the region (0..3), got page 4',
    );
  });

  it('a duplicate actor name', async () => {
    const e = await loadError(
      lines(
        ...HEADER,
        '  - { name: a, device: m0, driver: dmirror-fault }',
        '  - { name: a, cpu: [{ op: touch, page: 0 }] }',
      ),
    );
    expect(messages(e)).toEqual([
      'scenarios/race.yaml:7:13: actors[1].name: expected a name no other actor has, got a',
    ]);
  });

  it('unknown fields (strict objects), each reported', async () => {
    const device = await loadError(
      lines(
        'name: race',
        'pages: 4',
        'devices:',
        '  - { name: m0, colour: red }',
        'actors:',
        '  - { name: c, cpu: [{ op: touch, page: 0 }] }',
      ),
    );
    expect(device.message).toMatch(/^scenarios\/race\.yaml:4:5: devices\[0\]: expected .*colour/);
    const op = await loadError(lines(...HEADER, '  - { name: c, cpu: [{ op: touch, page: 0, pages: 2 }] }'));
    expect(op.message).toMatch(/^scenarios\/race\.yaml:6:22: actors\[0\]\.cpu\[0\]: expected .*pages/);
    const two = await loadError(
      lines(
        ...HEADER,
        '  - { name: c, cpu: [{ op: touch, page: 0 }] }',
        'explore:',
        '  strategy: dfs',
        '  budget: 3',
      ),
    );
    expect(two).toBeInstanceOf(InputErrorList);
    expect(messages(two)).toHaveLength(2);
    expect(messages(two)[0]).toMatch(
      /^scenarios\/race\.yaml:8:13: explore\.strategy: expected .*"random"\|"pct"\|"exhaustive"/,
    );
    expect(messages(two)[1]).toMatch(/^scenarios\/race\.yaml:8:3: explore: expected .*budget/);
  });

  it('a missing module export, a module that cannot be found, an export that is not a function', async () => {
    const driverOf = (module: string, exported: string) =>
      lines(
        ...HEADER,
        '  - name: a',
        '    device: m0',
        `    driver: { module: ${module}, export: ${exported} }`,
      );
    const missing = await loadError(driverOf('./drivers/mine.mjs', 'nope'));
    expect(missing.message).toBe(
      'scenarios/race.yaml:8:13: actors[0].driver: expected a module exporting a driver program, got ./drivers/mine.mjs has no export nope',
    );
    const noModule = await loadError(driverOf('./drivers/gone.mjs', 'mine'));
    expect(noModule.message).toBe(
      'scenarios/race.yaml:8:13: actors[0].driver: expected a module exporting a driver program, got cannot find module ./drivers/gone.mjs',
    );
    const notFunction = await loadError(driverOf('./drivers/mine.mjs', 'answer'));
    expect(notFunction.message).toBe(
      'scenarios/race.yaml:8:51: actors[0].driver.export: expected a generator function (env) => Program, got number',
    );
  });

  it('several problems in one file are all reported, in order', async () => {
    const e = await loadError(
      lines(
        ...HEADER,
        '  - { name: a, device: m1, driver: dmirror-fault }',
        '  - { name: a, cpu: [{ op: dontneed, first: 3, pages: 9 }] }',
      ),
    );
    expect(messages(e)).toEqual([
      'scenarios/race.yaml:6:24: actors[0].device: expected one of the devices (m0), got m1',
      'scenarios/race.yaml:7:13: actors[1].name: expected a name no other actor has, got a',
      'scenarios/race.yaml:7:22: actors[1].cpu[0]: expected pages inside the region (0..3), got page 11',
    ]);
  });

  it('a wrong top-level value is reported at its own line and column, wherever it is', async () => {
    const valid: Record<string, string> = {
      name: 'name: race',
      pages: 'pages: 4',
      devices: 'devices: [{ name: m0 }]',
      actors: 'actors: [{ name: c, cpu: [{ op: touch, page: 0 }] }]',
    };
    const bad = [
      'pages: 0',
      'pages: many',
      'pages: 5000',
      'name: 9lives',
      'devices: none',
      'actors: []',
      'expect: sometimes',
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...bad), fc.boolean(), async (wrong, last) => {
        const key = wrong.split(':')[0];
        const others = Object.entries(valid)
          .filter(([k]) => k !== key)
          .map(([, v]) => v);
        const text = lines(...(last ? [...others, wrong] : [wrong, ...others]));
        const e = await loadError(text);
        // The error points at the wrong value: its line, the column after `key: `.
        for (const x of e instanceof InputErrorList ? e.errors : [e]) {
          expect(x.location).toEqual({
            file: FILE,
            line: last ? others.length + 1 : 1,
            column: key.length + 3,
            field: key,
          });
          expect(
            x.message.startsWith(`${FILE}:${x.location.line}:${x.location.column}: ${key}: expected `),
          ).toBe(true);
        }
      }),
      { numRuns: 30 },
    );
  });

  // "kernel" is the name of the kernel's pseudo-actor in schedules (KERNEL_ACTOR), and replays
  // choose actors by name: with a user actor named "kernel", `--schedule` picks whichever of the two
  // is enabled first, so printed schedules do not replay. The name should be refused (or replays
  // should tell the two apart).
  it('an actor named "kernel" is refused, or its schedules replay exactly', async () => {
    const text = lines(
      ...HEADER,
      '  - name: kernel',
      '    cpu: [{ op: munmap, first: 1, pages: 2 }, { op: touch, page: 0, write: true }]',
      '  - { name: f0, device: m0, driver: dmirror-fault }',
    );
    let spec;
    try {
      spec = (await loadExploreScenario(text, FILE, fakeImporter())).spec;
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).message).toContain('actors[0].name');
      return;
    }
    for (let seed = 0; seed < 50; seed++) {
      const r = runSchedule(spec, randomChooser(seed));
      const again = replaySchedule(
        spec,
        r.steps.map((t) => r.names[t.actor]),
      );
      expect(again.steps, `seed ${seed}`).toEqual(r.steps);
    }
  });
});
