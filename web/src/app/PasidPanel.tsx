// Each IOMMU device's PASID table at the current event: which PASIDs have entries, in what state,
// for which process.

import { currentCursor, recording, version } from './session.js';

export function PasidPanel() {
  const rec = recording.value;
  void version.value; // redraw on every move
  const cursor = currentCursor();
  if (rec === null || cursor === null || !rec.devices.some((d) => d.kind === 'accel')) return null;
  const tables = cursor.pasidTables();
  const accels = rec.devices.filter((d) => d.kind === 'accel');
  return (
    <section class="panel" data-testid="pasid-tables">
      <h2>PASID tables</h2>
      {accels.map((d) => {
        const t = tables.find((x) => x.device === d.name);
        return (
          <div key={d.name}>
            <h3>
              {d.name}
              {t !== undefined && <span class="hint"> behind {t.iommu}</span>}
            </h3>
            {t === undefined || t.entries.length === 0 ? (
              <p class="hint" data-testid={`pasid-empty-${d.name}`}>
                no live entries
              </p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th>PASID</th>
                    <th>state</th>
                    <th>address space</th>
                  </tr>
                </thead>
                <tbody>
                  {t.entries.map((e) => (
                    <tr key={e.pasid} data-testid={`pasid-${d.name}-${e.pasid}`}>
                      <td>{e.pasid}</td>
                      <td class={`pasid-${e.state.toLowerCase()}`}>{e.state}</td>
                      <td>{e.process ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        );
      })}
    </section>
  );
}
