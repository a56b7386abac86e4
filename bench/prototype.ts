/**
 * Prototypes of the src changes this benchmark recommends, installed by monkey-patching (src is
 * not edited):
 *
 * - `prehash`: when `uploadProject` is given a read stream over a whole file (`fs.ReadStream`
 *   with a path, from its start), hash the file first and send the SHA-256 as metadata of the
 *   CreateMultipartUpload, instead of recording it afterwards with a CopyObject of the object
 *   onto itself. The SHA-256 computed while streaming is still compared: if the file changed
 *   in between, the copy records the right one, as today.
 * - `unsignedPayload`: sign the bodies of PutObject / UploadPart as `UNSIGNED-PAYLOAD` instead
 *   of hashing every part for SigV4 (the AWS SDK hashes every Buffer body, even over HTTPS;
 *   minio-js does over HTTP), and the server then need not hash it either. The module's own
 *   SHA-256 of the whole project, signed in CreateMultipartUpload and checked on every
 *   download, still covers the bytes end to end.
 * - `pooledParts`: cut the stream into parts inside a fixed pool of partConcurrency + 1
 *   buffers, allocated once per upload and reused (copying each chunk once, as Buffer.concat
 *   does), instead of a new Buffer per part (lib-storage's chunker, the MinIO store's partsOf):
 *   memory is bounded by the pool, and the garbage collector and malloc see no per-part churn.
 *   The multipart upload is driven as MinioObjectStore.putStream drives it today.
 *
 * The patches are on prototypes shared by every module instance in this process, so they are
 * switched per call with `setPrototype(...)` (all off by default).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { TransferSettings } from '../src/credentials/config/transfer-settings.js';
import { ProjectStorage } from '../src/credentials/project/project-storage.js';
import { MinioObjectStore } from '../src/credentials/store/minio-object-store.js';
import { S3ObjectStore } from '../src/credentials/store/s3-object-store.js';
import { deadlineExceeded, toStorageError } from '../src/credentials/store/storage-errors.js';

interface Hint {
  sha256: string;
}

export interface PrototypeSwitches {
  prehash?: boolean;
  unsignedPayload?: boolean;
  pooledParts?: boolean;
}

const hint = new AsyncLocalStorage<Hint>();
let enabled = false;
let unsignedPayload = false;
let pooledParts = false;
let installed = false;

/** How long the pre-hash reads took, for the report (ms, one entry per upload). */
export const prehashTimes: number[] = [];

export function setPrototype(switches: PrototypeSwitches = {}): void {
  if ((switches.prehash || switches.unsignedPayload || switches.pooledParts) && !installed) {
    install();
  }
  enabled = switches.prehash === true;
  unsignedPayload = switches.unsignedPayload === true;
  pooledParts = switches.pooledParts === true;
}

function isWholeFileStream(body: unknown): body is ReadStream & { path: string } {
  const stream = body as ReadStream & { start?: number; end?: number };
  return (
    body instanceof ReadStream &&
    typeof stream.path === 'string' &&
    stream.bytesRead === 0 &&
    (stream.start === undefined || stream.start === 0) &&
    (stream.end === undefined || stream.end === Infinity)
  );
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

type Upload = ProjectStorage['upload'];
type RecordSha256 = (key: string, etag: string, sha256: string) => Promise<void>;
type StoreWithClient<C> = { client: C; config: { transfer: TransferSettings } };
interface MiddlewareArgs {
  input: { Metadata?: Record<string, string> };
}
interface S3ClientLike {
  middlewareStack: {
    add(
      middleware: (
        next: (args: MiddlewareArgs) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: MiddlewareArgs) => Promise<unknown>,
      options: { step: 'initialize' | 'build'; name: string },
    ): void;
  };
}
interface MinioClientLike {
  enableSHA256: boolean;
  initiateNewMultipartUpload(
    bucket: string,
    key: string,
    headers: Record<string, string>,
  ): Promise<string>;
  uploadPart(
    part: {
      bucketName: string;
      objectName: string;
      uploadID: string;
      partNumber: number;
      headers: Record<string, string>;
    },
    payload: Buffer,
  ): Promise<{ etag: string }>;
  completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    etags: { part: number; etag: string }[],
  ): Promise<{ etag: string }>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}

