/**
 * Reliability, category 2: bad input. A corpus of project names (traversal in every spelling,
 * control and non-ASCII characters, lengths, leading dot or dash, values that are not strings),
 * bodies (empty, truncated signatures, other formats, over the maximum, broken streams), bucket
 * names and configuration values, tried on every backend: the in-memory double, the filesystem
 * backend, and `aws` and `local` on the real S3 server. Every case must get a typed error
 * within its deadline and write nothing: the store (objects, multipart uploads, files, the spool
 * folder) is compared before and after each case. The HTTP surface and generated inputs
 * (fast-check) are in bad-input-http.spec.ts and bad-input-generated.spec.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Credentials,
  CredentialsConfigError,
  type CredentialsModuleOptions,
  FilesystemCredentials,
  InvalidProjectError,
} from '../../src/credentials/index.js';
import { InMemoryCredentials } from '../../src/credentials/testing/index.js';
import { readAll, rejectionOf, startBackend, storageEnv } from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';
import { badBodies, badBuckets, badNames, goodNames, zipBody } from './support/corpus.js';
import { corpus, describeError, errorEvidence, label, type Trial } from './support/results.js';
import { MiB, s3 } from './support/storage.js';

const MAX_PROJECT_SIZE = 6 * MiB;
const PART_SIZE = 5 * MiB;
const CASE_TIMEOUT_MS = 10_000;
const PRESENT = 'present.zip';

/** A backend under test and how to see everything it has written. */
interface Target {
  name: string;
  credentials: Credentials;
  bucket: string;
  /** Every object, multipart upload, file and spooled temporary file, as sorted names. */
  written(): Promise<string[]>;
  close(): Promise<void>;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

async function s3Contents(bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
    keys.push(...(page.Contents ?? []).map((o) => `object ${o.Key}`));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  const uploads = await listIncompleteUploads(bucket);
  keys.push(...uploads.map((u) => `multipart upload ${u.Key}`));
  return keys.sort();
}

const options = (spoolDir: string): CredentialsModuleOptions => ({
  maxProjectSize: MAX_PROJECT_SIZE,
  partSize: PART_SIZE,
  requestTimeoutMs: 5_000,
  uploadTimeoutMs: 30_000,
  spoolDir,
});

async function inMemoryTarget(): Promise<Target> {
  const double = new InMemoryCredentials({ maxProjectSize: MAX_PROJECT_SIZE });
  double.seedProject(double.bucket, PRESENT, zipBody(100));
  return {
    name: 'in-memory',
    credentials: double,
    bucket: double.bucket,
    written: async () =>
      [...double.storedProjects().keys()].map((key) => `object ${JSON.stringify(key)}`).sort(),
    close: async () => undefined,
  };
}

async function filesystemTarget(work: string): Promise<Target> {
  const root = path.join(work, 'fs-root');
  const spool = path.join(work, 'fs-spool');
  await mkdir(spool, { recursive: true });
  const running = await startBackend(
    {
      CREDENTIALS: 'filesystem',
      PROJECTS_DIR: root,
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: '127.0.0.1:5000',
    },
    { ...options(spool), backends: { filesystem: FilesystemCredentials } },
  );
  await running.credentials.uploadProject(PRESENT, zipBody(100));
  // Bait outside the bucket: a traversal that worked would read or overwrite these.
  await mkdir(path.join(root, 'other'), { recursive: true });
  await writeFile(path.join(root, 'other', 'secret.zip'), zipBody(100));
  await writeFile(path.join(work, 'secret.zip'), zipBody(100));
  return {
    name: 'filesystem',
    credentials: running.credentials,
    bucket: 'projects',
    // The projects, the bait and the spool folder: everything under the work folder.
    written: () => filesUnder(work),
    close: () => running.close(),
  };
}

async function s3Target(backend: 'aws' | 'local', work: string): Promise<Target> {
  const bucket = await createTestBucket(`rel-input-${backend}`);
  const spool = path.join(work, `${backend}-spool`);
  await mkdir(spool, { recursive: true });
  const running = await startBackend(storageEnv(backend, bucket), options(spool));
  await running.credentials.uploadProject(PRESENT, zipBody(100));
  return {
    name: backend,
    credentials: running.credentials,
    bucket,
    written: async () => [
      ...(await s3Contents(bucket)),
      ...(await filesUnder(spool)).map((f) => `spool ${f}`),
    ],
    close: async () => {
      await running.close();
      await deleteTestBucket(bucket);
    },
  };
}

/** Fails unless `err` is an `InvalidProjectError` with one of `reasons`. */
function expectRefusal(err: Error, reasons: string[], t: Trial): void {
  t.note(describeError(err));
  t.metric('reason', (err as InvalidProjectError).reason ?? err.name);
  expect(err).toBeInstanceOf(InvalidProjectError);
  expect(reasons).toContain((err as InvalidProjectError).reason);
}

/** Compares what the target holds with `before`: anything new is a loss. */
async function expectNothingWritten(target: Target, before: string[], t: Trial): Promise<void> {
  const after = await target.written();
  const added = after.filter((entry) => !before.includes(entry));
  const removed = before.filter((entry) => !after.includes(entry));
  if (added.length > 0) t.lose(`written: ${added.join(', ')}`);
  if (removed.length > 0) t.lose(`removed: ${removed.join(', ')}`);
}

describe.each(['in-memory', 'filesystem', 'aws', 'local'] as const)(
  'bad input on the %s backend',
  (kind) => {
    let work: string;
    let target: Target;

    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), 'nest-credentials-rel-input-'));
      if (kind === 'aws' || kind === 'local') await requireS3Server();
      target =
        kind === 'in-memory'
          ? await inMemoryTarget()
          : kind === 'filesystem'
            ? await filesystemTarget(work)
            : await s3Target(kind, work);
    });

    afterAll(async () => {
      await target?.close();
      await rm(work, { recursive: true, force: true });
    });

    const meta = (group: string) => ({ category: 'bad-input' as const, group, backend: kind });

    it('refuses every bad project name on upload, writing nothing', async () => {
      const failures = await corpus(
        meta('project names refused on upload'),
        badNames(),
        async (name, t) => {
          const before = await target.written();
          const err = await rejectionOf(
            target.credentials.uploadProject(name as string, zipBody(1024)),
          );
          errorEvidence(`bad-input/${kind}`, err);
          expectRefusal(err, typeof name === 'string' ? ['name'] : ['name', 'argument'], t);
          await expectNothingWritten(target, before, t);
        },
        CASE_TIMEOUT_MS,
      );
      expect(failures).toEqual([]);
    });

    it('refuses every bad project name on download, reading nothing', async () => {
      const failures = await corpus(
        meta('project names refused on download'),
        badNames(),
        async (name, t) => {
          const outcome = await target.credentials
            .downloadProject(target.bucket, name as string)
            .then(
              async (stream) => readAll(stream),
              (err: unknown) => err as Error,
            );
          if (Buffer.isBuffer(outcome)) {
            t.lose(`served ${outcome.length} bytes for ${label(name)}`);
            return;
          }
          errorEvidence(`bad-input/${kind}`, outcome);
          expectRefusal(outcome, typeof name === 'string' ? ['name'] : ['name', 'argument'], t);
        },
        CASE_TIMEOUT_MS,
      );
      expect(failures).toEqual([]);
    });

    it('refuses every bad bucket name on download', async () => {
      const failures = await corpus(
        meta('bucket names refused on download'),
        badBuckets(),
        async (bucket, t) => {
          const outcome = await target.credentials.downloadProject(bucket as string, PRESENT).then(
            async (stream) => readAll(stream),
            (err: unknown) => err as Error,
          );
          if (Buffer.isBuffer(outcome)) {
            t.lose(`served ${outcome.length} bytes from bucket ${label(bucket)}`);
            return;
          }
          errorEvidence(`bad-input/${kind}`, outcome);
          expectRefusal(outcome, ['bucket', 'argument'], t);
        },
        CASE_TIMEOUT_MS,
      );
      expect(failures).toEqual([]);
    });

    it('refuses every bad body, writing nothing', async () => {
      const cases = badBodies(MAX_PROJECT_SIZE, PART_SIZE);
      let index = 0;
      const failures = await corpus(
        meta('bodies refused (not ZIP, truncated, over the maximum, broken streams)'),
        cases,
        async ({ body, reasons }, t) => {
          const before = await target.written();
          const err = await rejectionOf(
            target.credentials.uploadProject(`body-${index++}.zip`, body()),
          );
          errorEvidence(`bad-input/${kind}`, err);
          expectRefusal(err, reasons, t);
          await expectNothingWritten(target, before, t);
        },
        CASE_TIMEOUT_MS,
      );
      expect(failures).toEqual([]);
    });

    it('accepts the valid names next to them (the refusals are not blanket)', async () => {
      const failures = await corpus(
        meta('valid names accepted (controls)'),
        goodNames(),
        async (name, t) => {
          const data = zipBody(2048);
          const stored = await target.credentials.uploadProject(name, data);
          expect(stored.key).toBe(name);
          const back = await readAll(await target.credentials.downloadProject(target.bucket, name));
          t.expectKept(back.equals(data), `the bytes of ${label(name)} came back different`);
        },
        CASE_TIMEOUT_MS,
      );
      expect(failures).toEqual([]);
    });
  },
);

