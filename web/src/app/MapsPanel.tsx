// The address space of the chosen process as a page map, with its legend, and each GPU's mirror
// of the same pages beside it.

import { describeMirrorState } from '../../../src/view/pageState.js';
import { Legend } from '../map/Legend.js';
import { PageMap } from '../map/PageMap.js';
import { MIRROR_COLOURS, PAGE_COLOURS } from '../map/palette.js';
import { countStates, MIRROR_PRIORITY_KEYS } from '../map/rasterize.js';
import { currentCursor, processIndex, recording, selectedPage, version } from './session.js';

const counts = new Uint32Array(256);

export function MapsPanel() {
  const rec = recording.value;
  const cursor = currentCursor();
  const v = version.value;
  if (rec === null || cursor === null) return null;
  if (rec.processes.length === 0) return <p class="hint">This scenario has no process.</p>;
  const p = Math.min(processIndex.value, rec.processes.length - 1);
  const proc = rec.processes[p];
  const names = rec.devices.map((d) => d.name);
  const gpus = rec.devices.filter((d) => d.kind === 'gpu');
  const mirrorOf = (slot: number) => cursor.mirrors[slot * rec.processes.length + p]!;
  return (
    <section class="panel maps">
      <div class="tabs" role="tablist" aria-label="processes">
        {rec.processes.map((q, i) => (
          <button
            type="button"
            role="tab"
            key={q.pid}
            aria-selected={i === p}
            data-testid={`process-tab-${q.name}`}
            onClick={() => {
              processIndex.value = i;
              selectedPage.value = null;
            }}
          >
            {q.name} <span class="hint">pid {q.pid}</span>
          </button>
        ))}
      </div>
      <h2>
        Address space of {proc.name} <span class="hint">{proc.pages.toLocaleString('en')} pages</span>
      </h2>
      <div class="map-box" data-testid="page-map">
        <PageMap
          states={cursor.pages[p]}
          segments={proc.segments}
          colours={PAGE_COLOURS}
          version={v}
          selectedPage={selectedPage.value}
          onSelectPage={(page) => (selectedPage.value = page)}
          label={`Page map of ${proc.name} (pid ${proc.pid})`}
          deviceNames={names}
          mirrors={gpus.map((g) => ({ name: g.name, states: mirrorOf(g.slot) }))}
        />
      </div>
      <Legend
        counts={countStates(cursor.pages[p], counts.fill(0)).slice()}
        deviceNames={names}
        label="where pages live"
      />
      {gpus.map((g) => (
        <div key={g.name} class="mirror" data-testid={`mirror-${g.name}`}>
          <h2>
            {g.name}'s mirror of {proc.name}
          </h2>
          <div class="map-box small">
            <PageMap
              states={mirrorOf(g.slot)}
              segments={proc.segments}
              colours={MIRROR_COLOURS}
              version={v}
              selectedPage={selectedPage.value}
              onSelectPage={(page) => (selectedPage.value = page)}
              label={`${g.name}'s page table for ${proc.name}`}
              deviceNames={names}
              priorityKeys={MIRROR_PRIORITY_KEYS}
              describeState={describeMirrorState}
            />
          </div>
          <Legend
            counts={countStates(mirrorOf(g.slot), counts.fill(0)).slice()}
            deviceNames={names}
            mode="mirror"
            label={`${g.name} mirror`}
          />
        </div>
      ))}
    </section>
  );
}
