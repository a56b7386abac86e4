import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  ECRClient,
  ECRServiceException,
  GetAuthorizationTokenCommand,
  ServerException,
} from '@aws-sdk/client-ecr';
import { Logger } from '@nestjs/common';
import { mockClient } from 'aws-sdk-client-mock';
import { RegistryAuthError, StorageUnavailableError } from '../errors.js';
import {
  createEcrTokenCache,
  type EcrTokenSourceConfig,
  isRetryableEcrError,
  toRegistryError,
} from './ecr-token-source.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = new Date('2030-01-01T00:00:00.000Z');
const HOST = '123456789012.dkr.ecr.us-east-2.amazonaws.com';
const OTHER_HOST = '999999999999.dkr.ecr.us-east-2.amazonaws.com';

const ecr = mockClient(ECRClient);

function config(overrides: Partial<EcrTokenSourceConfig> = {}): EcrTokenSourceConfig {
  return {
    region: 'us-east-2',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-real-secret' },
    registryHost: HOST,
    requestTimeoutMs: 5_000,
    ...overrides,
  };
}

let issued = 0;
/** One GetAuthorizationToken answer, valid for `lifetimeMs` from now. */
function tokenResponse(proxyEndpoint = `https://${HOST}`, lifetimeMs = 12 * HOUR) {
  issued += 1;
  return {
    authorizationData: [
      {
        authorizationToken: Buffer.from(`AWS:password-${issued}`).toString('base64'),
        expiresAt: new Date(Date.now() + lifetimeMs),
        proxyEndpoint,
      },
    ],
  };
}
const tokenNumber = (token: string) =>
  Buffer.from(token, 'base64').toString('utf8').replace('AWS:password-', '');

const throttling = () =>
  new ECRServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
const serverError = () =>
  new ServerException({ $metadata: { httpStatusCode: 500 }, message: 'Internal error' });
const unrecognizedClient = () =>
  new ECRServiceException({
    name: 'UnrecognizedClientException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'The security token included in the request is invalid.',
  });
const accessDenied = () =>
  new ECRServiceException({
    name: 'AccessDeniedException',
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
    message: 'User is not authorized to perform: ecr:GetAuthorizationToken',
  });

const apiCalls = () => ecr.commandCalls(GetAuthorizationTokenCommand).length;

