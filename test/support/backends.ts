import { createHash, randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DynamicModule } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  type Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsModule,
  type CredentialsModuleOptions,
  type LocalSettings,
} from '../../src/credentials/index.js';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { FaultProxy } from '../reliability/support/fault-proxy.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  createTestS3Client,
  deleteTestBucket,
  requireS3Server,
  S3_SERVER,
} from './test-servers.js';

export type StorageBackend = 'aws' | 'local';
export const STORAGE_BACKENDS: StorageBackend[] = ['aws', 'local'];

export interface S3Account {
  accessKey: string;
  secretKey: string;
}

/** The environment that points `backend` at the Swift s3api test server and `bucket`. */
export function storageEnv(
  backend: StorageBackend,
  bucket: string,
  account: S3Account = S3_SERVER,
  endpoint: string = S3_SERVER.endpoint,
): Record<string, string> {
  const common = {
    CREDENTIALS: backend,
    BUCKET_NAME_PROJECTS: bucket,
    REGISTRY_HOST: AUTH_REGISTRY.host,
  };
  return backend === 'aws'
    ? {
        ...common,
        REGISTRY_HOST: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        AWS_REGION: S3_SERVER.region,
        AWS_ACCESS_KEY_ID: account.accessKey,
        AWS_SECRET_ACCESS_KEY: account.secretKey,
        AWS_ENDPOINT_URL_S3: endpoint,
      }
    : {
        ...common,
        MINIO_ENDPOINT: endpoint,
        MINIO_ACCESS_KEY: account.accessKey,
        MINIO_SECRET_KEY: account.secretKey,
        MINIO_REGION: S3_SERVER.region,
      };
}

/**
 * The local backend's typed settings (`forRoot({ local })`) for the Swift s3api test server and
 * `bucket`, with the authenticated test registry (its credentials only where `withRegistryLogin`).
 */
export function localSettingsFor(bucket: string, withRegistryLogin = true): LocalSettings {
  return {
    bucket,
    registryHost: AUTH_REGISTRY.host,
    minioEndpoint: S3_SERVER.endpoint,
    minioAccessKey: S3_SERVER.accessKey,
    minioSecretKey: S3_SERVER.secretKey,
    minioRegion: S3_SERVER.region,
    ...(withRegistryLogin && {
      registryUsername: AUTH_REGISTRY.username,
      registryPassword: AUTH_REGISTRY.password,
    }),
  };
}

export interface RunningBackend {
  credentials: Credentials;
  close(): Promise<void>;
}

/**
 * A global configuration module that reads only `env`: never the process environment nor a
 * `.env` file, so a test sees exactly the settings it names.
 */
export function configFromEnv(env: Record<string, unknown> = {}): Promise<DynamicModule> {
  return ConfigModule.forRoot({
    isGlobal: true,
    ignoreEnvFile: true,
    ignoreEnvVars: true,
    // Without it ConfigService.get() still falls back to process.env.
    skipProcessEnv: true,
    load: [() => env],
  });
}

/** Builds the module as an app would, from `env` only (never the process environment). */
export async function startBackend(
  env: Record<string, string>,
  options: CredentialsModuleOptions = {},
): Promise<RunningBackend> {
  const moduleRef = await Test.createTestingModule({
    imports: [configFromEnv(env), CredentialsModule.forRoot(options)],
  }).compile();
  await moduleRef.init();
  return {
    credentials: moduleRef.get<Credentials>(CREDENTIALS_PROVIDER),
    close: () => moduleRef.close(),
  };
}

/** The module on a storage backend with a test bucket of its own on the S3 test server. */
export interface BackendOnTestBucket extends RunningBackend {
  bucket: string;
}

/** `BackendOnTestBucket` that reaches the server through `proxy`. */
export interface ProxiedBackend extends BackendOnTestBucket {
  proxy: FaultProxy;
}

/**
 * What `start` builds, holding a resource made for it: `release` frees the resource when `start`
 * fails, and after the built backend's own `close()` (even when that fails).
 */
async function holding<T extends RunningBackend>(
  start: () => Promise<T>,
  release: () => Promise<void>,
): Promise<T> {
  let running: T;
  try {
    running = await start();
  } catch (err) {
    await release();
    throw err;
  }
  return {
    ...running,
    close: async () => {
      try {
        await running.close();
      } finally {
        await release();
      }
    },
  };
}

/**
 * Builds the module on `backend` (from `storageEnv` and `options`) against a new test bucket
 * named after `bucketPrefix` on the S3 test server, reached at `endpoint`. Fails with how to
 * start the server when it is down. `close()` closes the module and deletes the bucket.
 */
export async function startOnTestBucket(
  backend: StorageBackend,
  bucketPrefix: string,
  options: CredentialsModuleOptions = {},
  endpoint: string = S3_SERVER.endpoint,
): Promise<BackendOnTestBucket> {
  await requireS3Server();
  const bucket = await createTestBucket(bucketPrefix);
  return holding(
    async () => ({
      ...(await startBackend(storageEnv(backend, bucket, S3_SERVER, endpoint), options)),
      bucket,
    }),
    () => deleteTestBucket(bucket),
  );
}

/** A `FaultProxy` in front of the S3 test server (in `pass` mode until told otherwise). */
export function startS3Proxy(): Promise<FaultProxy> {
  const server = new URL(S3_SERVER.endpoint);
  return FaultProxy.start({ host: server.hostname, port: Number(server.port) });
}

/**
 * `startOnTestBucket` with a `FaultProxy` between the module and the S3 test server, to see its
 * requests on the wire and to inject faults. `close()` closes the proxy too.
 */
export async function startProxiedBackend(
  backend: StorageBackend,
  bucketPrefix: string,
  options: CredentialsModuleOptions = {},
): Promise<ProxiedBackend> {
  const proxy = await startS3Proxy();
  return holding(
    async () => ({
      ...(await startOnTestBucket(backend, bucketPrefix, options, proxy.url)),
      proxy,
    }),
    () => proxy.close(),
  );
}

/** An empty ZIP archive: just the end-of-central-directory record. */
export const EMPTY_ZIP = Buffer.from([
  0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** `size` bytes that open like a ZIP archive (local file header) and continue at random. */
export function zipLike(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  randomFillSync(data);
  Buffer.from([0x50, 0x4b, 0x03, 0x04]).copy(data);
  return data;
}

/** A stream of `data` in chunks of `chunkSize`, as a file or socket would deliver it. */
export function streamOf(data: Buffer, chunkSize = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const sha256Of = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Settles `promise` and returns what it rejected with (fails if it resolved). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

const plainS3 = createTestS3Client();

/** Whether a plain S3 client finds an object at `key` (in the first test account). */
export async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await plainS3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'NotFound') return false;
    throw err;
  }
}
