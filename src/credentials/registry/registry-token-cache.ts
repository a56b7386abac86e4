import { CredentialsError, RegistryAuthError, StorageUnavailableError } from '../errors.js';
import { RedactingLogger, watchSecret } from '../util/redact.js';

export interface RegistryToken {
  token: string;
  expiresAt: Date;
}

export interface RegistryTokenCacheOptions {
  /** A token this close to `expiresAt` is never handed out. Default 5 minutes. */
  expiryMarginMs?: number;
  /** Deadline of one refresh, retries included; also the longest a caller waits. Default 30 s. */
  refreshDeadlineMs?: number;
  /** Attempts of one refresh. Default 6. */
  maxAttempts?: number;
  /** First backoff step; each retry waits a random time up to base * 2^attempt. Default 100 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** First wait after a failed background refresh; it doubles with each failure. Default 1 s. */
  refreshBackoffMs?: number;
  /** Longest wait between failed background refreshes. Default 5 minutes. */
  maxRefreshBackoffMs?: number;
  /** Whether a failed fetch is worth another attempt (throttling, 5xx, network). */
  isRetryable: (err: unknown) => boolean;
  /** Turns a final failure into a typed error. */
  toError: (err: unknown) => CredentialsError;
}

interface CachedToken extends RegistryToken {
  fetchedAt: number;
}

/** The one refresh in flight, shared by every caller, and the switch that cancels it. */
interface Refresh {
  promise: Promise<CachedToken>;
  controller: AbortController;
}

/** A timer that never keeps the process alive on its own. */
function backgroundTimer(callback: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return timer;
}

/** Waits `ms`, or less if `signal` aborts first (the caller then sees the abort). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = backgroundTimer(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * Caches a registry token in memory. A token is handed out until `expiryMarginMs` before its
 * expiry, at once, whatever the registry API does. Once half of its lifetime has passed, a call
 * starts a refresh in the background; a failed background refresh is logged (one warning) and
 * tried again after a jittered wait that doubles up to `maxRefreshBackoffMs`, until it succeeds
 * or the cached token is no longer usable. Only a caller that finds no usable token waits, for
 * at most `refreshDeadlineMs`. There is one refresh at a time (its attempts retried with
 * jittered backoff inside the deadline), shared by every caller. The cache's own timers never
 * keep the process alive, and `close()` cancels all of them and the refresh in flight.
 */
export class RegistryTokenCache {
  private cached?: CachedToken;
  private refreshing?: Refresh;
  private backoff?: NodeJS.Timeout;
  private failedRefreshes = 0;
  private closed = false;
  private readonly logger = new RedactingLogger('Credentials');
  private readonly expiryMarginMs: number;
  private readonly refreshDeadlineMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly refreshBackoffMs: number;
  private readonly maxRefreshBackoffMs: number;

  constructor(
    private readonly fetchToken: (signal: AbortSignal) => Promise<RegistryToken>,
    private readonly options: RegistryTokenCacheOptions,
  ) {
    this.expiryMarginMs = options.expiryMarginMs ?? 5 * 60_000;
    this.refreshDeadlineMs = options.refreshDeadlineMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 6;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.refreshBackoffMs = options.refreshBackoffMs ?? 1_000;
    this.maxRefreshBackoffMs = options.maxRefreshBackoffMs ?? 5 * 60_000;
  }

  /** A token that stays valid for at least `expiryMarginMs`. */
  async get(): Promise<RegistryToken> {
    if (this.closed) throw this.closedError();
    const cached = this.cached;
    if (cached && this.isUsable(cached)) {
      if (this.isPastHalfLife(cached)) this.refreshInBackground();
      return cached;
    }
    return this.waitForRefresh();
  }

  /** Forgets the cached token (for example after the registry refused it). */
  invalidate(): void {
    this.cached = undefined;
    // Nothing left to keep fresh: the next caller refreshes (and waits for it).
    this.clearBackoff();
  }

  /** Cancels the refresh in flight and every timer; later calls fail with a typed error. */
  close(): void {
    this.closed = true;
    this.cached = undefined;
    this.clearBackoff();
    this.refreshing?.controller.abort();
  }

  private clearBackoff(): void {
    clearTimeout(this.backoff);
    this.backoff = undefined;
  }

  private isUsable(token: CachedToken): boolean {
    return Date.now() < this.usableUntil(token);
  }

  private usableUntil(token: CachedToken): number {
    return token.expiresAt.getTime() - this.expiryMarginMs;
  }

  private isPastHalfLife(token: CachedToken): boolean {
    return Date.now() >= token.fetchedAt + (token.expiresAt.getTime() - token.fetchedAt) / 2;
  }

