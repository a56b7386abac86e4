/**
 * How each contender row (`rows.ts`) moves a project. Uploads read the same file: the module and
 * the raw clients as a Buffer read beforehand (untimed), an fs read stream, or a stream that is not
 * an fs stream (with or without its SHA-256, computed beforehand, untimed); the controller's PUT
 * sends the file with Node's HTTP client to the controller booted in the same process; boto3 and
 * curl read the file itself. Downloads write a file in the same folder (boto3's `download_file`
 * writes a file, so everyone does).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Client as MinioClient } from 'minio';
import {
  type Backend,
  bootController,
  bootModule,
  type BootedModule,
  BUCKET,
  moduleEnv,
  now,
  ROOT,
  S3,
  SPOOL_DIR,
} from './common.js';
import { type Body, type ContenderRow, PUT_OF, WITH_DIGEST } from './rows.js';

/** What one transfer took: wall time and, where known, CPU time of the contender's process. */
export interface Timing {
  ms: number;
  cpuMs?: number;
}

/** One transfer: an upload of `file` as `key`, or a download of `key` into `sink`. */
export interface Job {
  file: string;
  key: string;
  sink: string;
}

/** A set of rows served by one process (a worker, boto3's Python, or curl). */
export interface Host {
  run(row: ContenderRow, job: Job): Promise<Timing>;
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

type BodySource = Buffer | Readable;
/** The Buffer of the last file read, reused by the next runs of that file (one at a time). */
let lastBuffer: { file: string; data: Buffer } | undefined;
const digests = new Map<string, string>();

/** The file's SHA-256 (hex), as a caller that knows its digest has it: once per file. */
async function sha256Of(file: string): Promise<string> {
  let digest = digests.get(file);
  if (!digest) {
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    digest = hash.digest('hex');
    digests.set(file, digest);
  }
  return digest;
}

/** What an upload sends: a maker of bodies of its kind, and the digest when the kind has one. */
export interface PreparedBody {
  make: () => BodySource;
  sha256?: string;
}

/** An upload body of `kind` from `file`; a Buffer is read and a digest computed here, untimed. */
export async function prepareBody(kind: Body, file: string): Promise<PreparedBody> {
  const sha256 = WITH_DIGEST.includes(kind) ? await sha256Of(file) : undefined;
  switch (kind) {
    case 'buffer': {
      if (lastBuffer?.file !== file) {
        lastBuffer = undefined; // let the previous one go before the next is read
        lastBuffer = { file, data: await readFile(file) };
      }
      const { data } = lastBuffer;
      return { make: () => data };
    }
    case 'fs-stream':
    case 'put':
    case 'put-digest':
      return { make: () => createReadStream(file), sha256 };
    case 'stream':
    case 'stream-digest':
      return { make: () => createReadStream(file).pipe(new PassThrough()), sha256 };
    default:
      throw new Error(`no Node contender for a ${kind} body`);
  }
}

/** PUTs `body` to the controller as `name` (with `Content-Digest` when `sha256` is given). */
function putToController(
  port: number,
  name: string,
  body: Readable,
  bytes: number,
  sha256?: string,
): Promise<void> {
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'application/zip',
    'Content-Length': bytes,
    ...(sha256 && {
      'Content-Digest': `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`,
    }),
  };
  return new Promise((resolve, reject) => {
    const path = `/projects/${encodeURIComponent(name)}`;
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', reject);
      res.on('end', () =>
        res.statusCode === 201
          ? resolve()
          : reject(new Error(`controller PUT: HTTP ${res.statusCode} ${text.slice(0, 300)}`)),
      );
    });
    req.setTimeout(600_000, () => req.destroy(new Error('controller PUT: no answer in 600 s')));
    req.on('error', reject);
    pipeline(body, req).catch(reject);
  });
}

