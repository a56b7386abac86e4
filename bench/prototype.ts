/**
 * Prototypes of src changes this benchmark measures before they are made, installed by
 * monkey-patching the stores (src is not edited). They build on the spooling design of src: a
 * streamed project larger than one part is first spooled to a temporary file while hashed, then
 * `ObjectStore.putStream` gets a read stream of that file (`fs.createReadStream(spool, {
 * highWaterMark: 1 MiB })`) and the SHA-256, which goes with CreateMultipartUpload.
 *
 * - `pooledParts`: the parts are read straight from the spool file, each at its offset
 *   (`FileHandle.read(buffer, 0, length, offset)`), into a fixed pool of partConcurrency + 1
 *   buffers allocated once per upload and reused, and the multipart upload is driven as
 *   `MinioObjectStore.putStream` drives it today (for S3 too, instead of lib-storage's
 *   chunker). No 1 MiB stream chunks, no `Buffer.concat` per part (lib-storage, the MinIO
 *   store's `partsOf`): memory is the pool, and the garbage collector and malloc see no
 *   per-part churn. A body that is not a read stream of a file from its start is cut into the
 *   pool by copying its chunks.
 * - `unsignedPayload`: sign the bodies of PutObject / UploadPart as `UNSIGNED-PAYLOAD` instead
 *   of hashing every part again for SigV4 (the AWS SDK hashes every Buffer body, even over
 *   HTTPS; minio-js does over HTTP), so the server need not hash them either. The module's own
 *   SHA-256 of the whole project, signed in CreateMultipartUpload and checked on every
 *   download, still covers the bytes end to end.
 * - `fastSpool`: the spool step with its file writes overlapped with the hashing: chunks are
 *   gathered into writes of about 1 MiB (`FileHandle.writev`), and one write is in flight while
 *   the next chunks are hashed, instead of awaiting a write of every (64 KiB) chunk before
 *   hashing the next one. A copy of the successful path of src's `ProjectStorage.uploadUntil`
 *   (spool, `putStream`, remove the spool file; without src's bookkeeping of store calls that
 *   outlive a deadline) and of the stream path of `prepareProjectBody` (`project/project-body.ts`)
 *   with only the writes changed; a Buffer body or a stream that fits one part goes to the
 *   original.
 * - `spoolHighWaterMark`: the chunk size of the spool read stream the stores get (src: 1 MiB).
 *
 * The patches are on prototypes shared by every module instance in this process, so they are
 * switched per call with `setPrototype(...)` (all off by default, and then the original code
 * runs).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { TransferSettings } from '../src/credentials/config/transfer-settings.js';
import type { ProjectBody, ProjectObject } from '../src/credentials/credentials.js';
import { InvalidProjectError, StorageUnavailableError } from '../src/credentials/errors.js';
import { assertProjectName } from '../src/credentials/project/project-name.js';
import { ProjectStorage } from '../src/credentials/project/project-storage.js';
import {
  startsWithZipSignature,
  ZIP_SIGNATURE_LENGTH,
} from '../src/credentials/project/zip-signature.js';
import type { ObjectStore } from '../src/credentials/store/object-store.js';
import { MinioObjectStore } from '../src/credentials/store/minio-object-store.js';
import { S3ObjectStore } from '../src/credentials/store/s3-object-store.js';
import { deadlineExceeded, toStorageError } from '../src/credentials/store/storage-errors.js';
import { deadline } from '../src/credentials/util/deadline.js';

export interface PrototypeSwitches {
  pooledParts?: boolean;
  unsignedPayload?: boolean;
  fastSpool?: boolean;
  /** Chunk size (bytes) of the spool read stream handed to the store (src: 1 MiB). */
  spoolHighWaterMark?: number;
}

let current: PrototypeSwitches = {};
let installed = false;

export function setPrototype(switches: PrototypeSwitches = {}): void {
  if (Object.values(switches).some(Boolean)) installPrototypes();
  current = { ...switches };
}

/** True for a read stream over a file from its start, nothing read yet (the spool stream). */
function isFileStream(body: unknown): body is ReadStream & { path: string } {
  const stream = body as ReadStream & { start?: number; end?: number };
  return (
    body instanceof ReadStream &&
    typeof stream.path === 'string' &&
    stream.bytesRead === 0 &&
    (stream.start === undefined || stream.start === 0) &&
    (stream.end === undefined || stream.end === Infinity)
  );
}

