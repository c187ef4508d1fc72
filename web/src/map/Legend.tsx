// The page map's legend: a swatch, a name and a page count for every state present. Rows carry
// `data-testid="legend-<kind>[-<device>]"` and `data-count` so browser tests can read the counts
// without parsing formatted numbers.

import type { JSX } from 'preact';
import {
  PAGE_DEVICE_COHERENT,
  PAGE_DEVICE_PRIVATE,
  PAGE_EXCLUSIVE,
  PAGE_KIND_NAMES,
  pageDevice,
  pageKind,
} from '../../../src/view/pageState.js';
import { MIRROR_CLASS_NAMES, mirrorClass, mirrorClassCss, pageStateCss } from './palette.js';

export interface LegendProps {
  /** Pages per state byte (`countStates`). */
  readonly counts: Uint32Array;
  /** Device names by slot. */
  readonly deviceNames: readonly string[];
  /** 'pages' (default): page states; 'mirror': the counts are of a device's mirror bytes. */
  readonly mode?: 'pages' | 'mirror';
  /** Accessible name of the list. */
  readonly label?: string;
}

export interface LegendRow {
  readonly testId: string;
  readonly text: string;
  readonly css: string;
  readonly count: number;
}

/** "device-private" + "gpu 0" → "device-private-gpu-0": lower case, runs of other characters as one dash. */
function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function isDeviceKind(kind: number): boolean {
  return kind === PAGE_DEVICE_PRIVATE || kind === PAGE_DEVICE_COHERENT || kind === PAGE_EXCLUSIVE;
}

/**
 * The legend's rows, in kind order then device slot, one per distinct name with pages.
 * @example legendRows(countStates(states), ['gpu0'])[0] // { testId: 'legend-ram', text: 'RAM', ... }
 */
export function legendRows(
  counts: Uint32Array,
  deviceNames: readonly string[],
  mode: 'pages' | 'mirror' = 'pages',
): LegendRow[] {
  const rows = new Map<string, { text: string; css: string; count: number; order: number }>();
  for (let state = 0; state < 256; state++) {
    const count = counts[state];
    if (count === 0) continue;
    let text: string;
    let testId: string;
    let css: string;
    let order: number;
    if (mode === 'mirror') {
      const cls = mirrorClass(state);
      text = MIRROR_CLASS_NAMES[cls];
      testId = `legend-mirror-${slug(text)}`;
      css = mirrorClassCss(cls);
      order = cls;
    } else {
      const kind = pageKind(state);
      const kindName = PAGE_KIND_NAMES[kind] ?? `kind ${kind}`;
      if (isDeviceKind(kind)) {
        const device = deviceNames[pageDevice(state)] ?? `device ${pageDevice(state)}`;
        text = `${kindName} on ${device}`;
        testId = `legend-${slug(kindName)}-${slug(device)}`;
      } else {
        text = kindName;
        testId = `legend-${slug(kindName)}`;
      }
      css = pageStateCss(state);
      order = kind * 16 + (isDeviceKind(kind) ? pageDevice(state) : 0);
    }
    const row = rows.get(testId);
    if (row === undefined) rows.set(testId, { text, css, count, order });
    else row.count += count;
  }
  return [...rows]
    .sort(([, a], [, b]) => a.order - b.order)
    .map(([testId, { text, css, count }]) => ({ testId, text, css, count }));
}

/** Colour swatches with page counts for the states present in `counts`. */
export function Legend(props: LegendProps): JSX.Element {
  const rows = legendRows(props.counts, props.deviceNames, props.mode);
  return (
    <ul
      aria-label={props.label ?? (props.mode === 'mirror' ? 'Mirror legend' : 'Page legend')}
      style={{ listStyle: 'none', margin: 0, padding: 0, font: '12px/1.6 system-ui, sans-serif' }}
    >
      {rows.map((row) => (
        <li
          key={row.testId}
          data-testid={row.testId}
          data-count={String(row.count)}
          style={{ display: 'flex', alignItems: 'center', gap: '6px' }}
        >
          <span
            aria-hidden="true"
            style={{
              display: 'inline-block',
              width: '12px',
              height: '12px',
              flex: 'none',
              background: row.css,
              border: '1px solid rgba(0, 0, 0, 0.25)',
            }}
          />
          <span style={{ flex: 'auto' }}>{row.text}</span>
          <span style={{ fontVariantNumeric: 'tabular-nums' }}>{row.count.toLocaleString('en-US')}</span>
        </li>
      ))}
    </ul>
  );
}
