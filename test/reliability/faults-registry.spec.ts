/**
 * Reliability, category 1 (registry): faults of the ECR endpoint the `aws` backend takes its
 * registry tokens from: throttling in bursts, throttling that does not end, tokens that expire
 * during the run, connections reset and an endpoint that stops answering. The real
 * `@aws-sdk/client-ecr` talks to the loopback fake (test/support/fake-ecr-server.ts) through the
 * fault proxy. The `local` backend's token is computed without any server: it is checked to
 * stay available while every server is unreachable.
 *
 * For each: the right result or typed error within the deadline, never a token within 5 minutes
 * of its expiry, the process healthy, and the first call after the fault succeeds on the same
 * module instance. While a usable token is cached, every call (token, getCredentials(), the
 * health indicator) answers from memory at once, whatever ECR does: the latencies are measured.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import {
  RegistryAuthError,
  StorageUnavailableError,
  type CredentialsModuleOptions,
} from '../../src/credentials/index.js';
import { CredentialsHealthIndicator } from '../../src/credentials/health/index.js';
import { rejectionOf, type RunningBackend, startBackend, storageEnv } from '../support/backends.js';
import { fakeDateOnly } from '../support/fake-date.js';
import { FakeEcrServer } from '../support/fake-ecr-server.js';
import { describeLatency, latencies } from '../support/latency.js';
import { AUTH_REGISTRY, S3_SERVER } from '../support/test-servers.js';
import { FaultProxy } from './support/fault-proxy.js';
import { describeError, errorEvidence, type Trial, trial } from './support/results.js';
import { ECR_PASSWORD, ECR_SECRET_KEY, ECR_SESSION_TOKEN } from './support/secret-scan.js';
import { expectHealthy } from './support/storage.js';

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const REQUEST_TIMEOUT_MS = 5_000;
const SLACK_MS = 1_500;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const EXPIRY_MARGIN_MS = 5 * MINUTE;

const tokenOf = (password: string) => Buffer.from(`AWS:${password}`).toString('base64');

/** A call with a usable token cached answers from memory: this is generous for a loaded box. */
const CACHED_MAX_MS = 100;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `done` every 20 ms until it holds or `timeoutMs` passes; returns the time it took. */
async function until(done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`still not the case after ${timeoutMs} ms`);
    }
    await pause(20);
  }
  return performance.now() - started;
}