/** The same file with another chunk size (the spool stream is created but not read yet). */
function withHighWaterMark(body: Readable, highWaterMark: number | undefined): Readable {
  if (!highWaterMark || !isFileStream(body)) return body;
  body.destroy();
  return createReadStream(body.path, { highWaterMark });
}

type StoreWithClient<C> = { client: C; config: { transfer: TransferSettings } };
interface S3ClientLike {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'build'; name: string },
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

interface FilledPart {
  buffer: Buffer;
  length: number;
}

/** Reads `file` part by part, each at its offset, into pooled buffers. */
async function* partsOfFile(
  file: string,
  size: number,
  partSize: number,
  pool: PartPool,
): AsyncGenerator<FilledPart> {
  let handle: FileHandle | undefined = await open(file, 'r');
  try {
    for (let offset = 0; offset < size; offset += partSize) {
      const length = Math.min(partSize, size - offset);
      const buffer = await pool.acquire();
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) throw new Error(`the spool file ended at ${offset + filled} bytes`);
        filled += bytesRead;
      }
      yield { buffer, length };
    }
  } finally {
    await handle.close();
    handle = undefined;
  }
}

/** Copies the stream's chunks into pooled buffers (for a body that is not a file). */
async function* partsOfStream(
  body: Readable,
  partSize: number,
  pool: PartPool,
): AsyncGenerator<FilledPart> {
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

/**
 * Uploads the parts of `body` (`size` bytes) with at most `concurrency` in flight, from a pool
 * of concurrency + 1 buffers; the first failure (or the signal) stops it, the caller aborts the
 * multipart upload.
 */
async function sendPooledParts(
  body: Readable,
  size: number,
  transfer: TransferSettings,
  signal: AbortSignal,
  send: (partNumber: number, data: Buffer) => Promise<void>,
): Promise<void> {
  const { partSize, partConcurrency } = transfer;
  const pool = new PartPool(partSize, partConcurrency + 1);
  let parts: AsyncGenerator<FilledPart>;
  if (isFileStream(body)) {
    const file = body.path;
    body.destroy(); // created by the spool, never read: the parts are read by position instead
    parts = partsOfFile(file, size, partSize, pool);
  } else {
    parts = partsOfStream(body, partSize, pool);
  }
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let partNumber = 0;
  try {
    for await (const { buffer, length } of parts) {
      if (signal.aborted) failure ??= signal.reason;
      if (failure) {
        pool.release(buffer);
        break;
      }
      const number = ++partNumber;
      const sent: Promise<void> = send(number, buffer.subarray(0, length))
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          pool.release(buffer);
          inFlight.delete(sent);
        });
      inFlight.add(sent);
      while (inFlight.size >= partConcurrency) await Promise.race(inFlight);
    }
  } finally {
    await Promise.all(inFlight);
  }
  if (failure) throw failure;
}

// ---------------------------------------------------------------------------------------------
// fastSpool: src's upload path for streams with the spool's writes overlapped with hashing.

interface Spooled {
  file: string;
  size: number;
  sha256: string;
}

const WRITE_BATCH = 1024 * 1024;

/**
 * Reads the head of `source` (up to one part), as src does, then spools the rest while hashing,
 * with writes of about WRITE_BATCH bytes and one of them in flight. Returns the head alone when
 * the stream ended within one part (src then sends it in one request).
 */
