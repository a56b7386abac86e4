/**
 * Reliability, category 1 (storage): faults against the real S3 server (Swift s3api) on both
 * storage backends, injected by a TCP proxy in front of it (resets, a server that stops
 * answering, requests answered 500) and by stopping and restarting the server itself.
 *
 * Uploads under a reset on every connection or a server silent from the start are cells of the
 * matrix (matrix.spec.ts: every body kind, every backend); the cases here are the faults the
 * matrix does not cover: a single transient reset, 500 answers, silence in the middle of a
 * multipart upload, downloads, and the server killed and restarted.
 *
 * Every case checks the same things (see results.ts for how they are recorded), in this order so
 * that one that fails does not hide the others: no partial object is visible and the earlier
 * complete version survives whole; no multipart upload is left; the process stays healthy and
 * the first calls after recovery succeed on the same module instance; the call ended with
 * `StorageUnavailableError` within its deadline.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { StorageUnavailableError } from '../../src/credentials/index.js';
import {
  type ProxiedBackend,
  readAll,
  rejectionOf,
  sha256Of,
  startProxiedBackend,
  STORAGE_BACKENDS,
  streamOf,
} from '../support/backends.js';
import { listIncompleteUploads, startS3Server, stopS3Server } from '../support/test-servers.js';
import { PART_SIZE, SLACK_MS } from './support/deadlines.js';
import type { FaultMode, FaultProxy } from './support/fault-proxy.js';
import { describeError, errorEvidence, type Trial, trial, within } from './support/results.js';
import {
  expectHealthy,
  expectNoIncompleteUploads,
  expectNoPartialObject,
  KiB,
  MiB,
  randomZip,
  s3,
} from './support/storage.js';
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';

/** Deadlines of the backends under test: small, so that a hang shows within seconds. */
const REQUEST_TIMEOUT_MS = 3_000;
const UPLOAD_TIMEOUT_MS = 12_000;
/** How long past its deadline (and slack) a call is waited for before it counts as hung. */
const HANG_MS = 8_000;
/** How long a library may take to remove parts it could not abort while the server was away. */
const CLEANUP_GRACE_MS = 5_000;

