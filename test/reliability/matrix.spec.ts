/**
 * Reliability, the matrix (issue 10): every body kind a caller can hand over, on every backend,
 * under every fault, one cell each (support/matrix.ts lists the axes and the rule for which cells
 * apply; the others are recorded with their reason).
 *
 * A cell holds when:
 * - the call settles (stored, or a typed error: `CredentialsError`, or a typed JSON answer over
 *   HTTP) within its deadline plus 2 s;
 * - afterwards (at least twice the deadline later) the key holds the previous object when the
 *   call failed, or the new one with the SHA-256 the caller was given when it succeeded;
 * - no spool file and no incomplete upload is left;
 * - the same module instance stores and returns a new project (after a shutdown: a new one).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CredentialsError, type ProjectBody } from '../../src/credentials/index.js';
import { readAll, sha256Of } from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';
import { FaultProxy, type FaultMode } from './support/fault-proxy.js';
import {
  allCells,
  type BodyKind,
  bodySize,
  type Cell,
  deadlineOf,
  type Fault,
  isHttp,
  isInMemory,
  MATRIX_BACKENDS,
  MATRIX_SETTINGS,
  type MatrixBackend,
  MiB,
  observeAfterMs,
  SLACK_MS,
} from './support/matrix.js';
import {
  type Cut,
  fileBody,
  httpRequestOf,
  incompleteUploads,
  msUntil,
  type Outcome,
  readableBody,
  type Rig,
  sendHttp,
  spoolFiles,
  startRig,
  storedBytes,
  untilSpooled,
} from './support/matrix-rig.js';
import { openRawRequest, writeAll } from './support/raw-http.js';
import { recordNotApplicable, type Trial, trial, within } from './support/results.js';
import { expectHealthy, KiB, randomZip } from './support/storage.js';

/** How long past its deadline and slack a call is waited for before it counts as hung. */
const HANG_MS = 5_000;
/** Where a client that goes away stops, in bytes of the ZIP. */
const CUTS: Partial<Record<Fault, number>> = {
  'client disconnect before the body': 0,
  'client disconnect in the first part': 2 * MiB,
  'client disconnect in a later part': 12 * MiB,
};
/** A tmpfs this small cannot hold one 20 MiB project: the spool file fills it. */
const FULL_DISK_BYTES = 4 * MiB;

const s3Port = Number(new URL(S3_SERVER.endpoint).port);
const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The request line of the step that makes an upload visible: PutObject or CompleteMultipartUpload. */
function commitRequest(bucket: string, key: string): RegExp {
  const at = `/${bucket}/${key.replace(/[.]/g, '\\.')}`;
  return new RegExp(`^(PUT ${at}(\\?x-id=PutObject)? HTTP|POST ${at}\\?uploadId=)`);
}