/** The module and raw clients of one process, each created once and shared by its rows. */
export function nodeHost(): Host {
  const booted = new Map<Backend, Promise<BootedModule>>();
  const moduleOf = (b: Backend) => {
    if (!booted.has(b)) {
      booted.set(
        b,
        mkdir(SPOOL_DIR, { recursive: true }).then(() =>
          bootModule(moduleEnv(b), { spoolDir: SPOOL_DIR }),
        ),
      );
    }
    return booted.get(b) as Promise<BootedModule>;
  };
  const controllers = new Map<Backend, ReturnType<typeof bootController>>();
  const controllerOf = (b: Backend) => {
    if (!controllers.has(b)) {
      controllers.set(
        b,
        mkdir(SPOOL_DIR, { recursive: true }).then(() =>
          bootController(moduleEnv(b), { spoolDir: SPOOL_DIR }),
        ),
      );
    }
    return controllers.get(b) as ReturnType<typeof bootController>;
  };
  let aws: S3Client | undefined;
  let minio: MinioClient | undefined;
  const awsClient = () => (aws ??= adminS3Client());
  const minioClient = () =>
    (minio ??= new MinioClient({
      endPoint: '127.0.0.1',
      port: S3.port,
      useSSL: false,
      accessKey: S3.accessKey,
      secretKey: S3.secretKey,
      region: S3.region,
      pathStyle: true,
    }));

  async function upload(row: ContenderRow, body: PreparedBody, job: Job): Promise<void> {
    const key = job.key;
    if (row.client === 'module' && PUT_OF[row.body]) {
      const { port } = await controllerOf(row.backend as Backend);
      await putToController(
        port,
        key,
        body.make() as Readable,
        statSync(job.file).size,
        body.sha256,
      );
    } else if (row.client === 'module') {
      const { credentials } = await moduleOf(row.backend as Backend);
      await credentials.uploadProject(key, body.make(), body.sha256 ? { sha256: body.sha256 } : {});
    } else if (row.backend === 'aws') {
      // lib-storage's defaults: 5 MiB parts, 4 at once.
      await new Upload({
        client: awsClient(),
        params: { Bucket: BUCKET, Key: key, Body: body.make() },
      }).done();
    } else {
      // minio: a stream of unknown size goes in 64 MiB parts.
      await minioClient().putObject(BUCKET, key, body.make());
    }
  }
  async function download(row: ContenderRow, key: string, sink: string): Promise<void> {
    let source: Readable;
    if (row.client === 'module') {
      const { credentials } = await moduleOf(row.backend as Backend);
      source = await credentials.downloadProject(BUCKET, key);
    } else if (row.backend === 'aws') {
      const object = await awsClient().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      source = object.Body as Readable;
    } else {
      source = await minioClient().getObject(BUCKET, key);
    }
    await pipeline(source, createWriteStream(sink));
  }

  return {
    async run(row, job) {
      if (row.client === 'module' && PUT_OF[row.body]) await controllerOf(row.backend as Backend);
      else if (row.client === 'module') await moduleOf(row.backend as Backend);
      const body = row.direction === 'upload' ? await prepareBody(row.body, job.file) : undefined;
      const started = now();
      const cpu = process.cpuUsage();
      if (body) await upload(row, body, job);
      else await download(row, job.key, job.sink);
      const used = process.cpuUsage(cpu);
      return { ms: now() - started, cpuMs: (used.user + used.system) / 1000 };
    },
    async close() {
      for (const b of [...booted.values(), ...controllers.values()]) await (await b).close();
      aws?.destroy();
    },
  };
}

export interface Boto3Info {
  boto3: string;
  botocore: string;
  python: string;
  config: string;
}

/** boto3 `upload_fileobj` / `download_file` with its defaults, in one Python worker process. */
export async function boto3Host(): Promise<Host & { info: Boto3Info }> {
  const script = path.join(ROOT, 'bench', 'boto3_worker.py');
  const child: ChildProcessWithoutNullStreams = spawn(
    '/usr/bin/python3',
    [script, S3.endpoint, S3.region, S3.accessKey, S3.secretKey],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the boto3 worker exited: ${stderr.trim()}`);
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  const info = (await next()) as unknown as Boto3Info;
  return {
    info,
    async run(row, job) {
      const command =
        row.direction === 'upload'
          ? { op: 'upload', file: job.file, bucket: BUCKET, key: job.key }
          : { op: 'download', bucket: BUCKET, key: job.key, file: job.sink };
      child.stdin.write(JSON.stringify(command) + '\n');
      const reply = await next();
      if (typeof reply.error === 'string') throw new Error(`boto3: ${reply.error}`);
      return { ms: reply.ms as number, cpuMs: reply.cpuMs as number };
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/**
 * curl with presigned URLs (no signing work in the client): `-T file` to a presigned PUT, or a
 * presigned GET into the sink file. Its time is curl's own `time_total` (the process start is not
 * counted); its CPU is not measured.
 */
export function curlHost(): Host {
  const client = adminS3Client();
  return {
    async run(row, job) {
      const upload = row.direction === 'upload';
      const command = upload
        ? new PutObjectCommand({ Bucket: BUCKET, Key: job.key })
        : new GetObjectCommand({ Bucket: BUCKET, Key: job.key });
      const url = await getSignedUrl(client, command, { expiresIn: 600 });
      const args = upload ? ['-T', job.file, '-H', 'Expect:', '-o', '/dev/null'] : ['-o', job.sink];
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn('curl', ['-sS', '-f', '-w', '%{time_total}', ...args, url]);
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(text) : reject(new Error(`curl: ${text}`)),
        );
      });
      return { ms: Number(out.trim()) * 1000 };
    },
    close: async () => client.destroy(),
  };
}

/** Whether curl is installed (the limit rows are left out without it). */
export function hasCurl(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['--version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}
