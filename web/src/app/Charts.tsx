// The run's charts: the same Vega-Lite specs as `hetmem run --report` (report/html.ts), drawn by
// vega-embed with vega's expression interpreter (the page's CSP forbids generated code). Loaded
// after the first render: the charting libraries are the biggest part of the page.

import { useEffect, useRef, useState } from 'preact/hooks';
import { reportPlots } from '../../../src/report/html.js';
import { recording } from './session.js';

/** Resolves when the browser is idle (or after a second at most). */
function whenIdle(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(() => resolve(), { timeout: 1000 });
    else setTimeout(resolve, 50);
  });
}

export function Charts() {
  const rec = recording.value;
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const el = box.current;
    if (rec === null || el === null) return;
    let cancelled = false;
    const views: { finalize(): void }[] = [];
    el.replaceChildren();
    void (async () => {
      try {
        // After the maps are on screen: parsing vega takes a few hundred ms of the main thread.
        await whenIdle();
        if (cancelled) return;
        const [{ default: embed }, { expressionInterpreter }] = await Promise.all([
          import('vega-embed'),
          import('vega-interpreter'),
        ]);
        for (const plot of reportPlots(rec.result)) {
          if (cancelled || plot.spec === null) continue;
          const fig = document.createElement('figure');
          fig.dataset.testid = `chart-${plot.id}`;
          const target = document.createElement('div');
          const caption = document.createElement('figcaption');
          caption.textContent = plot.title;
          fig.append(caption, target);
          el.append(fig);
          const result = await embed(target, plot.spec as never, {
            actions: false,
            renderer: 'svg',
            ast: true,
            expr: expressionInterpreter,
          });
          if (cancelled) result.finalize();
          else views.push(result);
        }
        if (!cancelled) el.dataset.ready = 'true';
      } catch (e) {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      cancelled = true;
      for (const v of views) v.finalize();
      delete el.dataset.ready;
    };
  }, [rec]);
  if (rec === null) return null;
  return (
    <section class="panel charts">
      <h2>Charts</h2>
      {error !== null && <p class="error">charts could not be drawn: {error}</p>}
      <div ref={box} class="chart-grid" data-testid="charts" />
    </section>
  );
}