describe('createEcrTokenCache', () => {
  let close: (() => void) | undefined;

  function makeCache(overrides?: Partial<EcrTokenSourceConfig>) {
    const created = createEcrTokenCache(config(overrides));
    close = created.close;
    return created.cache;
  }

  /** Runs `get()` while fake time passes, so backoff sleeps elapse; returns its outcome. */
  async function getWhileTimePasses(cache: ReturnType<typeof makeCache>, ms = 60_000) {
    const outcome = cache.get().then(
      (value) => ({ value, error: undefined }),
      (error: unknown) => ({ value: undefined, error }),
    );
    await jest.advanceTimersByTimeAsync(ms);
    return outcome;
  }

  beforeEach(() => {
    ecr.reset();
    issued = 0;
    jest.useFakeTimers();
    jest.setSystemTime(START);
    // Backoff waits are `random * step`: pin random so that attempt counts are predictable.
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    // Failed background refreshes log a warning; not printed here.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    close?.();
    close = undefined;
    jest.useRealTimers();
    jest.restoreAllMocks();
    ecr.reset();
  });

  it('returns the authorizationToken of the registry named by REGISTRY_HOST', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => tokenResponse());
    const cache = makeCache();

    const { token, expiresAt } = await cache.get();

    expect(Buffer.from(token, 'base64').toString('utf8')).toBe('AWS:password-1');
    expect(expiresAt.getTime()).toBe(START.getTime() + 12 * HOUR);
  });

  it('caches the token: a second get() makes no API call', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => tokenResponse());
    const cache = makeCache();

    const first = await cache.get();
    const second = await cache.get();

    expect(second.token).toBe(first.token);
    expect(apiCalls()).toBe(1);
  });

  it('keeps a 12 h token at 5h59m and asks for a new one at 6h01m', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => tokenResponse());
    const cache = makeCache();
    await cache.get();

    jest.setSystemTime(START.getTime() + 5 * HOUR + 59 * MINUTE);
    expect(tokenNumber((await cache.get()).token)).toBe('1');
    expect(apiCalls()).toBe(1);

    // Still usable: handed out at once while the refresh runs in the background.
    jest.setSystemTime(START.getTime() + 6 * HOUR + 1 * MINUTE);
    expect(tokenNumber((await cache.get()).token)).toBe('1');
    await jest.advanceTimersByTimeAsync(0);
    expect(apiCalls()).toBe(2);
    expect(tokenNumber((await cache.get()).token)).toBe('2');
    expect(apiCalls()).toBe(2);
  });

  it('returns the still-valid cached token when the refresh at 7 h fails', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .callsFakeOnce(() => tokenResponse())
      .rejects(accessDenied());
    const cache = makeCache();
    await cache.get();

    jest.setSystemTime(START.getTime() + 7 * HOUR);

    expect(tokenNumber((await cache.get()).token)).toBe('1');
    expect(apiCalls()).toBe(2);
  });

  it('returns the still-valid cached token when the refresh at 7 h is throttled throughout', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .callsFakeOnce(() => tokenResponse())
      .rejects(throttling());
    const cache = makeCache();
    await cache.get();

    jest.setSystemTime(START.getTime() + 7 * HOUR);
    const { value, error } = await getWhileTimePasses(cache);

    expect(error).toBeUndefined();
    expect(tokenNumber(value!.token)).toBe('1');
  });

  it('does not hand out a token within 5 minutes of expiry when the refresh at 11h56m fails', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .callsFakeOnce(() => tokenResponse())
      .rejects(accessDenied());
    const cache = makeCache();
    await cache.get();

    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);

    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
    expect(apiCalls()).toBe(2);
  });

  it('does not hand out the stale token when throttling outlasts the retries at 11h56m', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .callsFakeOnce(() => tokenResponse())
      .rejects(throttling());
    const cache = makeCache();
    await cache.get();

    jest.setSystemTime(START.getTime() + 11 * HOUR + 56 * MINUTE);
    const { value, error } = await getWhileTimePasses(cache);

    expect(value).toBeUndefined();
    expect(error).toBeInstanceOf(StorageUnavailableError);
  });

  it('makes exactly one API call for 100 parallel get() calls', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => tokenResponse());
    const cache = makeCache();

    const tokens = await Promise.all(Array.from({ length: 100 }, () => cache.get()));

    expect(apiCalls()).toBe(1);
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
  });

  it('retries a ThrottlingException with backoff and then succeeds', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .callsFake(() => tokenResponse());
    const cache = makeCache();

    const outcome = cache.get();
    await jest.advanceTimersByTimeAsync(0);
    expect(apiCalls()).toBe(1);
    // The first backoff (0.5 * 100 ms * 2) has not passed yet: no second call.
    await jest.advanceTimersByTimeAsync(99);
    expect(apiCalls()).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000);

    await expect(outcome).resolves.toMatchObject({ expiresAt: expect.any(Date) });
    expect(apiCalls()).toBe(3);
  });

  it('retries a 500 ServerException with backoff and then succeeds', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .rejectsOnce(serverError())
      .callsFake(() => tokenResponse());
    const cache = makeCache();

    const { value, error } = await getWhileTimePasses(cache);

    expect(error).toBeUndefined();
    expect(tokenNumber(value!.token)).toBe('1');
    expect(apiCalls()).toBe(2);
  });

  it('stops retrying throttling after maxAttempts and fails with StorageUnavailableError', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(throttling());
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(StorageUnavailableError);
    // The cache's default of 6 attempts: the SDK itself is set to a single attempt.
    expect(apiCalls()).toBe(6);
  });

  it('stops retrying 500 errors after maxAttempts and fails with StorageUnavailableError', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(serverError());
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(apiCalls()).toBe(6);
  });

  it('stops retrying throttling at the deadline, before maxAttempts', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(throttling());
    const cache = makeCache({ requestTimeoutMs: 1_000 });

    const outcome = cache.get().then(
      () => undefined,
      (err: unknown) => err,
    );
    await jest.advanceTimersByTimeAsync(60_000);

    expect(await outcome).toBeInstanceOf(StorageUnavailableError);
    // Waits of 100, 200 and 400 ms fit in the 1 s deadline; the next (800 ms) would not.
    expect(apiCalls()).toBe(4);
  });

  it('fails with StorageUnavailableError at the deadline when ECR never answers', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => new Promise(() => undefined));
    const cache = makeCache({ requestTimeoutMs: 1_000 });

    const outcome = cache.get().then(
      () => undefined,
      (err: unknown) => err,
    );
    let settled = false;
    void outcome.then(() => (settled = true));
    // The refresh deadline is the request timeout.
    await jest.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);

    expect(await outcome).toBeInstanceOf(StorageUnavailableError);
    expect(apiCalls()).toBe(1);
  });

  it('does not retry UnrecognizedClientException (400) and fails with RegistryAuthError', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(unrecognizedClient());
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(apiCalls()).toBe(1);
  });

  it('does not retry AccessDeniedException (403) and fails with RegistryAuthError', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(accessDenied());
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(apiCalls()).toBe(1);
  });

  it('keeps no secret of the SDK error in the typed error message', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(
      new ECRServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'denied for key SECRET123',
      }),
    );
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as Error).message).not.toContain('SECRET123');
    expect(JSON.stringify((error as Error).cause)).not.toContain('SECRET123');
  });

  it.each([
    ['the bare host', HOST, `https://${HOST}`],
    ['an https URL', `https://${HOST}`, `https://${HOST}`],
    ['an upper-case host', HOST.toUpperCase(), `https://${HOST}`],
    ['a host whose proxyEndpoint is upper-case', HOST, `HTTPS://${HOST.toUpperCase()}`],
    ['a URL with a trailing slash', `https://${HOST}/`, `https://${HOST}`],
  ])(
    'matches proxyEndpoint with REGISTRY_HOST given as %s',
    async (_label, registryHost, proxy) => {
      ecr.on(GetAuthorizationTokenCommand).callsFake(() => ({
        authorizationData: [
          tokenResponse(`https://${OTHER_HOST}`).authorizationData[0],
          tokenResponse(proxy).authorizationData[0],
        ],
      }));
      const cache = makeCache({ registryHost });

      const { token } = await cache.get();

      // Token 1 belongs to the other registry, token 2 to the wanted one.
      expect(tokenNumber(token)).toBe('2');
    },
  );

  it('fails with RegistryAuthError naming both hosts when no proxyEndpoint matches', async () => {
    ecr.on(GetAuthorizationTokenCommand).callsFake(() => tokenResponse(`https://${OTHER_HOST}`));
    const cache = makeCache();

    const { error } = await getWhileTimePasses(cache);

    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as Error).message).toContain(HOST);
    expect((error as Error).message).toContain(OTHER_HOST);
    // A mismatch is a configuration problem: no retry.
    expect(apiCalls()).toBe(1);
  });

  it('fails with RegistryAuthError when ECR returns no authorization data', async () => {
    ecr.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [] });
    const cache = makeCache();

    await expect(cache.get()).rejects.toBeInstanceOf(RegistryAuthError);
  });
});

