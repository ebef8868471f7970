import { defineConfig } from 'vitest/config';

// `npm run test:faults`: the fault suite (test/faults/*.fault.ts), not part of `npm test`. It starts its own
// servers (it restarts the target), so no global setup; one file at a time.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
    pool: 'forks',
  },
});
