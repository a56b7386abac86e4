/**
 * Jest global setup: makes sure the real servers of the integration tests run.
 *
 * For each server (S3 on 18080, registry with auth on 15000, registry without auth on 15001):
 * if it already answers it is reused; otherwise, if its Debian packages are installed, it is
 * started with the scripts next to this file. Which servers this run started or shares with
 * other concurrent test runs is recorded by share.sh under
 * ${TMPDIR:-/tmp}/nest-credentials-test/jest/ (one file per Jest process, plus a summary in
 * started-by-jest-<pid>.json); global-teardown.ts then stops the servers a test run started once
 * the last run using them is done. Servers a human or CI started are never stopped.
 *
 * With the packages missing it only warns: unit tests still run, and the integration tests
 * fail with a message saying what to do (test/support/test-servers.ts).
 *
 * TEST_SERVICES=external  never start or stop anything (someone else runs the servers: .ci/run)
 * TEST_SERVICES=keep      start what is missing but leave it running afterwards (faster reruns)
 *
 * Keep this file self-contained (node: imports only): Jest loads it outside its module system,
 * so relative imports of other .ts files would not resolve.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Service {
  id: string;
  label: string;
  probeUrl: string;
  packages: string[];
}

const REGISTRY_PACKAGES = ['docker-registry', 'apache2-utils', 'curl'];
const S3_PORT = process.env.S3_PORT || '18080';
const REGISTRY_PORT = process.env.TEST_REGISTRY_PORT || '15000';
const OPEN_REGISTRY_PORT = process.env.TEST_OPEN_REGISTRY_PORT || '15001';
const SERVICES: Service[] = [
  {
    id: 's3',
    label: `S3 test server (Swift s3api) on 127.0.0.1:${S3_PORT}`,
    probeUrl: `http://127.0.0.1:${S3_PORT}/healthcheck`,
    packages: ['swift', 'swift-proxy', 'swift-account', 'swift-container', 'swift-object', 'curl'],
  },
  {
    id: 'auth-registry',
    label: `registry with auth on 127.0.0.1:${REGISTRY_PORT}`,
    probeUrl: `http://127.0.0.1:${REGISTRY_PORT}/v2/`,
    packages: REGISTRY_PACKAGES,
  },
  {
    id: 'open-registry',
    label: `registry without auth on 127.0.0.1:${OPEN_REGISTRY_PORT}`,
    probeUrl: `http://127.0.0.1:${OPEN_REGISTRY_PORT}/v2/`,
    packages: REGISTRY_PACKAGES,
  },
];

const servicesBase =
  process.env.TEST_SERVICES_BASE ||
  path.join(process.env.TMPDIR || '/tmp', 'nest-credentials-test');

const log = (msg: string): void => {
  process.stderr.write(`[test-services] ${msg}\n`);
};

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_500) });
    await res.body?.cancel();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

/** Packages (of `wanted`) dpkg does not report as installed; undefined without dpkg. */
function missingPackages(wanted: string[]): string[] | undefined {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...wanted], {
    encoding: 'utf8',
  });
  if (res.error) return undefined;
  const installed = new Set(
    res.stdout
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return wanted.filter((p) => !installed.has(p));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `bash script args`; stdout is the result, stderr the progress/error messages. */
function run(
  script: string,
  args: string[],
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ ok: false, stdout, stderr: `${stderr}${err.message}\n` }));
    child.on('close', (code, signal) =>
      resolve({
        ok: code === 0,
        stdout: stdout.trim(),
        stderr: code === 0 ? stderr : `${stderr}(exit ${code ?? signal})\n`,
      }),
    );
  });
}

export default async function globalSetup(globalConfig: { rootDir: string }): Promise<void> {
  const mode = process.env.TEST_SERVICES ?? '';
  if (mode === 'external') {
    log('TEST_SERVICES=external: not starting any test server (expecting them to run already).');
    return;
  }
  const share = path.join(globalConfig.rootDir, 'test', 'services', 'share.sh');
  const results: Record<string, string> = {};
  const missing: string[] = [];
  const failed: string[] = [];
  const t0 = Date.now();

  await Promise.all(
    SERVICES.map(async (svc) => {
      const notInstalled = missingPackages(svc.packages);
      if (notInstalled && notInstalled.length > 0) {
        if (await answers(svc.probeUrl)) {
          results[svc.id] = 'external';
        } else {
          missing.push(`${svc.label} (missing Debian packages: ${notInstalled.join(' ')})`);
        }
        return;
      }
      const t = Date.now();
      const args = ['acquire', svc.id, String(process.pid), ...(mode === 'keep' ? ['keep'] : [])];
      const { ok, stdout, stderr } = await run(share, args);
      if (!ok) {
        failed.push(svc.label);
        log(`could not start ${svc.label}:\n${stderr.trim().replace(/^/gm, '    ')}`);
        return;
      }
      results[svc.id] = stdout;
      if (stdout === 'started' || stdout === 'kept-running') {
        log(`started ${svc.label} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }
    }),
  );

  // For humans: what this run did (share.sh's files are what teardown relies on).
  mkdirSync(servicesBase, { recursive: true });
  for (const name of readdirSync(servicesBase)) {
    const pid = /^started-by-jest-(\d+)\.json$/.exec(name)?.[1];
    if (pid && !alive(Number(pid))) rmSync(path.join(servicesBase, name), { force: true });
  }
  writeFileSync(
    path.join(servicesBase, `started-by-jest-${process.pid}.json`),
    JSON.stringify({ pid: process.pid, at: new Date().toISOString(), results }, null, 2) + '\n',
  );
  if (Object.values(results).some((r) => r === 'started' || r === 'kept-running')) {
    log(`test servers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (mode === 'keep' && Object.values(results).includes('kept-running')) {
    log('TEST_SERVICES=keep: leaving them running; stop with `bash test/services/stop-all.sh`.');
  }
  if (missing.length > 0 || failed.length > 0) {
    const lines = [
      '',
      '*** Some test servers are not available; the integration tests that need them will fail. ***',
      ...missing.map((m) => `  - ${m}`),
      ...failed.map((f) => `  - ${f}: failed to start (output above)`),
      missing.length > 0
        ? '  Install them with `npm run setup` (runs scripts/setup.sh; needs root or sudo).'
        : `  Logs are under ${servicesBase}/.`,
      '',
    ];
    log(lines.join('\n'));
  }
}
