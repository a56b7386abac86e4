import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type CredentialsError, RegistryAuthError, StorageUnavailableError } from '../errors.js';
import {
  RegistryTokenCache,
  type RegistryToken,
  type RegistryTokenCacheOptions,
} from './registry-token-cache.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = new Date('2030-01-01T00:00:00.000Z');

/** An error the cache treats as retryable (throttling). */
class Throttled extends Error {
  override name = 'Throttled';
}
/** An error the cache treats as final (a refusal). */
class Refused extends Error {
  override name = 'Refused';
}

const baseOptions: RegistryTokenCacheOptions = {
  isRetryable: (err) => err instanceof Throttled,
  toError: (err): CredentialsError =>
    err instanceof Refused
      ? new RegistryAuthError('refused', { name: 'Refused' })
      : new StorageUnavailableError('unavailable', { name: 'Throttled' }),
};

/** A fetcher whose answers are scripted one call at a time; counts its calls. */
function scriptedFetcher() {
  let issued = 0;
  const fetchToken = jest.fn<() => Promise<RegistryToken>>();
  const issue = (lifetimeMs = 12 * HOUR): RegistryToken => ({
    token: `token-${++issued}`,
    expiresAt: new Date(Date.now() + lifetimeMs),
  });
  return { fetchToken, issue };
}

