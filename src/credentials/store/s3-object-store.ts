import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { loadAdapter } from '../util/optional-peer.js';
import { isShared, sha256Worker } from '../util/sha256-worker.js';
import type { TransferSettings } from '../config/transfer-settings.js';
import { singlePut, uploadInParts } from './multipart-upload.js';
import { PendingAborts } from './pending-aborts.js';
import { ProjectNotFoundError } from '../errors.js';
import { deadline, raceAbort } from '../util/deadline.js';
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

export interface S3StoreConfig {
  region: string;
  /** A custom endpoint (S3-compatible storage); absent for AWS itself. */
  endpoint?: string;
  /** Static keys; absent to use the SDK's default provider chain (IRSA, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle: boolean;
  /** `WHEN_REQUIRED` for servers that refuse the SDK's default CRC32 / aws-chunked bodies. */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  transfer: TransferSettings;
}

/**
 * The SHA-256 of each part in shared memory, taken in the SHA-256 worker before it is sent (by
 * the part's bytes), for the signer: it would otherwise hash each part again on the main thread.
 */
const partHashes = new WeakMap<object, string>();

/**
 * The `x-amz-content-sha256` of an upload request, so that the SDK's signer does not hash the
 * body again: for PutObject the SHA-256 the module already computed (the body is still signed,
 * and the server checks it), for UploadPart `UNSIGNED-PAYLOAD` where `unsignedParts` (HTTPS
 * without `signParts`: TLS protects each part), else the part's SHA-256 from the
 * worker (the server checks the part's bytes against it). `undefined`: let the signer hash it.
 */
function payloadHash(
  command: string | undefined,
  input: unknown,
  unsignedParts: boolean,
): string | undefined {
  if (command === 'UploadPartCommand') {
    if (unsignedParts) return 'UNSIGNED-PAYLOAD';
    return partHashes.get((input as { Body: object }).Body);
  }
  if (command === 'PutObjectCommand') {
    return (input as { Metadata?: Record<string, string> }).Metadata?.[SHA256_METADATA_KEY];
  }
  return undefined;
}

