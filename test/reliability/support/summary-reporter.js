/**
 * Jest reporter of the reliability suite: writes what Jest itself counted (files, tests, which
 * failed) next to the recorded cases, for global-teardown.ts to put in RELIABILITY.md. Jest calls
 * it before the global teardown. Plain JavaScript: Jest loads reporters without transforming them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export default class ReliabilitySummaryReporter {
  onRunComplete(_contexts, results) {
    const dir = process.env.RELIABILITY_RESULTS_DIR;
    if (!dir) return;
    const summary = {
      startTime: results.startTime,
      endTime: Date.now(),
      numTotalTestSuites: results.numTotalTestSuites,
      numFailedTestSuites: results.numFailedTestSuites,
      numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
      numTotalTests: results.numTotalTests,
      numPassedTests: results.numPassedTests,
      numFailedTests: results.numFailedTests,
      numPendingTests: results.numPendingTests,
      files: results.testResults.map((file) => ({
        path: path.relative(process.cwd(), file.testFilePath),
        failureMessage: file.testExecError ? String(file.testExecError.message) : undefined,
        failed: file.testResults
          .filter((test) => test.status === 'failed')
          .map((test) => test.fullName),
        numTests: file.testResults.length,
        // Wall time of the file: its cases may overlap (the matrix), so their sum is not it.
        ms: file.perfStats.end - file.perfStats.start,
      })),
    };
    writeFileSync(path.join(dir, 'jest-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  }
}
