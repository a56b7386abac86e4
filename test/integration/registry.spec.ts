import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import {
  type Credentials,
  RegistryAuthError,
  StorageUnavailableError,
} from '../../src/credentials/index.js';
import { CredentialsHealthIndicator } from '../../src/credentials/health/index.js';
import { rejectionOf, startBackend, storageEnv, type RunningBackend } from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import { fakeDateOnly } from '../support/fake-date.js';
import { latencies } from '../support/latency.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  deleteTestBucket,
  OPEN_REGISTRY,
  requireRegistry,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const HOUR = 60 * 60_000;
const tokenOf = (password: string) => Buffer.from(`AWS:${password}`).toString('base64');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function localEnv(registry: Record<string, string>): Record<string, string> {
  return {
    CREDENTIALS: 'local',
    BUCKET_NAME_PROJECTS: 'projects',
    MINIO_ENDPOINT: S3_SERVER.endpoint,
    MINIO_ACCESS_KEY: 'unused',
    MINIO_SECRET_KEY: 'unused',
    ...registry,
  };
}

/** What the registry answers to `GET /v2/` with `token` as Docker sends it (basic auth). */
async function registryStatus(host: string, token: string | null): Promise<number> {
  const response = await fetch(`http://${host}/v2/`, {
    headers: token === null ? {} : { authorization: `Basic ${token}` },
    signal: AbortSignal.timeout(5_000),
  });
  await response.body?.cancel();
  return response.status;
}

