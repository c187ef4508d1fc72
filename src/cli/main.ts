#!/usr/bin/env node
// The `hetmem` command. Host code only: it parses arguments, runs the model, prints. Exit codes:
// 0 success, 1 expectations failed, 2 bad input.

import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { InputError } from '../sim/errors.js';
import { oracleCheck, oracleReplay } from './oracle.js';
import { runCommand } from './run.js';

function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
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
  .description('run a scenario (without one: the built-in tour of the address-space model)')
  .argument('[scenario]', 'scenario file (scenario files arrive with the simulation engine)')
  .option('--seed <n>', 'random seed', parseSeed, 1)
  .option('--json', 'print the report as JSON')
  .option('--quiet', 'print only the summary')
  .action((scenario, options) => {
    process.exitCode = runCommand(scenario, options);
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

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InputError) {
    process.stderr.write(`hetmem: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