/** partConcurrency + 1 buffers of partSize, reused for the whole upload. */
class PartPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buffer: Buffer) => void)[] = [];

  constructor(size: number, count: number) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafeSlow(size));
  }

  acquire(): Promise<Buffer> {
    const buffer = this.free.pop();
    return buffer ? Promise.resolve(buffer) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

/** Fills pooled buffers with the stream's bytes; yields each full part (the last may be short). */
async function* pooledPartsOf(
  body: Readable,
  partSize: number,
  pool: PartPool,
): AsyncGenerator<{ buffer: Buffer; length: number }> {
  let buffer = await pool.acquire();
  let length = 0;
  for await (const chunk of body) {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    while (data.length > 0) {
      const take = Math.min(data.length, partSize - length);
      data.copy(buffer, length, 0, take);
      length += take;
      data = data.subarray(take);
      if (length === partSize) {
        yield { buffer, length };
        buffer = await pool.acquire();
        length = 0;
      }
    }
  }
  if (length > 0) yield { buffer, length };
  else pool.release(buffer);
}

interface PartSender {
  send(partNumber: number, data: Buffer): Promise<void>;
}

/**
 * Uploads the parts of `body` with at most `concurrency` in flight, from a pool of
 * concurrency + 1 buffers; the first failure stops it (the caller aborts the upload).
 */
async function sendPooledParts(
  body: Readable,
  partSize: number,
  concurrency: number,
  sender: PartSender,
): Promise<void> {
  const pool = new PartPool(partSize, concurrency + 1);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let partNumber = 0;
  try {
    for await (const { buffer, length } of pooledPartsOf(body, partSize, pool)) {
      if (failure) break;
      const number = ++partNumber;
      const sent: Promise<void> = sender
        .send(number, buffer.subarray(0, length))
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          pool.release(buffer);
          inFlight.delete(sent);
        });
      inFlight.add(sent);
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
  } finally {
    await Promise.all(inFlight);
  }
  if (failure) throw failure;
}

