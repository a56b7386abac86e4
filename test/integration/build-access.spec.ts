import { createHook } from 'node:async_hooks';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Controller, Get, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import {
  CREDENTIALS_PROVIDER,
  type Credentials,
  CredentialsModule,
  FilesystemCredentials,
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../../src/credentials/index.js';
import { CredentialsHealthIndicator } from '../../src/credentials/health/index.js';
import {
  objectExists,
  readAll,
  rejectionOf,
  type RunningBackend,
  startBackend,
  STORAGE_BACKENDS,
  storageEnv,
  streamOf,
  zipLike,
} from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireRegistry,
  requireS3Server,
  S3_SERVER,
  startAuthRegistry,
  startS3Server,
  stopAuthRegistry,
  stopS3Server,
} from '../support/test-servers.js';

const MiB = 1024 * 1024;

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

const withRegistryAuth = (
  env: Record<string, string>,
  password: string = AUTH_REGISTRY.password,
) => ({
  ...env,
  REGISTRY_HOST: AUTH_REGISTRY.host,
  REGISTRY_USERNAME: AUTH_REGISTRY.username,
  REGISTRY_PASSWORD: password,
});

async function registryStatus(authHeader: string | undefined): Promise<number> {
  const response = await fetch(`http://${AUTH_REGISTRY.host}/v2/`, {
    headers: authHeader ? { authorization: authHeader } : {},
    signal: AbortSignal.timeout(5_000),
  });
  await response.body?.cancel();
  return response.status;
}

describe('registry auth in the shapes tools use', () => {
  beforeAll(() => requireRegistry(AUTH_REGISTRY.host));

  it('local: a Docker config built by the module authenticates GET /v2/ on the htpasswd registry', async () => {
    const running = await startBackend(withRegistryAuth(storageEnv('local', 'projects')));
    try {
      const config = await running.credentials.getDockerConfig();
      expect(Object.keys(config.auths)).toEqual([AUTH_REGISTRY.host]);
      expect(await registryStatus(`Basic ${config.auths[AUTH_REGISTRY.host].auth}`)).toBe(200);
      const auth = await running.credentials.getRegistryAuth();
      expect(auth).toEqual({
        registry: AUTH_REGISTRY.host,
        username: AUTH_REGISTRY.username,
        password: AUTH_REGISTRY.password,
        token: config.auths[AUTH_REGISTRY.host].auth,
        expiresAt: null,
      });
    } finally {
      await running.close();
    }
  });

  it('a password containing ":" round-trips', async () => {
    const running = await startBackend(
      withRegistryAuth(storageEnv('local', 'projects'), 'pa:ss:w0rd:'),
    );
    try {
      const auth = await running.credentials.getRegistryAuth();
      expect(auth?.username).toBe(AUTH_REGISTRY.username);
      expect(auth?.password).toBe('pa:ss:w0rd:');
    } finally {
      await running.close();
    }
  });

  it('an open registry has no auth and an empty Docker config', async () => {
    const running = await startBackend(storageEnv('local', 'projects'));
    try {
      expect(await running.credentials.getRegistryAuth()).toBeNull();
      expect(await running.credentials.getDockerConfig()).toEqual({ auths: {} });
    } finally {
      await running.close();
    }
  });

  it('aws: AWS / password with the ECR expiry, from the same cache as getRegistryToken()', async () => {
    const ecr = await FakeEcrServer.start({ password: 'ecr:pass' });
    const expiresAt = new Date(Date.now() + 12 * 3600_000);
    ecr.setToken('ecr:pass', expiresAt);
    const running = await startBackend({
      ...storageEnv('aws', 'projects'),
      REGISTRY_HOST: ECR_HOST,
      AWS_ENDPOINT_URL_ECR: ecr.url,
    });
    try {
      const auth = await running.credentials.getRegistryAuth();
      expect(auth).toMatchObject({ registry: ECR_HOST, username: 'AWS', password: 'ecr:pass' });
      expect(Math.abs((auth?.expiresAt?.getTime() ?? 0) - expiresAt.getTime())).toBeLessThan(1_000);
      expect(await running.credentials.getDockerConfig()).toEqual({
        auths: { [ECR_HOST]: { auth: ecr.token } },
      });
      expect(await running.credentials.getRegistryToken()).toBe(ecr.token);
      expect(ecr.calls).toBe(1);
    } finally {
      await running.close();
      await ecr.close();
    }
  });
});

