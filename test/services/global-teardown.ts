/**
 * Jest global teardown: releases the test servers global-setup.ts acquired for this Jest process
 * (share.sh release). A server is stopped when a test run started it and no other live test
 * run still uses it; servers a human or CI started are left alone.
 * TEST_SERVICES=external or =keep: does nothing.
 *
 * Swift's daemons call setsid(), so nothing else would stop them when Jest exits: they are
 * always stopped by their PID files (the stop scripts), never through the process group.
 *
 * Self-contained on purpose (node: imports only), like global-setup.ts.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

const SERVICE_IDS = ['s3', 'auth-registry', 'open-registry'];

export default async function globalTeardown(globalConfig: { rootDir: string }): Promise<void> {
  const mode = process.env.TEST_SERVICES ?? '';
  if (mode === 'external' || mode === 'keep') return;

  const share = path.join(globalConfig.rootDir, 'test', 'services', 'share.sh');
  for (const id of SERVICE_IDS) {
    const res = spawnSync('bash', [share, 'release', id, String(process.pid)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const result = (res.stdout ?? '').trim();
    if (res.status !== 0 || res.error) {
      process.stderr.write(
        `[test-services] releasing ${id} failed (${res.error?.message ?? `exit ${res.status}`}):\n` +
          `${res.stdout ?? ''}${res.stderr ?? ''}\n`,
      );
    } else if (result === 'stopped') {
      process.stderr.write(`[test-services] stopped ${id}\n`);
    } else if (result === 'in-use') {
      process.stderr.write(`[test-services] left ${id} running: another test run still uses it\n`);
    }
  }
  const servicesBase =
    process.env.TEST_SERVICES_BASE ||
    path.join(process.env.TMPDIR || '/tmp', 'nest-credentials-test');
  rmSync(path.join(servicesBase, `started-by-jest-${process.pid}.json`), { force: true });
}
