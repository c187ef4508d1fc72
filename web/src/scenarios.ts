// The scenarios the page offers without a file: the built-in default story and the examples shipped
// in examples/, embedded into the bundle at build time (the server serves no other files).

import { DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME } from '../../src/workload/scenario/builtin.js';

export interface BuiltinScenario {
  readonly file: string;
  readonly text: string;
}

const examples = import.meta.glob('../../examples/*.yaml', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

export const BUILTIN_SCENARIOS: readonly BuiltinScenario[] = [
  { file: DEFAULT_SCENARIO_NAME, text: DEFAULT_SCENARIO },
  ...Object.entries(examples)
    .map(([path, text]) => ({ file: path.slice(path.lastIndexOf('/') + 1), text }))
    .filter((s) => s.file !== DEFAULT_SCENARIO_NAME)
    .sort((a, b) => a.file.localeCompare(b.file)),
];
