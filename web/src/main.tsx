// Entry point: the visualizer, or with ?bench=map-redraw the page-map redraw benchmark (used by
// `npm run bench`; the result is written into the page as JSON).

import { render } from 'preact';
import { App } from './app/App.js';
import './styles.css';

const bench = new URLSearchParams(location.search).get('bench');
if (bench === 'map-redraw') {
  void import('./bench/mapRedraw.js').then(({ runMapRedrawBench }) => {
    const canvas = document.createElement('canvas');
    canvas.width = 1200;
    canvas.height = 600;
    document.body.append(canvas);
    const result = runMapRedrawBench(canvas);
    const out = document.createElement('pre');
    out.id = 'bench-result';
    out.textContent = JSON.stringify(result);
    document.body.append(out);
  });
} else {
  render(<App />, document.getElementById('app')!);
}
