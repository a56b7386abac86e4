/**
 * Runs the reliability specs in a fixed order: matrix, faults, bad input, load, security.
 * Security is last because its secret scan reads what every earlier spec kept
 * (support/results.ts). Plain JavaScript: Jest loads test sequencers without transforming them.
 */
import path from 'node:path';

const ORDER = ['matrix', 'faults', 'bad-input', 'load', 'security'];

const rank = (test) => {
  const name = path.basename(test.path);
  const index = ORDER.findIndex((prefix) => name.startsWith(prefix));
  return index < 0 ? ORDER.length : index;
};

export default class ReliabilitySequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
  }

  shard(tests) {
    return tests;
  }

  cacheResults() {}

  allFailedTests(tests) {
    return tests;
  }
}
