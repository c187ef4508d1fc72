// A stand-in for the notifier layer that records what the mm layer announces, for tests of the
// choke point: every invalidation (event, range, owner), releases and secondary-TLB flushes.

import type { Mm } from '../src/mm/mm.js';
import { MMU_NOTIFY_EVENT_NAMES, type MmuNotifierHooks, type MmuNotifierRange } from '../src/mm/mmuNotify.js';

export interface Recorded {
  readonly kind: 'start' | 'end' | 'release' | 'tlb';
  readonly event?: string;
  readonly start: number;
  readonly end: number;
  readonly owner?: unknown;
}

export class NotifyRecorder implements MmuNotifierHooks {
  readonly log: Recorded[] = [];

  static attach(mm: Mm): NotifyRecorder {
    const r = new NotifyRecorder();
    mm.notifier = r;
    return r;
  }

  invalidateRangeStart(range: MmuNotifierRange): number {
    this.log.push({
      kind: 'start',
      event: MMU_NOTIFY_EVENT_NAMES[range.event],
      start: range.startVpn,
      end: range.endVpn,
      owner: range.owner,
    });
    return 0;
  }

  invalidateRangeEnd(range: MmuNotifierRange): void {
    this.log.push({
      kind: 'end',
      event: MMU_NOTIFY_EVENT_NAMES[range.event],
      start: range.startVpn,
      end: range.endVpn,
    });
  }

  release(_mm: Mm): void {
    this.log.push({ kind: 'release', start: 0, end: 0 });
  }

  invalidateSecondaryTlbs(_mm: Mm, startVpn: number, endVpn: number): void {
    this.log.push({ kind: 'tlb', start: startVpn, end: endVpn });
  }

  /** The invalidations started, as `event start end` strings relative to `baseVpn`. */
  starts(baseVpn = 0): string[] {
    return this.log
      .filter((r) => r.kind === 'start')
      .map((r) => `${r.event} ${r.start - baseVpn} ${r.end - baseVpn}`);
  }

  clear(): void {
    this.log.length = 0;
  }
}
