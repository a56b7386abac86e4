/**
 * Reliability, category 1 (storage): a server that answers late on purpose (the fault proxy's
 * `delay-response`: the request reaches Swift s3api in full, the answer is held). The upload's
 * deadline passes while a request is in flight; the store adapters are driven directly, with
 * the deadline as their abort signal, on both S3 clients (`aws`: @aws-sdk/client-s3, `local`:
 * minio-js).
 *
 * What must hold (issue 10, rows 3 and 6): the reported outcome is the stored one (a failure
 * leaves the previous object, a success stored the new one with its SHA-256), also long after
 * the call settled; the call settles within its deadline plus one request deadline; requests in
 * flight are destroyed within 1 s of the abort; every multipart upload created is completed or
 * aborted, a late CreateMultipartUpload answer included.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { StorageUnavailableError } from '../../src/credentials/index.js';
import { DEFAULT_TRANSFER_SETTINGS } from '../../src/credentials/config/transfer-settings.js';
import type { TransferSettings } from '../../src/credentials/config/transfer-settings.js';
import { MinioObjectStore } from '../../src/credentials/store/minio-object-store.js';
import type { ObjectStore, PartSource } from '../../src/credentials/store/object-store.js';
import { S3ObjectStore } from '../../src/credentials/store/s3-object-store.js';
import {
  sha256Of,
  startBackend,
  startS3Proxy,
  STORAGE_BACKENDS,
  type StorageBackend,
  storageEnv,
} from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';
import { PART_SIZE, SLACK_MS } from './support/deadlines.js';
import type { FaultMode, FaultProxy } from './support/fault-proxy.js';
import { describeError, errorEvidence, type Trial, trial } from './support/results.js';
import {
  expectNoIncompleteUploads,
  headObject,
  KiB,
  MiB,
  randomZip,
  readObject,
} from './support/storage.js';

/** How long the proxy holds an answer: longer than what is left of the deadline. */
const DELAY_MS = 3_000;
/** The request deadline: longer than the delay, so that only the upload's deadline can fire. */
const REQUEST_TIMEOUT_MS = 6_000;
/** The request deadline of a second store: shorter than the delay (the answer comes too late). */
const SHORT_REQUEST_TIMEOUT_MS = 1_500;

function storeFor(
  backend: StorageBackend,
  endpoint: string,
  requestTimeoutMs = REQUEST_TIMEOUT_MS,
): ObjectStore {
  const transfer: TransferSettings = {
    ...DEFAULT_TRANSFER_SETTINGS,
    requestTimeoutMs,
    uploadTimeoutMs: 60_000,
    partSize: PART_SIZE,
    partConcurrency: 2,
  };
  return backend === 'aws'
    ? new S3ObjectStore({
        region: S3_SERVER.region,
        endpoint,
        credentials: { accessKeyId: S3_SERVER.accessKey, secretAccessKey: S3_SERVER.secretKey },
        forcePathStyle: true,
        checksums: 'WHEN_REQUIRED',
        transfer,
      })
    : new MinioObjectStore({
        endpoint: new URL(endpoint),
        accessKey: S3_SERVER.accessKey,
        secretKey: S3_SERVER.secretKey,
        region: S3_SERVER.region,
        transfer,
      });
}

function partSourceOf(data: Buffer): PartSource {
  return {
    size: data.length,
    sha256: sha256Of(data),
    readInto: async (into, length, position) => {
      data.copy(into, 0, position, position + length);
    },
    stream: () => Readable.from([data]),
  };
}

