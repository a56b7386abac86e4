import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import type { TransferSettings } from '../config/transfer-settings.js';
import { PendingAborts } from './pending-aborts.js';
import { BucketNotFoundError, ProjectNotFoundError } from '../errors.js';
import { deadline, raceAbort } from '../util/deadline.js';
import { createDeadlineAgent } from './deadline-agent.js';
import {
  type ObjectStore,
  SHA256_METADATA_KEY,
  type StoredObject,
  ZIP_CONTENT_TYPE,
} from './object-store.js';
import { deadlineExceeded, type StorageCall, toStorageError } from './storage-errors.js';

export interface MinioStoreConfig {
  endpoint: URL;
  accessKey: string;
  secretKey: string;
  region: string;
  transfer: TransferSettings;
}

/** Cuts a stream into parts of exactly `partSize` bytes (the last one may be shorter). */
async function* partsOf(body: Readable, partSize: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  for await (const chunk of body) {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    while (pendingSize + data.length >= partSize) {
      const take = partSize - pendingSize;
      pending.push(data.subarray(0, take));
      yield Buffer.concat(pending, partSize);
      data = data.subarray(take);
      pending = [];
      pendingSize = 0;
    }
    if (data.length > 0) {
      pending.push(data);
      pendingSize += data.length;
    }
  }
  if (pendingSize > 0) yield Buffer.concat(pending, pendingSize);
}

/**
 * The object store on MinIO (or any S3 API server) through `minio`. Streams are uploaded as
 * multipart uploads driven here, with a known part size and bounded concurrency, because
 * minio-js's own `putObject` holds 64 MiB+ parts, can hang when the source errors and never
 * aborts a failed multipart upload.
 */
export class MinioObjectStore implements ObjectStore {
  private readonly client: Client;
  private readonly pendingAborts = new PendingAborts((bucket, key, uploadId) =>
    this.bounded({ operation: 'abort of a multipart upload', bucket, key }, () =>
      this.client.abortMultipartUpload(bucket, key, uploadId),
    ),
  );
  private readonly agent;

  constructor(private readonly config: MinioStoreConfig) {
    const { endpoint, transfer } = config;
    const tls = endpoint.protocol === 'https:';
    this.agent = createDeadlineAgent(tls, transfer.requestTimeoutMs);
    this.client = new Client({
      endPoint: endpoint.hostname,
      port: endpoint.port ? Number(endpoint.port) : tls ? 443 : 80,
      useSSL: tls,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      region: config.region,
      pathStyle: true,
      partSize: transfer.partSize,
      transportAgent: this.agent,
    });
  }

  async putObject(
    bucket: string,
    key: string,
    data: Buffer,
    sha256: string,
    signal: AbortSignal,
  ): Promise<void> {
    void this.pendingAborts.flush();
    const call = { operation: 'upload', bucket, key };
    const ms = this.config.transfer.uploadTimeoutMs;
    try {
      await raceAbort(
        this.client.putObject(bucket, key, data, data.length, {
          'Content-Type': ZIP_CONTENT_TYPE,
          [SHA256_METADATA_KEY]: sha256,
        }),
        signal,
        () => deadlineExceeded(call, ms),
      );
    } catch (err) {
      throw toStorageError(err, call);
    }
  }

  async putStream(
    bucket: string,
    key: string,
    body: Readable,
    content: { size: number; sha256: string },
    signal: AbortSignal,
  ): Promise<void> {
    void this.pendingAborts.flush();
    const call = { operation: 'upload', bucket, key };
    const { partSize, partConcurrency, uploadTimeoutMs } = this.config.transfer;
    const onAbort = () => body.destroy(deadlineExceeded(call, uploadTimeoutMs));
    signal.addEventListener('abort', onAbort, { once: true });
    let uploadId: string | undefined;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    try {
      uploadId = await this.client.initiateNewMultipartUpload(bucket, key, {
        'Content-Type': ZIP_CONTENT_TYPE,
        [`x-amz-meta-${SHA256_METADATA_KEY}`]: content.sha256,
      });
      const etags: { part: number; etag: string }[] = [];
      let partNumber = 0;
      for await (const part of partsOf(body, partSize)) {
        if (failure) break;
        const number = ++partNumber;
        const id = uploadId;
        const sent: Promise<void> = this.client
          .uploadPart(
            { bucketName: bucket, objectName: key, uploadID: id, partNumber: number, headers: {} },
            part,
          )
          .then(({ etag }) => void etags.push({ part: number, etag }))
          .catch((err: unknown) => {
            failure ??= err;
          })
          .finally(() => inFlight.delete(sent));
        inFlight.add(sent);
        while (inFlight.size >= partConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
      etags.sort((a, b) => a.part - b.part);
      await this.client.completeMultipartUpload(bucket, key, uploadId, etags);
    } catch (err) {
      if (!body.destroyed) body.destroy();
      await Promise.all(inFlight);
      if (uploadId !== undefined) await this.pendingAborts.abortOrKeep(bucket, key, uploadId);
      throw toStorageError(err, call);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async etagOf(bucket: string, key: string): Promise<string | undefined> {
    try {
      const stat = await this.bounded({ operation: 'head', bucket, key }, () =>
        this.client.statObject(bucket, key),
      );
      return stat.etag;
    } catch (err) {
      if (err instanceof ProjectNotFoundError) return undefined;
      throw err;
    }
  }

  async checkBucket(bucket: string): Promise<void> {
    const call = { operation: 'health check', bucket };
    if (!(await this.bounded(call, () => this.client.bucketExists(bucket)))) {
      throw new BucketNotFoundError(bucket);
    }
  }

  async presignGet(bucket: string, key: string, ttlSeconds: number): Promise<string> {
    return this.bounded({ operation: 'presign', bucket, key }, () =>
      this.client.presignedGetObject(bucket, key, ttlSeconds),
    );
  }

  async getObject(bucket: string, key: string): Promise<StoredObject> {
    const response = (await this.bounded({ operation: 'download', bucket, key }, () =>
      this.client.getObject(bucket, key),
    )) as IncomingMessage;
    const length = response.headers?.['content-length'];
    const sha256 = response.headers?.[`x-amz-meta-${SHA256_METADATA_KEY}`];
    return {
      body: response,
      size: length === undefined ? undefined : Number(length),
      sha256: typeof sha256 === 'string' ? sha256 : undefined,
    };
  }

  async close(): Promise<void> {
    await this.pendingAborts.close();
    this.agent.destroy();
  }

  private async bounded<T>(call: StorageCall, send: () => Promise<T>): Promise<T> {
    const ms = this.config.transfer.requestTimeoutMs;
    const guard = deadline(ms);
    try {
      return await raceAbort(send(), guard.signal, () => deadlineExceeded(call, ms));
    } catch (err) {
      throw toStorageError(err, call);
    } finally {
      guard.clear();
    }
  }
}
