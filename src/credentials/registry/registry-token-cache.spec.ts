import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { type CredentialsError, RegistryAuthError, StorageUnavailableError } from '../errors.js';
import { watchSecret } from '../util/redact.js';
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
  const fetchToken = jest.fn<(signal?: AbortSignal) => Promise<RegistryToken>>();
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
    // Failed background refreshes log a warning (checked below); not printed here.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
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

    // Past half-life the cached token is still usable: it is returned, and a refresh starts
    // in the background; the next call gets the new token.
    jest.setSystemTime(START.getTime() + 6 * HOUR + 1 * MINUTE);
    expect((await cache.get()).token).toBe('token-1');
    expect(fetchToken).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(0);
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
    // The cached token is still usable: every caller gets it while the one refresh runs.
    expect(new Set(tokens.map((t) => t.token))).toEqual(new Set(['token-1']));
    expect((await cache.get()).token).toBe('token-2');
  });

  it('shares one refresh among concurrent callers that have no usable token', async () => {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementation(async () => issue());
    const cache = new RegistryTokenCache(fetchToken, baseOptions);
    await cache.get();

    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
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

/** What `promise` settled with once the pending microtasks ran, with no time passing at all. */
async function settledAtOnce<T>(
  promise: Promise<T>,
): Promise<{ settled: boolean; value?: T; error?: unknown }> {
  let outcome: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => (outcome = { settled: true, value }),
    (error: unknown) => (outcome = { settled: true, error }),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return outcome;
}

const never = () => new Promise<RegistryToken>(() => undefined);

describe('RegistryTokenCache while a usable token is cached (refreshes in the background)', () => {
  let warnings: { message: string; context: string | undefined }[];

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(START);
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    warnings = [];
    // The real path: RedactingLogger -> Nest's Logger; captured here instead of printed.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(function (this: Logger, message) {
      warnings.push({
        message: String(message),
        context: (this as unknown as { context?: string }).context,
      });
    });
  });

  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** A cache holding token-1 (12 h), with every later fetch answered by `later`. */
  async function cachedThen(
    later: (signal?: AbortSignal) => Promise<RegistryToken>,
    options: Partial<RegistryTokenCacheOptions> = {},
  ) {
    const { fetchToken, issue } = scriptedFetcher();
    fetchToken.mockImplementationOnce(async () => issue(12 * HOUR));
    fetchToken.mockImplementation(later);
    const cache = new RegistryTokenCache(fetchToken, { ...baseOptions, ...options });
    await cache.get();
    return { cache, fetchToken, issue };
  }

  it('answers at once from the cache while the refresh past half-life never answers', async () => {
    const { cache, fetchToken } = await cachedThen(never);
    jest.setSystemTime(START.getTime() + 7 * HOUR);

    for (let i = 0; i < 100; i++) {
      expect(await settledAtOnce(cache.get())).toMatchObject({
        settled: true,
        value: { token: 'token-1' },
      });
    }
    // One refresh for the 100 callers, still in flight.
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });

  it('answers at once a call that starts 1 s before the expiry margin, whatever the registry does', async () => {
    const { cache } = await cachedThen(never);
    jest.setSystemTime(START.getTime() + 11 * HOUR + 54 * MINUTE + 59_000);

    expect(await settledAtOnce(cache.get())).toMatchObject({
      settled: true,
      value: { token: 'token-1' },
    });
  });

  it('retries a failed background refresh after jittered waits that grow; one warning each', async () => {
    const leaky = 'leaky-secret-in-an-error-4471';
    watchSecret(leaky);
    const { cache, fetchToken } = await cachedThen(async () => Promise.reject(new Refused('no')), {
      refreshBackoffMs: 1_000,
      maxRefreshBackoffMs: 4_000,
      toError: () => new RegistryAuthError(`refused (${leaky})`),
    });
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    expect((await cache.get()).token).toBe('token-1');
    await jest.advanceTimersByTimeAsync(0);
    expect(fetchToken).toHaveBeenCalledTimes(2);
    expect(warnings).toHaveLength(1);

    // Steps of 1, 2, 4 and 4 s (the cap); random() is 0.5, so each wait is 3/4 of its step.
    for (const wait of [750, 1_500, 3_000, 3_000]) {
      const calls = fetchToken.mock.calls.length;
      // Callers meanwhile get the cached token and start nothing.
      for (let i = 0; i < 20; i++) expect((await cache.get()).token).toBe('token-1');
      await jest.advanceTimersByTimeAsync(wait - 1);
      expect(fetchToken).toHaveBeenCalledTimes(calls);
      await jest.advanceTimersByTimeAsync(1);
      expect(fetchToken).toHaveBeenCalledTimes(calls + 1);
      expect(warnings).toHaveLength(calls);
    }
    for (const { message, context } of warnings) {
      expect(context).toBe('Credentials');
      expect(message).toContain('[redacted]');
      expect(message).not.toContain(leaky);
      expect(message).not.toContain('token-1');
    }
  });

  it('never waits less than half a step between failed refreshes: few calls in an hour of outage', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    const { cache, fetchToken } = await cachedThen(async () => Promise.reject(new Refused('no')));
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    for (let second = 0; second < 3_600; second++) {
      await cache.get();
      await jest.advanceTimersByTimeAsync(1_000);
    }

    // Defaults: steps from 1 s doubling to 5 min; at random() = 0 each wait is half a step:
    // 0.5 + 1 + ... + 128 s (9 refreshes), then one every 150 s: about 31 in the hour.
    const refreshes = fetchToken.mock.calls.length - 1;
    expect(refreshes).toBeGreaterThanOrEqual(25);
    expect(refreshes).toBeLessThanOrEqual(35);
    expect(warnings).toHaveLength(refreshes);
  });

  it('takes the new token once the registry answers again, and leaves nothing scheduled', async () => {
    const { cache, fetchToken, issue } = await cachedThen(async () =>
      Promise.reject(new Refused('no')),
    );
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    await jest.advanceTimersByTimeAsync(750);
    expect(fetchToken).toHaveBeenCalledTimes(3);

    fetchToken.mockImplementation(async () => issue(12 * HOUR));
    await jest.advanceTimersByTimeAsync(1_500);
    expect(fetchToken).toHaveBeenCalledTimes(4);
    expect((await cache.get()).token).toBe('token-2');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not make a caller without a usable token wait for the backoff: it refreshes at once', async () => {
    const { cache, fetchToken, issue } = await cachedThen(async () =>
      Promise.reject(new Refused('no')),
    );
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    await jest.advanceTimersByTimeAsync(0);
    expect(fetchToken).toHaveBeenCalledTimes(2);

    // Within the margin now; the background retry is still 750 ms away.
    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
    fetchToken.mockImplementation(async () => issue(12 * HOUR));
    expect(await settledAtOnce(cache.get())).toMatchObject({ value: { token: 'token-2' } });
    expect(fetchToken).toHaveBeenCalledTimes(3);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('stops retrying in the background once the cached token is no longer usable', async () => {
    const { cache, fetchToken } = await cachedThen(async () => Promise.reject(new Refused('no')));
    jest.setSystemTime(START.getTime() + 11 * HOUR + 54 * MINUTE);
    await cache.get();
    await jest.advanceTimersByTimeAsync(0);
    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
    await jest.advanceTimersByTimeAsync(750);

    expect(fetchToken).toHaveBeenCalledTimes(3);
    expect(jest.getTimerCount()).toBe(0);
    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
  });

  it('never keeps the process alive with a background timer; a waiting caller does', async () => {
    const created = jest.spyOn(globalThis, 'setTimeout');
    const { cache, fetchToken } = await cachedThen(never, { refreshDeadlineMs: 2_000 });
    created.mockClear();
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    // The refresh's deadline, then the backoff after it failed.
    await jest.advanceTimersByTimeAsync(2_000);
    expect(fetchToken).toHaveBeenCalledTimes(2);
    const timers = created.mock.results.map((result) => result.value as NodeJS.Timeout);
    expect(timers.length).toBeGreaterThanOrEqual(2);
    expect(timers.filter((timer) => timer.hasRef())).toEqual([]);

    // A caller without a usable token waits for a refresh: that wait holds the process open.
    cache.invalidate();
    created.mockClear();
    const waiting = cache.get();
    waiting.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(0);
    const held = created.mock.results.map((result) => result.value as NodeJS.Timeout);
    expect(held.some((timer) => timer.hasRef())).toBe(true);
    await jest.advanceTimersByTimeAsync(2_000);
    await expect(waiting).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('close() aborts the refresh in flight, clears every timer, and later calls fail typed', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const { cache } = await cachedThen((signal) => {
      signals.push(signal);
      return never();
    });
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    const waiting = settledAtOnce(
      (() => {
        cache.invalidate();
        return cache.get();
      })(),
    );

    cache.close();

    expect(signals.length).toBeGreaterThan(0);
    expect(signals.every((signal) => signal?.aborted)).toBe(true);
    expect((await waiting).error).toBeInstanceOf(StorageUnavailableError);
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(0);
    await expect(cache.get()).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('starts the backoff from its first step again after any successful refresh', async () => {
    const { cache, fetchToken, issue } = await cachedThen(async () =>
      Promise.reject(new Refused('no')),
    );
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    await jest.advanceTimersByTimeAsync(750);
    expect(fetchToken).toHaveBeenCalledTimes(3); // two failures: the next wait is 1.5 s
    // The token runs out; a caller refreshes in the foreground, successfully.
    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
    fetchToken.mockImplementationOnce(async () => issue(12 * HOUR));
    expect((await cache.get()).token).toBe('token-2');

    // Past the new token's half-life, its refresh fails: the wait is the first step (750 ms).
    jest.setSystemTime(START.getTime() + 18 * HOUR + 56 * MINUTE);
    await cache.get();
    await jest.advanceTimersByTimeAsync(749);
    expect(fetchToken).toHaveBeenCalledTimes(5);
    await jest.advanceTimersByTimeAsync(1);
    expect(fetchToken).toHaveBeenCalledTimes(6);
  });

  it('invalidate() during a backoff wait cancels it: the next caller refreshes at once', async () => {
    const { cache, fetchToken, issue } = await cachedThen(async () =>
      Promise.reject(new Refused('no')),
    );
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(1);

    cache.invalidate();

    expect(jest.getTimerCount()).toBe(0);
    fetchToken.mockImplementation(async () => issue(12 * HOUR));
    expect(await settledAtOnce(cache.get())).toMatchObject({ value: { token: 'token-2' } });
    expect(fetchToken).toHaveBeenCalledTimes(3);
  });

  it('close() during a backoff wait leaves no timer and starts no refresh', async () => {
    const { cache, fetchToken } = await cachedThen(async () => Promise.reject(new Refused('no')));
    jest.setSystemTime(START.getTime() + 7 * HOUR);
    await cache.get();
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(1);

    cache.close();

    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(fetchToken).toHaveBeenCalledTimes(2);
  });
});
