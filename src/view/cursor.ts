// Plays a recording: the page states of every process and the mirror states of every (GPU,
// process) pair at any frame. Forward moves apply the frames' deltas; backward moves restore the
// nearest checkpoint at or before the target and replay from there. Checkpoints are taken as the
// cursor first moves forward, one per "a whole map's worth" of deltas, so seeking anywhere costs at
// most one copy of the arrays plus one map's worth of deltas, and memory stays proportional to the
// deltas recorded.

import type { DeltaLog, PasidSnapshot, Recording } from './recording.js';

interface Checkpoint {
  readonly frame: number;
  readonly pages: Uint8Array[];
  readonly mirrors: Uint8Array[];
}

/** One change of a page: from `frame` on, the page was in `state`. */
export interface PageChange {
  readonly frame: number;
  readonly tNs: number;
  readonly state: number;
  /** The actor whose event made the change ('' for the initial state). */
  readonly actor: string;
}

export class RecordingCursor {
  /** Page states of each process at `frame` (index as in `recording.processes`). */
  readonly pages: Uint8Array[];
  /**
   * Mirror states at `frame`: `mirrors[slot * processes + process]` for each GPU slot (null for
   * devices that keep no mirror).
   */
  readonly mirrors: (Uint8Array | null)[];
  private at = -1;
  private readonly checkpoints: Checkpoint[] = [];
  /** Deltas applied since the last checkpoint was taken. */
  private sinceCheckpoint = 0;
  private readonly checkpointAfter: number;

  constructor(readonly recording: Recording) {
    this.pages = recording.processes.map((p) => new Uint8Array(p.pages));
    this.mirrors = [];
    for (const d of recording.devices) {
      for (const p of recording.processes)
        this.mirrors.push(d.kind === 'gpu' ? new Uint8Array(p.pages) : null);
    }
    const totalPages = recording.processes.reduce((n, p) => n + p.pages, 0) * (1 + recording.devices.length);
    this.checkpointAfter = Math.max(65_536, totalPages);
    this.checkpoints.push(this.snapshot(-1));
    if (recording.frames > 0) this.seek(0);
  }

  /** The frame the arrays show. */
  get frame(): number {
    return this.at;
  }

  get timeNs(): number {
    return this.recording.frameTimeNs[this.at];
  }

  /** Moves to `frame` (clamped to the recording). */
  seek(frame: number): void {
    const target = Math.max(0, Math.min(this.recording.frames - 1, Math.floor(frame)));
    if (target < this.at) {
      let c = this.checkpoints[0];
      for (const k of this.checkpoints) if (k.frame <= target) c = k;
      this.restore(c);
    }
    const frames = this.recording.frames;
    while (this.at < target && this.at + 1 < frames) {
      this.at++;
      const applied =
        apply(this.recording.pages, this.at, this.pages) +
        apply(this.recording.mirrors, this.at, this.mirrors);
      this.sinceCheckpoint += applied;
      const last = this.checkpoints[this.checkpoints.length - 1];
      if (this.sinceCheckpoint >= this.checkpointAfter && this.at > last.frame) {
        this.checkpoints.push(this.snapshot(this.at));
        this.sinceCheckpoint = 0;
      }
    }
  }

  /** The PASID table of each IOMMU device at the cursor's frame (devices never used are absent). */
  pasidTables(): PasidSnapshot[] {
    const latest = new Map<string, PasidSnapshot>();
    for (const s of this.recording.pasidTables) {
      if (s.frame > this.at) break;
      latest.set(`${s.iommu}/${s.device}`, s);
    }
    return [...latest.values()];
  }

  /** Every change of `page` of process `process` over the whole recording, in order. */
  pageHistory(process: number, page: number): PageChange[] {
    return history(this.recording, this.recording.pages, process, page);
  }

  /** Every change of a GPU's mirror of `page` (`target` = slot * processes + process). */
  mirrorHistory(target: number, page: number): PageChange[] {
    return history(this.recording, this.recording.mirrors, target, page);
  }

  /** The first frame after `frame` with a page change of `process` whose state passes `test`, or -1. */
  nextChange(frame: number, test: (state: number, process: number) => boolean): number {
    const log = this.recording.pages;
    for (let f = frame + 1; f < this.recording.frames; f++) {
      for (let i = log.frameStart[f]; i < log.frameStart[f + 1]; i++) {
        if (test(log.state[i], log.target[i])) return f;
      }
    }
    return -1;
  }

  private snapshot(frame: number): Checkpoint {
    return {
      frame,
      pages: this.pages.map((a) => a.slice()),
      mirrors: this.mirrors.map((a) => (a === null ? new Uint8Array(0) : a.slice())),
    };
  }

  private restore(c: Checkpoint): void {
    for (let i = 0; i < this.pages.length; i++) this.pages[i].set(c.pages[i]);
    for (let i = 0; i < this.mirrors.length; i++) this.mirrors[i]?.set(c.mirrors[i]);
    this.at = c.frame;
    this.sinceCheckpoint = 0;
  }
}

/** Applies frame `f`'s deltas of `log` to `arrays`; returns how many. */
function apply(log: DeltaLog, f: number, arrays: readonly (Uint8Array | null)[]): number {
  const from = log.frameStart[f];
  const to = log.frameStart[f + 1];
  for (let i = from; i < to; i++) {
    const a = arrays[log.target[i]];
    if (a !== null) a[log.page[i]] = log.state[i];
  }
  return to - from;
}

function history(rec: Recording, log: DeltaLog, target: number, page: number): PageChange[] {
  const out: PageChange[] = [];
  let f = 0;
  for (let i = 0; i < log.state.length; i++) {
    if (log.target[i] !== target || log.page[i] !== page) continue;
    while (log.frameStart[f + 1] <= i) f++;
    out.push({
      frame: f,
      tNs: rec.frameTimeNs[f],
      state: log.state[i],
      actor: rec.actors[rec.frameActor[f]] ?? '',
    });
  }
  return out;
}