describe.each(STORAGE_BACKENDS)('%s: presigned project downloads', (backend) => {
  let bucket: string;
  let running: RunningBackend;

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket(`presign-${backend}`);
    running = await startBackend(storageEnv(backend, bucket));
  });

  afterAll(async () => {
    await running?.close();
    if (bucket) await deleteTestBucket(bucket);
  });

  it('downloads the exact bytes with a plain fetch, then stops working after its time-to-live', async () => {
    const data = zipLike(2 * MiB);
    await running.credentials.uploadProject('presigned.zip', data);
    const url = await running.credentials.getProjectDownloadUrl(bucket, 'presigned.zip', 2);
    // SigV4: the access key id is in the URL by design; the secret never is.
    expect(url).toContain('X-Amz-Signature=');
    expect(url).not.toContain(S3_SERVER.secretKey);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const expired = await fetch(url);
    await expired.body?.cancel();
    expect(expired.status).toBe(403);
  });

  it('refuses a missing project with ProjectNotFoundError instead of a URL to a 404', async () => {
    const err = await rejectionOf(
      running.credentials.getProjectDownloadUrl(bucket, 'nope.zip', 60),
    );
    expect(err).toBeInstanceOf(ProjectNotFoundError);
  });

  it('refuses a time-to-live outside 1 s to 7 days', async () => {
    for (const ttl of [0, -1, 1.5, 8 * 24 * 3600]) {
      const err = await rejectionOf(
        running.credentials.getProjectDownloadUrl(bucket, 'x.zip', ttl),
      );
      expect(err).toBeInstanceOf(InvalidProjectError);
    }
  });
});

it('filesystem: presigned URLs are a typed "not supported" error', async () => {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: true,
        skipProcessEnv: true,
        load: [
          () => ({
            CREDENTIALS: 'filesystem',
            PROJECTS_DIR: '/tmp/nest-credentials-presign-fs',
            BUCKET_NAME_PROJECTS: 'projects',
            REGISTRY_HOST: '127.0.0.1:5000',
          }),
        ],
      }),
      CredentialsModule.forRoot({ backends: { filesystem: FilesystemCredentials } }),
    ],
  }).compile();
  const credentials = moduleRef.get<Credentials>(CREDENTIALS_PROVIDER);
  const err = await rejectionOf(credentials.getProjectDownloadUrl('projects', 'x.zip', 60));
  expect(err).toBeInstanceOf(NotSupportedError);
  await moduleRef.close();
});

