// The grace period notifier callbacks run under (the kernel's SRCU domain for mmu notifiers).
// Callbacks run inside read sections; work queued with `callSrcu` (a get/put subscription's
// deferred free) runs only once no read section is open: when the outermost one ends, or at
// `synchronize`. Calling `synchronize` from inside a read section would wait for itself.

import { KernelBug } from '../sim/errors.js';
import type { Kernel } from '../mm/kernel.js';

export class SrcuDomain {
  private depth = 0;
  private readonly pending: (() => void)[] = [];

  /** Runs `fn` as a read-side critical section. */
  read<R>(fn: () => R): R {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0 && this.pending.length > 0) this.runPending();
    }
  }

  get readersActive(): boolean {
    return this.depth > 0;
  }

  /** call_srcu: `fn` runs after every read section open now has ended. */
  callSrcu(fn: () => void): void {
    this.pending.push(fn);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** synchronize_srcu + srcu_barrier: waits for readers, then runs every queued callback. */
  synchronize(): void {
    if (this.depth > 0)
      throw new KernelBug('synchronizing the notifier SRCU from inside a notifier callback');
    this.runPending();
  }

  private runPending(): void {
    while (this.pending.length > 0) this.pending.shift()!();
  }
}

const domains = new WeakMap<Kernel, SrcuDomain>();

/** The mmu-notifier SRCU domain of a kernel. */
export function notifierSrcu(kernel: Kernel): SrcuDomain {
  let d = domains.get(kernel);
  if (d === undefined) {
    const domain = new SrcuDomain();
    domains.set(kernel, domain);
    // A grace period ends once the simulator has nothing else to run: deferred frees happen then.
    kernel.idleHooks.push(() => {
      if (domain.pendingCount === 0 || domain.readersActive) return false;
      domain.synchronize();
      return true;
    });
    d = domain;
  }
  return d;
}