export async function spoolFast(
  body: Readable,
  limits: { maxProjectSize: number; wholeBodyLimit: number; spoolDir: string },
): Promise<Buffer | Spooled> {
  const tooLarge = () =>
    new InvalidProjectError(
      `The project is larger than the maximum of ${limits.maxProjectSize} bytes`,
      'too-large',
    );
  const unreadable = (err: unknown) =>
    new InvalidProjectError(
      `The project body could not be read: ${err instanceof Error ? err.message : String(err)}`,
      'unreadable',
    );
  const source = body[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  const release = () => void source.return?.().catch(() => undefined);
  const toBuffer = (chunk: unknown) =>
    Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
  const head: Buffer[] = [];
  let size = 0;
  let signatureChecked = false;
  try {
    while (size <= limits.wholeBodyLimit) {
      const next = await source.next();
      if (next.done) return Buffer.concat(head, size);
      const chunk = toBuffer(next.value);
      head.push(chunk);
      size += chunk.length;
      if (size > limits.maxProjectSize) throw tooLarge();
      if (!signatureChecked && size >= ZIP_SIGNATURE_LENGTH) {
        if (!startsWithZipSignature(Buffer.concat(head))) {
          throw new InvalidProjectError('The project is not a ZIP archive', 'not-zip');
        }
        signatureChecked = true;
      }
    }
  } catch (err) {
    release();
    throw err instanceof InvalidProjectError ? err : unreadable(err);
  }

  const file = path.join(limits.spoolDir, `nest-credentials-spool-${randomUUID()}.zip`);
  const hash = createHash('sha256');
  let handle: FileHandle | undefined;
  let batch: Buffer[] = [];
  let batchSize = 0;
  let writing: Promise<void> = Promise.resolve();
  try {
    const fh = await open(file, 'wx', 0o600);
    handle = fh;
    const flush = async () => {
      await writing; // one write in flight: its failure surfaces here
      const buffers = batch;
      batch = [];
      batchSize = 0;
      writing = writevFully(fh, buffers);
    };
    const take = async (chunk: Buffer, counted: boolean) => {
      if (!counted) {
        size += chunk.length;
        if (size > limits.maxProjectSize) throw tooLarge();
      }
      hash.update(chunk);
      batch.push(chunk);
      batchSize += chunk.length;
      if (batchSize >= WRITE_BATCH) await flush();
    };
    for (const chunk of head) await take(chunk, true);
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = await source.next();
      } catch (err) {
        throw unreadable(err);
      }
      if (next.done) break;
      await take(toBuffer(next.value), false);
    }
    await flush();
    await writing;
    await fh.close();
    handle = undefined;
  } catch (err) {
    release();
    await writing.catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await rm(file, { force: true });
    if (err instanceof InvalidProjectError) throw err;
    throw new StorageUnavailableError(`The project could not be spooled: ${String(err)}`);
  }
  return { file, size, sha256: hash.digest('hex') };
}

