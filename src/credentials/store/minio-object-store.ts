import type { IncomingMessage } from 'node:http';
import { Client } from 'minio';
import type { TransferSettings } from '../config/transfer-settings.js';
import { singlePut, uploadInParts } from './multipart-upload.js';
import { PendingAborts } from './pending-aborts.js';
import { BucketNotFoundError, ProjectNotFoundError } from '../errors.js';
import { deadline, raceAbort } from '../util/deadline.js';
import { cancellableTransport, createDeadlineAgent, withRequestSignal } from './deadline-agent.js';
import {
  type ObjectStore,
  type PartSource,
  SHA256_METADATA_KEY,
  type StoredObject,
  ZIP_CONTENT_TYPE,
} from './object-store.js';
import {
  deadlineExceeded,
  type StorageCall,
  toStorageError,
  uploadFailure,
} from './storage-errors.js';

export interface MinioStoreConfig {
  endpoint: URL;
  accessKey: string;
  secretKey: string;
  region: string;
  transfer: TransferSettings;
}

/**
 * The object store on MinIO (or any S3 API server) through `minio`. Large projects are uploaded
 * by `uploadInParts` through minio-js's multipart calls, because minio-js's own `putObject`
 * holds 64 MiB+ parts, can hang when the source errors and never aborts a failed upload.
 * minio-js takes no abort signal: its requests go through `cancellableTransport`, and every call
 * runs under `withRequestSignal`, so that a deadline or an abort destroys the request itself.
 */
export class MinioObjectStore implements ObjectStore {
  private readonly client: Client;
  private readonly partClient: Client;
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
    const options = {
      endPoint: endpoint.hostname,
      port: endpoint.port ? Number(endpoint.port) : tls ? 443 : 80,
      useSSL: tls,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      region: config.region,
      pathStyle: true,
      partSize: transfer.partSize,
      transport: cancellableTransport(tls),
      transportAgent: this.agent,
    };
    this.client = new Client(options);
    // Over plain HTTP every body is signed with its SHA-256 (minio-js's default there), which
    // the server checks: a part corrupted in transit is refused. Over HTTPS, where TLS protects
    // each request, parts go as UNSIGNED-PAYLOAD unless `signParts`: a second client, sharing
    // the agent, because the switch is client-wide (single PUTs keep minio-js's Content-MD5 there).
    this.partClient = tls && !transfer.signParts ? new Client(options) : this.client;
    if (this.partClient !== this.client) this.partClient.enableSHA256 = false;
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
    await singlePut(
      () =>
        raceAbort(
          withRequestSignal(signal, () =>
            this.client.putObject(bucket, key, data, data.length, {
              'Content-Type': ZIP_CONTENT_TYPE,
              [SHA256_METADATA_KEY]: sha256,
            }),
          ),
          signal,
          () => deadlineExceeded(call, ms),
        ),
      { sha256, storedSha256: () => this.storedSha256(bucket, key) },
      this.config.transfer.requestTimeoutMs,
      (err) => toStorageError(err, call),
    );
  }

  async putParts(
    bucket: string,
    key: string,
    body: PartSource,
    signal: AbortSignal,
  ): Promise<void> {
    void this.pendingAborts.flush();
    const call = { operation: 'upload', bucket, key };
    const { client, partClient } = this;
    try {
      await uploadInParts(
        {
          create: () =>
            this.bounded(call, () =>
              client.initiateNewMultipartUpload(bucket, key, {
                'Content-Type': ZIP_CONTENT_TYPE,
                [`x-amz-meta-${SHA256_METADATA_KEY}`]: body.sha256,
              }),
            ),
          // Bounded by the agent's socket deadline, destroyed when `signal` aborts.
          sendPart: async (uploadId, partNumber, data, signal) => {
            const part = { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber };
            const { etag } = await withRequestSignal(signal, () =>
              partClient.uploadPart({ ...part, headers: {} }, data),
            );
            return etag;
          },
          complete: async (uploadId, parts, until) => {
            const etags = parts.map(({ partNumber, etag }) => ({ part: partNumber, etag }));
            await this.bounded(
              call,
              () => client.completeMultipartUpload(bucket, key, uploadId, etags),
              until,
            );
          },
          abort: (uploadId) => this.pendingAborts.abortOrKeep(bucket, key, uploadId),
          abortLate: (created) => this.pendingAborts.abortWhenCreated(bucket, key, created),
          storedSha256: () => this.storedSha256(bucket, key),
        },
        body,
        this.config.transfer,
        signal,
      );
    } catch (err) {
      throw uploadFailure(err, call, signal, this.config.transfer.uploadTimeoutMs);
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

  /** The SHA-256 recorded on `key`, or `undefined` when there is no object. */
  private async storedSha256(bucket: string, key: string): Promise<string | undefined> {
    try {
      const stat = await this.bounded({ operation: 'head', bucket, key }, () =>
        this.client.statObject(bucket, key),
      );
      const sha256 = (stat.metaData as Record<string, unknown>)[SHA256_METADATA_KEY];
      return typeof sha256 === 'string' ? sha256 : undefined;
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

  /**
   * A call bounded by the request deadline: its requests are destroyed when the deadline passes,
   * or when `until` (an upload's deadline) aborts first.
   */
  private async bounded<T>(
    call: StorageCall,
    send: () => Promise<T>,
    until?: AbortSignal,
  ): Promise<T> {
    const ms = this.config.transfer.requestTimeoutMs;
    const guard = deadline(ms);
    const signal = until ? AbortSignal.any([guard.signal, until]) : guard.signal;
    try {
      return await raceAbort(withRequestSignal(signal, send), signal, () =>
        deadlineExceeded(call, ms),
      );
    } catch (err) {
      throw toStorageError(err, call);
    } finally {
      guard.clear();
    }
  }
}