describe('local backend against a real Docker registry', () => {
  beforeAll(async () => {
    await requireRegistry(AUTH_REGISTRY.host);
    await requireRegistry(OPEN_REGISTRY.host);
  });

  it('returns null for an open registry, which then answers GET /v2/ with 200', async () => {
    const running = await startBackend(localEnv({ REGISTRY_HOST: OPEN_REGISTRY.host }));
    try {
      const token = await running.credentials.getRegistryToken();
      expect(token).toBeNull();
      expect(await registryStatus(OPEN_REGISTRY.host, token)).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('returns a basic-auth token that the htpasswd registry accepts (200)', async () => {
    const running = await startBackend(
      localEnv({
        REGISTRY_HOST: AUTH_REGISTRY.host,
        REGISTRY_USERNAME: AUTH_REGISTRY.username,
        REGISTRY_PASSWORD: AUTH_REGISTRY.password,
      }),
    );
    try {
      const token = await running.credentials.getRegistryToken();
      expect(token).toBe(
        Buffer.from(`${AUTH_REGISTRY.username}:${AUTH_REGISTRY.password}`).toString('base64'),
      );
      expect(await registryStatus(AUTH_REGISTRY.host, token)).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('returns a token that the registry refuses (401) when the password is wrong', async () => {
    const running = await startBackend(
      localEnv({
        REGISTRY_HOST: AUTH_REGISTRY.host,
        REGISTRY_USERNAME: AUTH_REGISTRY.username,
        REGISTRY_PASSWORD: 'not-the-password',
      }),
    );
    try {
      const token = await running.credentials.getRegistryToken();
      expect(await registryStatus(AUTH_REGISTRY.host, token)).toBe(401);
      expect(await registryStatus(AUTH_REGISTRY.host, null)).toBe(401);
    } finally {
      await running.close();
    }
  });
});

describe('aws backend against a loopback ECR endpoint (real SDK client, signer and retries)', () => {
  let ecr: FakeEcrServer;
  let running: RunningBackend;
  let credentials: Credentials;

  function awsEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      CREDENTIALS: 'aws',
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: `https://${ECR_HOST}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDINTEGRATION',
      AWS_SECRET_ACCESS_KEY: 'integration-secret',
      AWS_ENDPOINT_URL_ECR: ecr.url,
      ...extra,
    };
  }

  beforeEach(async () => {
    ecr = await FakeEcrServer.start({ password: 'ecr-password' });
    running = await startBackend(awsEnv(), { requestTimeoutMs: 2_000 });
    credentials = running.credentials;
  });

  afterEach(async () => {
    await running.close();
    await ecr.close();
  });

  it('returns the authorizationToken of the registry named by REGISTRY_HOST, signed with the keys', async () => {
    ecr.setProxyEndpoints([
      'https://999999999999.dkr.ecr.us-east-1.amazonaws.com',
      `https://${ECR_HOST}`,
    ]);
    const token = await credentials.getRegistryToken();
    expect(token).toBe(Buffer.from('AWS:ecr-password').toString('base64'));
    expect(ecr.requests[0].accessKeyId).toBe('AKIDINTEGRATION');
    expect(ecr.requests[0].region).toBe('us-east-1');
  });

  it('makes one API call for 100 concurrent callers, and none for later cached calls', async () => {
    ecr.hang(200);
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => credentials.getRegistryToken()),
    );
    ecr.hang(0);
    expect(new Set(tokens).size).toBe(1);
    for (let i = 0; i < 50; i++) await credentials.getRegistryToken();
    expect(ecr.calls).toBe(1);
  });

  it('includes the current REGISTRY_TOKEN in getCredentials()', async () => {
    const record = await credentials.getCredentials();
    expect(record.REGISTRY_TOKEN).toBe(ecr.token);
    expect(record.BUCKET_NAME_PROJECTS).toBe('projects');
    // No temporary keys configured: present and null, like the other optional keys.
    expect(record).toHaveProperty('AWS_SESSION_TOKEN', null);
    expect(ecr.calls).toBe(1);
  });

  it('signs ECR calls with AWS_SESSION_TOKEN and hands it to build jobs in getCredentials()', async () => {
    const session = 'Integration-Session-Token-FwoGZXIvYXdzEJr//////////wEaDLx+9Q==';
    const temporary = await startBackend(awsEnv({ AWS_SESSION_TOKEN: session }), {
      requestTimeoutMs: 2_000,
    });
    try {
      const record = await temporary.credentials.getCredentials();
      expect(record.AWS_ACCESS_KEY_ID).toBe('AKIDINTEGRATION');
      expect(record.AWS_SECRET_ACCESS_KEY).toBe('integration-secret');
      expect(record.AWS_SESSION_TOKEN).toBe(session);
      expect(record.REGISTRY_TOKEN).toBe(ecr.token);
      expect(ecr.requests.at(-1)?.headers['x-amz-security-token']).toBe(session);
    } finally {
      await temporary.close();
    }
  });

  it('retries a burst of throttling and still returns a token', async () => {
    ecr.throttleNext(3);
    const token = await credentials.getRegistryToken();
    expect(token).toBe(ecr.token);
    expect(ecr.calls).toBe(4);
  });

  it('gives up on a registry API that keeps failing with StorageUnavailableError', async () => {
    ecr.failNext(100, 503);
    const err = await rejectionOf(credentials.getRegistryToken());
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(ecr.calls).toBeGreaterThan(1);
  });

  it('refuses with RegistryAuthError, naming both hosts, when no proxyEndpoint matches', async () => {
    ecr.setProxyEndpoints(['https://999999999999.dkr.ecr.us-east-1.amazonaws.com']);
    const err = await rejectionOf(credentials.getRegistryToken());
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect(err.message).toContain(ECR_HOST);
    expect(err.message).toContain('999999999999.dkr.ecr.us-east-1.amazonaws.com');
  });

  it('never hands out a token within 5 minutes of its expiry', async () => {
    ecr.setToken('short-lived', new Date(Date.now() + 4 * 60_000));
    const err = await rejectionOf(credentials.getRegistryToken());
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect(err.message).toContain('expires at');
  });

  it('ends a call to an endpoint that stops answering within its deadline', async () => {
    ecr.hang(60_000);
    const started = Date.now();
    const err = await rejectionOf(credentials.getRegistryToken());
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('aws backend while ECR is down and a still-usable token is cached (past half-life)', () => {
  const REFRESH_DEADLINE_MS = 2_000;
  let ecr: FakeEcrServer;
  let running: RunningBackend;
  let bucket: string;
  let warnings: { message: string; context: string | undefined }[];

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket('ecr-outage');
  });

  afterAll(async () => {
    if (bucket) await deleteTestBucket(bucket);
  });

  beforeEach(async () => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(function (this: Logger, message) {
      warnings.push({
        message: String(message),
        context: (this as unknown as { context?: string }).context,
      });
    });
    ecr = await FakeEcrServer.start({ password: 'first-password' });
    running = await startBackend(
      {
        ...storageEnv('aws', bucket),
        REGISTRY_HOST: `https://${ECR_HOST}`,
        AWS_ENDPOINT_URL_ECR: ecr.url,
      },
      { requestTimeoutMs: REFRESH_DEADLINE_MS },
    );
  });

  afterEach(async () => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    await running?.close();
    await ecr?.close();
  });

  it('leaves nothing running after onModuleDestroy: the hung background refresh is cancelled', async () => {
    const { credentials } = running;
    expect(await credentials.getRegistryToken()).toBe(tokenOf('first-password'));
    fakeDateOnly();
    jest.setSystemTime(Date.now() + 7 * HOUR);
    ecr.hang(60_000);
    expect(await credentials.getRegistryToken()).toBe(tokenOf('first-password'));
    const arrived = performance.now();
    while (ecr.pending === 0 && performance.now() - arrived < 1_000) await pause(10);
    expect(ecr.pending).toBe(1);

    const closing = performance.now();
    await running.close();
    while (ecr.pending > 0 && performance.now() - closing < 1_000) await pause(10);

    // The request went away with the module, long before its 2 s deadline.
    expect(ecr.pending).toBe(0);
    expect(performance.now() - closing).toBeLessThan(1_000);
    const err = await rejectionOf(credentials.getRegistryToken());
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(ecr.calls).toBe(2);
  });

  it.each([
    [
      'stops answering',
      (fake: FakeEcrServer) => fake.hang(60_000),
      (fake: FakeEcrServer) => fake.hang(0),
    ],
    [
      'fails every call with 503',
      (fake: FakeEcrServer) => fake.failNext(100_000, 503),
      (fake: FakeEcrServer) => fake.clearFaults(),
    ],
  ])(
    'while ECR %s: token, getCredentials() and health answer from the cache at once; refreshed once ECR is back',
    async (_outage, down, up) => {
      const { credentials } = running;
      expect(await credentials.getRegistryToken()).toBe(tokenOf('first-password'));
      fakeDateOnly();
      jest.setSystemTime(Date.now() + 7 * HOUR);
      ecr.setToken('second-password', new Date(Date.now() + 12 * HOUR));
      down(ecr);
      const callsBefore = ecr.calls;
      const health = new CredentialsHealthIndicator(new HealthIndicatorService(), credentials);

      // While the first refresh is in flight.
      const token = await latencies(
        100,
        100,
        () => credentials.getRegistryToken(),
        (value) => expect(value).toBe(tokenOf('first-password')),
      );
      // Then after it failed (logged), while the next one waits for its backoff.
      const failed = performance.now();
      while (warnings.length === 0 && performance.now() - failed < REFRESH_DEADLINE_MS + 2_000) {
        await pause(20);
      }
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      const record = await latencies(
        100,
        100,
        () => credentials.getCredentials(),
        (value) => expect(value.REGISTRY_TOKEN).toBe(tokenOf('first-password')),
      );
      const registryCheck = await latencies(100, 100, () => credentials.checkRegistry());
      // The indicator also asks the storage (a HEAD of the bucket on the test server).
      const healthCheck = await latencies(
        100,
        1_000,
        () => health.isHealthy('credentials'),
        (value) =>
          expect(value.credentials).toMatchObject({ status: 'up', registry: { status: 'up' } }),
      );
      expect(token.median).toBeLessThan(1);
      expect(record.median).toBeLessThan(1);
      expect(registryCheck.median).toBeLessThan(1);
      expect(healthCheck.median).toBeLessThan(100);
      // One background refresh at a time with backoff, not one per caller (400 callers).
      expect(ecr.calls - callsBefore).toBeLessThanOrEqual(30);

      up(ecr);
      const back = performance.now();
      let current = await credentials.getRegistryToken();
      while (current !== tokenOf('second-password') && performance.now() - back < 20_000) {
        await pause(50);
        current = await credentials.getRegistryToken();
      }
      expect(current).toBe(tokenOf('second-password'));
      expect((await credentials.getCredentials()).REGISTRY_TOKEN).toBe(tokenOf('second-password'));

      // The failed refreshes were logged, under 'Credentials', without a secret.
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      for (const { message, context } of warnings) {
        expect(context).toBe('Credentials');
        for (const secret of ['first-password', 'second-password', S3_SERVER.secretKey]) {
          expect(message).not.toContain(secret);
        }
        expect(message).not.toContain(tokenOf('first-password'));
      }
    },
  );
});