describe.each(STORAGE_BACKENDS)('a server that answers late, on the %s backend', (backend) => {
  let proxy: FaultProxy;
  let bucket: string;
  let store: ObjectStore;
  let direct: ObjectStore;
  let shortStore: ObjectStore;

  beforeAll(async () => {
    await requireS3Server();
    proxy = await startS3Proxy();
    bucket = await createTestBucket(`rel-slow-${backend}`);
    store = storeFor(backend, proxy.url);
    direct = storeFor(backend, S3_SERVER.endpoint);
    shortStore = storeFor(backend, proxy.url, SHORT_REQUEST_TIMEOUT_MS);
  });

  afterAll(async () => {
    await store?.close();
    await direct?.close();
    await shortStore?.close();
    await proxy?.close();
    if (bucket) await deleteTestBucket(bucket);
  });

  /** An abort signal that fires `afterMs` once the proxy has seen a request line matching `match`. */
  function abortAfterRequest(match: RegExp, afterMs: number) {
    const controller = new AbortController();
    let abortedAt = 0;
    let openAtAbort = 0;
    let acceptedAtAbort = 0;
    const check = () => {
      if (!proxy.stats.requests.some((line) => match.test(line))) return;
      proxy.off('bytes', check);
      setTimeout(() => {
        abortedAt = performance.now();
        openAtAbort = proxy.stats.open;
        acceptedAtAbort = proxy.stats.connections;
        controller.abort(new Error('deadline'));
      }, afterMs);
    };
    proxy.on('bytes', check);
    return {
      signal: controller.signal,
      abortedAt: () => abortedAt,
      /** Connections that closed since the abort (those opened since, such as the abort's, count). */
      closedSinceAbort: () =>
        openAtAbort + (proxy.stats.connections - acceptedAtAbort) - proxy.stats.open,
      stop: () => proxy.off('bytes', check),
    };
  }

  /** Settles `call`, returning what it was told and when, relative to the abort. */
  async function outcomeOf(
    call: Promise<void>,
    abort: ReturnType<typeof abortAfterRequest>,
  ): Promise<{ err?: Error; afterAbortMs: number }> {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    abort.stop();
    return { err, afterAbortMs: Math.round(performance.now() - abort.abortedAt()) };
  }

  /**
   * The key holds what the caller was told, now and after twice the delay: the previous bytes
   * after a failure, the new ones (and their SHA-256) after a success.
   */
  async function expectReportedOutcome(
    t: Trial,
    key: string,
    told: Error | undefined,
    previous: Buffer,
    data: Buffer,
  ): Promise<void> {
    t.metric('outcome', told ? describeError(told).split(':')[0] : 'stored');
    if (told) {
      errorEvidence(`slow-commit/${backend}`, told);
      expect(told).toBeInstanceOf(StorageUnavailableError);
    }
    const expected = told ? previous : data;
    for (const when of ['at once', `${2 * DELAY_MS} ms later`]) {
      if (when !== 'at once') await sleep(2 * DELAY_MS);
      const head = await headObject(bucket, key);
      const bytes = await readObject(bucket, key);
      t.expectKept(
        bytes !== undefined && bytes.equals(expected),
        `${when}, the key holds ${bytes?.length} bytes that are not the ${told ? 'previous object (the caller was told the upload failed)' : 'new object (the caller was told it was stored)'}`,
      );
      t.expectKept(
        head?.sha256 === sha256Of(expected),
        `${when}, the SHA-256 recorded on the key is not the ${told ? 'previous' : 'new'} one`,
      );
    }
  }

  async function slowCommitCase(c: {
    group: string;
    key: string;
    size: number;
    match: RegExp;
    upload: (data: Buffer, signal: AbortSignal) => Promise<void>;
    /** Whether the upload's deadline passes (otherwise only the request deadline can). */
    deadline: boolean;
  }): Promise<void> {
    await trial({ category: 'faults', group: c.group, backend }, async (t) => {
      const previous = randomZip(256 * KiB);
      await direct.putObject(
        bucket,
        c.key,
        previous,
        sha256Of(previous),
        new AbortController().signal,
      );
      const data = randomZip(c.size);
      proxy.resetStats();
      proxy.setMode({ kind: 'delay-response', match: c.match, delayMs: DELAY_MS, times: 1 });
      // The deadline passes once the server has the whole body (the proxy holds only the answer).
      const abort = abortAfterRequest(c.match, c.deadline ? 500 : 0);
      const signal = c.deadline ? abort.signal : new AbortController().signal;
      const { err, afterAbortMs } = await outcomeOf(c.upload(data, signal), abort);
      proxy.setMode({ kind: 'pass' });
      t.metric(`settled after the ${c.deadline ? 'deadline' : 'request'}`, `${afterAbortMs} ms`);
      expect(proxy.stats.delayedResponses).toBe(1);
      await expectReportedOutcome(t, c.key, err, previous, data);
      await expectNoIncompleteUploads(t, bucket);
      const bound = c.deadline ? REQUEST_TIMEOUT_MS : 2 * SHORT_REQUEST_TIMEOUT_MS;
      expect(afterAbortMs).toBeLessThan(bound + SLACK_MS);
    });
  }

  const partLine = /^PUT \S*[?&]partNumber=\d+/;
  const putLine = (key: string) => new RegExp(`^PUT /${bucket}/${key.replace('.', '\\.')}[? ]`);

  it('a single PUT answered after its deadline: the outcome told is the outcome stored', async () => {
    await slowCommitCase({
      group: 'slow commit: single PUT answered after the deadline',
      key: 'slow-put.zip',
      size: MiB,
      match: putLine('slow-put.zip'),
      upload: (data, signal) =>
        store.putObject(bucket, 'slow-put.zip', data, sha256Of(data), signal),
      deadline: true,
    });
  });

  it('a CompleteMultipartUpload answered after its deadline: the outcome told is the outcome stored', async () => {
    await slowCommitCase({
      group: 'slow commit: Complete answered after the deadline',
      key: 'slow-complete.zip',
      size: 2 * PART_SIZE + 123,
      match: /^POST \S*[?&]uploadId=/,
      upload: (data, signal) =>
        store.putParts(bucket, 'slow-complete.zip', partSourceOf(data), signal),
      deadline: true,
    });
  });

  it('a single PUT answered after its request deadline: the outcome told is the outcome stored', async () => {
    await slowCommitCase({
      group: 'slow commit: single PUT answered after the request deadline',
      key: 'late-put.zip',
      size: MiB,
      match: putLine('late-put.zip'),
      upload: (data, signal) =>
        shortStore.putObject(bucket, 'late-put.zip', data, sha256Of(data), signal),
      deadline: false,
    });
  });

  it('a CompleteMultipartUpload answered after its request deadline: the outcome told is the outcome stored', async () => {
    await slowCommitCase({
      group: 'slow commit: Complete answered after the request deadline',
      key: 'late-complete.zip',
      size: 2 * PART_SIZE + 123,
      match: /^POST \S*[?&]uploadId=/,
      upload: (data, signal) =>
        shortStore.putParts(bucket, 'late-complete.zip', partSourceOf(data), signal),
      deadline: false,
    });
  });

  it('through uploadProject: a PUT answered after the upload deadline is told as stored', async () => {
    await trial(
      { category: 'faults', group: 'slow commit through uploadProject', backend },
      async (t) => {
        const uploadTimeoutMs = 1_000;
        const running = await startBackend(storageEnv(backend, bucket, undefined, proxy.url), {
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          uploadTimeoutMs,
        });
        try {
          const key = 'module-slow-put.zip';
          const previous = randomZip(256 * KiB);
          await running.credentials.uploadProject(key, previous);
          const data = randomZip(MiB);
          proxy.resetStats();
          proxy.setMode({
            kind: 'delay-response',
            match: putLine(key),
            delayMs: DELAY_MS,
            times: 1,
          });
          const started = performance.now();
          const told = await running.credentials.uploadProject(key, data).then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          const ms = Math.round(performance.now() - started);
          proxy.setMode({ kind: 'pass' });
          t.metric('settled after the call', `${ms} ms`);
          expect(proxy.stats.delayedResponses).toBe(1);
          await expectReportedOutcome(t, key, told, previous, data);
          expect(ms).toBeLessThan(uploadTimeoutMs + REQUEST_TIMEOUT_MS + SLACK_MS);
        } finally {
          await running.close();
        }
      },
    );
  });

  it('parts in flight when the deadline passes are destroyed within 1 s', async () => {
    await trial(
      { category: 'faults', group: 'parts in flight at the deadline', backend },
      async (t) => {
        const data = randomZip(6 * PART_SIZE);
        proxy.resetStats();
        // Every part's answer is held: the parts are in flight when the deadline passes.
        const mode: FaultMode = { kind: 'delay-response', match: partLine, delayMs: 2 * DELAY_MS };
        proxy.setMode(mode);
        const abort = abortAfterRequest(partLine, 500);
        const call = store.putParts(bucket, 'slow-parts.zip', partSourceOf(data), abort.signal);
        const { err, afterAbortMs } = await outcomeOf(call, abort);
        // The connections of the parts in flight (two at a time) close once their requests are
        // destroyed; idle keep-alive connections may stay, and the abort request may open one.
        await sleep(Math.max(0, abort.abortedAt() + 1_000 - performance.now()));
        const closed = abort.closedSinceAbort();
        await sleep(2 * DELAY_MS);
        proxy.setMode({ kind: 'pass' });
        t.metric('settled after the abort', `${afterAbortMs} ms`);
        t.metric('connections closed within 1 s of the abort', closed);
        expect(err).toBeInstanceOf(StorageUnavailableError);
        expect(await headObject(bucket, 'slow-parts.zip')).toBeUndefined();
        await expectNoIncompleteUploads(t, bucket);
        expect(closed).toBeGreaterThanOrEqual(2);
        // The parts are gone at once; the call then waits for the abort of the upload.
        expect(afterAbortMs).toBeLessThan(REQUEST_TIMEOUT_MS);
      },
    );
  });

  it('a CreateMultipartUpload answered after the deadline: its upload is aborted', async () => {
    await trial(
      { category: 'faults', group: 'CreateMultipartUpload answered after the deadline', backend },
      async (t) => {
        const data = randomZip(2 * PART_SIZE);
        proxy.resetStats();
        const createLine = /^POST \S*[?&]uploads/;
        proxy.setMode({ kind: 'delay-response', match: createLine, delayMs: DELAY_MS, times: 1 });
        const abort = abortAfterRequest(createLine, 300);
        const call = store.putParts(bucket, 'slow-create.zip', partSourceOf(data), abort.signal);
        const { err, afterAbortMs } = await outcomeOf(call, abort);
        t.metric('settled after the abort', `${afterAbortMs} ms`);
        await sleep(2 * DELAY_MS);
        proxy.setMode({ kind: 'pass' });
        expect(proxy.stats.delayedResponses).toBe(1);
        expect(err).toBeInstanceOf(StorageUnavailableError);
        expect(await headObject(bucket, 'slow-create.zip')).toBeUndefined();
        const left = await listIncompleteUploads(bucket);
        t.metric('uploads left', left.length);
        await expectNoIncompleteUploads(t, bucket);
        expect(afterAbortMs).toBeLessThan(1_000);
      },
    );
  });
});
