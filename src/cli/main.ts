#!/usr/bin/env node
// The `hetmem` command. Host code only: it parses arguments, runs the model, prints. Exit codes:
// 0 success, 1 expectations failed, 2 bad input, 3 a limit of the run was reached.

import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { InputError, LimitError } from '../sim/errors.js';
import { oracleCheck, oracleReplay } from './oracle.js';
import { reproduceCommand } from './reproduce.js';
import { runCommand } from './run.js';
import { examplesCommand, schemaCommand, validateCommand } from './scenarioCommands.js';
import { registerServeCommand } from './serve.js';
import { exploreWatched } from './explore.js';
import { sweepCommand, sweepMergeCommand } from './sweep.js';

function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
  }
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) {
    throw new InvalidArgumentError('expected an integer from 1 to 1000000');
  }
  return n;
}

const program = new Command()
  .name('hetmem')
  .description('An executable model of Linux heterogeneous memory management')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command('run')
  .description(
    'run a scenario (without one: the built-in story of a GPU and an accelerator sharing a process)',
  )
  .argument('[scenario]', 'scenario file (YAML or JSON); see `hetmem examples`')
  .option('--seed <n>', "random seed (default: the scenario's)", parseSeed)
  .option('--json', 'print the summary as JSON')
  .option('--quiet', 'print one line')
  .option('--trace <file>', 'write a Chrome Trace Event JSON file (open it in Perfetto)')
  .option('--report <file>', 'write a standalone HTML report with plots')
  .action(async (scenario, options) => {
    process.exitCode = await runCommand(scenario, options);
  });

program
  .command('validate')
  .description('check scenario files without running them')
  .argument('<files...>', 'scenario files')
  .action((files) => {
    process.exitCode = validateCommand(files);
  });

program
  .command('schema')
  .description('print the JSON Schema of scenario files (for editor completion)')
  .action(() => {
    process.exitCode = schemaCommand();
  });

program
  .command('examples')
  .description('list the example scenarios, or print one')
  .argument('[name]', 'example to print')
  .action((name) => {
    process.exitCode = examplesCommand(name);
  });

const sweep = program
  .command('sweep')
  .description(
    "run every combination of a grid file's parameters and seeds; results as NDJSON, resumable, shardable",
  )
  .argument('<grid>', 'grid file (YAML): scenario, seeds, parameters, output; see README "Sweeps"')
  .option('--workers <n>', 'worker threads (default: available parallelism)', parsePositive)
  .option(
    '--shard <i/N>',
    'run shard i of N (0-based): the jobs with index % N == i (default: from JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID)',
  )
  .option(
    '--shards <n>',
    'shard count for an index from the environment (Kubernetes; or HETMEM_SHARDS)',
    parsePositive,
  )
  .option('-o, --output <file>', "results file (default: the grid's output, else <grid>.ndjson beside it)")
  .option('--list', 'print the jobs (index, hash, seed, params) as NDJSON instead of running them')
  .action(async (grid, options) => {
    process.exitCode = await sweepCommand(grid, options);
  });

sweep
  .command('merge')
  .description('combine shard results: one line per job (by content hash), sorted by job index')
  .argument('<out>', 'merged results file')
  .argument('<inputs...>', 'results files of the shards')
  .option('--grid <file>', 'the grid: report jobs missing from the inputs (exit 1 if any)')
  .action(async (out, inputs, options) => {
    process.exitCode = await sweepMergeCommand(out, inputs, options);
  });

program
  .command('reproduce')
  .description(
    "reproduce a published study and print our figures beside the paper's (see docs/REPRODUCTIONS.md)",
  )
  .argument(
    '<study>',
    'the study: ganguly2019 (prefetchers and eviction in CPU-GPU unified memory, ISCA 2019)',
  )
  .option('--workers <n>', 'worker threads (default: available parallelism)', parsePositive)
  .option('--benchmarks <list>', 'comma-separated subset of the benchmarks')
  .option(
    '--configs <list>',
    'comma-separated subset of the configurations (od, rp, slp, tbnp, lru4k-od, lru2m-tbnp, tbne-tbnp)',
  )
  .option('--json', 'print the rows as JSON')
  .action(async (study, options) => {
    process.exitCode = await reproduceCommand(study, options);
  });

const oracle = program
  .command('oracle')
  .description('replay operation sequences recorded on a real Linux kernel');

oracle
  .command('replay')
  .description('replay FILE.ops (../shared/oracle/FORMAT.md) and print one outcome line per operation')
  .argument('<file>', 'operation sequence')
  .action((file) => {
    process.exitCode = oracleReplay(file);
  });

oracle
  .command('check')
  .description('replay every NAME.ops of a folder and compare with NAME.out line by line')
  .argument('<dir>', 'folder of NAME.ops / NAME.out pairs')
  .option('-v, --verbose', 'show matches and the first mismatching lines')
  .option('--json', 'print the comparison as JSON')
  .action((dir, options) => {
    process.exitCode = oracleCheck(dir, options);
  });

registerServeCommand(program);

program
  .command('explore')
  .description('run driver programs under many interleavings and report the first invariant broken')
  .argument('<scenario>', 'an explore scenario file (examples/explore/*.yaml)')
  .option('--strategy <name>', "random, pct or exhaustive (default: the scenario's, else pct)")
  .option('--schedules <n>', "most schedules to run (default: the scenario's, else 2000)")
  .option('--time <duration>', 'stop after this long (e.g. 30s)')
  .option('--seed <n>', 'seed of the exploration')
  .option('--depth <n>', 'PCT bug depth (default 3)')
  .option('--replay <seed>', 'run only the schedule with this seed (printed with a violation)')
  .option('--schedule <actors>', 'run only this schedule: actor names, comma-separated')
  .option('--trace <file>', "where to write the failing schedule's trace (default NAME.failure.json)")
  .option('--no-shrink', 'report the failing schedule as found')
  .option('--json', 'print the result as JSON')
  .option('--step-timeout <seconds>', 'a driver step running longer than this is a driver error', '5')
  .action(async (scenario, options) => {
    const seconds = Number(options.stepTimeout);
    if (!(seconds > 0)) {
      throw new InputError(
        { file: '(command line)', field: '--step-timeout' },
        'a number of seconds > 0',
        options.stepTimeout,
      );
    }
    process.exitCode = await exploreWatched(scenario, options, seconds * 1000);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InputError) {
    process.stderr.write(`hetmem: ${error.message.replaceAll('\n', '\nhetmem: ')}\n`);
    process.exit(2);
  }
  if (error instanceof LimitError) {
    process.stderr.write(`hetmem: ${error.message} (limit ${error.limit}; raise it in machine.limits)\n`);
    process.exit(3);
  }
  throw error;
}
