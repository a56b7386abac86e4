import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AccessDeniedError,
  BucketNotFoundError,
  Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsConfigError,
  CredentialsModule,
  InjectCredentials,
  IntegrityError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from '../index.js';
import { type CredentialsMethod, InMemoryCredentials, overrideCredentials } from './index.js';
import { configFromEnv } from '../../../test/support/backends.js';

function zipOf(size: number, seed = 0): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + 3 + seed * 31) % 251;
  Buffer.from('PK\x03\x04', 'latin1').copy(data, 0, 0, Math.min(4, size));
  return data;
}

const streamOf = (data: Buffer, chunk = 100) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) =>
      data.subarray(i * chunk, (i + 1) * chunk),
    ),
    { objectMode: false },
  );

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('InMemoryCredentials covers the whole Credentials class', () => {
  /** What the base class has that is not part of the contract's methods. */
  const NOT_METHODS = new Set(['constructor', 'toJSON', 'getRegistryTokenWithExpiry']);

  it('overrides every public method of Credentials (a method added there fails here)', () => {
    const methods = Object.getOwnPropertyNames(Credentials.prototype).filter(
      (name) => !NOT_METHODS.has(name),
    );
    // The abstract three (token, upload, download) are enforced by the compiler.
    expect(methods.length).toBeGreaterThanOrEqual(6);
    const missing = methods.filter((name) => !Object.hasOwn(InMemoryCredentials.prototype, name));
    expect(missing).toEqual([]);
  });

  it('records a call of each of them', async () => {
    const double = new InMemoryCredentials();
    await double.uploadProject('p.zip', zipOf(64));
    const calls: [CredentialsMethod, () => Promise<unknown>][] = [
      ['getRegistryToken', () => double.getRegistryToken()],
      ['getRegistryAuth', () => double.getRegistryAuth()],
      ['getDockerConfig', () => double.getDockerConfig()],
      ['getCredentials', () => double.getCredentials()],
      ['getProjectDownloadUrl', () => double.getProjectDownloadUrl(double.bucket, 'p.zip', 60)],
      ['checkStorage', () => double.checkStorage()],
      ['checkRegistry', () => double.checkRegistry()],
      ['downloadProject', () => double.downloadProject(double.bucket, 'p.zip')],
    ];
    for (const [method, call] of calls) {
      await call();
      expect(double.callsTo(method)).toHaveLength(1);
    }
  });
});

describe('InMemoryCredentials: its own options and helpers', () => {
  // What every implementation does (round trips, name, ZIP and size rules, typed errors,
  // registry auth, Docker config, presigned URLs, no secret shown) is tested once, on the double
  // and the real backends alike, in test/contract. Here: what only the double has.

  it('uploads to the bucket of its options', async () => {
    const double = new InMemoryCredentials({ bucket: 'builds' });
    const stored = await double.uploadProject('demo', zipOf(100));
    expect(stored.bucket).toBe('builds');
    expect(double.bucket).toBe('builds');
    expect([...double.storedProjects('builds').keys()]).toEqual(['demo']);
    await expect(double.downloadProject('projects', 'demo')).rejects.toBeInstanceOf(
      BucketNotFoundError,
    );
  });

  it('holds uploads to the maxProjectSize of its options', async () => {
    const double = new InMemoryCredentials({ maxProjectSize: 100 });
    await expect(double.uploadProject('fits', zipOf(100))).resolves.toMatchObject({ size: 100 });
    await expect(double.uploadProject('demo', streamOf(zipOf(1_000), 10))).rejects.toMatchObject({
      reason: 'too-large',
    });
  });

  it('refuses an impossible maxProjectSize as the module does', () => {
    expect(() => new InMemoryCredentials({ maxProjectSize: -1 })).toThrow(CredentialsConfigError);
  });

  it('serves projects seeded into any bucket, without recording a call', async () => {
    const double = new InMemoryCredentials().seedProject('archive', 'old.zip', 'PK\x03\x04old');
    expect(double.calls).toEqual([]);
    const data = await readAll(await double.downloadProject('archive', 'old.zip'));
    expect(data.toString('latin1')).toBe('PK\x03\x04old');
  });

  it('resolves its memory:// URLs until they expire, and no URL it did not sign', async () => {
    const double = new InMemoryCredentials().seedProject('projects', 'demo.zip', zipOf(100));
    const url = await double.getProjectDownloadUrl('projects', 'demo.zip', 60);
    expect(new URL(url)).toMatchObject({ protocol: 'memory:', hostname: 'projects' });
    expect((await double.readDownloadUrl(url)).equals(zipOf(100))).toBe(true);
    const forged = url.replace(/signature=[0-9a-f]/, 'signature=x');
    await expect(double.readDownloadUrl(forged)).rejects.toBeInstanceOf(AccessDeniedError);
    const other = new InMemoryCredentials().seedProject('projects', 'demo.zip', zipOf(100));
    await expect(other.readDownloadUrl(url)).rejects.toBeInstanceOf(AccessDeniedError);
    double.reset();
    await expect(double.readDownloadUrl(url)).rejects.toBeInstanceOf(ProjectNotFoundError);
  });

  it('without an app, has no registry token and names localhost:5000', async () => {
    expect(await new InMemoryCredentials().getRegistryToken()).toBeNull();
    expect(await new InMemoryCredentials().getDockerConfig()).toEqual({ auths: {} });
    const double = new InMemoryCredentials({ registryToken: 'dXNlcjpwYXNz' });
    expect(await double.getDockerConfig()).toEqual({
      auths: { 'localhost:5000': { auth: 'dXNlcjpwYXNz' } },
    });
  });

  it('hands out the configured credentials next to its settings, shown nowhere else', async () => {
    const secret = 'in-memory-secret-value';
    const double = new InMemoryCredentials({ credentials: { API_KEY: secret } });
    expect(await double.getCredentials()).toEqual({
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: 'localhost:5000',
      API_KEY: secret,
    });
    expect(JSON.stringify(double)).not.toContain(secret);
    expect(inspect(double, { depth: 10, showHidden: true })).not.toContain(secret);
  });
});

