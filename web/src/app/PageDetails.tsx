// The page clicked on the map: where it is, and its history (every change of where it lived and of
// each GPU's mirror of it, with the time and the actor whose step made the change).

import { describeMirrorState, describePageState } from '../../../src/view/pageState.js';
import type { Recording } from '../../../src/view/recording.js';
import { formatNs } from '../timeline/format.js';
import { currentCursor, frame, processIndex, recording, seek, selectedPage } from './session.js';

/** The vpn of page `page` of a process's layout. */
export function vpnOf(rec: Recording, process: number, page: number): { vpn: number; label: string } | null {
  let base = 0;
  for (const s of rec.processes[process].segments) {
    if (page < base + s.pages) return { vpn: s.startVpn + page - base, label: s.label };
    base += s.pages;
  }
  return null;
}

export function PageDetails() {
  const rec = recording.value;
  const page = selectedPage.value;
  const cursor = currentCursor();
  if (rec === null || cursor === null) return null;
  if (page === null) {
    return (
      <section class="panel page-details">
        <h2>Page</h2>
        <p class="hint">Click a page on the map to see its history.</p>
      </section>
    );
  }
  const p = processIndex.value;
  const where = vpnOf(rec, p, page);
  const names = rec.devices.map((d) => d.name);
  const history = cursor.pageHistory(p, page);
  const f = frame.value;
  const mirrors = rec.devices
    .filter((d) => d.kind === 'gpu')
    .map((d) => ({ name: d.name, history: cursor.mirrorHistory(d.slot * rec.processes.length + p, page) }))
    .filter((m) => m.history.length > 0);
  return (
    <section class="panel page-details" data-testid="page-details">
      <h2>Page {where === null ? page : `0x${(where.vpn * 4096).toString(16)}`}</h2>
      {where !== null && (
        <p class="hint">
          {where.label}, page {page.toLocaleString('en')} of {rec.processes[p].name}
        </p>
      )}
      <p>
        now: <b data-testid="page-state">{describePageState(cursor.pages[p][page], names)}</b>
      </p>
      <table class="history" data-testid="page-history">
        <thead>
          <tr>
            <th>event</th>
            <th>time</th>
            <th>by</th>
            <th>lives</th>
          </tr>
        </thead>
        <tbody>
          {history.map((c) => (
            <tr key={c.frame} class={c.frame <= f ? 'past' : 'future'} onClick={() => seek(c.frame)}>
              <td>{c.frame}</td>
              <td>{formatNs(c.tNs)}</td>
              <td>{c.actor || 'start'}</td>
              <td>{describePageState(c.state, names)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {mirrors.map((m) => (
        <div key={m.name}>
          <h3>{m.name}'s mirror</h3>
          <table class="history">
            <tbody>
              {m.history.map((c) => (
                <tr key={c.frame} class={c.frame <= f ? 'past' : 'future'} onClick={() => seek(c.frame)}>
                  <td>{c.frame}</td>
                  <td>{formatNs(c.tNs)}</td>
                  <td>{c.actor}</td>
                  <td>{describeMirrorState(c.state)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
