// The policy registry: the names of every kind, the checks of a scenario's choice (unknown names
// listed with the valid ones, parameters out of range reported at their path), createPolicy's
// RangeError, and a user's own policy registered as the docs show.

import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../sim/rng.js';
import { VA_BLOCK_PAGES, VaBlock } from '../vaBlock.js';
import { FakeGpuMemory } from '../../../../test/fakeGpuMemory.js';
import {
  checkPolicyChoice,
  createPolicy,
  DEFAULT_POLICIES,
  POLICY_KINDS,
  type PolicyChoice,
  policyDefinitions,
  type PolicyKind,
  policyNames,
  registerPolicy,
  UVM_POLICIES,
} from './registry.js';
import type { PolicyDefinition, PrefetchPolicy } from './types.js';

const memory = new FakeGpuMemory(16);
const context = { memory, nowNs: () => 0 };

const BUILTIN: Record<PolicyKind, string[]> = {
  prefetch: ['none', 'random', 'sequential-local', 'tree'],
  eviction: ['lru-4k', 'lru-2m', 'tree'],
  thrashing: ['none', 'pin', 'remote'],
  accessCounters: ['none', 'migrate'],
};

describe('policy names', () => {
  it('lists every kind and every built-in policy of it, in order', () => {
    expect(POLICY_KINDS).toEqual(['prefetch', 'eviction', 'thrashing', 'accessCounters']);
    for (const kind of POLICY_KINDS)
      expect(policyNames(kind).slice(0, BUILTIN[kind].length)).toEqual(BUILTIN[kind]);
  });

  it('makes every policy with its default parameters, under its own name', () => {
    for (const kind of POLICY_KINDS)
      for (const def of policyDefinitions(kind)) {
        expect(def.description.length).toBeGreaterThan(0);
        expect(checkPolicyChoice(kind, def.name)).toEqual([]);
        expect((createPolicy(kind, def.name, context) as { name: string }).name).toBe(def.name);
      }
  });

  it('accepts the default and the UVM driver choices', () => {
    for (const kind of POLICY_KINDS) {
      expect(checkPolicyChoice(kind, DEFAULT_POLICIES[kind])).toEqual([]);
      expect(checkPolicyChoice(kind, UVM_POLICIES[kind])).toEqual([]);
    }
  });
});

describe('checkPolicyChoice', () => {
  it('lists every valid name for an unknown name', () => {
    for (const kind of POLICY_KINDS) {
      const problems = checkPolicyChoice(kind, 'lfu');
      expect(problems).toHaveLength(1);
      expect(problems[0].path).toEqual([]);
      for (const name of BUILTIN[kind]) expect(problems[0].message).toContain(name);
    }
    // What was found is the caller's to show (a scenario error says `got "lru-4k "`).
    expect(checkPolicyChoice('eviction', 'lru-4k ')[0].message).toBe(
      'an eviction policy: one of lru-4k, lru-2m, tree',
    );
  });

  it('points at `name` when the choice is an object', () => {
    expect(checkPolicyChoice('prefetch', { name: 'bogus', threshold: 3 })).toEqual([
      { path: ['name'], message: 'a prefetch policy: one of none, random, sequential-local, tree' },
    ]);
    expect(checkPolicyChoice('prefetch', { name: 3 } as unknown as PolicyChoice)[0].path).toEqual(['name']);
  });

  it('reports a choice that is neither a name nor an object instead of throwing', () => {
    for (const bad of [null, 7, true, undefined]) {
      const problems = checkPolicyChoice('thrashing', bad as unknown as PolicyChoice);
      expect(problems).toHaveLength(1);
      expect(problems[0].message).toContain('one of none, pin, remote');
    }
  });

  it('reports a parameter out of range at its path', () => {
    const cases: [PolicyKind, PolicyChoice, string][] = [
      ['prefetch', { name: 'tree', threshold: 0 }, 'threshold'],
      ['prefetch', { name: 'tree', threshold: 101 }, 'threshold'],
      ['prefetch', { name: 'tree', threshold: 50.5 }, 'threshold'],
      ['prefetch', { name: 'random', pages: 0 }, 'pages'],
      ['prefetch', { name: 'sequential-local', pages: 24 }, 'pages'],
      ['eviction', { name: 'tree', threshold: 0 }, 'threshold'],
      ['thrashing', { name: 'pin', threshold: 8 }, 'threshold'],
      ['thrashing', { name: 'remote', lapseUs: 0 }, 'lapseUs'],
      ['thrashing', { name: 'pin', pinMs: -1 }, 'pinMs'],
      ['accessCounters', { name: 'migrate', threshold: 65_536 }, 'threshold'],
      ['accessCounters', { name: 'migrate', granularity: '1MiB' }, 'granularity'],
    ];
    for (const [kind, choice, param] of cases) {
      const problems = checkPolicyChoice(kind, choice);
      expect(problems).toHaveLength(1);
      expect(problems[0].path).toEqual([param]);
      expect(problems[0].message).toContain(`${kind} policy ${(choice as { name: string }).name}: `);
    }
    expect(checkPolicyChoice('prefetch', { name: 'sequential-local', pages: 24 })[0].message).toContain(
      'a power of two',
    );
  });

  it('accepts parameters in range', () => {
    expect(checkPolicyChoice('prefetch', { name: 'tree', threshold: 100 })).toEqual([]);
    expect(checkPolicyChoice('thrashing', { name: 'pin', threshold: 7, pinMs: 0 })).toEqual([]);
    expect(checkPolicyChoice('accessCounters', { name: 'migrate', granularity: '64KiB' })).toEqual([]);
  });

  it('rejects an unknown parameter, naming it', () => {
    const problems = checkPolicyChoice('prefetch', { name: 'none', pages: 4 });
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toContain('prefetch policy none');
    expect(problems[0].message).toContain('pages');
    expect(checkPolicyChoice('thrashing', { name: 'pin', lapse: 500 })[0].message).toContain('lapse');
  });

  it('reports every problem of a choice', () => {
    expect(
      checkPolicyChoice('thrashing', { name: 'pin', threshold: 0, epochMs: 0 }).map((p) => p.path),
    ).toEqual([['threshold'], ['epochMs']]);
  });
});

