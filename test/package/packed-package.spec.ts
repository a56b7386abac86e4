import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localSettingsFor, type StorageBackend, storageEnv } from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  deleteTestBucket,
  requireS3Server,
} from '../support/test-servers.js';

/**
 * The package as a new user gets it: `npm pack`, installed into a separate application with
 * only the optional peers of one backend, type-checked against the published declarations,
 * and run against the real test servers.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONSUMER_SOURCE = fileURLToPath(new URL('./consumer/', import.meta.url));
const ourPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};
const versionOf = (name: string) => ourPackage.devDependencies[name];

const NEST = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/config',
  'reflect-metadata',
  'rxjs',
  '@types/node',
];
const AWS_PEERS = ['@aws-sdk/client-s3', '@aws-sdk/client-ecr'];

/**
 * What the consumer reports of its custom backend, built from `nest-credentials/backend` only
 * and registered as a second, named instance: a round trip through it, and none of the backend
 * entry's names on the root export.
 */
const CUSTOM_BACKEND_WORKS = {
  custom: {
    backend: JSON.stringify({ backend: 'DiskCredentials' }),
    size: 3 * 1024 * 1024 + 4,
    roundTrip: true,
  },
  internalsOnRoot: [],
};

let work: string;
let tarball: string;

/**
 * Runs the consumer's `typed.ts` (settings in code: a filesystem and a local instance) with no
 * environment variable but PATH, the local backend's settings given for `bucket`, and checks
 * both round trips and the file on disk, read with `nest-credentials/backend`.
 */
async function expectTypedSettingsWork(dir: string, bucket: string): Promise<void> {
  const local = localSettingsFor(bucket, false);
  const result = await runConsumer(dir, {}, 'dist/typed.js', [JSON.stringify(local)]);
  const size = 2 * 1024 * 1024 + 4;
  expect(result).toEqual({
    environment: [],
    disk: {
      backend: JSON.stringify({ backend: 'FilesystemCredentials' }),
      stored: { bucket: 'typed-projects', key: 'typed-project', size, sha256: expect.any(String) },
      sha256Matches: true,
      roundTrip: true,
      onDisk: true,
    },
    s3: {
      backend: JSON.stringify({ backend: 'LocalCredentials' }),
      stored: { bucket, key: 'typed-project', size, sha256: expect.any(String) },
      sha256Matches: true,
      roundTrip: true,
    },
    partSize: expect.any(Number),
  });
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return execFileSync(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
}

/**
 * A new application that depends on the packed package and on `peers`: an ES module app, or a
 * CommonJS app whose compiled `main.js` loads the package with `require()`.
 */
function createConsumer(
  name: string,
  peers: string[],
  moduleType: 'module' | 'commonjs' = 'module',
): string {
  const dir = join(work, name);
  cpSync(CONSUMER_SOURCE, dir, { recursive: true });
  const dependencies = Object.fromEntries([
    ['nest-credentials', `file:${tarball}`],
    ...[...NEST, ...peers].map((peer) => [peer, versionOf(peer)]),
  ]);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, private: true, type: moduleType, dependencies }, null, 2),
  );
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], dir);
  return dir;
}

/**
 * Runs the consumer (`dist/main.js`, or another compiled `entry` with `args`) without blocking
 * this process, which serves the loopback ECR endpoint. Its environment is PATH and `env` only.
 */
async function runConsumer(
  dir: string,
  env: Record<string, string>,
  entry = 'dist/main.js',
  args: string[] = [],
): Promise<Record<string, unknown>> {
  const timeout = 120_000;
  const { stdout } = await promisify(execFile)(process.execPath, [entry, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout,
  }).catch((err: { killed?: boolean; stdout?: string }) => {
    if (!err.killed) throw err;
    throw new Error(
      `${entry} did not exit on its own within ${timeout / 1000} s (killed; its output: ` +
        `${err.stdout?.trim() || 'none'}): something keeps its event loop alive`,
    );
  });
  return JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
}

const MiB = 1024 * 1024;

