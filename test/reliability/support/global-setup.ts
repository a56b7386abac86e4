/**
 * Global setup of the reliability suite (jest.reliability.config.js), run once in Jest's process
 * after the test servers' setup (test/services/global-setup.ts): makes the folder where the specs
 * record their cases (`RELIABILITY_RESULTS_DIR`, read by support/results.ts and by the teardown
 * that renders RELIABILITY.md) and notes when and how the run started.
 *
 * Self-contained (node: imports only), like the servers' setup: Jest loads it outside its module
 * system.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const KEEP_RUNS_MS = 24 * 3_600_000;

export default async function globalSetup(): Promise<void> {
  const base = path.join(process.env.TMPDIR || os.tmpdir(), 'nest-credentials-reliability');
  mkdirSync(base, { recursive: true });
  for (const name of readdirSync(base)) {
    const dir = path.join(base, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > KEEP_RUNS_MS) {
        rmSync(dir, { recursive: true, force: true });
      }
    } catch {
      // another run removed it
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(base, `run-${stamp}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  process.env.RELIABILITY_RESULTS_DIR = dir;
  const command =
    process.env.npm_lifecycle_event === 'test:reliability'
      ? 'npm run test:reliability'
      : `jest ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(
    path.join(dir, 'run.json'),
    `${JSON.stringify({ startedAt: new Date().toISOString(), command, pid: process.pid })}\n`,
  );
  process.stderr.write(`[reliability] recording cases in ${dir}\n`);
}