describe('isRetryableEcrError', () => {
  it.each([
    ['ThrottlingException', throttling()],
    ['ServerException 500', serverError()],
    ['a 503', { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }],
    ['a 429', { name: 'TooManyRequests', $metadata: { httpStatusCode: 429 } }],
    ['a 502 of an unlisted name', { name: 'BadGateway', $metadata: { httpStatusCode: 502 } }],
    ['ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
  ])('retries %s', (_label, err) => {
    expect(isRetryableEcrError(err)).toBe(true);
  });

  it.each([
    ['UnrecognizedClientException', unrecognizedClient()],
    ['AccessDeniedException', accessDenied()],
  ])('does not retry %s', (_label, err) => {
    expect(isRetryableEcrError(err)).toBe(false);
  });
});

describe('toRegistryError', () => {
  it('maps throttling and 5xx to StorageUnavailableError', () => {
    expect(toRegistryError(throttling())).toBeInstanceOf(StorageUnavailableError);
    expect(toRegistryError(serverError())).toBeInstanceOf(StorageUnavailableError);
  });

  it('maps refused credentials to RegistryAuthError', () => {
    expect(toRegistryError(unrecognizedClient())).toBeInstanceOf(RegistryAuthError);
    expect(toRegistryError(accessDenied())).toBeInstanceOf(RegistryAuthError);
  });
});