describe('registry faults on the aws backend (loopback ECR endpoint behind the fault proxy)', () => {
  let ecr: FakeEcrServer;
  let proxy: FaultProxy;
  let running: RunningBackend;

  const meta = (group: string) => ({ category: 'faults' as const, group, backend: 'aws' });

  async function start(options: CredentialsModuleOptions = {}): Promise<void> {
    ecr = await FakeEcrServer.start({ password: ECR_PASSWORD });
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(new URL(ecr.url).port) });
    running = await startBackend(
      {
        CREDENTIALS: 'aws',
        BUCKET_NAME_PROJECTS: 'projects',
        REGISTRY_HOST: `https://${ECR_HOST}`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDRELIABILITY',
        AWS_SECRET_ACCESS_KEY: ECR_SECRET_KEY,
        AWS_SESSION_TOKEN: ECR_SESSION_TOKEN,
        AWS_ENDPOINT_URL_ECR: proxy.url,
        AWS_ENDPOINT_URL_S3: S3_SERVER.endpoint,
      },
      { requestTimeoutMs: REQUEST_TIMEOUT_MS, ...options },
    );
  }

  beforeEach(async () => {
    await start();
  });

  afterEach(async () => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    await running?.close();
    await proxy?.close();
    await ecr?.close();
  });

  /** The token call fails typed within the deadline; returns the error. */
  async function expectTypedFailure(
    t: Trial,
    expected: typeof StorageUnavailableError | typeof RegistryAuthError,
  ) {
    const started = performance.now();
    const err = await rejectionOf(running.credentials.getRegistryToken());
    const ms = Math.round(performance.now() - started);
    errorEvidence('faults/registry', err);
    t.metric('error', describeError(err).split(':')[0]);
    t.metric('ended after', `${ms} ms`);
    t.metric('deadline', `${REQUEST_TIMEOUT_MS} ms`);
    expect(err).toBeInstanceOf(expected);
    expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    return err;
  }

  /** The first call after the fault returns the current token at once. */
  async function expectRecovery(t: Trial, password: string): Promise<void> {
    proxy.setMode({ kind: 'pass' });
    ecr.clearFaults();
    await expectHealthy();
    const started = performance.now();
    const token = await running.credentials.getRegistryToken();
    t.metric('first call after recovery', `${Math.round(performance.now() - started)} ms`);
    expect(token).toBe(tokenOf(password));
    expect((await running.credentials.getCredentials()).REGISTRY_TOKEN).toBe(tokenOf(password));
  }

  it('throttling in bursts while 50 callers ask: one refresh per burst, every caller served', async () => {
    await trial(meta('ECR throttles in bursts (5 refreshes, 50 callers each)'), async (t) => {
      fakeDateOnly();
      const bursts = [1, 3, 2, 3, 1];
      let apiCalls = 0;
      let waited = 0;
      let cached = 0;
      let previous: string | undefined;
      for (const [round, burst] of bursts.entries()) {
        // Each round starts past the half-life of the cached token: the next call refreshes.
        jest.setSystemTime(Date.now() + 7 * HOUR);
        const password = `${ECR_PASSWORD}-round-${round}`;
        ecr.setToken(password, new Date(Date.now() + 12 * HOUR));
        ecr.throttleNext(burst);
        const before = ecr.calls;
        const started = performance.now();
        const tokens = await Promise.all(
          Array.from({ length: 50 }, () => running.credentials.getRegistryToken()),
        );
        const ms = performance.now() - started;
        if (previous === undefined) {
          // Nothing cached: the callers wait together for the one refresh.
          expect(new Set(tokens)).toEqual(new Set([tokenOf(password)]));
          waited = ms;
        } else {
          // A usable token cached: every caller gets it at once; one refresh runs meanwhile.
          expect(new Set(tokens)).toEqual(new Set([tokenOf(previous)]));
          expect(ms).toBeLessThan(CACHED_MAX_MS);
          cached = Math.max(cached, ms);
          await until(
            async () => (await running.credentials.getRegistryToken()) === tokenOf(password),
            REQUEST_TIMEOUT_MS,
          );
        }
        // One refresh shared by the 50 callers: the burst, then the call that succeeded.
        expect(ecr.calls - before).toBe(burst + 1);
        apiCalls += ecr.calls - before;
        previous = password;
      }
      t.metric(
        'throttled answers',
        bursts.reduce((a, b) => a + b, 0),
      );
      t.metric('API calls for 250 callers', apiCalls);
      t.metric('50 callers, nothing cached, answered in', `${Math.round(waited)} ms`);
      t.metric('50 callers, token cached, answered in (worst round)', `${cached.toFixed(1)} ms`);
      expect(waited).toBeLessThan(REQUEST_TIMEOUT_MS);
    });
  });

  it('throttling that does not end: a typed error within the deadline, then recovery', async () => {
    await trial(meta('ECR throttles without end, nothing cached'), async (t) => {
      ecr.throttleNext(1_000);
      await expectTypedFailure(t, StorageUnavailableError);
      t.metric('API calls made', ecr.calls);
      expect(ecr.calls).toBeLessThanOrEqual(6);
      await expectRecovery(t, ECR_PASSWORD);
    });
  });

  it('a token that expires during the run (real clock) is replaced, never handed out late', async () => {
    await trial(meta('token expires during the run (real clock)'), async (t) => {
      // Usable for 2 s: after that it is within 5 minutes of its expiry.
      ecr.setToken('short-lived-password', new Date(Date.now() + EXPIRY_MARGIN_MS + 2_000));
      expect(await running.credentials.getRegistryToken()).toBe(tokenOf('short-lived-password'));
      expect(ecr.calls).toBe(1);
      ecr.setToken(ECR_PASSWORD, new Date(Date.now() + 12 * HOUR));
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      const tokens = await Promise.all(
        Array.from({ length: 20 }, () => running.credentials.getRegistryToken()),
      );
      t.metric('API calls', ecr.calls);
      expect(new Set(tokens)).toEqual(new Set([tokenOf(ECR_PASSWORD)]));
      expect(ecr.calls).toBe(2);
    });
  });

  it('a token that expires while ECR throttles: a typed error, not the expired token', async () => {
    await trial(meta('token expires while ECR throttles (real clock)'), async (t) => {
      ecr.setToken('short-lived-password', new Date(Date.now() + EXPIRY_MARGIN_MS + 1_500));
      expect(await running.credentials.getRegistryToken()).toBe(tokenOf('short-lived-password'));
      await new Promise((resolve) => setTimeout(resolve, 1_700));
      ecr.throttleNext(1_000);
      await expectTypedFailure(t, StorageUnavailableError);
      ecr.setToken(ECR_PASSWORD, new Date(Date.now() + 12 * HOUR));
      await expectRecovery(t, ECR_PASSWORD);
    });
  });

  it('refresh failing at half-life: the cached token at once until 5 minutes before its expiry', async () => {
    await trial(meta('refresh fails at half-life, then near expiry (fake clock)'), async (t) => {
      const warn = jest.spyOn(Logger.prototype, 'warn');
      fakeDateOnly();
      const issuedAt = Date.now();
      ecr.setToken('first-password', new Date(issuedAt + HOUR));
      expect(await running.credentials.getRegistryToken()).toBe(tokenOf('first-password'));
      // Past half-life, still 29 minutes before expiry: the cached token, at once, while the
      // refresh is throttled in the background and after it failed.
      jest.setSystemTime(issuedAt + 31 * MINUTE);
      ecr.throttleNext(1_000);
      const first = tokenOf('first-password');
      const during = await latencies(
        100,
        CACHED_MAX_MS,
        () => running.credentials.getRegistryToken(),
        (token) => expect(token).toBe(first),
      );
      const failedIn = await until(() => warn.mock.calls.length > 0, REQUEST_TIMEOUT_MS + SLACK_MS);
      const after = await latencies(
        100,
        CACHED_MAX_MS,
        () => running.credentials.getRegistryToken(),
        (token) => expect(token).toBe(first),
      );
      t.metric('cached token served while the refresh fails', describeLatency(during));
      t.metric('cached token served after a failed refresh', describeLatency(after));
      t.metric('background refresh failed (logged) after', `${Math.round(failedIn)} ms`);
      expect(during.median).toBeLessThan(1);
      expect(after.median).toBeLessThan(1);
      // 4 minutes before expiry: the cached token may not be handed out any more.
      jest.setSystemTime(issuedAt + 56 * MINUTE);
      await expectTypedFailure(t, StorageUnavailableError);
      ecr.setToken(ECR_PASSWORD, new Date(Date.now() + 12 * HOUR));
      await expectRecovery(t, ECR_PASSWORD);
    });
  });

  it.each([
    ['ECR stops answering', (p: FaultProxy) => p.setMode({ kind: 'blackhole' })],
    ['ECR fails every call (503)', (_p: FaultProxy, e: FakeEcrServer) => e.failNext(100_000, 503)],
  ])(
    '%s while a usable token is cached: token, getCredentials() and health at once; refreshed after',
    async (outage, breakEcr) => {
      await trial(meta(`${outage}, token cached past half-life`), async (t) => {
        const warn = jest.spyOn(Logger.prototype, 'warn');
        const { credentials } = running;
        const health = new CredentialsHealthIndicator(new HealthIndicatorService(), credentials);
        const cached = tokenOf(ECR_PASSWORD);
        expect(await credentials.getRegistryToken()).toBe(cached);
        fakeDateOnly();
        jest.setSystemTime(Date.now() + 7 * HOUR);
        ecr.setToken('after-outage-password', new Date(Date.now() + 12 * HOUR));
        breakEcr(proxy, ecr);
        // A silent server's requests are dropped unframed: count its connections instead.
        const callsBefore = ecr.calls;
        const connectionsBefore = proxy.stats.connections;
        const outageStarted = performance.now();

        // During the first refresh, then after it failed (its backoff, the next refreshes).
        const token = await latencies(
          100,
          CACHED_MAX_MS,
          () => credentials.getRegistryToken(),
          (v) => expect(v).toBe(cached),
        );
        await until(() => warn.mock.calls.length > 0, REQUEST_TIMEOUT_MS + SLACK_MS);
        const record = await latencies(
          100,
          CACHED_MAX_MS,
          () => credentials.getCredentials(),
          (v) => expect(v.REGISTRY_TOKEN).toBe(cached),
        );
        const check = await latencies(100, CACHED_MAX_MS, () => credentials.checkRegistry());
        // The indicator asks the storage too (refused keys: down, but at once).
        const indicator = await latencies(
          100,
          1_000,
          () => health.isHealthy('credentials'),
          (v) => expect(v.credentials).toMatchObject({ registry: { status: 'up' } }),
        );
        const outageMs = performance.now() - outageStarted;
        const calls = ecr.calls - callsBefore;
        const connections = proxy.stats.connections - connectionsBefore;
        t.metric('getRegistryToken x100', describeLatency(token));
        t.metric('getCredentials x100', describeLatency(record));
        t.metric('checkRegistry x100', describeLatency(check));
        t.metric('health indicator x100 (storage included)', describeLatency(indicator));
        t.metric('outage measured for', `${Math.round(outageMs)} ms`);
        t.metric('ECR calls answered / connections opened meanwhile', `${calls} / ${connections}`);
        t.metric('failed refreshes logged', warn.mock.calls.length);
        for (const { median } of [token, record, check]) expect(median).toBeLessThan(1);
        expect(indicator.median).toBeLessThan(100);
        // One refresh at a time, backing off: far fewer requests than the 400 callers.
        expect(calls).toBeLessThanOrEqual(30);
        expect(connections).toBeLessThanOrEqual(30);
        for (const context of warn.mock.contexts) {
          expect((context as unknown as { context?: string }).context).toBe('Credentials');
        }

        proxy.setMode({ kind: 'pass' });
        ecr.clearFaults();
        const refreshedIn = await until(
          async () => (await credentials.getRegistryToken()) === tokenOf('after-outage-password'),
          20_000,
        );
        t.metric('new token in use after ECR came back', `${Math.round(refreshedIn)} ms`);
        expect((await credentials.getCredentials()).REGISTRY_TOKEN).toBe(
          tokenOf('after-outage-password'),
        );
        await expectHealthy();
      });
    },
  );

  it('connections reset twice, then answered: the token through a retry, or a typed error', async () => {
    await trial(meta('ECR connection reset twice, then answered'), async (t) => {
      proxy.setMode({ kind: 'reset', direction: 'downstream', afterBytes: 10, times: 2 });
      const started = performance.now();
      const outcome = await running.credentials.getRegistryToken().then(
        (token) => token,
        (err: unknown) => err as Error,
      );
      const ms = Math.round(performance.now() - started);
      t.metric('resets', proxy.stats.resets);
      t.metric('ended after', `${ms} ms`);
      // Under Jest the SDK wraps Node's socket errors (another realm) without their code, so the
      // cache cannot tell them retryable; a plain Node process retries them.
      t.metric(
        'outcome',
        typeof outcome === 'string' ? 'token after a retry' : describeError(outcome).split(':')[0],
      );
      if (typeof outcome === 'string') {
        expect(outcome).toBe(tokenOf(ECR_PASSWORD));
      } else {
        errorEvidence('faults/registry', outcome);
        t.note(describeError(outcome));
        expect(outcome).toBeInstanceOf(StorageUnavailableError);
      }
      expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
      await expectRecovery(t, ECR_PASSWORD);
    });
  });

  it('connections reset every time: a typed error within the deadline, then recovery', async () => {
    await trial(meta('ECR connection reset every time'), async (t) => {
      proxy.setMode({ kind: 'reset', direction: 'downstream', afterBytes: 10 });
      await expectTypedFailure(t, StorageUnavailableError);
      t.metric('resets', proxy.stats.resets);
      await expectRecovery(t, ECR_PASSWORD);
    });
  });

  it('an ECR endpoint that stops answering: a typed error within the deadline, then recovery', async () => {
    await trial(meta('ECR stops answering'), async (t) => {
      proxy.setMode({ kind: 'blackhole' });
      await expectTypedFailure(t, StorageUnavailableError);
      await expectRecovery(t, ECR_PASSWORD);
    });
  });
});