function install(): void {
  installed = true;
  const storage = ProjectStorage.prototype as unknown as {
    upload: Upload;
    recordSha256: RecordSha256;
  };
  const upload = storage.upload;
  storage.upload = async function (this: ProjectStorage, name, project) {
    if (!enabled || !isWholeFileStream(project)) return upload.call(this, name, project);
    const started = performance.now();
    const sha256 = await sha256OfFile(project.path);
    prehashTimes.push(performance.now() - started);
    return hint.run({ sha256 }, () => upload.call(this, name, project));
  };
  const recordSha256 = storage.recordSha256;
  storage.recordSha256 = async function (this: ProjectStorage, key, etag, sha256) {
    // The metadata went with CreateMultipartUpload and the streamed bytes match: nothing to do.
    if (enabled && hint.getStore()?.sha256 === sha256) return;
    return recordSha256.call(this, key, etag, sha256);
  };

  const patched = new WeakSet<object>();

  // S3: SDK middlewares add the metadata to CreateMultipartUpload (which lib-storage sends) and
  // mark part bodies as unsigned (the signer then skips hashing them).
  const patchS3 = (store: S3ObjectStore) => {
    const { client } = store as unknown as StoreWithClient<S3ClientLike>;
    if (patched.has(client)) return;
    patched.add(client);
    client.middlewareStack.add(
      (next, context) => (args) => {
        const sha256 = hint.getStore()?.sha256;
        if (sha256 && context.commandName === 'CreateMultipartUploadCommand') {
          args.input.Metadata = { ...args.input.Metadata, sha256 };
        }
        return next(args);
      },
      { step: 'initialize', name: 'benchPrehashMetadata' },
    );
    client.middlewareStack.add(
      (next, context) => (args) => {
        const name = context.commandName;
        if (unsignedPayload && (name === 'UploadPartCommand' || name === 'PutObjectCommand')) {
          const { request } = args as unknown as { request: { headers: Record<string, string> } };
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'benchUnsignedPayload' },
    );
  };
  const s3PutStream = S3ObjectStore.prototype.putStream;
  S3ObjectStore.prototype.putStream = function (this: S3ObjectStore, ...args) {
    patchS3(this);
    if (!pooledParts) return s3PutStream.apply(this, args);
    const [bucket, key, body, content, signal] = args;
    const { client, config } = this as unknown as StoreWithClient<S3ClientLike & S3Client>;
    const { partSize, partConcurrency, uploadTimeoutMs } = config.transfer;
    const call = { operation: 'upload', bucket, key };
    return (async () => {
      const onAbort = () => body.destroy(deadlineExceeded(call, uploadTimeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      let uploadId: string | undefined;
      try {
        // The metadata middleware adds the pre-hashed SHA-256, when there is one.
        const created = await client.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            ContentType: 'application/zip',
            Metadata: { sha256: content.sha256 },
          }),
        );
        uploadId = created.UploadId as string;
        const parts: { PartNumber: number; ETag?: string }[] = [];
        await sendPooledParts(body, partSize, partConcurrency, {
          send: async (partNumber, data) => {
            const sent = await client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: data,
                ContentLength: data.length,
              }),
            );
            parts.push({ PartNumber: partNumber, ETag: sent.ETag });
          },
        });
        parts.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      } catch (err) {
        if (!body.destroyed) body.destroy();
        if (uploadId !== undefined) {
          await client
            .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
            .catch(() => undefined);
        }
        throw toStorageError(err, call);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    })();
  };
  const s3PutObject = S3ObjectStore.prototype.putObject;
  S3ObjectStore.prototype.putObject = function (this: S3ObjectStore, ...args) {
    patchS3(this);
    return s3PutObject.apply(this, args);
  };

  // MinIO: the store initiates the multipart upload itself, with these headers; minio-js hashes
  // bodies for SigV4 only while enableSHA256 is set (plain HTTP).
  const patchMinio = (store: MinioObjectStore): MinioClientLike => {
    const { client } = store as unknown as StoreWithClient<MinioClientLike>;
    if (!patched.has(client)) {
      patched.add(client);
      const initiate = client.initiateNewMultipartUpload.bind(client);
      client.initiateNewMultipartUpload = (bucket, key, headers) => {
        const sha256 = hint.getStore()?.sha256;
        return initiate(
          bucket,
          key,
          sha256 ? { ...headers, 'x-amz-meta-sha256': sha256 } : headers,
        );
      };
    }
    return client;
  };
  const signing = new WeakMap<object, boolean>();
  const withSigning = <T>(store: MinioObjectStore, call: () => Promise<T>): Promise<T> => {
    const client = patchMinio(store);
    if (!signing.has(client)) signing.set(client, client.enableSHA256);
    client.enableSHA256 = unsignedPayload ? false : (signing.get(client) as boolean);
    return call();
  };
  const minioPutStream = MinioObjectStore.prototype.putStream;
  MinioObjectStore.prototype.putStream = function (this: MinioObjectStore, ...args) {
    if (!pooledParts) return withSigning(this, () => minioPutStream.apply(this, args));
    const [bucket, key, body, content, signal] = args;
    const { config } = this as unknown as StoreWithClient<MinioClientLike>;
    const { partSize, partConcurrency, uploadTimeoutMs } = config.transfer;
    const call = { operation: 'upload', bucket, key };
    return withSigning(this, async () => {
      const client = patchMinio(this);
      const onAbort = () => body.destroy(deadlineExceeded(call, uploadTimeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      let uploadId: string | undefined;
      try {
        uploadId = await client.initiateNewMultipartUpload(bucket, key, {
          'Content-Type': 'application/zip',
          'x-amz-meta-sha256': content.sha256,
        });
        const id = uploadId;
        const etags: { part: number; etag: string }[] = [];
        await sendPooledParts(body, partSize, partConcurrency, {
          send: async (partNumber, data) => {
            const { etag } = await client.uploadPart(
              { bucketName: bucket, objectName: key, uploadID: id, partNumber, headers: {} },
              data,
            );
            etags.push({ part: partNumber, etag });
          },
        });
        etags.sort((a, b) => a.part - b.part);
        await client.completeMultipartUpload(bucket, key, id, etags);
      } catch (err) {
        if (!body.destroyed) body.destroy();
        if (uploadId !== undefined) {
          await client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined);
        }
        throw toStorageError(err, call);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    });
  };
  const minioPutObject = MinioObjectStore.prototype.putObject;
  MinioObjectStore.prototype.putObject = function (this: MinioObjectStore, ...args) {
    return withSigning(this, () => minioPutObject.apply(this, args));
  };
}
