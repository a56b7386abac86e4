import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  type AwsSettings,
  Credentials,
  CredentialsModule,
  FilesystemCredentials,
  InjectCredentials,
} from '../../src/credentials/index.js';
import {
  configFromEnv,
  localSettingsFor,
  readAll,
  sha256Of,
  zipLike,
} from '../support/backends.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  createTestS3Client,
  deleteTestBucket,
  requireRegistry,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';

/**
 * Settings given in code (`forRoot({ aws })`, `forRootAsync({ useFactory })`), with no
 * environment variable at all, against the real servers: the Swift s3api server (for both S3
 * clients), the basic-auth registry, and the loopback ECR that the real SDK client signs for.
 */

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

/** What a secrets manager would hand over. */
const vault = {
  async read(name: 'minio' | 'registry'): Promise<string> {
    return name === 'minio' ? S3_SERVER.secretKey : AUTH_REGISTRY.password;
  },
};

let buckets: string[] = [];
let apps: INestApplicationContext[] = [];

async function start(imports: unknown[], providers: unknown[] = []) {
  const app = await Test.createTestingModule({
    imports: [configFromEnv({}), ...(imports as never[])],
    providers: providers as never[],
  }).compile();
  apps.push(app);
  await app.init();
  return app;
}

async function storedObject(bucket: string, key: string): Promise<Buffer> {
  const object = await createTestS3Client().send(
    new GetObjectCommand({ Bucket: bucket, Key: key }),
  );
  return readAll(object.Body as never);
}

beforeAll(async () => {
  await requireS3Server();
  await requireRegistry(AUTH_REGISTRY.host);
});

afterEach(async () => {
  for (const app of apps) await app.close();
  for (const bucket of buckets) await deleteTestBucket(bucket);
  apps = [];
  buckets = [];
});

describe('aws settings in forRoot, no environment', () => {
  let ecr: FakeEcrServer;

  beforeEach(async () => {
    ecr = await FakeEcrServer.start({ password: 'typed-ecr-password' });
  });

  afterEach(async () => {
    await ecr.close();
  });

  it('stores on the s3api server and takes its registry token from ECR, signed with the given keys', async () => {
    const bucket = await createTestBucket('typed-aws');
    buckets.push(bucket);
    const aws: AwsSettings = {
      bucket,
      region: S3_SERVER.region,
      registryHost: `https://${ECR_HOST}`,
      accessKeyId: S3_SERVER.accessKey,
      secretAccessKey: S3_SERVER.secretKey,
      s3Endpoint: S3_SERVER.endpoint,
      ecrEndpoint: ecr.url,
    };
    const app = await start([CredentialsModule.forRoot({ backend: 'aws', aws })]);
    const credentials = app.get(Credentials);

    const zip = zipLike(6 * 1024 * 1024);
    const stored = await credentials.uploadProject('typed.zip', zip);
    expect(stored).toEqual({ bucket, key: 'typed.zip', size: zip.length, sha256: sha256Of(zip) });
    expect((await storedObject(bucket, 'typed.zip')).equals(zip)).toBe(true);
    expect(
      (await readAll(await credentials.downloadProject(bucket, 'typed.zip'))).equals(zip),
    ).toBe(true);

    expect(await credentials.getRegistryToken()).toBe(ecr.token);
    expect(ecr.requests[0].accessKeyId).toBe(S3_SERVER.accessKey);
    expect(ecr.requests[0].region).toBe(S3_SERVER.region);
    const record = await credentials.getCredentials();
    expect(record).toMatchObject({
      BUCKET_NAME_PROJECTS: bucket,
      AWS_ACCESS_KEY_ID: S3_SERVER.accessKey,
      AWS_SECRET_ACCESS_KEY: S3_SERVER.secretKey,
      REGISTRY_TOKEN: ecr.token,
    });
  });
});

describe('local settings from a forRootAsync factory (a secrets manager), no environment', () => {
  it('stores on the s3api server and passes the basic-auth registry check', async () => {
    const bucket = await createTestBucket('typed-local');
    buckets.push(bucket);
    const app = await start([
      CredentialsModule.forRootAsync({
        useFactory: async () => ({
          backend: 'local',
          local: {
            ...localSettingsFor(bucket),
            minioSecretKey: await vault.read('minio'),
            registryPassword: await vault.read('registry'),
          },
        }),
      }),
    ]);
    const credentials = app.get(Credentials);

    const zip = zipLike(64 * 1024);
    expect((await credentials.uploadProject('async.zip', zip)).sha256).toBe(sha256Of(zip));
    expect((await storedObject(bucket, 'async.zip')).equals(zip)).toBe(true);
    await expect(credentials.checkRegistry()).resolves.toBeUndefined();
    await expect(credentials.checkStorage()).resolves.toBeUndefined();
    expect(await credentials.getRegistryToken()).toBe(
      Buffer.from(`${AUTH_REGISTRY.username}:${AUTH_REGISTRY.password}`).toString('base64'),
    );
  });
});

describe('two instances of one backend, each with its own bucket', () => {
  @Injectable()
  class TwoBuckets {
    constructor(
      readonly projects: Credentials,
      @InjectCredentials('archive') readonly archive: Credentials,
    ) {}
  }

  it('writes each instance to its own bucket', async () => {
    const first = await createTestBucket('typed-first');
    const second = await createTestBucket('typed-second');
    buckets.push(first, second);
    const app = await start(
      [
        CredentialsModule.forRoot({ backend: 'local', local: localSettingsFor(first) }),
        CredentialsModule.forRoot({
          name: 'archive',
          backend: 'local',
          local: localSettingsFor(second),
        }),
      ],
      [TwoBuckets],
    );
    const { projects, archive } = app.get(TwoBuckets);
    const one = zipLike(1024);
    const two = zipLike(2048);

    expect(await projects.uploadProject('same-name.zip', one)).toMatchObject({ bucket: first });
    expect(await archive.uploadProject('same-name.zip', two)).toMatchObject({ bucket: second });

    expect((await storedObject(first, 'same-name.zip')).equals(one)).toBe(true);
    expect((await storedObject(second, 'same-name.zip')).equals(two)).toBe(true);
  });
});

describe('the controller of an instance whose bucket is given in code', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'e2e-typed-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads from the given bucket, not from BUCKET_NAME_PROJECTS of the environment', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        configFromEnv({ BUCKET_NAME_PROJECTS: 'env-bucket' }),
        CredentialsModule.forRoot({
          backend: 'filesystem',
          backends: { filesystem: FilesystemCredentials },
          controller: { allowAnonymous: true },
          filesystem: { bucket: 'given-bucket', projectsDir: dir, registryHost: '127.0.0.1:5000' },
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    const zip = zipLike(4096);

    const put = await request(app.getHttpServer())
      .put('/projects/given.zip')
      .set('Content-Type', 'application/zip')
      .send(zip);
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ bucket: 'given-bucket', key: 'given.zip' });
    const get = await request(app.getHttpServer())
      .get('/projects/given.zip')
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    expect(get.status).toBe(200);
    expect((get.body as Buffer).equals(zip)).toBe(true);
  });
});