/**
 * Runs the consumer's `multipart.ts` against `backend` and `bucket`: a 12 MiB project in parts
 * of 5 MiB, uploaded as a plain stream, as a stream with its `sha256`, and with a wrong
 * `sha256`, each read back. Checks the outcomes, that the package's SHA-256 worker thread did
 * the hashing it is there for (counted from outside by `hash-worker-probe.ts`: the calling-thread
 * fallback counts nothing), and that the process exited on its own once done (an idle worker
 * left referenced would keep it alive until `runConsumer` kills it).
 */
async function expectMultipartUploadsWork(
  dir: string,
  backend: StorageBackend,
  bucket: string,
): Promise<void> {
  const result = await runConsumer(dir, storageEnv(backend, bucket), 'dist/multipart.js');
  const exitedAfterMs = Date.now() - (result.finishedAt as number);
  const size = 12 * MiB + 4;
  const stored = {
    outcome: { size, sha256Matches: true },
    progress: { reports: 3, last: size }, // one per part: 5 + 5 + 2 MiB
    downloaded: 'same SHA-256',
  };
  expect(result).toEqual({
    size,
    partSize: 5 * MiB,
    plain: { ...stored, workerHashedBytes: expect.any(Number) },
    withSha256: { ...stored, workerHashedBytes: expect.any(Number) },
    wrongSha256: {
      outcome: { error: 'IntegrityError:INTEGRITY' },
      progress: expect.any(Object),
      downloaded: 'ProjectNotFoundError:PROJECT_NOT_FOUND',
      workerHashedBytes: expect.any(Number),
    },
    workersStarted: expect.any(Number),
    finishedAt: expect.any(Number),
  });
  const hashed = (upload: string) =>
    (result[upload] as { workerHashedBytes: number }).workerHashedBytes;
  expect(result.workersStarted).toBeGreaterThanOrEqual(1);
  // With `sha256`, the running SHA-256 of every part is taken in the worker.
  expect(hashed('withSha256')).toBeGreaterThanOrEqual(size);
  expect(hashed('wrongSha256')).toBeGreaterThanOrEqual(size);
  // Over plain HTTP the aws store signs every part with its SHA-256, taken in the worker.
  if (backend === 'aws') expect(hashed('plain')).toBeGreaterThanOrEqual(size);
  expect(exitedAfterMs).toBeLessThan(15_000);
}

