import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/test/**/*.test.ts'],
    reporters: ['default', './test/plainLineReporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
