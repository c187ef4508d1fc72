// `hetmem validate`, `hetmem schema` and `hetmem examples`: checking scenario files without running
// them, printing the JSON Schema editors use for completion, and the shipped example scenarios.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { InputError } from '../sim/errors.js';
import { parseScenarioText } from '../workload/scenario/load.js';
import { scenarioSchema } from '../workload/scenario/schema.js';
import { readScenario } from './run.js';

/** validate FILE...: every file checked; exit 2 when any has a problem (all problems printed). */
export function validateCommand(files: readonly string[]): number {
  let bad = 0;
  for (const file of files) {
    try {
      const s = readScenario(file);
      const ops = s.processes.reduce((n, p) => n + p.program.length, 0);
      process.stdout.write(
        `${file}: ok (${s.processes.length} process(es), ${ops} operation(s), ${s.machine.devices.length} device(s))\n`,
      );
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      bad++;
      process.stderr.write(`hetmem: ${e.message.replaceAll('\n', '\nhetmem: ')}\n`);
    }
  }
  return bad === 0 ? 0 : 2;
}

/** The scenario format as JSON Schema (draft 2020-12), for editors and other tools. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { ...schema, $id: 'https://hetmem.dev/scenario.schema.json', title: 'hetmem scenario' };
}

export function schemaCommand(): number {
  process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
  return 0;
}

/** The folder of shipped examples (beside `src/` or `dist/`). */
export function examplesDir(): string {
  return fileURLToPath(new URL('../../examples/', import.meta.url));
}

/** examples: the list with descriptions; examples NAME: that file on stdout. */
export function examplesCommand(name: string | undefined): number {
  const dir = examplesDir();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  if (name === undefined) {
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      const desc = (parseScenarioText(text, f) as { description?: string }).description ?? '';
      process.stdout.write(`${f.replace(/\.yaml$/, '').padEnd(28)} ${desc.trim()}\n`);
    }
    process.stdout.write(
      `\nPrint one with: hetmem examples NAME > NAME.yaml; run it with: hetmem run NAME.yaml\n`,
    );
    return 0;
  }
  const file = files.find((f) => f === name || f === `${name}.yaml`);
  if (file === undefined) {
    throw new InputError(
      { file: name },
      `the name of an example (${files.map((f) => f.replace(/\.yaml$/, '')).join(', ')})`,
    );
  }
  process.stdout.write(readFileSync(join(dir, file), 'utf8'));
  return 0;
}
