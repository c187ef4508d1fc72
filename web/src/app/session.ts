// The page's state: which scenario runs, its recording, where playback is. One simulator worker
// serves the page; a new run replaces the old one (a late answer from a replaced run is dropped).

import { batch, computed, signal } from '@preact/signals';
import { RecordingCursor } from '../../../src/view/cursor.js';
import type { Recording } from '../../../src/view/recording.js';
import type { ScenarioProblem, WorkerMessage } from '../worker/protocol.js';
import { lastAtOrBefore } from './lastAtOrBefore.js';

export type Status =
  | { readonly kind: 'idle' }
  | { readonly kind: 'running'; readonly events: number; readonly simNs: number }
  | { readonly kind: 'ready'; readonly ms: number }
  | { readonly kind: 'error'; readonly what: 'input' | 'limit' | 'internal' };

export const scenarioFile = signal('');
export const scenarioText = signal('');
export const status = signal<Status>({ kind: 'idle' });
export const problems = signal<readonly ScenarioProblem[]>([]);
export const recording = signal<Recording | null>(null);
/** The frame shown; the cursor's arrays hold its state once `version` has moved. */
export const frame = signal(0);
/** Bumped whenever the cursor's arrays change (views redraw on it). */
export const version = signal(0);
export const playing = signal(false);
/** Frames per second while playing. */
export const speed = signal(30);
export const processIndex = signal(0);
export const selectedPage = signal<number | null>(null);

let cursor: RecordingCursor | null = null;
let runId = 0;

function newWorker(): Worker {
  return new Worker(new URL('../worker/simWorker.ts', import.meta.url), { type: 'module' });
}

// Started as the page loads, so the simulator's code is fetched and compiled while the page asks
// the server for a scenario.
let worker: Worker = newWorker();
let busy = false;

export function currentCursor(): RecordingCursor | null {
  return cursor;
}

export const frameTimeNs = computed(() => {
  const rec = recording.value;
  return rec === null ? 0 : rec.frameTimeNs[Math.min(frame.value, rec.frames - 1)];
});

/** Runs a scenario in the worker; the result replaces what is shown. */
export function runScenarioText(file: string, text: string): void {
  const id = ++runId;
  if (busy) {
    // A run is still going: the simulator cannot be interrupted mid-run, so start a fresh worker.
    worker.terminate();
    worker = newWorker();
  }
  busy = true;
  performance.mark('hetmem:run-posted');
  batch(() => {
    scenarioFile.value = file;
    scenarioText.value = text;
    status.value = { kind: 'running', events: 0, simNs: 0 };
    problems.value = [];
    playing.value = false;
  });
  worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
    if (id !== runId) return;
    const m = event.data;
    if (m.type !== 'progress') busy = false;
    if (m.type === 'progress') {
      status.value = { kind: 'running', events: m.events, simNs: m.simNs };
    } else if (m.type === 'done') {
      performance.mark('hetmem:recording-received');
      cursor = new RecordingCursor(m.recording);
      batch(() => {
        recording.value = m.recording;
        frame.value = 0;
        processIndex.value = 0;
        selectedPage.value = null;
        version.value++;
        status.value = { kind: 'ready', ms: m.ms };
      });
    } else {
      cursor = null;
      batch(() => {
        recording.value = null;
        problems.value = m.problems;
        status.value = { kind: 'error', what: m.kind };
      });
    }
  };
  worker.onerror = (e) => {
    if (id !== runId) return;
    busy = false;
    worker = newWorker();
    batch(() => {
      recording.value = null;
      problems.value = [{ file, message: `the simulator stopped: ${e.message}` }];
      status.value = { kind: 'error', what: 'internal' };
    });
  };
  worker.postMessage({ type: 'run', file, text });
}

/** Shows a problem found before any run (a file too big, unreadable). */
export function showProblem(file: string, message: string): void {
  batch(() => {
    recording.value = null;
    cursor = null;
    playing.value = false;
    // The refused file is what the page is about now (the heading and the select name it).
    scenarioFile.value = file;
    scenarioText.value = '';
    problems.value = [{ file, message }];
    status.value = { kind: 'error', what: 'input' };
  });
}

/** Moves playback to `f` (clamped). */
export function seek(f: number): void {
  if (cursor === null) return;
  cursor.seek(f);
  batch(() => {
    frame.value = cursor!.frame;
    version.value++;
  });
}

/** Moves playback to the last frame at or before simulated time `tNs`. */
export function seekTime(tNs: number): void {
  const rec = recording.value;
  if (rec === null) return;
  seek(Math.max(0, lastAtOrBefore(rec.frameTimeNs, tNs)));
}

let raf = 0;
let lastTick = 0;
let carry = 0;

export function setPlaying(on: boolean): void {
  const rec = recording.value;
  if (on && (rec === null || frame.value >= rec.frames - 1)) {
    if (rec === null) return;
    seek(0);
  }
  playing.value = on;
  cancelAnimationFrame(raf);
  if (!on) return;
  lastTick = performance.now();
  carry = 0;
  const tick = (now: number) => {
    const r = recording.value;
    if (!playing.value || r === null) return;
    carry += ((now - lastTick) / 1000) * speed.value;
    lastTick = now;
    const step = Math.floor(carry);
    if (step > 0) {
      carry -= step;
      seek(frame.value + step);
    }
    if (frame.value >= r.frames - 1) {
      playing.value = false;
      return;
    }
    raf = requestAnimationFrame(tick);
  };
  raf = requestAnimationFrame(tick);
}
