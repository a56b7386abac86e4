/**
 * The contenders of the transfer benchmark: the module on each backend, the raw client each
 * backend wraps (with that client's defaults), and Python boto3 (with its defaults). Each
 * uploads from a read stream of the same file (boto3: from the same file object) and downloads
 * into a file in the same folder (boto3's `download_file` writes a file, so everyone does).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client as MinioClient } from 'minio';
import type { CredentialsModuleOptions } from '../src/credentials/index.js';
import {
  type Backend,
  bootModule,
  type BootedModule,
  BUCKET,
  moduleEnv,
  now,
  ROOT,
  S3,
  SPOOL_DIR,
} from './common.js';
import type { GcCounts } from './gc.js';

/** What one transfer took. */
export interface Timing {
  /** Wall time (ms). */
  ms: number;
  /** CPU time of the contender's process during the transfer, all threads (ms). */
  cpuMs?: number;
  /** The module's spool step within it: reading the source into the spool file (ms). */
  spoolMs?: number[];
  /** The module's send step within it: the multipart upload from the spool file (ms). */
  sendMs?: number[];
  /** Garbage collections, by kind, that started within each spool step (`bench/gc.ts`). */
  spoolGc?: GcCounts[];
}

export interface Contender {
  id: string;
  label: string;
  /** Upload `file` as `key` into the bench bucket. */
  upload(file: string, key: string): Promise<Timing>;
  /** Download `key` into `sink`. */
  download(key: string, sink: string): Promise<Timing>;
  close(): Promise<void>;
}

/** An S3 client set up the way Swift needs it (the tests' createTestS3Client). */
export function adminS3Client(): S3Client {
  return new S3Client({
    endpoint: S3.endpoint,
    region: S3.region,
    forcePathStyle: true,
    // Swift answers 501 to the aws-chunked bodies the SDK sends by default since 2025.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: S3.accessKey, secretAccessKey: S3.secretKey },
  });
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

export async function deleteObject(client: S3Client, key: string): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

async function timed(work: () => Promise<unknown>): Promise<Timing> {
  const started = now();
  const cpu = process.cpuUsage();
  await work();
  const used = process.cpuUsage(cpu);
  return { ms: now() - started, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * The module on `backend`, booted as an app would (with `options`, default: none but the spool
 * directory, the bench's own folder on the same disk as the OS temporary directory, so that
 * left-over spool files can be counted).
 */
export async function moduleContender(
  backend: Backend,
  options: CredentialsModuleOptions = {},
  id = `module-${backend}`,
): Promise<Contender & { booted: BootedModule }> {
  await mkdir(SPOOL_DIR, { recursive: true });
  const booted = await bootModule(moduleEnv(backend), { spoolDir: SPOOL_DIR, ...options });
  const { credentials } = booted;
  return {
    id,
    label: `module (${backend})`,
    booted,
    upload: (file, key) => timed(() => credentials.uploadProject(key, createReadStream(file))),
    download: (key, sink) =>
      timed(async () =>
        pipeline(await credentials.downloadProject(BUCKET, key), createWriteStream(sink)),
      ),
    close: () => booted.close(),
  };
}

/** `@aws-sdk/lib-storage` `Upload` and `GetObject` with their defaults (5 MiB parts, 4 at once). */
export function rawAwsContender(): Contender {
  const client = adminS3Client();
  return {
    id: 'raw-aws',
    label: 'lib-storage Upload / GetObject',
    upload: (file, key) =>
      timed(() =>
        new Upload({ client, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) } })
          .done()
          .then(() => undefined),
      ),
    download: (key, sink) =>
      timed(async () => {
        const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        await pipeline(object.Body as Readable, createWriteStream(sink));
      }),
    close: async () => client.destroy(),
  };
}

/** `minio` `putObject` (a stream of unknown size: 64 MiB parts) and `getObject`, defaults. */
export function rawMinioContender(): Contender {
  const client = new MinioClient({
    endPoint: '127.0.0.1',
    port: S3.port,
    useSSL: false,
    accessKey: S3.accessKey,
    secretKey: S3.secretKey,
    region: S3.region,
    pathStyle: true,
  });
  return {
    id: 'raw-local',
    label: 'minio putObject / getObject',
    upload: (file, key) => timed(() => client.putObject(BUCKET, key, createReadStream(file))),
    download: (key, sink) =>
      timed(async () => pipeline(await client.getObject(BUCKET, key), createWriteStream(sink))),
    close: async () => undefined,
  };
}

export interface Boto3Info {
  boto3: string;
  botocore: string;
  python: string;
  config: string;
}

/** Python boto3 `upload_fileobj` / `download_file` with its defaults, in one worker process. */
export async function boto3Contender(): Promise<Contender & { info: Boto3Info }> {
  const child: ChildProcessWithoutNullStreams = spawn(
    '/usr/bin/python3',
    [
      path.join(ROOT, 'bench', 'boto3_worker.py'),
      S3.endpoint,
      S3.region,
      S3.accessKey,
      S3.secretKey,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Interface = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const nextAnswer = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await iterator.next();
    if (done) throw new Error(`the boto3 worker exited: ${stderr.trim()}`);
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  const ready = await nextAnswer();
  let queue = Promise.resolve();
  const ask = (command: Record<string, string>): Promise<Timing> => {
    const answer = queue.then(async () => {
      child.stdin.write(JSON.stringify(command) + '\n');
      const reply = await nextAnswer();
      if (typeof reply.error === 'string') throw new Error(`boto3: ${reply.error}`);
      return { ms: reply.ms as number, cpuMs: reply.cpuMs as number };
    });
    queue = answer.then(
      () => undefined,
      () => undefined,
    );
    return answer;
  };
  return {
    id: 'boto3',
    label: 'boto3 upload_fileobj / download_file',
    info: ready as unknown as Boto3Info,
    upload: (file, key) => ask({ op: 'upload', file, bucket: BUCKET, key }),
    download: (key, sink) => ask({ op: 'download', bucket: BUCKET, key, file: sink }),
    close: async () => {
      child.stdin.end();
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) resolve();
        else child.once('exit', () => resolve());
        setTimeout(() => {
          child.kill();
          resolve();
        }, 5_000).unref();
      });
    },
  };
}