describe('InMemoryCredentials: calls and failures', () => {
  it('records every call in order, and callsTo gives the arguments of one method', async () => {
    const double = new InMemoryCredentials();
    const zip = zipOf(100);
    await double.getRegistryToken();
    await double.uploadProject('demo', zip);
    await double.downloadProject('projects', 'demo');
    await double.getCredentials();
    await double.downloadProject('projects', 'absent').catch(() => undefined);

    expect(double.calls.map((call) => call.method)).toEqual([
      'getRegistryToken',
      'uploadProject',
      'downloadProject',
      'getCredentials',
      'downloadProject',
    ]);
    expect(double.callsTo('uploadProject')).toEqual([['demo', zip]]);
    expect(double.callsTo('downloadProject')).toEqual([
      ['projects', 'demo'],
      ['projects', 'absent'],
    ]);
    expect(double.callsTo('getRegistryToken')).toEqual([[]]);
  });

  const methods: [CredentialsMethod, (d: InMemoryCredentials) => Promise<unknown>][] = [
    ['getRegistryToken', (d) => d.getRegistryToken()],
    ['uploadProject', (d) => d.uploadProject('demo', zipOf(100))],
    ['downloadProject', (d) => d.downloadProject('projects', 'demo')],
    ['getCredentials', (d) => d.getCredentials()],
    ['getRegistryAuth', (d) => d.getRegistryAuth()],
    ['getDockerConfig', (d) => d.getDockerConfig()],
    ['getProjectDownloadUrl', (d) => d.getProjectDownloadUrl('projects', 'demo', 60)],
    ['checkStorage', (d) => d.checkStorage().then(() => 'checked')],
    ['checkRegistry', (d) => d.checkRegistry().then(() => 'checked')],
  ];

  it('records each method the application called, and nothing the double calls itself', async () => {
    const double = new InMemoryCredentials({ registryToken: 'dXNlcjpwYXNz' });
    await double.uploadProject('demo', zipOf(100));
    await double.getDockerConfig();
    await double.getRegistryAuth();
    await double.checkRegistry();
    await double.checkStorage();
    await double.getProjectDownloadUrl('projects', 'demo', 60);
    expect(double.calls).toEqual([
      { method: 'uploadProject', args: ['demo', zipOf(100)] },
      { method: 'getDockerConfig', args: [] },
      { method: 'getRegistryAuth', args: [] },
      { method: 'checkRegistry', args: [] },
      { method: 'checkStorage', args: [] },
      { method: 'getProjectDownloadUrl', args: ['projects', 'demo', 60] },
    ]);
  });

  it.each<[CredentialsMethod, (d: InMemoryCredentials) => Promise<unknown>]>([
    ['getRegistryAuth', (d) => d.getRegistryAuth()],
    ['getDockerConfig', (d) => d.getDockerConfig()],
    ['checkRegistry', (d) => d.checkRegistry()],
  ])('a registry failure (failNext getRegistryToken) fails %s too', async (method, call) => {
    const double = new InMemoryCredentials({ registryToken: 'dXNlcjpwYXNz' });
    const error = new RegistryAuthError('registry refused the keys');
    double.failNext('getRegistryToken', error);
    await expect(call(double)).rejects.toBe(error);
    await expect(call(double)).resolves.not.toBeInstanceOf(Error);
    expect(double.calls.map((c) => c.method)).toEqual([method, method]);
  });

  it.each(methods)('failNext makes only the next %s fail', async (method, call) => {
    const double = new InMemoryCredentials().seedProject('projects', 'demo', zipOf(100));
    const error = new StorageUnavailableError('storage is restarting');
    double.failNext(method, error);
    await expect(call(double)).rejects.toBe(error);
    await expect(call(double)).resolves.toBeDefined();
    expect(double.callsTo(method)).toHaveLength(2);
  });

  it('queues several failNext errors, one call each, before failAlways', async () => {
    const double = new InMemoryCredentials();
    const first = new RegistryAuthError('first');
    const second = new AccessDeniedError('second');
    const always = new RegistryAuthError('always');
    double.failNext('getRegistryToken', first).failNext('getRegistryToken', second);
    double.failAlways('getRegistryToken', always);
    await expect(double.getRegistryToken()).rejects.toBe(first);
    await expect(double.getRegistryToken()).rejects.toBe(second);
    await expect(double.getRegistryToken()).rejects.toBe(always);
    await expect(double.getRegistryToken()).rejects.toBe(always);
  });

  it('fails an upload before storing anything, and stops reading its stream', async () => {
    const double = new InMemoryCredentials();
    double.failAlways('uploadProject', new AccessDeniedError('read-only'));
    await expect(double.uploadProject('demo', zipOf(100))).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    const body = streamOf(zipOf(100));
    await expect(double.uploadProject('demo', body)).rejects.toBeInstanceOf(AccessDeniedError);
    expect(body.destroyed).toBe(true);
    expect(double.storedProject('projects', 'demo')).toBeUndefined();
  });

  it('delivers an IntegrityError on the download stream, after the bytes, as production does', async () => {
    const double = new InMemoryCredentials().seedProject('projects', 'demo', zipOf(100));
    double.failNext('downloadProject', new IntegrityError('bytes changed'));
    const stream = await double.downloadProject('projects', 'demo');
    const received: Buffer[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of stream) received.push(chunk as Buffer);
      })(),
    );
    expect(err).toBeInstanceOf(IntegrityError);
    expect(Buffer.concat(received).equals(zipOf(100))).toBe(true);
  });

  it('reset() forgets failures, calls and projects', async () => {
    const double = new InMemoryCredentials({ credentials: { KEY: 'v' } });
    double.failAlways('getRegistryToken', new RegistryAuthError('denied'));
    double.failNext('uploadProject', new AccessDeniedError('denied'));
    await double.getRegistryToken().catch(() => undefined);
    double.seedProject('archive', 'old', zipOf(10));

    double.reset();
    expect(double.calls).toEqual([]);
    await expect(double.getRegistryToken()).resolves.toBeNull();
    await expect(double.uploadProject('demo', zipOf(100))).resolves.toMatchObject({ key: 'demo' });
    await expect(double.downloadProject('archive', 'old')).rejects.toBeInstanceOf(
      BucketNotFoundError,
    );
    expect(await double.getCredentials()).toEqual({
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: 'localhost:5000',
      KEY: 'v',
    });
  });
});