/** The object store on S3 (or an S3-compatible server) through `@aws-sdk/client-s3`. */
export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  /** Whether parts are signed with their SHA-256 (taken in the worker when they are shared). */
  private readonly hashParts: boolean;
  private readonly pendingAborts = new PendingAborts((bucket, key, uploadId) =>
    this.metadataCall({ operation: 'abort of a multipart upload', bucket, key }, (abortSignal) =>
      this.client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
        { abortSignal },
      ),
    ).then(() => undefined),
  );

  constructor(private readonly config: S3StoreConfig) {
    const { transfer } = config;
    // No endpoint: AWS itself, over HTTPS.
    const tls = config.endpoint === undefined || new URL(config.endpoint).protocol === 'https:';
    const unsignedParts = tls && !transfer.signParts;
    this.hashParts = !unsignedParts;
    this.client = new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      credentials: config.credentials,
      forcePathStyle: config.forcePathStyle,
      requestChecksumCalculation: config.checksums,
      responseChecksumValidation: config.checksums,
      maxAttempts: 3,
      requestHandler: {
        connectionTimeout: Math.min(5_000, transfer.requestTimeoutMs),
        requestTimeout: transfer.requestTimeoutMs,
        // Without it the SDK only logs a warning when a server stops answering.
        throwOnRequestTimeout: true,
        // requestTimeout ends when the headers arrive; this bounds the silence within a body.
        socketTimeout: transfer.requestTimeoutMs,
        httpAgent: { keepAlive: true, maxSockets: 64 },
        httpsAgent: { keepAlive: true, maxSockets: 64 },
      },
    });
    this.client.middlewareStack.add(
      (next, context) => (args) => {
        const hash = payloadHash(context.commandName, args.input, unsignedParts);
        const { request } = args as { request: { headers?: Record<string, string> } };
        if (hash && request.headers) request.headers['x-amz-content-sha256'] = hash;
        return next(args);
      },
      { step: 'build', name: 'nestCredentialsPayloadHash' },
    );
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
    await singlePut(
      () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            ContentType: ZIP_CONTENT_TYPE,
            Metadata: { [SHA256_METADATA_KEY]: sha256 },
          }),
          { abortSignal: signal },
        ),
      { sha256, storedSha256: () => this.storedSha256(bucket, key) },
      this.config.transfer.requestTimeoutMs,
      (err) => uploadFailure(err, call, signal, this.config.transfer.uploadTimeoutMs),
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
    const { client } = this;
    const bounded = <T>(
      operation: string,
      send: (abortSignal: AbortSignal) => Promise<T>,
      until?: AbortSignal,
    ) => this.metadataCall({ operation, bucket, key }, send, until);
    try {
      await uploadInParts(
        {
          create: async () => {
            const created = await bounded('upload', (abortSignal) =>
              client.send(
                new CreateMultipartUploadCommand({
                  Bucket: bucket,
                  Key: key,
                  ContentType: ZIP_CONTENT_TYPE,
                  Metadata: { [SHA256_METADATA_KEY]: body.sha256 },
                }),
                { abortSignal },
              ),
            );
            if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
            return created.UploadId;
          },
          // Bounded by the client's request and socket timeouts, retried by the SDK.
          sendPart: async (uploadId, partNumber, data, abortSignal) => {
            if (this.hashParts && isShared(data)) {
              partHashes.set(data, await sha256Worker.digest(data));
            }
            const sent = await client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: data,
                ContentLength: data.length,
              }),
              { abortSignal },
            );
            if (!sent.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
            return sent.ETag;
          },
          complete: async (uploadId, parts, until) => {
            await bounded(
              'upload',
              (abortSignal) =>
                client.send(
                  new CompleteMultipartUploadCommand({
                    Bucket: bucket,
                    Key: key,
                    UploadId: uploadId,
                    MultipartUpload: {
                      Parts: parts.map(({ partNumber, etag }) => ({
                        PartNumber: partNumber,
                        ETag: etag,
                      })),
                    },
                  }),
                  { abortSignal },
                ),
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
      const head = await this.metadataCall({ operation: 'head', bucket, key }, (abortSignal) =>
        this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
      );
      return head.ETag;
    } catch (err) {
      if (err instanceof ProjectNotFoundError) return undefined;
      throw err;
    }
  }

  /** The SHA-256 recorded on `key`, or `undefined` when there is no object. */
  private async storedSha256(bucket: string, key: string): Promise<string | undefined> {
    try {
      const head = await this.metadataCall({ operation: 'head', bucket, key }, (abortSignal) =>
        this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
      );
      return head.Metadata?.[SHA256_METADATA_KEY];
    } catch (err) {
      if (err instanceof ProjectNotFoundError) return undefined;
      throw err;
    }
  }

  async checkBucket(bucket: string): Promise<void> {
    await this.metadataCall({ operation: 'health check', bucket }, (abortSignal) =>
      this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }),
    );
  }

  async presignGet(bucket: string, key: string, ttlSeconds: number): Promise<string> {
    const { getSignedUrl } = await loadAdapter(
      'aws',
      ['@aws-sdk/s3-request-presigner'],
      () => import('@aws-sdk/s3-request-presigner'),
    );
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: ttlSeconds,
    });
  }

  async getObject(bucket: string, key: string): Promise<StoredObject> {
    const response = await this.metadataCall(
      { operation: 'download', bucket, key },
      (abortSignal) =>
        this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
    );
    return {
      body: response.Body as Readable,
      size: response.ContentLength,
      sha256: response.Metadata?.[SHA256_METADATA_KEY],
    };
  }

  async close(): Promise<void> {
    await this.pendingAborts.close();
    this.client.destroy();
  }

  /**
   * A call that answers with headers: bounded by the request deadline, retries included, and
   * destroyed when `until` (an upload's deadline) aborts first.
   */
  private async metadataCall<T>(
    call: StorageCall,
    send: (signal: AbortSignal) => Promise<T>,
    until?: AbortSignal,
  ): Promise<T> {
    const ms = this.config.transfer.requestTimeoutMs;
    const guard = deadline(ms);
    const signal = until ? AbortSignal.any([guard.signal, until]) : guard.signal;
    try {
      return await raceAbort(send(signal), signal, () => deadlineExceeded(call, ms));
    } catch (err) {
      throw toStorageError(err, call);
    } finally {
      guard.clear();
    }
  }
}