beforeAll(async () => {
  await requireS3Server();
  work = mkdtempSync(join(tmpdir(), 'nest-credentials-consumer-'));
  run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], ROOT);
  const packed = readdirSync(work).find((file) => file.endsWith('.tgz'));
  if (!packed) throw new Error('npm pack produced no tarball');
  tarball = join(work, packed);
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package in a separate application', () => {
  it('ships only the library and its declarations, with its entry points, licence and changelog', () => {
    const listing = run('tar', ['-tzf', tarball], work);
    for (const entry of ['index', 'backend', 'testing/index', 'health/index']) {
      expect(listing).toContain(`package/dist/credentials/${entry}.js`);
      expect(listing).toContain(`package/dist/credentials/${entry}.d.ts`);
    }
    expect(listing).toContain('package/LICENSE');
    expect(listing).toContain('package/CHANGELOG.md');
    expect(listing).not.toContain('package/dist/main.js');
    expect(listing).not.toMatch(/\.spec\.(js|d\.ts)/);
  });

  it('ships no source maps, as it ships no TypeScript sources for them to point at', () => {
    const listing = run('tar', ['-tzf', tarball], work);
    expect(listing).not.toMatch(/\.map$/m);
    expect(listing).not.toMatch(/^package\/src\//m);
    const shipped = run('tar', ['-xzOf', tarball, '--wildcards', 'package/dist/*.js'], work);
    expect(shipped.length).toBeGreaterThan(10_000);
    expect(shipped).not.toContain('sourceMappingURL');
  });

  it('local: works with minio installed and no @aws-sdk at all; typed settings in code with no environment; multipart uploads hashed in the worker thread', async () => {
    const dir = createConsumer('local-app', ['minio']);
    expect(existsSync(join(dir, 'node_modules/@aws-sdk'))).toBe(false);
    const bucket = await createTestBucket('consumer-local');
    try {
      const result = await runConsumer(dir, {
        ...storageEnv('local', bucket),
        REGISTRY_USERNAME: AUTH_REGISTRY.username,
        REGISTRY_PASSWORD: AUTH_REGISTRY.password,
      });
      expect(result).toMatchObject({
        backend: JSON.stringify({ backend: 'LocalCredentials' }),
        stored: { bucket, key: 'consumer-project', size: 3 * 1024 * 1024 + 4 },
        sha256Matches: true,
        roundTrip: true,
        token: Buffer.from(`${AUTH_REGISTRY.username}:${AUTH_REGISTRY.password}`).toString(
          'base64',
        ),
        missing: 'ProjectNotFoundError:PROJECT_NOT_FOUND',
        refused: 'InvalidProjectError:INVALID_PROJECT',
        typed: true,
        double: { token: 'double-token', stored: 1 },
        ...CUSTOM_BACKEND_WORKS,
      });
      await expectTypedSettingsWork(dir, bucket);
      await expectMultipartUploadsWork(dir, 'local', bucket);
      const aws = await runConsumer(dir, { ...storageEnv('aws', bucket) });
      expect(aws['config-error']).toContain('npm install @aws-sdk/client-s3');
    } finally {
      await deleteTestBucket(bucket);
    }
  }, 240_000);

  it('CommonJS app: require() loads the package and its backend and testing subpaths; typed settings in code with no environment; multipart uploads hashed in the worker thread', async () => {
    const dir = createConsumer('commonjs-app', ['minio', ...AWS_PEERS], 'commonjs');
    const compiled = readFileSync(join(dir, 'dist/main.js'), 'utf8');
    expect(compiled).toContain('require("nest-credentials")');
    expect(compiled).toContain('require("nest-credentials/backend")');
    expect(compiled).toContain('require("nest-credentials/testing")');
    const typed = readFileSync(join(dir, 'dist/typed.js'), 'utf8');
    expect(typed).toContain('require("nest-credentials")');
    expect(typed).toContain('require("nest-credentials/backend")');
    const bucket = await createTestBucket('consumer-cjs');
    try {
      const result = await runConsumer(dir, { ...storageEnv('local', bucket) });
      expect(result).toMatchObject({
        backend: JSON.stringify({ backend: 'LocalCredentials' }),
        sha256Matches: true,
        roundTrip: true,
        missing: 'ProjectNotFoundError:PROJECT_NOT_FOUND',
        refused: 'InvalidProjectError:INVALID_PROJECT',
        typed: true,
        double: { token: 'double-token', stored: 1 },
        ...CUSTOM_BACKEND_WORKS,
      });
      await expectTypedSettingsWork(dir, bucket);
      await expectMultipartUploadsWork(dir, 'local', bucket);
      await expectMultipartUploadsWork(dir, 'aws', bucket);
    } finally {
      await deleteTestBucket(bucket);
    }
  }, 240_000);

  it('aws: works with the AWS SDK installed and no minio at all; multipart uploads hashed in the worker thread', async () => {
    const dir = createConsumer('aws-app', AWS_PEERS);
    expect(existsSync(join(dir, 'node_modules/minio'))).toBe(false);
    const bucket = await createTestBucket('consumer-aws');
    const ecr = await FakeEcrServer.start({ password: 'consumer-ecr' });
    try {
      const result = await runConsumer(dir, {
        ...storageEnv('aws', bucket),
        AWS_ENDPOINT_URL_ECR: ecr.url,
      });
      expect(result).toMatchObject({
        backend: JSON.stringify({ backend: 'AwsCredentials' }),
        sha256Matches: true,
        roundTrip: true,
        token: ecr.token,
        missing: 'ProjectNotFoundError:PROJECT_NOT_FOUND',
        refused: 'InvalidProjectError:INVALID_PROJECT',
        ...CUSTOM_BACKEND_WORKS,
      });
      expect(result.credentialKeys).toContain('REGISTRY_TOKEN');
      await expectMultipartUploadsWork(dir, 'aws', bucket);
      const local = await runConsumer(dir, { ...storageEnv('local', bucket) });
      expect(local['config-error']).toContain('npm install minio');
    } finally {
      await ecr.close();
      await deleteTestBucket(bucket);
    }
  }, 240_000);
});