describe('overrideCredentials', () => {
  @Injectable()
  class ProjectPublisher {
    constructor(@InjectCredentials() readonly credentials: Credentials) {}

    publish(name: string, zip: Buffer) {
      return this.credentials.uploadProject(name, zip);
    }
  }

  @Module({ imports: [CredentialsModule.forRoot()], providers: [ProjectPublisher] })
  class AppModule {}

  /** Configuration without any of the real backend's variables, not even CREDENTIALS. */
  const emptyConfig = () => configFromEnv();

  it('without the override, the app cannot start with this configuration', async () => {
    const attempt = Test.createTestingModule({ imports: [emptyConfig(), AppModule] }).compile();
    await expect(attempt).rejects.toBeInstanceOf(CredentialsConfigError);
  });

  it('swaps the double in, and the real backend is never built (CREDENTIALS unset)', async () => {
    const double = new InMemoryCredentials({ registryToken: 'token' });
    const moduleRef = await overrideCredentials(
      Test.createTestingModule({ imports: [emptyConfig(), AppModule] }),
      double,
    ).compile();
    await moduleRef.init();

    const publisher = moduleRef.get(ProjectPublisher);
    expect(publisher.credentials).toBe(double);
    expect(moduleRef.get(CREDENTIALS_PROVIDER)).toBe(double);
    await publisher.publish('demo', zipOf(100));
    expect(double.callsTo('uploadProject')).toEqual([['demo', zipOf(100)]]);
    await moduleRef.close();
  });

  /** A testing module of `AppModule` configured by `env` alone, with `double` bound. */
  const withEnv = (
    env: Record<string, string>,
    double: InMemoryCredentials,
    maxProjectSize?: number,
  ) =>
    overrideCredentials(
      Test.createTestingModule({
        imports: [configFromEnv(env), CredentialsModule.forRoot({ maxProjectSize })],
      }),
      double,
    ).compile();

  it("follows the app's bucket, registry host and maximum size", async () => {
    const double = new InMemoryCredentials({ registryToken: 'dXNlcjpwYXNz' });
    const moduleRef = await withEnv(
      { BUCKET_NAME_PROJECTS: 'app-bucket', REGISTRY_HOST: 'https://registry.example.com/' },
      double,
      1_000,
    );
    expect(await double.uploadProject('demo', zipOf(100))).toMatchObject({ bucket: 'app-bucket' });
    await expect(double.uploadProject('big', zipOf(1_001))).rejects.toMatchObject({
      reason: 'too-large',
    });
    expect(await double.getDockerConfig()).toEqual({
      auths: { 'registry.example.com': { auth: 'dXNlcjpwYXNz' } },
    });
    expect(await double.getCredentials()).toMatchObject({
      BUCKET_NAME_PROJECTS: 'app-bucket',
      REGISTRY_HOST: 'https://registry.example.com/',
    });
    await moduleRef.close();
  });

  it("follows the bucket and registry host given in forRoot for the app's backend", async () => {
    const double = new InMemoryCredentials();
    const moduleRef = await overrideCredentials(
      Test.createTestingModule({
        imports: [
          configFromEnv({ CREDENTIALS: 'local', BUCKET_NAME_PROJECTS: 'env-bucket' }),
          CredentialsModule.forRoot({
            local: { bucket: 'given-bucket', registryHost: 'given.example.com' },
            aws: { bucket: 'not-the-chosen-backend' },
          }),
        ],
      }),
      double,
    ).compile();
    expect(await double.uploadProject('demo', zipOf(100))).toMatchObject({
      bucket: 'given-bucket',
    });
    expect(await double.getCredentials()).toMatchObject({
      BUCKET_NAME_PROJECTS: 'given-bucket',
      REGISTRY_HOST: 'given.example.com',
    });
    await moduleRef.close();
  });

  it('refuses an invalid bucket given in forRoot, naming it as the real backends do', async () => {
    const attempt = overrideCredentials(
      Test.createTestingModule({
        imports: [
          configFromEnv({}),
          CredentialsModule.forRoot({ backend: 'aws', aws: { bucket: 'Bad_Bucket' } }),
        ],
      }),
      new InMemoryCredentials(),
    ).compile();
    await expect(attempt).rejects.toThrow(/aws\.bucket \(forRoot\) must be a valid bucket name/);
  });

  it.each([
    ['bucket', { bucket: 'other-bucket' }, /bucket "other-bucket".*"app-bucket"/],
    ['registryHost', { registryHost: 'other.example.com' }, /registryHost/],
  ])('refuses an option %s that differs from the app setting', async (_label, options, message) => {
    const attempt = withEnv(
      { BUCKET_NAME_PROJECTS: 'app-bucket', REGISTRY_HOST: 'registry.example.com' },
      new InMemoryCredentials(options),
    );
    await expect(attempt).rejects.toThrow(CredentialsConfigError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('refuses an invalid BUCKET_NAME_PROJECTS as the real backends do', async () => {
    const attempt = withEnv({ BUCKET_NAME_PROJECTS: 'Bad_Bucket' }, new InMemoryCredentials());
    await expect(attempt).rejects.toThrow(
      /BUCKET_NAME_PROJECTS \(environment\) must be a valid bucket name/,
    );
  });

  it('works without any ConfigModule.forRoot in the app', async () => {
    const moduleRef = await overrideCredentials(
      Test.createTestingModule({ imports: [AppModule] }),
    ).compile();
    expect(moduleRef.get(ProjectPublisher).credentials).toBeInstanceOf(InMemoryCredentials);
    await moduleRef.close();
  });
});
