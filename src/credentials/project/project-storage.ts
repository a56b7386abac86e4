import type { Readable } from 'node:stream';
import type { TransferSettings } from '../config/transfer-settings.js';
import type { ProjectBody, ProjectObject, TransferOptions, UploadOptions } from '../credentials.js';
import type { ObjectStore } from '../store/object-store.js';
import { deadlineExceeded, toStorageError } from '../store/storage-errors.js';
import {
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../errors.js';
import { deadline, graceAfter, raceAbort } from '../util/deadline.js';
import { RedactingLogger } from '../util/redact.js';
import { assertSha256, assertSuppliedDigest } from './digest-upload.js';
import { verifiedDownload } from './integrity-check.js';
import {
  assertTransferOptions,
  callerAborted,
  destroyOnAbort,
  progressCounter,
} from './transfer-options.js';
import { type PreparedBody, prepareProjectBody } from './project-body.js';
import { assertBucketName, assertProjectName } from './project-name.js';
import { sweepStaleSpoolFiles } from './spool-file.js';
import { withProjectSize } from './project-stream.js';

function shuttingDown(bucket: string, key: string): StorageUnavailableError {
  return new StorageUnavailableError(
    `The upload of "${key}" to bucket "${bucket}" was aborted: the application is shutting down`,
  );
}

const isStream = (body: ProjectBody): body is Readable =>
  !(body instanceof Uint8Array) && typeof (body as Readable).destroy === 'function';

/** What a store may take beyond one request deadline to settle an upload it was told to stop. */
const STORE_SETTLE_SLACK_MS = 1_000;

/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/**
 * Everything that holds whatever the store is: name rules, ZIP signature, size limit, the
 * SHA-256 computed while streaming, the integrity check on the way back and the upload
 * deadline. The store behind it only moves bytes.
 */
export class ProjectStorage {
  /** Uploads under way, so that `close()` can end them cleanly. */
  readonly #inFlight = new Set<{ abort(): void; settled: Promise<unknown> }>();
  /**
   * Store calls still running: a call that passed its deadline is answered at once, but its
   * clean-up (aborting the multipart upload, removing the spool file) goes on, and `close()`
   * waits for it.
   */
  readonly #storeCalls = new Set<Promise<unknown>>();
  #closing = false;
  readonly #logger = new RedactingLogger('Credentials');

  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly transfer: TransferSettings,
  ) {}

  /**
   * Removes the spool files a crashed process left behind (older than the upload deadline, so
   * that no live upload's file is touched) and logs how many. Called once, at start-up; a spool
   * directory it cannot read is logged, not thrown: uploads will report it if it persists.
   */
  async sweepSpoolDir(): Promise<void> {
    const { spoolDir, uploadTimeoutMs } = this.transfer;
    try {
      const removed = await sweepStaleSpoolFiles(spoolDir, uploadTimeoutMs);
      if (removed > 0) {
        this.#logger.log(
          `Removed ${removed} stale spool file${removed === 1 ? '' : 's'} (older than ` +
            `${uploadTimeoutMs} ms, left by an earlier process) from ${spoolDir}`,
        );
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.#logger.warn(`Could not sweep stale spool files from ${spoolDir}: ${code}`);
    }
  }

  upload(
    projectName: string,
    project: ProjectBody,
    options: UploadOptions = {},
  ): Promise<ProjectObject> {
    if (this.#closing) return Promise.reject(shuttingDown(this.bucket, projectName));
    const shutdown = new AbortController();
    const work = this.uploadUntil(projectName, project, options, shutdown.signal);
    const entry = {
      abort: () => shutdown.abort(),
      settled: work.catch(() => undefined),
    };
    this.#inFlight.add(entry);
    void entry.settled.then(() => this.#inFlight.delete(entry));
    return work;
  }

  private async uploadUntil(
    projectName: string,
    project: ProjectBody,
    options: UploadOptions,
    shutdown: AbortSignal,
  ): Promise<ProjectObject> {
    assertProjectName(projectName);
    assertTransferOptions(options);
    assertSha256(options.sha256);
    const { bucket, transfer } = this;
    const call = { operation: 'upload', bucket, key: projectName };
    const caller = options.signal;
    const guard = deadline(transfer.uploadTimeoutMs);
    // The one place where the caller's signal joins the deadline and the shutdown: everything
    // below (reading the body, the store's requests, the clean-up) answers to all three alike.
    const signal = AbortSignal.any(
      caller ? [guard.signal, shutdown, caller] : [guard.signal, shutdown],
    );
    // A source that stalls (a client that stops sending) must not outlive the deadline.
    const stopReading = () => isStream(project) && project.destroy();
    if (signal.aborted) stopReading();
    signal.addEventListener('abort', stopReading, { once: true });
    const sent = progressCounter(
      options.onProgress,
      this.#logger,
      `the upload of "${projectName}"`,
    );
    let body: PreparedBody | undefined;
    try {
      signal.throwIfAborted();
      body = await prepareProjectBody(project, {
        maxProjectSize: transfer.maxProjectSize,
        wholeBodyLimit: transfer.partSize,
        spoolDir: transfer.spoolDir,
        sha256: options.sha256,
      });
      const { sha256 } = body;
      // A streamed body checks it as it ends (`verify`); the others were hashed in full already.
      assertSuppliedDigest(options.sha256, sha256);
      const temporary = body.kind === 'whole' ? undefined : body;
      const prepared = body;
      prepared.reportSent = sent;
      // One request for a body of one part; anything larger through the store's multipart
      // upload, its parts read from the spool file, taken as views of the caller's Buffer, or
      // (a stream with a supplied digest) read from the stream as it arrives.
      const stored =
        body.kind === 'whole' && body.size <= transfer.partSize
          ? this.store
              .putObject(bucket, projectName, body.data, sha256, signal)
              .then(() => sent(prepared.size))
          : this.store.putParts(bucket, projectName, body, signal);
      const cleanedUp = stored.catch(() => undefined).then(() => temporary?.discard());
      this.#storeCalls.add(cleanedUp);
      void cleanedUp.then(() => this.#storeCalls.delete(cleanedUp));
      // At the deadline the store destroys its requests and settles a commit that may have
      // reached the server before answering, within one more request deadline: the outcome
      // told is the outcome stored. A store that takes longer (a custom one that ignores the
      // signal) is answered with the deadline all the same.
      const settled = graceAfter(signal, transfer.requestTimeoutMs + STORE_SETTLE_SLACK_MS);
      try {
        await raceAbort(stored, settled.signal, () => new Error('the store did not settle'));
      } catch (err) {
        // A store that failed has settled: its spool file goes before the failure is told.
        if (!settled.signal.aborted) await cleanedUp;
        throw err;
      } finally {
        settled.clear();
      }
      await cleanedUp;
      return { bucket, key: projectName, size: body.size, sha256 };
    } catch (err) {
      if (shutdown.aborted) throw shuttingDown(bucket, projectName);
      if (caller?.aborted) throw callerAborted(call, caller.reason);
      if (guard.signal.aborted) throw deadlineExceeded(call, transfer.uploadTimeoutMs);
      throw toStorageError(err, call);
    } finally {
      guard.clear();
      signal.removeEventListener('abort', stopReading);
    }
  }

  async download(
    bucketName: string,
    projectName: string,
    options: TransferOptions = {},
  ): Promise<Readable> {
    assertBucketName(bucketName);
    assertProjectName(projectName);
    assertTransferOptions(options);
    const call = { operation: 'download', bucket: bucketName, key: projectName };
    const { signal } = options;
    const aborted = () => callerAborted(call, signal?.reason);
    if (signal?.aborted) throw aborted();
    const opening = this.store.getObject(bucketName, projectName);
    const object = signal
      ? await raceAbort(opening, signal, () => {
          // Opened after all: nobody reads it, so release its connection or file.
          void opening.then(
            ({ body }) => body.destroy(),
            () => undefined,
          );
          return aborted();
        })
      : await opening;
    // The size comes with the same response as the bytes (no extra HEAD, no race with a new
    // upload) and is enforced by the check, so an HTTP layer may send it as Content-Length.
    const download = verifiedDownload(
      object.body,
      { bucket: bucketName, key: projectName, size: object.size, sha256: object.sha256 },
      (err) => toStorageError(err, call),
      this.transfer.requestTimeoutMs,
      progressCounter(options.onProgress, this.#logger, `the download of "${projectName}"`),
    );
    destroyOnAbort(download, signal, aborted);
    return withProjectSize(download, object.size);
  }

  /** A presigned GET URL of an existing project, valid for `ttlSeconds` (1 s to 7 days). */
  async presignDownload(
    bucketName: string,
    projectName: string,
    ttlSeconds: number,
  ): Promise<string> {
    assertBucketName(bucketName);
    assertProjectName(projectName);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_PRESIGN_SECONDS) {
      throw new InvalidProjectError(
        `ttlSeconds must be a whole number from 1 to ${MAX_PRESIGN_SECONDS} (got ${ttlSeconds})`,
        'argument',
      );
    }
    if (!this.store.presignGet) {
      throw new NotSupportedError('This storage cannot create presigned download URLs');
    }
    // A URL to a 404 would fail only in the build job; say it here. A HEAD's 404 carries no
    // code, so whether the key or the whole bucket is missing is asked of the bucket (as a
    // download would tell from its GET's NoSuchBucket).
    if ((await this.store.etagOf(bucketName, projectName)) === undefined) {
      await this.store.checkBucket(bucketName);
      throw new ProjectNotFoundError(bucketName, projectName);
    }
    try {
      return await this.store.presignGet(bucketName, projectName, ttlSeconds);
    } catch (err) {
      throw toStorageError(err, { operation: 'presign', bucket: bucketName, key: projectName });
    }
  }

  /** Resolves when the projects bucket is reachable with the configured keys. */
  checkBucket(): Promise<void> {
    return this.store.checkBucket(this.bucket);
  }

  /**
   * Ends in-flight uploads (each is aborted, its multipart parts removed) and waits for them,
   * then releases the store's clients. Uploads started afterwards are refused.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const pending = [...this.#inFlight];
    for (const upload of pending) upload.abort();
    await Promise.all(pending.map((upload) => upload.settled));
    await Promise.all([...this.#storeCalls]);
    await this.store.close();
  }
}
