import { summarizeError } from './storage-errors.js';

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
  async abortOrKeep(bucket: string, key: string, uploadId: string): Promise<void> {
    if (await this.tryAbort(bucket, key, uploadId)) return;
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
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  private async tryAbort(bucket: string, key: string, uploadId: string): Promise<boolean> {
    try {
      await this.abort(bucket, key, uploadId);
      return true;
    } catch (err) {
      // Already gone (completed elsewhere, or aborted by an earlier attempt whose answer was lost).
      const { code, name, status } = summarizeError(err);
      return code === 'NoSuchUpload' || name === 'NoSuchUpload' || status === 404;
    }
  }

  private async retry(due: (entry: PendingAbort) => boolean): Promise<void> {
    const now = Date.now();
    for (const entry of [...this.#pending.values()]) {
      if (!due(entry)) continue;
      if (await this.tryAbort(entry.bucket, entry.key, entry.uploadId)) {
        this.#pending.delete(entry.uploadId);
      } else if (now - entry.firstFailedAt > this.#giveUpAfterMs) {
        this.#pending.delete(entry.uploadId);
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
