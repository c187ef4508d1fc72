// Shards: a sweep too big for one machine runs as N independent processes, each taking the jobs
// whose index is congruent to its own index modulo N, so every shard gets a similar mix of the
// grid (neighbouring jobs differ only in the seed, and would otherwise land on one shard). The
// index comes from `--shard i/N` or from the batch system the process runs under:
//
//   Kubernetes Indexed Job   JOB_COMPLETION_INDEX         N from --shards or HETMEM_SHARDS
//   AWS Batch array job      AWS_BATCH_JOB_ARRAY_INDEX    N from AWS_BATCH_JOB_ARRAY_SIZE
//   Slurm job array          SLURM_ARRAY_TASK_ID          N from SLURM_ARRAY_TASK_COUNT; the index
//                            counts from SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP
//
// The environment is passed in (the model core reads no process state).

import { InputError } from '../../sim/errors.js';

/** Shard `index` of `count` (0-based), and where that came from (for messages). */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
  readonly source: string;
}

/** Most shards a sweep may be split into. */
export const MAX_SHARDS = 1_000_000;

export const WHOLE_SWEEP: ShardSpec = { index: 0, count: 1, source: 'no shard given' };

export type ShardEnv = Readonly<Record<string, string | undefined>>;

function cliError(option: string, expected: string, got: string): InputError {
  return new InputError({ file: 'command line', field: option }, expected, got);
}

function envError(name: string, expected: string, got: string | undefined): InputError {
  return new InputError(
    { file: 'environment', field: name },
    expected,
    got === undefined ? 'nothing (unset)' : JSON.stringify(got),
  );
}

function parseCount(text: string): number | null {
  if (!/^\s*[0-9]+\s*$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

function envInt(env: ShardEnv, name: string, min: number): number {
  const raw = env[name];
  const n = raw === undefined ? null : parseCount(raw);
  if (n === null || n < min) throw envError(name, `an integer >= ${min}`, raw);
  return n;
}

/**
 * `--shard i/N`: shard i (0-based) of N.
 *
 * @example parseShardOption('2/8') // { index: 2, count: 8, source: '--shard 2/8' }
 */
export function parseShardOption(text: string): ShardSpec {
  const m = /^\s*([0-9]+)\s*\/\s*([0-9]+)\s*$/.exec(text);
  const expected = 'i/N with 0 <= i < N, e.g. 0/4';
  if (m === null) throw cliError('--shard', expected, JSON.stringify(text));
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS || index >= count)
    throw cliError('--shard', expected, JSON.stringify(text));
  return { index, count, source: `--shard ${index}/${count}` };
}

/** Checks an explicit shard count (`--shards N`). */
export function checkShardCount(n: number, option = '--shards'): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SHARDS)
    throw cliError(option, `an integer from 1 to ${MAX_SHARDS}`, String(n));
  return n;
}

function shard(
  index: number,
  count: number,
  source: string,
  indexVar: string,
  raw: string | undefined,
): ShardSpec {
  if (count < 1 || count > MAX_SHARDS)
    throw envError(source, `a shard count from 1 to ${MAX_SHARDS}`, String(count));
  if (index >= count)
    throw envError(indexVar, `a shard index below the shard count ${count} (from ${source})`, raw);
  return { index, count, source: `${indexVar}=${raw ?? ''}, ${count} shards from ${source}` };
}

/**
 * The shard this process runs: `--shard i/N` if given, else the index a batch system put in the
 * environment (Kubernetes, then AWS Batch, then Slurm), else null (the whole sweep). `shards` is
 * `--shards N`: the count where the environment gives none (Kubernetes), or a check of it.
 */