describe('registry token of the local backend while every server is unreachable', () => {
  let proxy: FaultProxy;
  let running: RunningBackend;

  afterEach(async () => {
    await running?.close();
    await proxy?.close();
  });

  it('is computed without any server: at once, and the same before and after', async () => {
    await trial(
      {
        category: 'faults',
        group: 'registry token with storage and registry unreachable',
        backend: 'local',
      },
      async (t) => {
        proxy = await FaultProxy.start({ host: '127.0.0.1', port: 9 });
        proxy.setMode({ kind: 'blackhole' });
        running = await startBackend(
          {
            ...storageEnv('local', 'projects', undefined, proxy.url),
            REGISTRY_HOST: '127.0.0.1:9',
            REGISTRY_USERNAME: AUTH_REGISTRY.username,
            REGISTRY_PASSWORD: AUTH_REGISTRY.password,
          },
          { requestTimeoutMs: 1_000 },
        );
        const started = performance.now();
        const token = await running.credentials.getRegistryToken();
        const record = await running.credentials.getCredentials();
        const ms = performance.now() - started;
        t.metric('answered in', `${ms.toFixed(1)} ms`);
        expect(token).toBe(
          Buffer.from(`${AUTH_REGISTRY.username}:${AUTH_REGISTRY.password}`).toString('base64'),
        );
        expect(record.REGISTRY_USERNAME).toBe(AUTH_REGISTRY.username);
        expect(ms).toBeLessThan(100);
        // Storage calls meanwhile fail typed within their deadline, and do not change the token.
        const err = await rejectionOf(running.credentials.downloadProject('projects', 'x.zip'));
        errorEvidence('faults/registry-local', err);
        expect(err).toBeInstanceOf(StorageUnavailableError);
        expect(await running.credentials.getRegistryToken()).toBe(token);
      },
    );
  });
});
