/**
 * The reliability suite (issue 5): `npm run test:reliability`. It runs test/reliability/**
 * one file at a time, in a fixed order (faults, bad input, load, security), with the same
 * test-server setup as `npm test`, and writes its figures to docs/RELIABILITY.md.
 *
 * @type {import('jest').Config}
 */
import base from './jest.config.js';

export default {
  projects: [
    {
      ...base,
      displayName: 'reliability',
      testMatch: ['<rootDir>/test/reliability/**/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/'],
      // Log lines become evidence for the secret scan (security.spec.ts).
      setupFilesAfterEnv: ['<rootDir>/test/reliability/support/log-evidence.ts'],
    },
  ],
  // Cases carry their own, tighter deadlines (support/results.ts); this only stops a runaway.
  testTimeout: 180_000,
  // Run after the project's (server) setup and before its teardown, in Jest's own process.
  globalSetup: '<rootDir>/test/reliability/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/reliability/support/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/reliability/support/summary-reporter.js'],
  testSequencer: '<rootDir>/test/reliability/support/sequencer.js',
  // One file at a time: fault cases stop and restart the S3 server, and load figures must not
  // share the machine with another spec.
  maxWorkers: 1,
};
