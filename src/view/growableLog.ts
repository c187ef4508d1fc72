// An append-only log of (frame, target, vpn, state) changes in typed arrays that double as they
// fill, so recording a frame allocates nothing. `finish` turns it into the recording's DeltaLog:
// entries grouped by frame, vpns replaced by page indices of the final layout.

import type { DeltaLog } from './recording.js';

export class GrowableLog {
  private frame = new Uint32Array(1024);
  private target = new Uint16Array(1024);
  private vpn = new Float64Array(1024);
  private state = new Uint8Array(1024);
  length = 0;

  push(frame: number, target: number, vpn: number, state: number): void {
    if (this.length === this.frame.length) this.grow();
    const i = this.length++;
    this.frame[i] = frame;
    this.target[i] = target;
    this.vpn[i] = vpn;
    this.state[i] = state;
  }

  /**
   * The log as a DeltaLog over `frames` frames. `mapTarget` renumbers targets; `pageOf(target, vpn)`
   * gives a vpn's page index in the (renumbered) target's layout.
   */
  finish(
    frames: number,
    mapTarget: (target: number) => number,
    pageOf: (target: number, vpn: number) => number,
  ): DeltaLog {
    const n = this.length;
    const frameStart = new Uint32Array(frames + 1);
    // Entries were pushed in frame order: count per frame, then prefix sums.
    for (let i = 0; i < n; i++) frameStart[this.frame[i] + 1]++;
    for (let f = 0; f < frames; f++) frameStart[f + 1] += frameStart[f];
    const target = new Uint16Array(n);
    const page = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const t = mapTarget(this.target[i]);
      target[i] = t;
      page[i] = pageOf(t, this.vpn[i]);
    }
    return { frameStart, target, page, state: this.state.slice(0, n) };
  }

  private grow(): void {
    const size = this.frame.length * 2;
    const frame = new Uint32Array(size);
    frame.set(this.frame);
    const target = new Uint16Array(size);
    target.set(this.target);
    const vpn = new Float64Array(size);
    vpn.set(this.vpn);
    const state = new Uint8Array(size);
    state.set(this.state);
    this.frame = frame;
    this.target = target;
    this.vpn = vpn;
    this.state = state;
  }
}