describe('RegistryTokenCache', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(START);
    // Backoff delays are `random * step`: pin random so the waits are predictable.
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
  });

  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('caches the token: a second get() makes no new fetch', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue());
    const cache = new RegistryTokenCache(fetchToken, baseOptions);

    const first = await cache.get();
    const second = await cache.get();

    expect(first.token).toBe('token-1');
    expect(second).toBe(first);
    expect(fetchToken).toHaveBeenCalledTimes(1);
  });

  it('keeps the token until half its lifetime has passed, then fetches a new one', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue(12 * HOUR));
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    jest.setSystemTime(START.getTime() + 5 * HOUR + 59 * MINUTE);
    expect((await cache.get()).token).toBe('token-1');
    expect(fetchToken).toHaveBeenCalledTimes(1);

    jest.setSystemTime(START.getTime() + 6 * HOUR + 1 * MINUTE);
    expect((await cache.get()).token).toBe('token-2');
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });

  it('returns the still-valid cached token when a refresh after half-life fails', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementationOnce(async () => issue(12 * HOUR));
    fetchToken.mockRejectedValue(new Refused('no'));
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    jest.setSystemTime(START.getTime() + 7 * HOUR);
    const token = await cache.get();

    expect(token.token).toBe('token-1');
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });

  it('never hands out a token within 5 minutes of its expiry: a failed refresh is a typed error', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementationOnce(async () => issue(12 * HOUR));
    fetchToken.mockRejectedValue(new Refused('no'));
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
    const result = cache.get();

    await expect(result).rejects.toBeInstanceOf(RegistryAuthError);
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });

  it('honours a custom expiry margin', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementationOnce(async () => issue(12 * HOUR));
    fetchToken.mockRejectedValue(new Refused('no'));
    const cache = new RegistryTokenCache(fetchToken, { ...baseOptions, expiryMarginMs: HOUR });
    await cache.get();

    // 11h30m: outside the default 5 minute margin, inside the configured hour.
    jest.setSystemTime(START.getTime() + 11 * HOUR + 30 * MINUTE);

    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
  });

  it('refuses a freshly fetched token that already expires within the margin', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue(4 * MINUTE));
    const cache = new RegistryTokenCache(fetchToken, baseOptions);

    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
    // Not cached: the next call asks again.
    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });

  it('shares one fetch among 100 concurrent callers', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(
      () => new Promise((resolve) => setTimeout(() => resolve(issue()), 50)),
    );
    const cache = new RegistryTokenCache(fetchToken, baseOptions);

    const all = Promise.all(Array.from({ length: 100 }, () => cache.get()));
    await jest.advanceTimersByTimeAsync(50);
    const tokens = await all;

    expect(fetchToken).toHaveBeenCalledTimes(1);
    expect(new Set(tokens.map((t) => t.token))).toEqual(new Set(['token-1']));
  });

  it('shares one refresh among concurrent callers once the token is due', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue());
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    jest.setSystemTime(START.getTime() + 7 * HOUR);
    const tokens = await Promise.all(Array.from({ length: 100 }, () => cache.get()));

    expect(fetchToken).toHaveBeenCalledTimes(2);
    expect(new Set(tokens.map((t) => t.token))).toEqual(new Set(['token-2']));
  });

  it('retries a retryable failure after a backoff wait, then succeeds', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken
      .mockRejectedValueOnce(new Throttled('slow down'))
      .mockRejectedValueOnce(new Throttled('slow down'))
      .mockImplementation(async () => issue());
    const cache = new RegistryTokenCache(fetchToken, { ...baseOptions, baseDelayMs: 100 });

    const result = cache.get();
    await jest.advanceTimersByTimeAsync(0);
    expect(fetchToken).toHaveBeenCalledTimes(1);

    // First wait: random (0.5) * 100 * 2^1 = 100 ms.
    await jest.advanceTimersByTimeAsync(99);
    expect(fetchToken).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(fetchToken).toHaveBeenCalledTimes(2);

    // Second wait: 0.5 * 100 * 2^2 = 200 ms.
    await jest.advanceTimersByTimeAsync(199);
    expect(fetchToken).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(fetchToken).toHaveBeenCalledTimes(3);

    await expect(result).resolves.toMatchObject({ token: 'token-1' });
  });

  it('stops after maxAttempts retryable failures with the typed error', async () => {
    const { fetchToken } = scriptedFetcher();
    fetchToken.mockRejectedValue(new Throttled('slow down'));
    const cache = new RegistryTokenCache(fetchToken, { ...baseOptions, maxAttempts: 4 });

    const result = cache.get();
    const settled = expect(result).rejects.toBeInstanceOf(StorageUnavailableError);
    await jest.advanceTimersByTimeAsync(60_000);
    await settled;

    expect(fetchToken).toHaveBeenCalledTimes(4);
  });

  it('stops retrying at the refresh deadline, before maxAttempts', async () => {
    const { fetchToken } = scriptedFetcher();
    fetchToken.mockRejectedValue(new Throttled('slow down'));
    const cache = new RegistryTokenCache(fetchToken, {
      ...baseOptions,
      maxAttempts: 1_000,
      baseDelayMs: 1_000,
      maxDelayMs: 1_000,
      refreshDeadlineMs: 3_000,
    });

    const result = cache.get();
    const settled = expect(result).rejects.toBeInstanceOf(StorageUnavailableError);
    await jest.advanceTimersByTimeAsync(10_000);
    await settled;

    // Each wait is 0.5 * 1000 = 500 ms: attempts at 0, 500, ..., 2500 ms; a wait past 3 s is not taken.
    expect(fetchToken).toHaveBeenCalledTimes(6);
    expect(Date.now() - START.getTime()).toBeLessThanOrEqual(10_000);
  });

  it('gives up on a fetch that never answers at the refresh deadline', async () => {
    const fetchToken = jest.fn<() => Promise<RegistryToken>>(() => new Promise(() => undefined));
    const cache = new RegistryTokenCache(fetchToken, { ...baseOptions, refreshDeadlineMs: 2_000 });

    const result = cache.get();
    let outcome: unknown;
    result.catch((err: unknown) => {
      outcome = err;
    });
    await jest.advanceTimersByTimeAsync(1_999);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);

    expect(outcome).toBeInstanceOf(StorageUnavailableError);
    expect(fetchToken).toHaveBeenCalledTimes(1);
  });

  it('does not retry a non-retryable failure', async () => {
    const { fetchToken } = scriptedFetcher();
    fetchToken.mockRejectedValue(new Refused('no'));
    const cache = new RegistryTokenCache(fetchToken, baseOptions);

    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
    expect(fetchToken).toHaveBeenCalledTimes(1);
  });

  it('does not retry a typed error thrown by the fetcher, and passes it through', async () => {
    const { fetchToken } = scriptedFetcher();
    const typed = new RegistryAuthError('host mismatch');
    fetchToken.mockRejectedValue(typed);
    const cache = new RegistryTokenCache(fetchToken, {
      ...baseOptions,
      isRetryable: () => true,
    });

    await expect(cache.get()).rejects.toBe(typed);
    expect(fetchToken).toHaveBeenCalledTimes(1);
  });

  it('fetches again after invalidate()', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue());
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    cache.invalidate();

    expect((await cache.get()).token).toBe('token-2');
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });
});