/** A valid configuration of each backend; each case below breaks one thing in it. */
function validEnv(backend: 'aws' | 'local' | 'filesystem', secret: string): Record<string, string> {
  const base = {
    BUCKET_NAME_PROJECTS: 'projects',
    REGISTRY_HOST: '127.0.0.1:5000',
  };
  if (backend === 'aws') {
    return {
      ...base,
      CREDENTIALS: 'aws',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDCONFIGCASE',
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_ENDPOINT_URL_S3: S3_SERVER.endpoint,
    };
  }
  if (backend === 'local') {
    return {
      ...base,
      CREDENTIALS: 'local',
      MINIO_ENDPOINT: S3_SERVER.endpoint,
      MINIO_ACCESS_KEY: 'config-case',
      MINIO_SECRET_KEY: secret,
      REGISTRY_USERNAME: 'builder',
      REGISTRY_PASSWORD: secret,
    };
  }
  return {
    ...base,
    CREDENTIALS: 'filesystem',
    PROJECTS_DIR: path.join(tmpdir(), 'nest-credentials-rel-config-never-created'),
    REGISTRY_USERNAME: 'builder',
    REGISTRY_PASSWORD: secret,
  };
}

interface ConfigCase {
  backend: 'aws' | 'local' | 'filesystem';
  /** Variables to change (`undefined` removes one). */
  env?: Record<string, unknown>;
  options?: Record<string, unknown>;
  /** What the error message must name. */
  names: string;
}

