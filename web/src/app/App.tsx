// The visualizer page: scenario bar, playback controls, problems, the maps, PASID tables, counters,
// page details, the timeline and the charts.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Span } from '../timeline/spans.js';
import { buildTimeline } from '../timeline/spans.js';
import { Timeline as TimelineView } from '../timeline/Timeline.js';
import { BUILTIN_SCENARIOS } from '../scenarios.js';
import { Charts } from './Charts.js';
import { Controls } from './Controls.js';
import { CountersPanel } from './CountersPanel.js';
import { MapsPanel } from './MapsPanel.js';
import { PageDetails } from './PageDetails.js';
import { PasidPanel } from './PasidPanel.js';
import { ProblemsPanel } from './ProblemsPanel.js';
import { ScenarioBar } from './ScenarioBar.js';
import { frameTimeNs, recording, runScenarioText, seekTime } from './session.js';

/** The scenario `hetmem serve SCENARIO` was started with, or null (204, or no server API). */
async function servedScenario(): Promise<{ file: string; text: string } | null> {
  try {
    const res = await fetch('./api/scenario');
    if (res.status !== 200) return null;
    const body = (await res.json()) as { file?: unknown; text?: unknown };
    return typeof body.file === 'string' && typeof body.text === 'string'
      ? { file: body.file, text: body.text }
      : null;
  } catch {
    return null;
  }
}

function TimelinePanel() {
  const rec = recording.value;
  const [selected, setSelected] = useState<Span | null>(null);
  const timeline = useMemo(
    () =>
      rec === null
        ? null
        : buildTimeline(rec.trace, rec.frameTimeNs[rec.frames - 1], {
            processes: rec.processes.map((p) => p.name),
            devices: rec.devices.map((d) => d.name),
          }),
    [rec],
  );
  if (timeline === null) return null;
  return (
    <section class="panel timeline">
      <h2>Timeline</h2>
      <TimelineView
        timeline={timeline}
        nowNs={frameTimeNs.value}
        onSeek={seekTime}
        selected={selected}
        onSelect={setSelected}
      />
    </section>
  );
}

export function App() {
  const [served, setServed] = useState<{ file: string; text: string } | null>(null);
  useEffect(() => {
    void servedScenario().then((s) => {
      setServed(s);
      const first = s ?? BUILTIN_SCENARIOS[0];
      runScenarioText(first.file, first.text);
    });
  }, []);
  const rec = recording.value;
  useEffect(() => {
    // For profiling (and the first-render benchmark): when a recording was first on screen.
    if (rec !== null) performance.mark('hetmem:recording-shown');
  }, [rec]);
  return (
    <div class="app" data-ready={rec !== null ? 'true' : 'false'}>
      <ScenarioBar served={served} />
      <ProblemsPanel />
      {rec !== null && (
        <>
          <p class="description">{rec.scenario.description}</p>
          {rec.truncated && (
            <p class="error">The run changed too many pages to record them all; the map stops early.</p>
          )}
          <Controls />
          <div class="columns">
            <MapsPanel />
            <div class="side">
              <PageDetails />
              <PasidPanel />
              <CountersPanel />
            </div>
          </div>
          <TimelinePanel />
          <Charts />
        </>
      )}
    </div>
  );
}
