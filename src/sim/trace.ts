// The event trace recorder: what happened, when, on which track. Disabled recorders cost one branch;
// callers check `enabled` before building arguments. Export formats live in `report/`.

import { LimitError } from './errors.js';

export type TraceArgs = Readonly<Record<string, string | number | boolean>>;

/** One recorded event. `phase` follows the Trace Event format: instant, begin/end, async begin/end. */
export interface TraceEvent {
  readonly tNs: number;
  readonly track: string;
  readonly phase: 'i' | 'B' | 'E' | 'b' | 'e';
  readonly name: string;
  readonly category: string;
  readonly id?: number;
  readonly args?: TraceArgs;
}

export class TraceRecorder {
  readonly events: TraceEvent[] = [];
  enabled: boolean;
  readonly maxEvents: number;

  constructor(options: { enabled?: boolean; maxEvents?: number } = {}) {
    this.enabled = options.enabled ?? false;
    this.maxEvents = options.maxEvents ?? 5_000_000;
  }

  private push(event: TraceEvent): void {
    if (this.events.length >= this.maxEvents) {
      throw new LimitError(
        'trace.maxEvents',
        this.maxEvents,
        `the trace reached its limit of ${this.maxEvents} events; raise it or record less`,
      );
    }
    this.events.push(event);
  }

  instant(tNs: number, track: string, category: string, name: string, args?: TraceArgs): void {
    if (this.enabled) this.push({ tNs, track, phase: 'i', category, name, args });
  }

  begin(tNs: number, track: string, category: string, name: string, args?: TraceArgs): void {
    if (this.enabled) this.push({ tNs, track, phase: 'B', category, name, args });
  }

  end(tNs: number, track: string, category: string, name: string, args?: TraceArgs): void {
    if (this.enabled) this.push({ tNs, track, phase: 'E', category, name, args });
  }

  /** Async spans may overlap on one track; `id` pairs the begin with its end. */
  asyncBegin(tNs: number, track: string, category: string, name: string, id: number, args?: TraceArgs): void {
    if (this.enabled) this.push({ tNs, track, phase: 'b', category, name, id, args });
  }

  asyncEnd(tNs: number, track: string, category: string, name: string, id: number, args?: TraceArgs): void {
    if (this.enabled) this.push({ tNs, track, phase: 'e', category, name, id, args });
  }
}