function configCases(): { name: string; input: ConfigCase }[] {
  const cases: { name: string; input: ConfigCase }[] = [];
  const add = (name: string, input: ConfigCase) => cases.push({ name, input });
  for (const backend of ['aws', 'local', 'filesystem'] as const) {
    for (const value of [
      undefined,
      '',
      '   ',
      'nope',
      'AWS',
      '../aws',
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      'aws,local',
      'local\u0000',
      '\uff41\uff57\uff53',
      {},
    ]) {
      add(`${backend}: CREDENTIALS ${label(value)}`, {
        backend,
        env: { CREDENTIALS: value },
        names: 'CREDENTIALS',
      });
    }
    for (const bucket of badBuckets()
      .map((c) => c.input)
      // Values are trimmed (a newline from an .env file is not an error), and String(12345) is
      // a valid name: those are not bad configuration.
      .filter((b) => b !== null && b !== 12345 && (typeof b !== 'string' || b.trim() === b))) {
      add(`${backend}: BUCKET_NAME_PROJECTS ${label(bucket)}`, {
        backend,
        env: { BUCKET_NAME_PROJECTS: bucket === '' ? undefined : bucket },
        names: 'BUCKET_NAME_PROJECTS',
      });
    }
    for (const host of [
      undefined,
      'http://',
      'host name',
      'a@b',
      '%2e%2e',
      'host:port',
      'ftp://',
      '\u0000',
    ]) {
      add(`${backend}: REGISTRY_HOST ${label(host)}`, {
        backend,
        env: { REGISTRY_HOST: host },
        names: 'REGISTRY_HOST',
      });
    }
  }
  const urls = [
    undefined,
    'not a url',
    'ftp://127.0.0.1:9000',
    'javascript:alert(1)',
    'http://',
    '127.0.0.1:9000',
    'file:///etc/passwd',
    'http://[::1',
  ];
  for (const url of urls) {
    add(`local: MINIO_ENDPOINT ${label(url)}`, {
      backend: 'local',
      env: { MINIO_ENDPOINT: url },
      names: 'MINIO_ENDPOINT',
    });
    if (url !== undefined) {
      add(`aws: AWS_ENDPOINT_URL_S3 ${label(url)}`, {
        backend: 'aws',
        env: { AWS_ENDPOINT_URL_S3: url },
        names: 'AWS_ENDPOINT_URL_S3',
      });
      add(`aws: AWS_ENDPOINT_URL_ECR ${label(url)}`, {
        backend: 'aws',
        env: { AWS_ENDPOINT_URL_ECR: url },
        names: 'AWS_ENDPOINT_URL_ECR',
      });
    }
  }
  add('local: MINIO_ACCESS_KEY missing', {
    backend: 'local',
    env: { MINIO_ACCESS_KEY: undefined },
    names: 'MINIO_ACCESS_KEY',
  });
  add('local: MINIO_SECRET_KEY missing', {
    backend: 'local',
    env: { MINIO_SECRET_KEY: undefined },
    names: 'MINIO_SECRET_KEY',
  });
  add('local: REGISTRY_PASSWORD without REGISTRY_USERNAME', {
    backend: 'local',
    env: { REGISTRY_USERNAME: undefined },
    names: 'REGISTRY_USERNAME',
  });
  add('local: REGISTRY_USERNAME without REGISTRY_PASSWORD', {
    backend: 'local',
    env: { REGISTRY_PASSWORD: undefined },
    names: 'REGISTRY_PASSWORD',
  });
  add('filesystem: REGISTRY_USERNAME without REGISTRY_PASSWORD', {
    backend: 'filesystem',
    env: { REGISTRY_PASSWORD: undefined },
    names: 'REGISTRY_PASSWORD',
  });
  add('aws: AWS_REGION missing', {
    backend: 'aws',
    env: { AWS_REGION: undefined },
    names: 'AWS_REGION',
  });
  add('aws: AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID', {
    backend: 'aws',
    env: { AWS_ACCESS_KEY_ID: undefined },
    names: 'AWS_ACCESS_KEY_ID',
  });
  add('aws: AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY', {
    backend: 'aws',
    env: { AWS_SECRET_ACCESS_KEY: undefined },
    names: 'AWS_SECRET_ACCESS_KEY',
  });
  for (const value of ['yes', '1', 'TRUE!', ' ']) {
    if (value.trim() === '') continue;
    add(`aws: AWS_S3_FORCE_PATH_STYLE ${label(value)}`, {
      backend: 'aws',
      env: { AWS_S3_FORCE_PATH_STYLE: value },
      names: 'AWS_S3_FORCE_PATH_STYLE',
    });
  }
  for (const value of ['sometimes', 'always', 'when-required']) {
    add(`aws: AWS_REQUEST_CHECKSUM_CALCULATION ${label(value)}`, {
      backend: 'aws',
      env: { AWS_REQUEST_CHECKSUM_CALCULATION: value },
      names: 'AWS_REQUEST_CHECKSUM_CALCULATION',
    });
  }
  const badOptions: [string, unknown][] = [
    ['maxProjectSize', -1],
    ['maxProjectSize', 0],
    ['maxProjectSize', 21],
    ['maxProjectSize', 1.5],
    ['maxProjectSize', Number.NaN],
    ['maxProjectSize', Number.POSITIVE_INFINITY],
    ['maxProjectSize', 6 * 1024 ** 3],
    ['maxProjectSize', '1024'],
    ['partSize', 1],
    ['partSize', 4 * MiB],
    ['partSize', 1024 * MiB],
    ['partConcurrency', 0],
    ['partConcurrency', 65],
    ['partConcurrency', -1],
    ['requestTimeoutMs', 0],
    ['requestTimeoutMs', 50],
    ['requestTimeoutMs', -1],
    ['uploadTimeoutMs', 10],
    ['uploadTimeoutMs', 999],
    ['spoolDir', 'relative/dir'],
    ['spoolDir', 42],
    ['backend', 'nope'],
    ['backends', { custom: 'not a class' }],
  ];
  for (const backend of ['aws', 'local'] as const) {
    for (const [option, value] of badOptions) {
      add(`${backend}: option ${option} ${label(value)}`, {
        backend,
        options: { [option]: value },
        names:
          option === 'backends' ? 'backends.custom' : option === 'backend' ? 'backend' : option,
      });
    }
  }
  return cases;
}

