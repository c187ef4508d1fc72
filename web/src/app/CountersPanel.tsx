// The run's sampled counters (faults, resident pages, bytes per link) as they stood at the current
// event: the last sample at or before its time.

import { formatNs } from '../timeline/format.js';
import { frameTimeNs, recording } from './session.js';
import { lastAtOrBefore } from './lastAtOrBefore.js';

function valueAt(tNs: readonly number[], values: readonly number[], t: number): number {
  const i = lastAtOrBefore(tNs, t);
  return i < 0 ? 0 : values[i];
}

function format(v: number, unit: string): string {
  if (unit === 'bytes') {
    if (v >= 1024 ** 3) return `${(v / 1024 ** 3).toFixed(2)} GiB`;
    if (v >= 1024 ** 2) return `${(v / 1024 ** 2).toFixed(2)} MiB`;
    if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
    return `${v} B`;
  }
  return v.toLocaleString('en');
}

export function CountersPanel() {
  const rec = recording.value;
  if (rec === null) return null;
  const t = frameTimeNs.value;
  return (
    <section class="panel" data-testid="counters">
      <h2>Counters at {formatNs(t)}</h2>
      <p class="hint">
        Sampled every {formatNs(rec.result.series[0]?.tNs[1] ?? 0)}: the last sample at or before this event.
      </p>
      <table>
        <tbody>
          {rec.result.series.map((s) => (
            <tr key={s.name} data-testid={`counter-${s.name}`}>
              <td>{s.name}</td>
              <td class="num">{format(valueAt(s.tNs, s.values, t), s.unit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
