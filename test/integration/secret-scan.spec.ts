import { inspect } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { jest } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { type Credentials } from '../../src/credentials/index.js';
import { listen, type RunningApp } from '../e2e/support/example-app.js';
import { EMPTY_ZIP, readAll, startBackend, storageEnv, zipLike } from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import { fakeDateOnly } from '../support/fake-date.js';
import {
  AUTH_REGISTRY,
  createTestS3Client,
  requireRegistry,
  requireS3Server,
  S3_SERVER,
  uniqueBucketName,
} from '../support/test-servers.js';

const scanClient = createTestS3Client(S3_SERVER.scanAccount);

/**
 * The scenarios of the integration suite, run with distinctive secret values, while every log
 * line (Nest's logger and raw stdout/stderr), every error (message, JSON, inspect, cause) and
 * every HTTP answer (status, headers, body) is captured and scanned for them.
 */
const SECRETS = {
  storageSecret: S3_SERVER.scanAccount.secretKey,
  wrongStorageSecret: 'Wr0ng-Storage-Secret-5522',
  apiToken: 'Api-Token-Distinct-9944-abcdef',
  registryPassword: 'Reg-Pass-Distinct-8833',
  awsSecret: 'Aws-Secret-Distinct-7711',
  awsSessionToken: 'Aws-Session-Token-Distinct-6655-IQoJb3JpZ2luX2VjEJr//wEa+Q==',
};

const REFRESH_FAILED = 'Refreshing the registry token failed';

const captured: string[] = [];
const capture = (where: string, value: unknown) =>
  captured.push(`${where}: ${typeof value === 'string' ? value : inspect(value, { depth: 6 })}`);

class CapturingLogger implements LoggerService {
  log = (message: unknown, ...rest: unknown[]) => capture('log', [message, ...rest]);
  error = (message: unknown, ...rest: unknown[]) => capture('error', [message, ...rest]);
  warn = (message: unknown, ...rest: unknown[]) => capture('warn', [message, ...rest]);
  debug = (message: unknown, ...rest: unknown[]) => capture('debug', [message, ...rest]);
  verbose = (message: unknown, ...rest: unknown[]) => capture('verbose', [message, ...rest]);
}

function captureError(err: unknown): void {
  capture('error message', err instanceof Error ? err.message : String(err));
  capture('error json', JSON.stringify(err));
  capture('error inspect', err);
  if (err instanceof Error) capture('error cause', err.cause);
}

async function attempt(call: () => Promise<unknown>): Promise<void> {
  try {
    const value = await call();
    if (value && typeof (value as NodeJS.ReadableStream).pipe === 'function') {
      await readAll(value as never).catch(captureError);
    }
  } catch (err) {
    captureError(err);
  }
}

