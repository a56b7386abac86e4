import { CredentialsError, RegistryAuthError, StorageUnavailableError } from '../errors.js';
import { watchSecret } from '../util/redact.js';

export interface RegistryToken {
  token: string;
  expiresAt: Date;
}

export interface RegistryTokenCacheOptions {
  /** A token this close to `expiresAt` is never handed out. Default 5 minutes. */
  expiryMarginMs?: number;
  /** Deadline of one refresh, retries included. Default 30 s. */
  refreshDeadlineMs?: number;
  /** Attempts of one refresh. Default 6. */
  maxAttempts?: number;
  /** First backoff step; each retry waits a random time up to base * 2^attempt. Default 100 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Whether a failed fetch is worth another attempt (throttling, 5xx, network). */
  isRetryable: (err: unknown) => boolean;
  /** Turns a final failure into a typed error. */
  toError: (err: unknown) => CredentialsError;
}

interface CachedToken extends RegistryToken {
  fetchedAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Caches a registry token in memory. A token is reused until less than half of its lifetime
 * remains, and never within `expiryMarginMs` of its expiry. Concurrent callers share one
 * refresh, so a burst of calls costs one API call. Failed fetches are retried with jittered
 * exponential backoff inside a deadline; if a refresh fails while the cached token is still
 * safely valid, the cached token is returned.
 */
export class RegistryTokenCache {
  private cached?: CachedToken;
  private refreshing?: Promise<CachedToken>;
  private readonly expiryMarginMs: number;
  private readonly refreshDeadlineMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly fetchToken: () => Promise<RegistryToken>,
    private readonly options: RegistryTokenCacheOptions,
  ) {
    this.expiryMarginMs = options.expiryMarginMs ?? 5 * 60_000;
    this.refreshDeadlineMs = options.refreshDeadlineMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 6;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
  }

  /** A token that stays valid for at least `expiryMarginMs`. */
  async get(): Promise<RegistryToken> {
    const cached = this.cached;
    if (cached && !this.isDueForRefresh(cached)) return cached;
    try {
      return await this.refresh();
    } catch (err) {
      if (cached && this.isUsable(cached)) return cached;
      throw err;
    }
  }

  /** Forgets the cached token (for example after the registry refused it). */
  invalidate(): void {
    this.cached = undefined;
  }

  private isUsable(token: CachedToken): boolean {
    return Date.now() < token.expiresAt.getTime() - this.expiryMarginMs;
  }

  private isDueForRefresh(token: CachedToken): boolean {
    const halfLife = token.fetchedAt + (token.expiresAt.getTime() - token.fetchedAt) / 2;
    return Date.now() >= halfLife || !this.isUsable(token);
  }

  private refresh(): Promise<CachedToken> {
    this.refreshing ??= this.fetchWithRetries().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async fetchWithRetries(): Promise<CachedToken> {
    const giveUpAt = Date.now() + this.refreshDeadlineMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const fetched = await this.withinDeadline(this.fetchToken(), giveUpAt);
        const token: CachedToken = { ...fetched, fetchedAt: Date.now() };
        if (!this.isUsable(token)) {
          throw new RegistryAuthError(
            `The registry returned a token that expires at ${fetched.expiresAt.toISOString()}, ` +
              `less than ${this.expiryMarginMs / 60_000} minutes from now`,
          );
        }
        watchSecret(token.token);
        this.cached = token;
        return token;
      } catch (err) {
        if (err instanceof CredentialsError) throw err;
        const delay = Math.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** attempt);
        const retry =
          attempt < this.maxAttempts &&
          this.options.isRetryable(err) &&
          Date.now() + delay < giveUpAt;
        if (!retry) throw this.options.toError(err);
        await sleep(delay);
      }
    }
  }

  private withinDeadline<T>(promise: Promise<T>, giveUpAt: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new StorageUnavailableError(
              `The registry did not return a token within ${this.refreshDeadlineMs} ms`,
              { name: 'TimeoutError' },
            ),
          ),
        Math.max(0, giveUpAt - Date.now()),
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