describe('health indicator', () => {
  @Controller('health')
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly indicator: CredentialsHealthIndicator,
    ) {}

    @Get()
    @HealthCheck()
    check() {
      return this.health.check([
        () => this.indicator.isHealthy('credentials', { timeoutMs: 3_000 }),
      ]);
    }
  }

  let bucket: string;

  beforeAll(async () => {
    await requireS3Server();
    await requireRegistry(AUTH_REGISTRY.host);
    bucket = await createTestBucket('health');
  });

  afterAll(async () => {
    if (bucket) await deleteTestBucket(bucket);
  });

  async function startApp(env: Record<string, string>) {
    @Module({
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          skipProcessEnv: true,
          load: [() => env],
        }),
        CredentialsModule.forRoot({ isGlobal: true, requestTimeoutMs: 2_000 }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [HealthController],
      providers: [CredentialsHealthIndicator],
    })
    class HealthApp {}
    const moduleRef = await Test.createTestingModule({ imports: [HealthApp] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  it('local: up, down with a reason while Swift or the registry is stopped, up again after restart', async () => {
    const app = await startApp(withRegistryAuth(storageEnv('local', bucket)));
    try {
      const up = await request(app.getHttpServer()).get('/health');
      expect(up.status).toBe(200);
      expect(up.body.info.credentials).toEqual({
        status: 'up',
        storage: { status: 'up' },
        registry: { status: 'up' },
      });

      stopS3Server();
      try {
        const down = await request(app.getHttpServer()).get('/health');
        expect(down.status).toBe(503);
        expect(down.body.error.credentials.storage).toMatchObject({
          status: 'down',
          code: 'STORAGE_UNAVAILABLE',
        });
        expect(down.body.error.credentials.registry).toEqual({ status: 'up' });
      } finally {
        startS3Server();
      }

      stopAuthRegistry();
      try {
        const down = await request(app.getHttpServer()).get('/health');
        expect(down.status).toBe(503);
        expect(down.body.error.credentials.registry).toMatchObject({
          status: 'down',
          code: 'STORAGE_UNAVAILABLE',
        });
      } finally {
        startAuthRegistry();
      }

      const again = await request(app.getHttpServer()).get('/health');
      expect(again.status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('local: a wrong registry password or a missing bucket is down with its code', async () => {
    const app = await startApp(
      withRegistryAuth(storageEnv('local', `${bucket}-missing`), 'wrong-password'),
    );
    try {
      const down = await request(app.getHttpServer()).get('/health');
      expect(down.status).toBe(503);
      expect(down.body.error.credentials.storage.code).toBe('BUCKET_NOT_FOUND');
      expect(down.body.error.credentials.registry.code).toBe('REGISTRY_AUTH');
      expect(JSON.stringify(down.body)).not.toContain('wrong-password');
    } finally {
      await app.close();
    }
  });

  it('aws: storage through S3, registry through ECR', async () => {
    const ecr = await FakeEcrServer.start();
    const app = await startApp({
      ...storageEnv('aws', bucket),
      REGISTRY_HOST: ECR_HOST,
      AWS_ENDPOINT_URL_ECR: ecr.url,
    });
    try {
      const up = await request(app.getHttpServer()).get('/health');
      expect(up.status).toBe(200);
      ecr.failNext(100, 503);
      const down = await request(app.getHttpServer()).get('/health');
      // The cached token is still good, so the registry stays up while ECR hiccups.
      expect(down.status).toBe(200);
    } finally {
      await app.close();
      await ecr.close();
    }
  });
});

describe.each(STORAGE_BACKENDS)('%s: clean shutdown', (backend) => {
  let bucket: string;

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket(`shutdown-${backend}`);
  });

  afterAll(async () => {
    if (bucket) await deleteTestBucket(bucket);
  });

  it('app.close() while a 100 MiB upload is being sent to storage aborts it, leaving no parts', async () => {
    const running = await startBackend(storageEnv(backend, bucket));
    const upload = running.credentials.uploadProject('closing.zip', streamOf(zipLike(100 * MiB)));
    const settled = upload.catch((err: unknown) => err);
    while ((await listIncompleteUploads(bucket)).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await running.close();
    const err = await settled;
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain('shutting down');
    expect(await listIncompleteUploads(bucket)).toEqual([]);
    expect(await objectExists(bucket, 'closing.zip')).toBe(false);
  });

  it('app.close() while a slow client is still sending stops reading it and removes the spool file', async () => {
    const spoolDir = mkdtempSync(path.join(tmpdir(), 'shutdown-spool-'));
    const running = await startBackend(storageEnv(backend, bucket), { spoolDir });
    const data = zipLike(100 * MiB);
    let offset = 0;
    // A client that sends 1 MiB every 20 ms: still sending when the app closes.
    const slow = new Readable({
      read() {
        setTimeout(() => {
          if (offset >= data.length) return this.push(null);
          this.push(data.subarray(offset, offset + MiB));
          offset += MiB;
        }, 20);
      },
    });
    const settled = running.credentials
      .uploadProject('slow.zip', slow)
      .catch((err: unknown) => err);
    while (readdirSync(spoolDir).length === 0) await new Promise((r) => setTimeout(r, 20));
    await running.close();
    const err = await settled;
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain('shutting down');
    expect(slow.destroyed).toBe(true);
    expect(offset).toBeLessThan(data.length);
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(await objectExists(bucket, 'slow.zip')).toBe(false);
  });

  it('after close, no timer or socket of the module is left', async () => {
    // Every timer and socket created while the module works, and still there after close():
    // a ref'd one would keep the process alive (what Jest's --detectOpenHandles reports). Only
    // handles the module can own count: Jest runs in this process (--runInBand) and its
    // reporters set timers of their own meanwhile (a debounced flush when the module logs, a
    // status render), so a handle whose maker, the first frame outside Node's own code, is in
    // Jest's packages is not the module's. Anything else counts, the SDKs' and minio's too.
    const created = new Map<
      number,
      { type: string; resource: { hasRef?: () => boolean }; stack: string }
    >();
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (type !== 'Timeout' && type !== 'TCPWRAP') return;
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 40;
        // Without this hook's own frame: the first line left is who asked Node for the handle.
        const frames = (new Error().stack ?? '').split('\n').slice(2);
        Error.stackTraceLimit = limit;
        const maker = frames.find((frame) => !/\(node:|at node:/.test(frame)) ?? '';
        if (/node_modules[\\/](@jest[\\/]|jest-[\w-]+[\\/])/.test(maker)) return;
        const stack = frames.slice(0, 12).join('\n');
        created.set(id, { type, resource: resource as { hasRef?: () => boolean }, stack });
      },
      destroy(id) {
        created.delete(id);
      },
    });
    hook.enable();
    try {
      const running = await startBackend(storageEnv(backend, bucket));
      await running.credentials.uploadProject('handles.zip', zipLike(20 * MiB));
      await readAll(await running.credentials.downloadProject(bucket, 'handles.zip'));
      await running.close();
      let pause: unknown;
      await new Promise((resolve) => (pause = setTimeout(resolve, 200)));
      for (const [id, { resource }] of created) if (resource === pause) created.delete(id);
    } finally {
      hook.disable();
    }
    const left = [...created.values()].filter(
      ({ type, resource }) => type === 'TCPWRAP' || resource.hasRef?.() === true,
    );
    expect(left.map(({ type, stack }) => `${type}\n${stack}`)).toEqual([]);
  });
});
