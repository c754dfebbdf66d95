import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the Worker bundle once for every integration test file.
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each integration file starts its own workerd; two cores, so keep it to two at once.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
