// The policy registry: every policy by kind and name, the checks that turn a scenario's choice
// (a name, or a name with parameters) into policy objects, and `registerPolicy` for policies a
// user writes. An unknown name or a parameter out of range is reported with the valid choices.

import type { z } from 'zod';
import { ACCESS_COUNTER_POLICIES } from './accessCounters.js';
import { EVICTION_POLICIES } from './eviction.js';
import { PREFETCH_POLICIES } from './prefetch.js';
import { THRASHING_POLICIES } from './thrashing.js';
import type {
  AccessCounterPolicy,
  EvictionPolicy,
  PolicyContext,
  PolicyDefinition,
  PrefetchPolicy,
  ThrashingPolicy,
} from './types.js';

export interface PolicyTypes {
  prefetch: PrefetchPolicy;
  eviction: EvictionPolicy;
  thrashing: ThrashingPolicy;
  accessCounters: AccessCounterPolicy;
}

export type PolicyKind = keyof PolicyTypes;

export const POLICY_KINDS: readonly PolicyKind[] = ['prefetch', 'eviction', 'thrashing', 'accessCounters'];

/** A policy by name, or by name with parameters: `tree` or `{ name: tree, threshold: 60 }`. */
export type PolicyChoice = string | { readonly name: string; readonly [param: string]: unknown };

export type PolicyChoices = { readonly [K in PolicyKind]?: PolicyChoice };

/** A plain on-demand driver: what a GPU does unless told otherwise. */
export const DEFAULT_POLICIES: Readonly<Record<PolicyKind, PolicyChoice>> = {
  prefetch: 'none',
  eviction: 'lru-4k',
  thrashing: 'none',
  accessCounters: 'none',
};

/** NVIDIA's open UVM driver defaults (access-counter migration is off on non-ATS systems). */
export const UVM_POLICIES: Readonly<Record<PolicyKind, PolicyChoice>> = {
  prefetch: 'tree',
  eviction: 'lru-2m',
  thrashing: 'pin',
  accessCounters: 'none',
};

type AnyDefinition = PolicyDefinition<unknown, never>;

const registry: Record<PolicyKind, Map<string, AnyDefinition>> = {
  prefetch: new Map(),
  eviction: new Map(),
  thrashing: new Map(),
  accessCounters: new Map(),
};
for (const d of PREFETCH_POLICIES) registry.prefetch.set(d.name, d as AnyDefinition);
for (const d of EVICTION_POLICIES) registry.eviction.set(d.name, d as AnyDefinition);
for (const d of THRASHING_POLICIES) registry.thrashing.set(d.name, d as AnyDefinition);
for (const d of ACCESS_COUNTER_POLICIES) registry.accessCounters.set(d.name, d as AnyDefinition);

/**
 * Adds a policy of `kind` (a user's own). Its name must be new.
 *
 * @example registerPolicy('prefetch', { name: 'next-page', description: '...', params: z.strictObject({}),
 *   create: () => ({ name: 'next-page', prefetch: (r) => { ... } }) });
 */
export function registerPolicy<K extends PolicyKind, P>(
  kind: K,
  definition: PolicyDefinition<PolicyTypes[K], P>,
): void {
  const map = registry[kind];
  if (map.has(definition.name)) throw new RangeError(`${aPolicy(kind)} named ${definition.name} exists`);
  map.set(definition.name, definition as unknown as AnyDefinition);
}

/** Names of the policies of one kind, in registration order. */
export function policyNames(kind: PolicyKind): string[] {
  return [...registry[kind].keys()];
}

export function policyDefinitions(kind: PolicyKind): readonly AnyDefinition[] {
  return [...registry[kind].values()];
}

/** A problem with a choice: where inside the choice, and what was expected. */
export interface PolicyProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** "a prefetch policy", "an eviction policy". */
function aPolicy(kind: PolicyKind): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} policy`;
}

/** A choice read from a file may be anything: only an object has parameters. */
function isObjectChoice(choice: unknown): choice is Record<string, unknown> {
  return typeof choice === 'object' && choice !== null && !Array.isArray(choice);
}

function splitChoice(choice: PolicyChoice): { name: unknown; params: Record<string, unknown> } {
  if (!isObjectChoice(choice)) return { name: choice, params: {} };
  const { name, ...params } = choice;
  return { name, params };
}

/** What is wrong with a choice of a `kind` policy (nothing: an empty list). */
export function checkPolicyChoice(kind: PolicyKind, choice: PolicyChoice): PolicyProblem[] {
  const { name, params } = splitChoice(choice);
  const def = typeof name === 'string' ? registry[kind].get(name) : undefined;
  if (def === undefined) {
    const at = isObjectChoice(choice) ? ['name'] : [];
    return [
      {
        path: at,
        message: `${aPolicy(kind)}: one of ${policyNames(kind).join(', ')}`,
      },
    ];
  }
  const r = (def.params as z.ZodType).safeParse(params);
  if (r.success) return [];
  return r.error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: `${kind} policy ${def.name}: ${i.message}`,
  }));
}

/** Makes the policy a choice names, with its parameters validated (RangeError listing the problems). */
export function createPolicy<K extends PolicyKind>(
  kind: K,
  choice: PolicyChoice,
  context: PolicyContext,
): PolicyTypes[K] {
  const problems = checkPolicyChoice(kind, choice);
  if (problems.length > 0) {
    throw new RangeError(
      `${problems.map((p) => (p.path.length > 0 ? `${p.path.join('.')}: ${p.message}` : p.message)).join('; ')} (got ${JSON.stringify(choice) ?? 'nothing'})`,
    );
  }
  const { name, params } = splitChoice(choice);
  const def = registry[kind].get(name as string)!;
  const parsed = (def.params as z.ZodType).parse(params) as never;
  return def.create(parsed, context) as PolicyTypes[K];
}
