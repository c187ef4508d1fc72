// What the explorer reports: an invariant the run broke, or a driver that misbehaved.

export type ViolationKind =
  | 'stale-mirror'
  | 'freed-frame'
  | 'stale-permission'
  | 'protocol'
  | 'lock'
  | 'deadlock'
  | 'livelock'
  | 'use-after-free'
  | 'audit'
  | 'pasid-reuse'
  | 'driver-error';

/** Thrown by a step (or found after one): the invariant and what broke it. */
export class Violation extends Error {
  constructor(
    readonly kind: ViolationKind,
    message: string,
  ) {
    super(message);
    this.name = 'Violation';
  }
}
