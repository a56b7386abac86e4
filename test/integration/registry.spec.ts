import {
  type Credentials,
  RegistryAuthError,
  StorageUnavailableError,
} from '../../src/credentials/index.js';
import { rejectionOf, startBackend, type RunningBackend } from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import {
  AUTH_REGISTRY,
  OPEN_REGISTRY,
  requireRegistry,
  S3_SERVER,
} from '../support/test-servers.js';

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

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
    expect(ecr.calls).toBe(1);
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
