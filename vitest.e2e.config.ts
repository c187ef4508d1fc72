// The browser tests: the built visualizer page served by `startServer` and driven in Debian's
// chromium (web/e2e/). Run with `npm run test:browser`; `npm test` does not run them.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['web/e2e/**/*.e2e.ts'],
    reporters: ['default', './test/plainLineReporter.ts'],
    // One browser and one server for the whole file; the tests share them, so they run in order.
    fileParallelism: false,
    testTimeout: 120_000,
    // beforeAll may build the page (vite build) and launches chromium.
    hookTimeout: 300_000,
  },
});