  /** The caller has no usable token: it waits for the shared refresh, within the deadline. */
  private async waitForRefresh(): Promise<CachedToken> {
    const refresh = this.refresh();
    // The refresh's own timers do not hold the process open; a waiting caller does, with this
    // bound (a refresh already in flight ends sooner, at its own deadline).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.deadlineError()), this.refreshDeadlineMs);
    });
    try {
      return await Promise.race([refresh, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts a refresh nobody waits for, unless one runs or a backoff wait is pending. */
  private refreshInBackground(): void {
    if (this.refreshing || this.backoff || this.closed) return;
    this.refresh().then(
      () => undefined,
      (err: unknown) => this.backOff(err),
    );
  }

  /** Any successful refresh ends a run of failures: the next one backs off from the start. */
  private recovered(): void {
    if (this.failedRefreshes > 0) {
      this.logger.log(
        `Registry token refreshed after ${this.failedRefreshes} failed background refreshes`,
      );
    }
    this.failedRefreshes = 0;
  }

  /** After a failed background refresh: one warning, then the next try after a jittered wait. */
  private backOff(err: unknown): void {
    if (this.closed) return;
    this.failedRefreshes++;
    const reason = err instanceof Error ? err.message : String(err);
    const cached = this.cached;
    if (!cached || !this.isUsable(cached)) {
      this.logger.warn(
        `Refreshing the registry token failed (${reason}); no usable token is cached, ` +
          'the next call tries again',
      );
      return;
    }
    const step = Math.min(
      this.maxRefreshBackoffMs,
      this.refreshBackoffMs * 2 ** (this.failedRefreshes - 1),
    );
    // Never less than half a step, so a registry that fails at once cannot cause a hot loop.
    const wait = Math.round(step / 2 + (Math.random() * step) / 2);
    this.logger.warn(
      `Refreshing the registry token failed (${reason}); the cached token stays in use ` +
        `(usable until ${new Date(this.usableUntil(cached)).toISOString()}); ` +
        `next try in ${wait} ms (failure ${this.failedRefreshes})`,
    );
    this.backoff = backgroundTimer(() => {
      this.backoff = undefined;
      this.refreshInBackground();
    }, wait);
  }

  private refresh(): Promise<CachedToken> {
    if (this.closed) return Promise.reject(this.closedError());
    if (!this.refreshing) {
      // A caller that cannot wait for the backoff refreshes now; the backoff is then moot.
      this.clearBackoff();
      const controller = new AbortController();
      const promise = this.fetchWithRetries(controller).finally(() => {
        if (this.refreshing?.promise === promise) this.refreshing = undefined;
      });
      this.refreshing = { promise, controller };
    }
    return this.refreshing.promise;
  }

  private async fetchWithRetries(controller: AbortController): Promise<CachedToken> {
    const giveUpAt = Date.now() + this.refreshDeadlineMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const fetched = await this.withinDeadline(
          () => this.fetchToken(controller.signal),
          giveUpAt,
          controller,
        );
        const token: CachedToken = { ...fetched, fetchedAt: Date.now() };
        if (!this.isUsable(token)) {
          throw new RegistryAuthError(
            `The registry returned a token that expires at ${fetched.expiresAt.toISOString()}, ` +
              `less than ${this.expiryMarginMs / 60_000} minutes from now`,
          );
        }
        watchSecret(token.token);
        this.cached = token;
        this.recovered();
        return token;
      } catch (err) {
        if (err instanceof CredentialsError) throw err;
        const delay = Math.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** attempt);
        const retry =
          attempt < this.maxAttempts &&
          this.options.isRetryable(err) &&
          Date.now() + delay < giveUpAt;
        if (!retry) throw this.options.toError(err);
        await this.withinDeadline(() => pause(delay, controller.signal), giveUpAt, controller);
      }
    }
  }

  /**
   * Runs `step` until `giveUpAt`, or until the refresh is cancelled (`close()`). At the deadline
   * the refresh is cancelled too, so the request in flight does not outlive it.
   */
  private withinDeadline<T>(
    step: () => Promise<T>,
    giveUpAt: number,
    controller: AbortController,
  ): Promise<T> {
    const { signal } = controller;
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) return reject(this.closedError());
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const onAbort = () => settle(() => reject(this.closedError()));
      const timer = backgroundTimer(
        () => {
          settle(() => reject(this.deadlineError()));
          controller.abort();
        },
        Math.max(0, giveUpAt - Date.now()),
      );
      signal.addEventListener('abort', onAbort);
      step().then(
        (value) => settle(() => resolve(value)),
        (err: unknown) => settle(() => reject(err)),
      );
    });
  }

  private deadlineError(): StorageUnavailableError {
    return new StorageUnavailableError(
      `The registry did not return a token within ${this.refreshDeadlineMs} ms`,
      { name: 'TimeoutError' },
    );
  }

  private closedError(): StorageUnavailableError {
    return new StorageUnavailableError(
      'The registry token cache has been shut down (onModuleDestroy)',
    );
  }
}