describe('bad configuration: refused at startup, typed, naming the variable, without the secret', () => {
  it('refuses every case before the app would listen', async () => {
    const secret = `cfg-secret-${Date.now().toString(36)}-value`;
    const failures = await corpus(
      {
        category: 'bad-input',
        group: 'configuration values refused at startup',
        backend: 'aws, local, filesystem',
      },
      configCases(),
      async ({ backend, env = {}, options: opts = {}, names }, t) => {
        const merged: Record<string, unknown> = { ...validEnv(backend, secret) };
        for (const [name, value] of Object.entries(env)) {
          if (value === undefined) delete merged[name];
          else merged[name] = value;
        }
        const started = performance.now();
        const err = await rejectionOf(
          startBackend(merged as Record<string, string>, {
            ...(backend === 'filesystem'
              ? { backends: { filesystem: FilesystemCredentials } }
              : {}),
            ...opts,
          }),
        );
        const ms = performance.now() - started;
        errorEvidence('bad-input/config', err);
        t.note(describeError(err));
        expect(err).toBeInstanceOf(CredentialsConfigError);
        expect(err.message).toContain(names);
        // Startup never contacts a server: a refusal is immediate.
        expect(ms).toBeLessThan(2_000);
        t.expectKept(!err.message.includes(secret), 'the message shows a secret value');
        t.expectKept(
          !JSON.stringify(err).includes(secret),
          'the error (as JSON) holds a secret value',
        );
      },
      CASE_TIMEOUT_MS,
    );
    expect(failures).toEqual([]);
  });
});
