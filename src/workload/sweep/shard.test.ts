// Shards: the partition is exact, and the index comes from --shard or each batch system's variables.

import { describe, expect, it } from 'vitest';
import { InputError } from '../../sim/errors.js';
import {
  detectShard,
  type ShardEnv,
  inShard,
  parseShardOption,
  type ShardSpec,
  shardOutputName,
} from './shard.js';

function shardOf(env: ShardEnv, options: { shard?: string; shards?: number } = {}): [number, number] | null {
  const s = detectShard(options, env);
  return s === null ? null : [s.index, s.count];
}

function refusal(env: ShardEnv, options: { shard?: string; shards?: number } = {}): string {
  try {
    detectShard(options, env);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('shard partition', () => {
  it('puts every job in exactly one shard, for any shard count', () => {
    const jobs = 103;
    for (let count = 1; count <= 9; count++) {
      const owner = new Array<number>(jobs).fill(-1);
      for (let index = 0; index < count; index++) {
        const shard: ShardSpec = { index, count, source: 'test' };
        for (let j = 0; j < jobs; j++) {
          if (!inShard(j, shard)) continue;
          expect(owner[j], `job ${j} in two shards of ${count}`).toBe(-1);
          owner[j] = index;
        }
      }
      expect(owner.every((o) => o >= 0)).toBe(true);
      // Balanced: shard sizes differ by at most one.
      const sizes = Array.from({ length: count }, (_, k) => owner.filter((o) => o === k).length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('names shard outputs <name>.shard-k-of-N.ndjson; the whole sweep keeps its name', () => {
    const s = (index: number, count: number): ShardSpec => ({ index, count, source: '' });
    expect(shardOutputName('out/gpu.ndjson', s(1, 4))).toBe('out/gpu.shard-1-of-4.ndjson');
    expect(shardOutputName('out/gpu.ndjson', s(0, 1))).toBe('out/gpu.ndjson');
    expect(shardOutputName('out.d/results', s(2, 3))).toBe('out.d/results.shard-2-of-3');
  });
});

describe('--shard i/N', () => {
  it('parses 0-based i of N and refuses the rest', () => {
    expect(parseShardOption('2/8')).toEqual({ index: 2, count: 8, source: '--shard 2/8' });
    expect(parseShardOption('0/1').count).toBe(1);
    for (const bad of ['8/8', '1/0', '-1/4', '1', 'a/b', '1/2/3', ''])
      expect(() => parseShardOption(bad), bad).toThrow(/--shard: expected i\/N with 0 <= i < N/);
  });

  it('wins over the environment, and must agree with --shards', () => {
    expect(shardOf({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }, { shard: '1/2' })).toEqual([
      1, 2,
    ]);
    expect(refusal({}, { shard: '1/2', shards: 3 })).toContain(
      '--shards: expected the same count as --shard 1/2',
    );
  });

  it('is absent when nothing names a shard', () => {
    expect(shardOf({ PATH: '/bin' })).toBeNull();
    expect(refusal({}, { shards: 4 })).toContain('--shards: expected a shard index too');
  });
});

describe('shard index from the environment', () => {
  it('Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX, the count from --shards or HETMEM_SHARDS', () => {
    expect(shardOf({ JOB_COMPLETION_INDEX: '3' }, { shards: 5 })).toEqual([3, 5]);
    expect(shardOf({ JOB_COMPLETION_INDEX: '0', HETMEM_SHARDS: '2' })).toEqual([0, 2]);
    expect(shardOf({ JOB_COMPLETION_INDEX: '1', HETMEM_SHARDS: '9' }, { shards: 2 })).toEqual([1, 2]);
    expect(refusal({ JOB_COMPLETION_INDEX: '1' })).toContain(
      'environment: HETMEM_SHARDS: expected the number of shards (give --shards N or set HETMEM_SHARDS)',
    );
    expect(refusal({ JOB_COMPLETION_INDEX: '5', HETMEM_SHARDS: '5' })).toContain(
      'JOB_COMPLETION_INDEX: expected a shard index below the shard count 5',
    );
    expect(refusal({ JOB_COMPLETION_INDEX: 'x', HETMEM_SHARDS: '5' })).toContain(
      'environment: JOB_COMPLETION_INDEX: expected an integer >= 0, got "x"',
    );
  });

  it('AWS Batch array jobs: AWS_BATCH_JOB_ARRAY_INDEX of AWS_BATCH_JOB_ARRAY_SIZE', () => {
    expect(shardOf({ AWS_BATCH_JOB_ARRAY_INDEX: '7', AWS_BATCH_JOB_ARRAY_SIZE: '10' })).toEqual([7, 10]);
    expect(shardOf({ AWS_BATCH_JOB_ARRAY_INDEX: '0', HETMEM_SHARDS: '3' })).toEqual([0, 3]);
    expect(refusal({ AWS_BATCH_JOB_ARRAY_INDEX: '10', AWS_BATCH_JOB_ARRAY_SIZE: '10' })).toContain(
      'AWS_BATCH_JOB_ARRAY_INDEX: expected a shard index below the shard count 10',
    );
    expect(refusal({ AWS_BATCH_JOB_ARRAY_INDEX: '1' })).toContain(
      'AWS_BATCH_JOB_ARRAY_SIZE: expected the number of shards',
    );
  });

  it('Slurm job arrays: SLURM_ARRAY_TASK_ID counted from SLURM_ARRAY_TASK_MIN in steps', () => {
    // --array=0-3
    expect(
      shardOf({
        SLURM_ARRAY_TASK_ID: '2',
        SLURM_ARRAY_TASK_MIN: '0',
        SLURM_ARRAY_TASK_MAX: '3',
        SLURM_ARRAY_TASK_COUNT: '4',
      }),
    ).toEqual([2, 4]);
    // --array=1-4: task 1 is shard 0, task 4 shard 3
    const oneBased = { SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4', SLURM_ARRAY_TASK_COUNT: '4' };
    expect([1, 2, 3, 4].map((id) => shardOf({ ...oneBased, SLURM_ARRAY_TASK_ID: String(id) }))).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
      [3, 4],
    ]);
    // --array=10-40:10
    const stepped = {
      SLURM_ARRAY_TASK_MIN: '10',
      SLURM_ARRAY_TASK_MAX: '40',
      SLURM_ARRAY_TASK_STEP: '10',
      SLURM_ARRAY_TASK_COUNT: '4',
    };
    expect(shardOf({ ...stepped, SLURM_ARRAY_TASK_ID: '30' })).toEqual([2, 4]);
    // --array=1,4,9: no position in an evenly spaced range, so no silent gaps
    expect(
      refusal({
        SLURM_ARRAY_TASK_ID: '4',
        SLURM_ARRAY_TASK_MIN: '1',
        SLURM_ARRAY_TASK_MAX: '9',
        SLURM_ARRAY_TASK_COUNT: '3',
      }),
    ).toContain(
      'SLURM_ARRAY_TASK_MAX: expected an array of 3 evenly spaced tasks from 1 (use --array=1-3, or --shard i/N)',
    );
    expect(
      refusal({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' }),
    ).toContain('SLURM_ARRAY_TASK_ID: expected a task id from SLURM_ARRAY_TASK_MIN=1 in steps of 1');
    expect(refusal({ SLURM_ARRAY_TASK_ID: '3' })).toContain(
      'SLURM_ARRAY_TASK_COUNT: expected the number of shards',
    );
  });

  it('reads Kubernetes first, then AWS Batch, then Slurm', () => {
    const all = {
      JOB_COMPLETION_INDEX: '1',
      HETMEM_SHARDS: '2',
      AWS_BATCH_JOB_ARRAY_INDEX: '2',
      AWS_BATCH_JOB_ARRAY_SIZE: '3',
      SLURM_ARRAY_TASK_ID: '3',
      SLURM_ARRAY_TASK_COUNT: '4',
    };
    expect(shardOf(all)).toEqual([1, 2]);
    expect(shardOf({ ...all, JOB_COMPLETION_INDEX: undefined })).toEqual([2, 3]);
    expect(
      shardOf({ ...all, JOB_COMPLETION_INDEX: undefined, AWS_BATCH_JOB_ARRAY_INDEX: undefined }),
    ).toEqual([3, 4]);
  });
});
