// Builds the visualizer (web/) into dist/web/, the only folder `hetmem serve` serves. The page
// imports the model from src/ directly, so the Web Worker runs the same code as the CLI.
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // vega and vega-lite make the charts chunk large; it is loaded after the first render.
    chunkSizeWarningLimit: 2500,
  },
  worker: { format: 'es' },
});
