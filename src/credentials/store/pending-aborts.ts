import { CredentialsError, type ErrorSummary } from '../errors.js';
import { RedactingLogger } from '../util/redact.js';
import { summarizeError } from './storage-errors.js';

/** What an abort found: `aborted` (nothing of it will be stored), `gone` (no such upload any
 * more: completed, or aborted before), `kept` (the server could not be reached: retried later). */
export type AbortOutcome = 'aborted' | 'gone' | 'kept';

interface PendingAbort {
  bucket: string;
  key: string;
  uploadId: string;
  firstFailedAt: number;
  delayMs: number;
  nextAt: number;
}

export interface PendingAbortsOptions {
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** After this long an abort is dropped (a bucket lifecycle rule must then clean up). */
  giveUpAfterMs?: number;
}

/**
 * Multipart uploads whose abort could not reach the server (it was down, silent or killed
 * mid-upload). Their parts would stay on the server, unseen but stored, so the abort is retried
 * with backoff on an unref'd timer, again before every new upload (the first sign that the
 * server is back), and once more, bounded, on close.
 */
export class PendingAborts {
  readonly #pending = new Map<string, PendingAbort>();
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #giveUpAfterMs: number;
  #timer?: NodeJS.Timeout;
  #flushing?: Promise<void>;
  /** CreateMultipartUploads still awaited after their upload gave up on them. */
  readonly #lateCreates = new Set<Promise<void>>();
  readonly #logger = new RedactingLogger('Credentials');

  constructor(
    private readonly abort: (bucket: string, key: string, uploadId: string) => Promise<void>,
    options: PendingAbortsOptions = {},
  ) {
    this.#firstDelayMs = options.firstDelayMs ?? 1_000;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#giveUpAfterMs = options.giveUpAfterMs ?? 15 * 60_000;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Aborts now; if that fails, keeps the upload for a later attempt. Never throws. */
  async abortOrKeep(bucket: string, key: string, uploadId: string): Promise<AbortOutcome> {
    const outcome = await this.tryAbort(bucket, key, uploadId);
    if (outcome !== 'kept') return outcome;
    this.#logger.warn(
      `Could not abort a multipart upload of "${key}" in bucket "${bucket}": retrying in the background`,
    );
    const now = Date.now();
    this.#pending.set(uploadId, {
      bucket,
      key,
      uploadId,
      firstFailedAt: now,
      delayMs: this.#firstDelayMs,
      nextAt: now + this.#firstDelayMs,
    });
    this.schedule();
    return 'kept';
  }

  /**
   * Aborts the upload that `created` (a CreateMultipartUpload its upload stopped waiting for)
   * resolves with, whenever its answer arrives; `close()` waits for it. Never throws.
   */
  abortWhenCreated(bucket: string, key: string, created: Promise<string>): void {
    const late = created.then(
      (uploadId) => this.abortOrKeep(bucket, key, uploadId).then(() => undefined),
      () => undefined,
    );
    this.#lateCreates.add(late);
    void late.then(() => this.#lateCreates.delete(late));
  }

  /** Retries every kept abort now (one pass at a time). */
  flush(): Promise<void> {
    this.#flushing ??= this.retry(() => true).finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** One last attempt, then the timer is released. */
  async close(): Promise<void> {
    await Promise.all(this.#lateCreates);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  private async tryAbort(bucket: string, key: string, uploadId: string): Promise<AbortOutcome> {
    try {
      await this.abort(bucket, key, uploadId);
      return 'aborted';
    } catch (err) {
      // Already gone (completed, or aborted by an earlier attempt whose answer was lost).
      const { code, name, status } =
        err instanceof CredentialsError ? ((err.cause ?? {}) as ErrorSummary) : summarizeError(err);
      const gone = code === 'NoSuchUpload' || name === 'NoSuchUpload' || status === 404;
      return gone ? 'gone' : 'kept';
    }
  }

  private async retry(due: (entry: PendingAbort) => boolean): Promise<void> {
    const now = Date.now();
    for (const entry of [...this.#pending.values()]) {
      if (!due(entry)) continue;
      if ((await this.tryAbort(entry.bucket, entry.key, entry.uploadId)) !== 'kept') {
        this.#pending.delete(entry.uploadId);
      } else if (now - entry.firstFailedAt > this.#giveUpAfterMs) {
        this.#pending.delete(entry.uploadId);
        this.#logger.error(
          `Gave up aborting a multipart upload of "${entry.key}" in bucket "${entry.bucket}" ` +
            'after retrying: its parts stay on the server until a lifecycle rule removes them',
        );
      } else {
        entry.delayMs = Math.min(this.#maxDelayMs, entry.delayMs * 2);
        entry.nextAt = Date.now() + entry.delayMs;
      }
    }
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const next = Math.min(...[...this.#pending.values()].map((entry) => entry.nextAt));
    this.#timer = setTimeout(
      () => void this.retry((entry) => entry.nextAt <= Date.now()),
      Math.max(0, next - Date.now()),
    );
    this.#timer.unref();
  }
}