export function detectShard(options: { shard?: string; shards?: number }, env: ShardEnv): ShardSpec | null {
  const shards = options.shards === undefined ? undefined : checkShardCount(options.shards);
  if (options.shard !== undefined) {
    const s = parseShardOption(options.shard);
    if (shards !== undefined && shards !== s.count)
      throw cliError('--shards', `the same count as --shard ${options.shard}`, String(shards));
    return s;
  }
  // An explicit count, else the system's own, else HETMEM_SHARDS.
  const countFrom = (systemVar: string | null): { count: number; source: string } => {
    if (shards !== undefined) return { count: shards, source: '--shards' };
    if (systemVar !== null && env[systemVar] !== undefined)
      return { count: envInt(env, systemVar, 1), source: systemVar };
    if (env.HETMEM_SHARDS !== undefined)
      return { count: envInt(env, 'HETMEM_SHARDS', 1), source: 'HETMEM_SHARDS' };
    throw envError(
      systemVar ?? 'HETMEM_SHARDS',
      `the number of shards (give --shards N or set HETMEM_SHARDS${systemVar === null ? '' : ` or ${systemVar}`})`,
      undefined,
    );
  };

  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined) {
    const index = envInt(env, 'JOB_COMPLETION_INDEX', 0);
    const { count, source } = countFrom(null);
    return shard(index, count, source, 'JOB_COMPLETION_INDEX', k8s);
  }
  const aws = env.AWS_BATCH_JOB_ARRAY_INDEX;
  if (aws !== undefined) {
    const index = envInt(env, 'AWS_BATCH_JOB_ARRAY_INDEX', 0);
    const { count, source } = countFrom('AWS_BATCH_JOB_ARRAY_SIZE');
    return shard(index, count, source, 'AWS_BATCH_JOB_ARRAY_INDEX', aws);
  }
  const slurm = env.SLURM_ARRAY_TASK_ID;
  if (slurm !== undefined) {
    // `--array=1-16` numbers tasks 1..16, `--array=0-30:2` 0, 2, ..., 30: the shard is the task's
    // position in that range. A list with gaps (`--array=1,4,9`) has no such position: refuse it
    // rather than leave shards unrun.
    const id = envInt(env, 'SLURM_ARRAY_TASK_ID', 0);
    const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : envInt(env, 'SLURM_ARRAY_TASK_MIN', 0);
    const step = env.SLURM_ARRAY_TASK_STEP === undefined ? 1 : envInt(env, 'SLURM_ARRAY_TASK_STEP', 1);
    const { count, source } = countFrom('SLURM_ARRAY_TASK_COUNT');
    if (env.SLURM_ARRAY_TASK_MAX !== undefined) {
      const max = envInt(env, 'SLURM_ARRAY_TASK_MAX', min);
      if ((max - min) % step !== 0 || (max - min) / step + 1 !== count) {
        throw envError(
          'SLURM_ARRAY_TASK_MAX',
          `an array of ${count} evenly spaced tasks from ${min} (use --array=${min}-${min + (count - 1) * step}${step === 1 ? '' : `:${step}`}, or --shard i/N)`,
          env.SLURM_ARRAY_TASK_MAX,
        );
      }
    }
    if (id < min || (id - min) % step !== 0)
      throw envError(
        'SLURM_ARRAY_TASK_ID',
        `a task id from SLURM_ARRAY_TASK_MIN=${min} in steps of ${step}`,
        slurm,
      );
    return shard((id - min) / step, count, source, 'SLURM_ARRAY_TASK_ID', slurm);
  }
  if (shards !== undefined)
    throw cliError(
      '--shards',
      'a shard index too: --shard i/N, or JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID in the environment',
      String(shards),
    );
  return null;
}

/** Whether job `index` belongs to `shard`. */
export function inShard(index: number, shard: ShardSpec): boolean {
  return index % shard.count === shard.index;
}

/**
 * A shard's results file: `<name>.shard-k-of-N.ndjson` for `<name>.ndjson` (the extension, if
 * any, stays last); the whole sweep (one shard) keeps the name.
 *
 * @example shardOutputName('out/gpu.ndjson', { index: 1, count: 4, source: '' }) // 'out/gpu.shard-1-of-4.ndjson'
 */
export function shardOutputName(file: string, shard: ShardSpec): string {
  if (shard.count === 1) return file;
  const tag = `.shard-${shard.index}-of-${shard.count}`;
  const m = /^(.*[^/\\])(\.[A-Za-z0-9]+)$/.exec(file);
  return m === null ? `${file}${tag}` : `${m[1]}${tag}${m[2]}`;
}