async function answer(app: RunningApp, method: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${app.url}${path}`, { method, ...init });
  const body = Buffer.from(await response.arrayBuffer());
  const text = response.headers.get('content-type')?.includes('zip') ? '' : body.toString('utf8');
  capture('http', `${response.status} ${JSON.stringify([...response.headers])} ${text}`);
  return response.status;
}

let bucket: string;
const writeStdout = process.stdout.write.bind(process.stdout);
const writeStderr = process.stderr.write.bind(process.stderr);

beforeAll(async () => {
  await requireS3Server();
  await requireRegistry(AUTH_REGISTRY.host);
  // Swift keeps buckets per account: this one belongs to the scan account.
  bucket = uniqueBucketName('secret-scan');
  await scanClient.send(new CreateBucketCommand({ Bucket: bucket }));
  // Raw output too: a line that bypasses Nest's logger still counts.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    capture('stdout', String(chunk));
    return writeStdout(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    capture('stderr', String(chunk));
    return writeStderr(chunk, ...rest);
  }) as typeof process.stderr.write;
});

afterAll(async () => {
  process.stdout.write = writeStdout;
  process.stderr.write = writeStderr;
  if (!bucket) return;
  const listing = await scanClient.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const object of listing.Contents ?? []) {
    await scanClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
  }
  await scanClient.send(new DeleteBucketCommand({ Bucket: bucket }));
});

it('runs the scenarios: no secret in any log line, error or HTTP answer', async () => {
  const scanAccount = S3_SERVER.scanAccount;
  const env = {
    ...storageEnv('local', bucket, scanAccount),
    REGISTRY_HOST: AUTH_REGISTRY.host,
    REGISTRY_USERNAME: AUTH_REGISTRY.username,
    REGISTRY_PASSWORD: SECRETS.registryPassword,
    CREDENTIALS_API_TOKEN: SECRETS.apiToken,
    MAX_PROJECT_SIZE: String(1024 * 1024),
  };

  // Over HTTP, the example app on the local backend, logging through a capturing logger.
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forTest(env)] }).compile();
  const nest = moduleRef.createNestApplication({ logger: new CapturingLogger() });
  const app = await listen(nest);
  const auth = { authorization: `Bearer ${SECRETS.apiToken}` };
  const zip = { ...auth, 'content-type': 'application/zip' };
  try {
    expect(
      await answer(app, 'PUT', '/projects/ok.zip', { headers: zip, body: zipLike(4096) }),
    ).toBe(201);
    expect(await answer(app, 'GET', '/projects/ok.zip', { headers: auth })).toBe(200);
    expect(await answer(app, 'GET', '/registry/token', { headers: auth })).toBe(200);
    expect(await answer(app, 'GET', '/health')).toBe(503); // the registry refuses the password
    await answer(app, 'PUT', '/projects/..bad', { headers: zip, body: zipLike(10) });
    await answer(app, 'PUT', '/projects/text.zip', { headers: zip, body: 'not a zip' });
    await answer(app, 'PUT', '/projects/big.zip', { headers: zip, body: zipLike(2 * 1024 * 1024) });
    await answer(app, 'GET', '/projects/missing.zip', { headers: auth });
    await answer(app, 'GET', '/projects/ok.zip', { headers: { authorization: 'Bearer wrong' } });
    await answer(app, 'GET', '/projects/ok.zip');
  } finally {
    await app.close();
  }

  // The same app with a wrong storage secret and with storage down: 403 and 503 are logged.
  for (const broken of [
    { ...env, MINIO_SECRET_KEY: SECRETS.wrongStorageSecret },
    { ...env, MINIO_ENDPOINT: 'http://127.0.0.1:9' },
  ]) {
    const ref = await Test.createTestingModule({ imports: [AppModule.forTest(broken)] }).compile();
    const brokenApp = await listen(ref.createNestApplication({ logger: new CapturingLogger() }));
    try {
      await answer(brokenApp, 'PUT', '/projects/x.zip', { headers: zip, body: EMPTY_ZIP });
      await answer(brokenApp, 'GET', '/projects/x.zip', { headers: auth });
      await answer(brokenApp, 'GET', '/health');
    } finally {
      await brokenApp.close();
    }
  }

  // Directly, on both backends, with right and wrong keys, and the ECR path of aws.
  const ecr = await FakeEcrServer.start({ password: 'ecr-scan' });
  try {
    for (const backendEnv of [
      {
        ...storageEnv('aws', bucket, scanAccount),
        AWS_ENDPOINT_URL_ECR: ecr.url,
        AWS_SESSION_TOKEN: SECRETS.awsSessionToken,
      },
      {
        ...storageEnv('aws', bucket, {
          accessKey: scanAccount.accessKey,
          secretKey: SECRETS.awsSecret,
        }),
        AWS_SESSION_TOKEN: SECRETS.awsSessionToken,
      },
      storageEnv('local', bucket, {
        accessKey: scanAccount.accessKey,
        secretKey: SECRETS.wrongStorageSecret,
      }),
    ]) {
      const running = await startBackend(backendEnv, { requestTimeoutMs: 2_000 });
      const credentials: Credentials = running.credentials;
      try {
        capture('json', JSON.stringify(credentials));
        capture('inspect', credentials);
        await attempt(() => credentials.uploadProject('direct.zip', zipLike(2048)));
        await attempt(() => credentials.downloadProject(bucket, 'direct.zip'));
        await attempt(() => credentials.downloadProject(bucket, 'missing.zip'));
        await attempt(() => credentials.uploadProject('../x', zipLike(10)));
        await attempt(() => credentials.getProjectDownloadUrl(bucket, 'missing.zip', 60));
        await attempt(() => credentials.checkStorage());
        await attempt(() => credentials.checkRegistry());
      } finally {
        await running.close();
      }
    }
  } finally {
    await ecr.close();
  }

  // The aws backend with temporary keys while ECR fails and a token is cached past its
  // half-life: the background refresh fails and logs a warning, which the scan covers.
  const outage = await FakeEcrServer.start({ password: 'ecr-scan' });
  const temporary = await startBackend(
    {
      ...storageEnv('aws', bucket, scanAccount),
      AWS_ENDPOINT_URL_ECR: outage.url,
      AWS_SESSION_TOKEN: SECRETS.awsSessionToken,
    },
    { requestTimeoutMs: 1_000 },
  );
  // A testing module mutes warnings (TestingLogger): log as an application would.
  Logger.overrideLogger(new CapturingLogger());
  try {
    await attempt(() => temporary.credentials.getRegistryToken());
    fakeDateOnly(Date.now() + 7 * 60 * 60_000);
    outage.failNext(10_000, 503);
    await attempt(() => temporary.credentials.getRegistryToken());
    await attempt(() => temporary.credentials.checkRegistry());
    const giveUpAt = performance.now() + 5_000;
    while (
      !captured.some((line) => line.includes(REFRESH_FAILED)) &&
      performance.now() < giveUpAt
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    jest.useRealTimers();
    await temporary.close();
    await outage.close();
  }
  // The warning reached the captured log output: the scan below covers it.
  expect(captured.filter((line) => line.includes(REFRESH_FAILED)).length).toBeGreaterThan(0);

  expect(captured.length).toBeGreaterThan(40);
  for (const [name, secret] of Object.entries(SECRETS)) {
    const hits = captured.filter((line) => line.includes(secret));
    expect({ secret: name, hits }).toEqual({ secret: name, hits: [] });
  }
}, 120_000);