function toBody(kind: BodyKind, data: Buffer): ProjectBody | undefined {
  if (kind === 'Buffer, one part' || kind === 'Buffer, several parts') return data;
  if (kind === 'Uint8Array') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

async function directOutcome(call: Promise<{ sha256: string }>): Promise<Outcome> {
  try {
    return { ok: true, sha256: (await call).sha256 };
  } catch (err) {
    return {
      ok: false,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      typed: err instanceof CredentialsError,
    };
  }
}

describe.each(MATRIX_BACKENDS)('the matrix on the %s backend', (backend: MatrixBackend) => {
  let proxy: FaultProxy | undefined;
  let bucket: string;
  let projectsDir: string | undefined;
  let spoolDir: string;
  let rig: Rig;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `nct-matrix-${backend}-`));
    spoolDir = path.join(work, 'spool');
    await mkdir(spoolDir);
    if (backend === 'filesystem') {
      projectsDir = path.join(work, 'projects');
      bucket = 'matrix';
    } else {
      await requireS3Server();
      proxy = await FaultProxy.start({ host: '127.0.0.1', port: s3Port });
      bucket = await createTestBucket(`rel-matrix-${backend}`);
    }
    rig = await startRig({ backend, bucket, spoolDir, proxy, projectsDir });
  });

  afterAll(async () => {
    // A cell whose upload hangs must not hang the run as well.
    await within(rig?.close() ?? Promise.resolve(), 10_000, 'closing the module').catch(
      () => undefined,
    );
    await proxy?.close();
    if (proxy && bucket) await deleteTestBucket(bucket).catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  });

  const cells = allCells().filter((cell) => cell.backend === backend);

  it('records the cells that do not apply, each with its reason', () => {
    const skipped = cells.filter((cell) => cell.reason !== undefined);
    for (const cell of skipped) {
      expect(cell.reason).toMatch(/\w/);
      recordNotApplicable(
        { category: 'matrix', group: cell.fault, backend, body: cell.body },
        cell.reason!,
      );
    }
    expect(skipped.length + cells.filter((c) => !c.reason).length).toBe(cells.length);
  });

  /**
   * Starts the call of `cell` for `data` at `key` and says how it settled. `cut` makes the
   * client go away; `onProgress` runs once the body is under way (for the shutdown cells).
   */
  async function call(
    target: Rig,
    cell: Cell,
    key: string,
    data: Buffer,
    t: Trial,
    options: { cut?: Cut; timeoutMs: number; whileRunning?: () => Promise<void> },
  ): Promise<{ outcome: Outcome; ms: number }> {
    const { cut, timeoutMs } = options;
    const started = performance.now();
    const inMemory = toBody(cell.body, data);
    let settled: Promise<Outcome>;
    let from = started;
    if (inMemory !== undefined) {
      settled = directOutcome(target.credentials.uploadProject(key, inMemory));
    } else if (cell.body === 'Readable' || cell.body === 'fs read stream') {
      const stream: Readable =
        cell.body === 'Readable' ? readableBody(data, cut) : await fileBody(data, cut);
      from = performance.now();
      settled = directOutcome(target.credentials.uploadProject(key, stream));
    } else if (cut === undefined) {
      settled = options.whileRunning
        ? sendHttp(target, cell.body, key, data, timeoutMs).then(
            async () => (await target.handlers.until(key, timeoutMs))!.outcome,
          )
        : sendHttp(target, cell.body, key, data, timeoutMs);
    } else {
      // A raw client: the head, part of the body, then the connection closes.
      const request = httpRequestOf(cell.body, key, data);
      const socket = await openRawRequest(target.port, {
        method: request.method,
        path: request.path,
        headers: request.headers,
        contentLength: request.bytes.length,
      });
      const prefix = cut.atBytes === 0 ? request.beforeFile : request.fileOffset + cut.atBytes;
      await writeAll(socket, request.bytes.subarray(0, prefix));
      if (cut.atBytes > MATRIX_SETTINGS.partSize) {
        // A later part: the spool file holds the first parts already.
        await untilSpooled(target.spoolDir, MATRIX_SETTINGS.partSize);
      } else {
        await sleep(300);
      }
      socket.destroy();
      from = performance.now();
      const spoolEmpty = msUntil(
        async () => (await spoolFiles(target.spoolDir)).length === 0,
        timeoutMs,
      );
      const handler = await target.handlers.until(key, timeoutMs);
      const emptyAfter = await spoolEmpty;
      t.metric('spool empty after', emptyAfter === undefined ? 'never' : `${emptyAfter} ms`);
      if (!handler) throw new Error(`the request handler did not settle within ${timeoutMs} ms`);
      return { outcome: handler.outcome, ms: Math.round(handler.at - from) };
    }
    if (options.whileRunning) await options.whileRunning();
    const outcome = await within(settled, timeoutMs, `the call (${cell.body})`);
    return { outcome, ms: Math.round(performance.now() - from) };
  }

  /** Waits for `fault` to be under way for the shutdown cells: bytes sent or spooled. */
  async function underWay(target: Rig, body: BodyKind): Promise<void> {
    if (!isInMemory(body)) {
      await untilSpooled(target.spoolDir, MiB);
    } else if (proxy) {
      await proxy.untilBytes('upstream', proxy.stats.bytesUp + 128 * KiB, 10_000);
    }
  }

  /** Runs one applicable cell: previous version, the call under the fault, then the checks. */
  async function runCell(cell: Cell): Promise<void> {
    const { body, fault } = cell;
    const deadlineMs = deadlineOf(fault);
    await trial({ category: 'matrix', group: fault, backend, body }, async (t) => {
      const key = `${slug(fault)}-${slug(body)}.zip`.slice(0, 200);
      const previous = randomZip(256 * KiB);
      proxy?.setMode({ kind: 'pass' });
      await rig.credentials.uploadProject(key, previous);
      const data = randomZip(bodySize(body));
      const timeoutMs = deadlineMs + SLACK_MS + HANG_MS;

      let target = rig;
      let closed: Promise<number> | undefined;
      let mode: FaultMode | undefined;
      if (fault === 'connection reset by the server') {
        mode = { kind: 'reset', direction: 'upstream', afterBytes: 512 * KiB };
      } else if (fault === 'silent server') {
        mode = { kind: 'blackhole' };
      } else if (fault === 'slow commit after the whole body') {
        mode = {
          kind: 'delay-response',
          match: commitRequest(bucket, key),
          delayMs: MATRIX_SETTINGS.uploadTimeoutMs + 2_000,
          times: 1,
        };
      } else if (fault === 'spool write failure: full disk') {
        target = await fullDiskRig();
      } else if (fault === 'module shutdown mid-upload') {
        target = await startRig({ backend, bucket, spoolDir, proxy, projectsDir });
      }
      proxy?.resetStats();
      if (mode) proxy?.setMode(mode);

      let result: { outcome: Outcome; ms: number } | Error;
      try {
        const cut = CUTS[fault];
        result = await call(target, cell, key, data, t, {
          cut: cut === undefined ? undefined : { atBytes: cut },
          timeoutMs,
          whileRunning:
            fault === 'module shutdown mid-upload'
              ? async () => {
                  await underWay(target, body);
                  const started = performance.now();
                  closed = target.close().then(() => Math.round(performance.now() - started));
                }
              : undefined,
        });
      } catch (err) {
        result = err as Error;
      } finally {
        proxy?.setMode({ kind: 'pass' });
      }
      if (closed) {
        const ms = await within(closed, timeoutMs, 'close() of the module').catch(
          (err: Error) => err,
        );
        t.metric('close() returned after', typeof ms === 'number' ? `${ms} ms` : 'never');
        if (typeof ms !== 'number') t.note(ms.message);
      }
      if (!(result instanceof Error)) {
        t.metric('outcome', result.outcome.ok ? 'stored' : result.outcome.error.split(':')[0]);
        t.metric('settled after', `${result.ms} ms`);
        if (!result.outcome.ok) t.note(result.outcome.error);
      }
      if (mode?.kind === 'reset') t.expectKept(proxy!.stats.resets > 0, 'no reset was injected');
      if (mode?.kind === 'delay-response') {
        t.metric('responses delayed', proxy!.stats.delayedResponses);
      }

      await sleep(observeAfterMs(fault));
      await expectKey(t, key, previous, data, result instanceof Error ? undefined : result.outcome);
      const spool = await spoolFiles(target.spoolDir);
      t.expectKept(spool.length === 0, `${spool.length} spool file(s) left`);
      await Promise.all(spool.map((name) => rm(path.join(target.spoolDir, name), { force: true })));
      const incomplete = await incompleteUploads(rig);
      t.expectKept(incomplete.length === 0, `${incomplete.length} incomplete upload(s) left`);
      await expectWorksAgain(t, rig, `${key}.after`);

      if (result instanceof Error) throw result;
      expect(result.outcome.ok || result.outcome.typed).toBe(true);
      expect(result.ms).toBeLessThanOrEqual(deadlineMs + SLACK_MS);
    });
  }

  /** The key holds the previous object after a failure, the new one after a success. */
  async function expectKey(
    t: Trial,
    key: string,
    previous: Buffer,
    data: Buffer,
    outcome: Outcome | undefined,
  ): Promise<void> {
    const stored = await storedBytes(rig, key);
    const holds =
      stored === undefined
        ? 'nothing'
        : stored.equals(previous)
          ? 'the previous object'
          : stored.equals(data)
            ? 'the new object'
            : `${stored.length} other bytes`;
    t.metric('key holds afterwards', holds);
    if (outcome?.ok) {
      t.expectKept(holds === 'the new object', `reported stored, but the key holds ${holds}`);
      t.expectKept(outcome.sha256 === sha256Of(data), 'the SHA-256 reported differs');
    } else {
      t.expectKept(
        holds === 'the previous object',
        outcome ? `reported failed, but the key holds ${holds}` : `hung; the key holds ${holds}`,
      );
    }
  }

  /** A round trip on the module instance (`target`) succeeds, byte for byte. */
  async function expectWorksAgain(t: Trial, target: Rig, key: string): Promise<void> {
    proxy?.setMode({ kind: 'pass' });
    await expectHealthy();
    const data = randomZip(512 * KiB);
    const stored = await target.credentials.uploadProject(key, data);
    const back = await readAll(await target.credentials.downloadProject(bucket, key));
    t.expectKept(
      stored.sha256 === sha256Of(data) && back.equals(data),
      'the round trip after the fault returned other bytes',
    );
  }

  let fullDisk: Promise<Rig> | undefined;
  let fullDiskDir: string | undefined;

  /** A second module of the backend whose spool directory is a small tmpfs (needs root). */
  function fullDiskRig(): Promise<Rig> {
    fullDisk ??= (async () => {
      fullDiskDir = path.join(work, 'full-disk');
      await mkdir(fullDiskDir);
      try {
        execFileSync('mount', [
          '-t',
          'tmpfs',
          '-o',
          `size=${FULL_DISK_BYTES}`,
          'tmpfs',
          fullDiskDir,
        ]);
      } catch (err) {
        throw new Error(
          `the full-disk cells mount a ${FULL_DISK_BYTES}-byte tmpfs and need root: ${(err as Error).message}`,
        );
      }
      return startRig({ backend, bucket, spoolDir: fullDiskDir, proxy, projectsDir });
    })();
    return fullDisk;
  }

  afterAll(async () => {
    if (!fullDisk) return;
    const full = await fullDisk.catch(() => undefined);
    await within(full?.close() ?? Promise.resolve(), 10_000, 'closing').catch(() => undefined);
    if (fullDiskDir) {
      try {
        execFileSync('umount', ['-l', fullDiskDir]);
      } catch {
        // not mounted
      }
    }
  });

  it('a multipart POST whose client sends its headers, then nothing, is answered 408', async () => {
    await trial(
      { category: 'faults', group: 'HTTP multipart POST: headers, then silence', backend },
      async (t) => {
        const key = 'silent-client.zip';
        const request = httpRequestOf('HTTP multipart POST', key, randomZip(MiB));
        const socket = await openRawRequest(rig.port, {
          method: request.method,
          path: request.path,
          headers: request.headers,
          contentLength: request.bytes.length,
        });
        const answer = new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n')) resolve(text);
          });
          socket.on('close', () => resolve(text));
        });
        const started = performance.now();
        const handler = await rig.handlers.until(key, MATRIX_SETTINGS.requestTimeoutMs + 8_000);
        const ms = Math.round(performance.now() - started);
        await within(answer, 2_000, 'the answer').catch(() => undefined);
        socket.destroy();
        t.metric('handler settled after', handler ? `${ms} ms` : 'never');
        t.metric('deadline', `${MATRIX_SETTINGS.requestTimeoutMs} ms`);
        t.metric('answer', (await answer).split('\r\n')[0] || 'none');
        t.expectKept((await spoolFiles(rig.spoolDir)).length === 0, 'a spool file was left');
        expect(handler).toBeDefined();
        expect(ms).toBeLessThanOrEqual(MATRIX_SETTINGS.requestTimeoutMs + SLACK_MS);
        expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
      },
    );
  });

  for (const cell of cells.filter((c) => c.reason === undefined)) {
    if (cell.fault === 'spool write failure: file size limit') continue;
    it(`${cell.fault} / ${cell.body}`, () => runCell(cell));
  }
  void isHttp;
});