describe.each(STORAGE_BACKENDS)('faults on the %s backend (real S3 server)', (backend) => {
  let running: ProxiedBackend;
  let proxy: FaultProxy;
  let bucket: string;

  beforeAll(async () => {
    running = await startProxiedBackend(backend, `rel-faults-${backend}`, {
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      uploadTimeoutMs: UPLOAD_TIMEOUT_MS,
      partSize: PART_SIZE,
      partConcurrency: 2,
    });
    ({ proxy, bucket } = running);
  });

  afterEach(async () => {
    proxy.setMode({ kind: 'pass' });
    // Whatever a failed case left (already counted by it) must not count again in the next one.
    for (const upload of await listIncompleteUploads(bucket)) {
      await s3.send(
        new AbortMultipartUploadCommand({
          Bucket: bucket,
          Key: upload.Key,
          UploadId: upload.UploadId,
        }),
      );
    }
  });

  afterAll(() => running?.close());

  interface FaultCase {
    /** The row in RELIABILITY.md. */
    group: string;
    key: string;
    /** Size of the complete version stored before the fault (none for downloads). */
    previous: number;
    /** What the proxy does while the call runs; `undefined` when `call` arranges the fault. */
    mode?: FaultMode;
    /** The deadline the call must end within. */
    deadlineMs: number;
    /** The call that must fail; for a download, it reads the whole stream. */
    call: (t: Trial) => Promise<unknown>;
    /** Whether the server could receive an abort when the call failed (no grace then). */
    serverReachable: boolean;
    /** Checks of the fault itself (was it injected at all?). */
    injected?: () => void;
    /** Runs once the call has settled, before the checks (to bring a server back). */
    afterCall?: () => Promise<void>;
  }

  /**
   * Stores a previous version, runs the call under the fault, then checks everything, and
   * finally that the call ended typed and in time (a hang counts as a failure too).
   */
  async function faultCase(c: FaultCase): Promise<void> {
    await trial({ category: 'faults', group: c.group, backend }, async (t) => {
      const previous = randomZip(c.previous);
      proxy.setMode({ kind: 'pass' });
      const stored = await running.credentials.uploadProject(c.key, previous);
      expect(stored.sha256).toBe(sha256Of(previous));

      proxy.resetStats();
      if (c.mode) proxy.setMode(c.mode);
      const started = performance.now();
      let outcome: { err: Error; ms: number } | Error;
      try {
        const err = await within(
          rejectionOf(c.call(t)),
          c.deadlineMs + SLACK_MS + HANG_MS,
          `a call with a deadline of ${c.deadlineMs} ms`,
        );
        outcome = { err, ms: Math.round(performance.now() - started) };
        errorEvidence(`faults/${backend}`, err);
        t.note(describeError(err));
        t.metric('error', describeError(err).split(':')[0]);
        t.metric('ended after', `${outcome.ms} ms`);
      } catch (hang) {
        outcome = hang as Error;
      } finally {
        // Ending the fault also frees a call that hung.
        proxy.setMode({ kind: 'pass' });
      }
      t.metric('deadline', `${c.deadlineMs} ms`);
      await c.afterCall?.();
      c.injected?.();

      await expectNoPartialObject(t, bucket, c.key, previous);
      if (c.serverReachable) await expectNoIncompleteUploads(t, bucket);
      await expectRecovery(t, `${c.key}.after`);
      if (!c.serverReachable) await expectNoIncompleteUploads(t, bucket, CLEANUP_GRACE_MS);

      if (outcome instanceof Error) throw outcome;
      expect(describeError(outcome.err)).toMatch(/^StorageUnavailableError/);
      expect(outcome.err).toBeInstanceOf(StorageUnavailableError);
      expect(outcome.ms).toBeLessThan(c.deadlineMs + SLACK_MS);
    });
  }

  /** The first calls after the fault (an upload, then its download) succeed, byte for byte. */
  async function expectRecovery(t: Trial, key: string): Promise<void> {
    proxy.setMode({ kind: 'pass' });
    await expectHealthy();
    const data = randomZip(512 * KiB);
    const started = performance.now();
    const stored = await running.credentials.uploadProject(key, data);
    const back = await readAll(await running.credentials.downloadProject(bucket, key));
    t.metric('first round trip after recovery', `${Math.round(performance.now() - started)} ms`);
    expect(stored.sha256).toBe(sha256Of(data));
    t.expectKept(back.equals(data), 'the first round trip after recovery returned other bytes');
  }

  const upload = (key: string, size: number) => () =>
    running.credentials.uploadProject(
      key,
      size > PART_SIZE ? streamOf(randomZip(size)) : randomZip(size),
    );

  const download = (key: string) => async () =>
    readAll(await running.credentials.downloadProject(bucket, key));

  it('one transient reset mid-upload: stored whole after a retry, or refused typed', async () => {
    await trial(
      { category: 'faults', group: 'one transient reset mid-upload, multipart (12 MiB)', backend },
      async (t) => {
        const previous = randomZip(256 * KiB);
        await running.credentials.uploadProject('transient.zip', previous);
        const data = randomZip(12 * MiB);
        proxy.resetStats();
        proxy.setMode({ kind: 'reset', direction: 'upstream', afterBytes: MiB, times: 1 });
        const started = performance.now();
        const outcome = await running.credentials
          .uploadProject('transient.zip', streamOf(data))
          .then(
            () => undefined,
            (err: unknown) => err as Error,
          );
        proxy.setMode({ kind: 'pass' });
        const ms = Math.round(performance.now() - started);
        t.metric(
          'outcome',
          outcome ? describeError(outcome).split(':')[0] : 'stored after a retry',
        );
        t.metric('ended after', `${ms} ms`);
        expect(proxy.stats.resets).toBe(1);
        if (outcome) {
          errorEvidence(`faults/${backend}`, outcome);
          t.note(describeError(outcome));
          await expectNoPartialObject(t, bucket, 'transient.zip', previous);
        } else {
          const back = await readAll(
            await running.credentials.downloadProject(bucket, 'transient.zip'),
          );
          t.expectKept(back.equals(data), 'the retried upload stored other bytes');
        }
        await expectNoIncompleteUploads(t, bucket);
        await expectRecovery(t, 'transient-after.zip');
        if (outcome) expect(outcome).toBeInstanceOf(StorageUnavailableError);
        expect(ms).toBeLessThan(UPLOAD_TIMEOUT_MS + SLACK_MS);
      },
    );
  });

  it('connection reset mid-download', async () => {
    await faultCase({
      group: 'connection reset mid-download (4 MiB)',
      key: 'reset-download.zip',
      previous: 4 * MiB,
      mode: { kind: 'reset', direction: 'downstream', afterBytes: MiB },
      deadlineMs: REQUEST_TIMEOUT_MS,
      call: download('reset-download.zip'),
      serverReachable: true,
      injected: () => expect(proxy.stats.resets).toBeGreaterThan(0),
    });
  });

  it('every UploadPart answered 500', async () => {
    await faultCase({
      group: 'a part answered 500 every time (12 MiB multipart)',
      key: 'part-500.zip',
      previous: 256 * KiB,
      mode: { kind: 'fail-http', match: /^PUT \S*[?&]partNumber=\d+/ },
      deadlineMs: UPLOAD_TIMEOUT_MS,
      call: upload('part-500.zip', 12 * MiB),
      serverReachable: true,
      injected: () => expect(proxy.stats.failedRequests).toBeGreaterThan(0),
    });
  });

  it('every PutObject of a whole project answered 500', async () => {
    await faultCase({
      group: 'PutObject answered 500 every time (1 MiB)',
      key: 'put-500.zip',
      previous: 256 * KiB,
      mode: { kind: 'fail-http', match: /^PUT \/[^/?\s]+\/put-500\.zip(\?x-id=PutObject)? HTTP/ },
      deadlineMs: UPLOAD_TIMEOUT_MS,
      call: upload('put-500.zip', MiB),
      serverReachable: true,
      injected: () => expect(proxy.stats.failedRequests).toBeGreaterThan(0),
    });
  });

  it('every CompleteMultipartUpload answered 500', async () => {
    await faultCase({
      group: 'CompleteMultipartUpload answered 500 every time',
      key: 'complete-500.zip',
      previous: 256 * KiB,
      mode: { kind: 'fail-http', match: /^POST \S*[?&]uploadId=/ },
      deadlineMs: UPLOAD_TIMEOUT_MS,
      call: upload('complete-500.zip', 12 * MiB),
      serverReachable: true,
      injected: () => expect(proxy.stats.failedRequests).toBeGreaterThan(0),
    });
  });

  it('a server that stops answering in the middle of a multipart upload', async () => {
    await faultCase({
      group: 'server stops answering mid-upload, multipart (24 MiB)',
      key: 'silent-multipart.zip',
      previous: 256 * KiB,
      deadlineMs: UPLOAD_TIMEOUT_MS,
      call: async () => {
        const call = upload('silent-multipart.zip', 24 * MiB)();
        // Two parts in, the server goes silent.
        await proxy.untilBytes('upstream', 2 * PART_SIZE + MiB, 20_000);
        proxy.setMode({ kind: 'blackhole' });
        return call;
      },
      serverReachable: false,
    });
  });

  it('a server that stops answering: a download ends at its deadline', async () => {
    await faultCase({
      group: 'server stops answering: download',
      key: 'silent-get.zip',
      previous: 256 * KiB,
      mode: { kind: 'blackhole' },
      deadlineMs: REQUEST_TIMEOUT_MS,
      call: download('silent-get.zip'),
      serverReachable: false,
    });
  });

  it('a server that stops answering in the middle of a download body', async () => {
    await faultCase({
      group: 'server stops answering mid-download (32 MiB)',
      key: 'silent-body.zip',
      // More than the socket buffers between the server and the reader can hold.
      previous: 32 * MiB,
      deadlineMs: REQUEST_TIMEOUT_MS,
      call: async () => {
        const stream = await running.credentials.downloadProject(bucket, 'silent-body.zip');
        const chunks = stream[Symbol.asyncIterator]();
        await chunks.next();
        // The headers and a first chunk are in; the server goes silent while the rest is owed.
        proxy.setMode({ kind: 'blackhole' });
        for (;;) if ((await chunks.next()).done) return;
      },
      serverReachable: false,
    });
  });

  it('the server killed in the middle of a 100 MiB upload, then restarted', async () => {
    let stopped = false;
    try {
      await faultCase({
        group: 'server killed mid-upload (100 MiB stream), restarted',
        key: 'killed.zip',
        previous: 256 * KiB,
        deadlineMs: UPLOAD_TIMEOUT_MS,
        call: async (t) => {
          const call = upload('killed.zip', 100 * MiB)();
          await proxy.untilBytes('upstream', 30 * MiB, 60_000);
          t.metric('killed after', `${(proxy.stats.bytesUp / MiB).toFixed(0)} MiB sent`);
          stopS3Server();
          stopped = true;
          return call;
        },
        afterCall: async () => {
          if (!stopped) return;
          // While it is down, other calls fail fast and typed too; then it comes back.
          const started = performance.now();
          const down = await rejectionOf(running.credentials.downloadProject(bucket, 'killed.zip'));
          expect(down).toBeInstanceOf(StorageUnavailableError);
          expect(performance.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
          await expectHealthy();
          startS3Server();
          stopped = false;
        },
        serverReachable: false,
      });
    } finally {
      if (stopped) startS3Server();
    }
  });
});
