// Playback: play, pause, step, seek (slider), jump to the next migration, speed. Keyboard: space
// plays or pauses, arrows step, Home/End jump (when focus is not in a text field).

import { useEffect } from 'preact/hooks';
import { PAGE_DEVICE_PRIVATE, PAGE_MIGRATING, pageKind } from '../../../src/view/pageState.js';
import { formatNs } from '../timeline/format.js';
import { currentCursor, frame, frameTimeNs, playing, recording, seek, setPlaying, speed } from './session.js';

const SPEEDS = [1, 5, 30, 120, 600, 3000];

/** The next frame where a page moves to or from a device (a migration step), or -1. */
function nextMigration(): number {
  const c = currentCursor();
  if (c === null) return -1;
  return c.nextChange(
    frame.value,
    (s) => pageKind(s) === PAGE_DEVICE_PRIVATE || pageKind(s) === PAGE_MIGRATING,
  );
}

export function Controls() {
  const rec = recording.value;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (
        t.tagName === 'INPUT' ||
        t.tagName === 'SELECT' ||
        t.tagName === 'TEXTAREA' ||
        t.tagName === 'CANVAS'
      )
        return;
      if (e.key === ' ') setPlaying(!playing.value);
      else if (e.key === 'ArrowRight') seek(frame.value + 1);
      else if (e.key === 'ArrowLeft') seek(frame.value - 1);
      else if (e.key === 'Home') seek(0);
      else if (e.key === 'End' && rec !== null) seek(rec.frames - 1);
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [rec]);
  if (rec === null) return null;
  const f = frame.value;
  const last = rec.frames - 1;
  const actor = rec.actors[rec.frameActor[f]] ?? '';
  return (
    <section class="controls" aria-label="playback">
      <button
        type="button"
        title="first frame (Home)"
        onClick={() => seek(0)}
        disabled={f === 0}
        data-testid="first"
      >
        |◀
      </button>
      <button
        type="button"
        title="step back (←)"
        onClick={() => seek(f - 1)}
        disabled={f === 0}
        data-testid="step-back"
      >
        ◀
      </button>
      <button
        type="button"
        title="play or pause (space)"
        onClick={() => setPlaying(!playing.value)}
        data-testid="play"
      >
        {playing.value ? '❚❚ pause' : '▶ play'}
      </button>
      <button
        type="button"
        title="step (→)"
        onClick={() => seek(f + 1)}
        disabled={f === last}
        data-testid="step"
      >
        ▶
      </button>
      <button
        type="button"
        title="last frame (End)"
        onClick={() => seek(last)}
        disabled={f === last}
        data-testid="last"
      >
        ▶|
      </button>
      <button
        type="button"
        title="the next event that moves pages to or from a device"
        onClick={() => {
          const n = nextMigration();
          if (n >= 0) seek(n);
        }}
        data-testid="next-migration"
      >
        next migration
      </button>
      <input
        type="range"
        min={0}
        max={last}
        value={f}
        aria-label="frame"
        data-testid="seek"
        onInput={(e) => seek(Number((e.target as HTMLInputElement).value))}
      />
      <label>
        speed{' '}
        <select
          value={speed.value}
          onChange={(e) => (speed.value = Number((e.target as HTMLSelectElement).value))}
        >
          {SPEEDS.map((s) => (
            <option value={s} key={s}>
              {s} events/s
            </option>
          ))}
        </select>
      </label>
      <span class="where" data-testid="frame" data-frame={f}>
        event {f.toLocaleString('en')} / {last.toLocaleString('en')} · t = {formatNs(frameTimeNs.value)}
        {actor !== '' && ` · ${actor}`}
      </span>
    </section>
  );
}