describe('createPolicy', () => {
  it('throws a RangeError carrying the problems and their paths', () => {
    expect(() => createPolicy('prefetch', { name: 'tree', threshold: 0 }, context)).toThrow(RangeError);
    expect(() => createPolicy('prefetch', { name: 'tree', threshold: 0 }, context)).toThrow(
      /^threshold: prefetch policy tree: .*\(got \{"name":"tree","threshold":0\}\)$/,
    );
    expect(() => createPolicy('eviction', 'mru', context)).toThrow(
      'an eviction policy: one of lru-4k, lru-2m, tree (got "mru")',
    );
  });

  it('passes the parameters, defaults filled in, to the policy', () => {
    const policy = createPolicy('accessCounters', { name: 'migrate', granularity: '64KiB' }, context);
    expect(policy.regionPages).toBe(16);
    for (let k = 0; k < 255; k++) expect(policy.remoteAccess(0, 0)).toBe(-1);
    expect(policy.remoteAccess(0, 0)).toBe(0);
  });
});

describe('registerPolicy', () => {
  /** A user's prefetcher, as docs/POLICIES.md would show: the `pages` pages after each fault. */
  const nextPage: PolicyDefinition<PrefetchPolicy, { pages: number }> = {
    name: 'next-page',
    description: 'each fault also pulls the `pages` pages after it',
    params: z.strictObject({ pages: z.number().int().min(1).max(16).default(1) }),
    create: ({ pages }) => ({
      name: 'next-page',
      prefetch({ faulted, select, endIndex }) {
        for (let i = endIndex - 1; i >= 0; i--)
          if (faulted[i]) for (let j = i + 1; j <= i + pages && j < endIndex; j++) select[j] = 1;
      },
    }),
  };

  it('makes a user policy selectable by name, with its parameters checked', () => {
    registerPolicy('prefetch', nextPage);
    expect(policyNames('prefetch')).toEqual([...BUILTIN.prefetch, 'next-page']);
    expect(checkPolicyChoice('prefetch', 'next-page')).toEqual([]);
    expect(checkPolicyChoice('prefetch', 'bogus')[0].message).toContain('next-page');
    expect(checkPolicyChoice('prefetch', { name: 'next-page', pages: 17 })[0].path).toEqual(['pages']);

    const policy = createPolicy('prefetch', { name: 'next-page', pages: 2 }, context);
    const faulted = new Uint8Array(VA_BLOCK_PAGES);
    const select = new Uint8Array(VA_BLOCK_PAGES);
    faulted[10] = select[10] = 1;
    faulted[99] = select[99] = 1;
    policy.prefetch({
      block: new VaBlock(0, 0),
      firstIndex: 0,
      endIndex: 100,
      faulted,
      select,
      rng: new Rng(1),
    });
    expect([...select.keys()].filter((i) => select[i])).toEqual([10, 11, 12, 99]);
  });

  it('refuses a name that exists, built-in or not', () => {
    expect(() => registerPolicy('prefetch', { ...nextPage })).toThrow(RangeError);
    expect(() => registerPolicy('prefetch', { ...nextPage, name: 'tree' })).toThrow(
      'a prefetch policy named tree exists',
    );
    // The same name is free in another kind.
    expect(policyNames('eviction')).not.toContain('next-page');
  });
});
