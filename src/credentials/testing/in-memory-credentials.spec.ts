import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
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
  InvalidProjectError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from '../index.js';
import { type CredentialsMethod, InMemoryCredentials, overrideCredentials } from './index.js';

const EMPTY_ARCHIVE = Buffer.concat([Buffer.from('PK\x05\x06', 'latin1'), Buffer.alloc(18)]);
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

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

describe('InMemoryCredentials: projects', () => {
  it.each([
    ['a Buffer', (d: Buffer) => d],
    ['a Uint8Array', (d: Buffer) => new Uint8Array(d)],
    ['a stream', (d: Buffer) => streamOf(d)],
  ])('stores %s and streams it back', async (_label, body) => {
    const double = new InMemoryCredentials();
    const data = zipOf(1_000);
    const stored = await double.uploadProject('demo.zip', body(data));
    expect(stored).toEqual({
      bucket: 'projects',
      key: 'demo.zip',
      size: 1_000,
      sha256: sha256(data),
    });
    expect(double.storedProject('projects', 'demo.zip')?.equals(data)).toBe(true);
    const download = await double.downloadProject('projects', 'demo.zip');
    // Announced like production's download streams, for an HTTP layer's Content-Length.
    expect((download as Readable & { size?: number }).size).toBe(1_000);
    expect((await readAll(download)).equals(data)).toBe(true);
  });

  it('stores an empty archive', async () => {
    const double = new InMemoryCredentials();
    expect((await double.uploadProject('empty', EMPTY_ARCHIVE)).size).toBe(22);
  });

  it('keeps what was uploaded, whatever the caller does with its buffer afterwards', async () => {
    const double = new InMemoryCredentials();
    const data = zipOf(100);
    await double.uploadProject('demo', data);
    data.fill(0);
    expect(double.storedProject('projects', 'demo')?.equals(zipOf(100))).toBe(true);
  });

  it('uploads to the configured bucket', async () => {
    const double = new InMemoryCredentials({ bucket: 'builds' });
    const stored = await double.uploadProject('demo', zipOf(100));
    expect(stored.bucket).toBe('builds');
    expect(double.bucket).toBe('builds');
    expect([...double.storedProjects('builds').keys()]).toEqual(['demo']);
    await expect(double.downloadProject('projects', 'demo')).rejects.toBeInstanceOf(
      BucketNotFoundError,
    );
  });

  it.each(['../demo', '.demo', 'a/b', '', 'x'.repeat(256)])(
    'refuses the name %j as production does',
    async (name) => {
      const double = new InMemoryCredentials();
      const err = await rejection(double.uploadProject(name, zipOf(100)));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect(err).toMatchObject({ reason: 'name' });
      expect(double.storedProjects().size).toBe(0);
    },
  );

  it.each([
    ['in memory', () => Buffer.from('plain text')],
    ['streamed', () => streamOf(Buffer.from('plain text, streamed'), 4)],
  ])('refuses a body that is not a ZIP (%s)', async (_label, body) => {
    const double = new InMemoryCredentials();
    const err = await rejection(double.uploadProject('demo', body()));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'not-zip' });
    expect(double.storedProject('projects', 'demo')).toBeUndefined();
  });

  it.each([
    ['in memory', () => zipOf(101)],
    ['streamed', () => streamOf(zipOf(1_000), 10)],
  ])('refuses a body over maxProjectSize (%s)', async (_label, body) => {
    const double = new InMemoryCredentials({ maxProjectSize: 100 });
    await expect(double.uploadProject('fits', zipOf(100))).resolves.toMatchObject({ size: 100 });
    const err = await rejection(double.uploadProject('demo', body()));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
    expect(double.storedProject('projects', 'demo')).toBeUndefined();
  });

  it('refuses an impossible maxProjectSize as the module does', () => {
    expect(() => new InMemoryCredentials({ maxProjectSize: -1 })).toThrow(CredentialsConfigError);
  });

  it('refuses a missing project, a missing bucket and an invalid bucket name', async () => {
    const double = new InMemoryCredentials();
    await double.uploadProject('present', zipOf(100));
    await expect(double.downloadProject('projects', 'absent')).rejects.toBeInstanceOf(
      ProjectNotFoundError,
    );
    await expect(double.downloadProject('other-bucket', 'present')).rejects.toBeInstanceOf(
      BucketNotFoundError,
    );
    await expect(double.downloadProject('Bad_Bucket', 'present')).rejects.toMatchObject({
      reason: 'bucket',
    });
  });

  it('serves projects seeded into any bucket, without recording a call', async () => {
    const double = new InMemoryCredentials().seedProject('archive', 'old.zip', 'PK\x03\x04old');
    expect(double.calls).toEqual([]);
    const data = await readAll(await double.downloadProject('archive', 'old.zip'));
    expect(data.toString('latin1')).toBe('PK\x03\x04old');
  });
});

describe('InMemoryCredentials: registry and credentials', () => {
  it('has no registry token by default, and the configured one otherwise', async () => {
    expect(await new InMemoryCredentials().getRegistryToken()).toBeNull();
    expect(await new InMemoryCredentials({ registryToken: 'dG9rZW4=' }).getRegistryToken()).toBe(
      'dG9rZW4=',
    );
  });

  it('hands out the configured credentials as a frozen copy, and shows them nowhere else', async () => {
    const secret = 'in-memory-secret-value';
    const double = new InMemoryCredentials({ credentials: { API_KEY: secret } });
    const credentials = await double.getCredentials();
    expect(credentials).toEqual({ BUCKET_NAME_PROJECTS: 'projects', API_KEY: secret });
    expect(Object.isFrozen(credentials)).toBe(true);
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
  ];

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
    expect(await double.getCredentials()).toEqual({ BUCKET_NAME_PROJECTS: 'projects', KEY: 'v' });
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
  const emptyConfig = () =>
    ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, ignoreEnvVars: true, load: [] });

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

  it('works without any ConfigModule.forRoot in the app', async () => {
    const moduleRef = await overrideCredentials(
      Test.createTestingModule({ imports: [AppModule] }),
    ).compile();
    expect(moduleRef.get(ProjectPublisher).credentials).toBeInstanceOf(InMemoryCredentials);
    await moduleRef.close();
  });
});