async function writevFully(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let pending = buffers;
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending);
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (bytesWritten >= buffer.length) bytesWritten -= buffer.length;
      else {
        rest.push(buffer.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

interface StorageInternals {
  store: ObjectStore;
  bucket: string;
  transfer: TransferSettings;
  uploadUntil(name: string, project: ProjectBody, shutdown: AbortSignal): Promise<ProjectObject>;
}

/** src's `ProjectStorage.uploadUntil` for a stream body, with `spoolFast` as its spool. */
async function uploadUntilFast(
  storage: StorageInternals,
  original: StorageInternals['uploadUntil'],
  projectName: string,
  project: Readable,
  shutdown: AbortSignal,
): Promise<ProjectObject> {
  assertProjectName(projectName);
  const { bucket, transfer, store } = storage;
  const call = { operation: 'upload', bucket, key: projectName };
  const guard = deadline(transfer.uploadTimeoutMs);
  const signal = AbortSignal.any([guard.signal, shutdown]);
  const stopReading = () => project.destroy();
  signal.addEventListener('abort', stopReading, { once: true });
  let spooled: Spooled | undefined;
  try {
    const prepared = await spoolFast(project, {
      maxProjectSize: transfer.maxProjectSize,
      wholeBodyLimit: transfer.partSize,
      spoolDir: transfer.spoolDir,
    });
    if (Buffer.isBuffer(prepared)) {
      guard.clear();
      signal.removeEventListener('abort', stopReading);
      return original.call(storage, projectName, prepared, shutdown);
    }
    spooled = prepared;
    const { size, sha256, file } = spooled;
    const body = createReadStream(file, { highWaterMark: 1024 * 1024 });
    await store.putStream(bucket, projectName, body, { size, sha256 }, signal);
    return { bucket, key: projectName, size, sha256 };
  } catch (err) {
    if (shutdown.aborted)
      throw new StorageUnavailableError(`The upload of "${projectName}" was aborted`);
    if (guard.signal.aborted) throw deadlineExceeded(call, transfer.uploadTimeoutMs);
    throw toStorageError(err, call);
  } finally {
    guard.clear();
    signal.removeEventListener('abort', stopReading);
    if (spooled) await rm(spooled.file, { force: true });
  }
}

export function installPrototypes(): void {
  if (installed) return;
  installed = true;
  const patched = new WeakSet<object>();

  const storage = ProjectStorage.prototype as unknown as StorageInternals;
  const uploadUntil = storage.uploadUntil;
  storage.uploadUntil = function (this: StorageInternals, name, project, shutdown) {
    if (!current.fastSpool || Buffer.isBuffer(project) || project instanceof Uint8Array) {
      return uploadUntil.call(this, name, project, shutdown);
    }
    return uploadUntilFast(this, uploadUntil, name, project, shutdown);
  };

  // S3: an SDK middleware marks part bodies as unsigned (the signer then skips hashing them).
  const patchS3 = (store: S3ObjectStore) => {
    const { client } = store as unknown as StoreWithClient<S3ClientLike>;
    if (patched.has(client)) return;
    patched.add(client);
    client.middlewareStack.add(
      (next, context) => (args) => {
        const name = context.commandName;
        if (
          current.unsignedPayload &&
          (name === 'UploadPartCommand' || name === 'PutObjectCommand')
        ) {
          const { request } = args as { request: { headers: Record<string, string> } };
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'benchUnsignedPayload' },
    );
  };
  const s3PutStream = S3ObjectStore.prototype.putStream;
  S3ObjectStore.prototype.putStream = function (this: S3ObjectStore, bucket, key, body, ...rest) {
    patchS3(this);
    const source = withHighWaterMark(body, current.spoolHighWaterMark);
    if (!current.pooledParts) return s3PutStream.call(this, bucket, key, source, ...rest);
    const [content, signal] = rest;
    const { client, config } = this as unknown as StoreWithClient<S3ClientLike & S3Client>;
    const call = { operation: 'upload', bucket, key };
    return (async () => {
      let uploadId: string | undefined;
      try {
        const created = await client.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            ContentType: 'application/zip',
            Metadata: { sha256: content.sha256 },
          }),
          { abortSignal: signal },
        );
        uploadId = created.UploadId as string;
        const parts: { PartNumber: number; ETag?: string }[] = [];
        await sendPooledParts(source, content.size, config.transfer, signal, async (n, data) => {
          const sent = await client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: n,
              Body: data,
              ContentLength: data.length,
            }),
            { abortSignal: signal },
          );
          parts.push({ PartNumber: n, ETag: sent.ETag });
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
        if (!source.destroyed) source.destroy();
        if (uploadId !== undefined) {
          await client
            .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
            .catch(() => undefined);
        }
        if (signal.aborted) throw deadlineExceeded(call, config.transfer.uploadTimeoutMs);
        throw toStorageError(err, call);
      }
    })();
  };
  const s3PutObject = S3ObjectStore.prototype.putObject;
  S3ObjectStore.prototype.putObject = function (this: S3ObjectStore, ...args) {
    patchS3(this);
    return s3PutObject.apply(this, args);
  };

  // MinIO: minio-js hashes bodies for SigV4 only while enableSHA256 is set (plain HTTP).
  const signing = new WeakMap<object, boolean>();
  const withSigning = <T>(store: MinioObjectStore, call: () => Promise<T>): Promise<T> => {
    const { client } = store as unknown as StoreWithClient<MinioClientLike>;
    if (!signing.has(client)) signing.set(client, client.enableSHA256);
    client.enableSHA256 = current.unsignedPayload ? false : (signing.get(client) as boolean);
    return call();
  };
  const minioPutStream = MinioObjectStore.prototype.putStream;
  MinioObjectStore.prototype.putStream = function (
    this: MinioObjectStore,
    bucket,
    key,
    body,
    ...rest
  ) {
    const source = withHighWaterMark(body, current.spoolHighWaterMark);
    if (!current.pooledParts) {
      return withSigning(this, () => minioPutStream.call(this, bucket, key, source, ...rest));
    }
    const [content, signal] = rest;
    const { client, config } = this as unknown as StoreWithClient<MinioClientLike>;
    const call = { operation: 'upload', bucket, key };
    return withSigning(this, async () => {
      let uploadId: string | undefined;
      try {
        uploadId = await client.initiateNewMultipartUpload(bucket, key, {
          'Content-Type': 'application/zip',
          'x-amz-meta-sha256': content.sha256,
        });
        const id = uploadId;
        const etags: { part: number; etag: string }[] = [];
        await sendPooledParts(source, content.size, config.transfer, signal, async (n, data) => {
          const { etag } = await client.uploadPart(
            { bucketName: bucket, objectName: key, uploadID: id, partNumber: n, headers: {} },
            data,
          );
          etags.push({ part: n, etag });
        });
        etags.sort((a, b) => a.part - b.part);
        await client.completeMultipartUpload(bucket, key, id, etags);
      } catch (err) {
        if (!source.destroyed) source.destroy();
        if (uploadId !== undefined) {
          await client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined);
        }
        if (signal.aborted) throw deadlineExceeded(call, config.transfer.uploadTimeoutMs);
        throw toStorageError(err, call);
      }
    });
  };
  const minioPutObject = MinioObjectStore.prototype.putObject;
  MinioObjectStore.prototype.putObject = function (this: MinioObjectStore, ...args) {
    return withSigning(this, () => minioPutObject.apply(this, args));
  };
}
