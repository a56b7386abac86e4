/**
 * Reliability, the matrix (issue 10): every body kind a caller can hand over, on every backend,
 * under every fault, one cell each (support/matrix.ts lists the axes and the rule for which cells
 * apply; the others are recorded with their reason).
 *
 * A cell holds when:
 * - the call settles (stored, or a typed error: `CredentialsError`, or a typed JSON answer over
 *   HTTP) within its deadline plus 2 s;
 * - afterwards (twice the deadline later) the key holds the previous object when the call
 *   failed, or the new one with the SHA-256 the caller was given when it succeeded;
 * - no spool file and no incomplete upload is left;
 * - the same module instance stores a new project (after a shutdown: a new instance does).
 *
 * Each body kind has its own module instance, fault proxy, bucket and spool directory, so the
 * cells of one fault run side by side (their waits overlap) without seeing each other.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CredentialsError,
  type ProjectBody,
  StorageUnavailableError,
  type UploadOptions,
} from '../../src/credentials/index.js';
import { sha256Of, startS3Proxy, storageEnv } from '../support/backends.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  deleteTestBucket,
  requireS3Server,
} from '../support/test-servers.js';
import type { FaultMode } from './support/fault-proxy.js';
import {
  allCells,
  BODIES,
  type BodyKind,
  bodySize,
  type Cell,
  deadlineOf,
  type Fault,
  FAULTS,
  isCallerAbort,
  isSpooled,
  MATRIX_BACKENDS,
  MATRIX_SETTINGS,
  type MatrixBackend,
  MiB,
  observeAfterMs,
} from './support/matrix.js';
import { SLACK_MS } from './support/deadlines.js';
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
  untilWritten,
} from './support/matrix-rig.js';
import { openRawRequest, writeAll } from './support/raw-http.js';
import {
  recordMatrixAxes,
  recordNotApplicable,
  type Trial,
  trial,
  within,
} from './support/results.js';
import { KiB, randomZip } from './support/storage.js';

/** How long past its deadline and slack a call is waited for before it counts as hung. */
const HANG_MS = 5_000;
/** Where a client that goes away stops, in bytes of the ZIP. */
const CUTS: Partial<Record<Fault, number>> = {
  'client disconnect before the body': 0,
  'client disconnect in the first part': 2 * MiB,
  'client disconnect in a later part': 8 * MiB,
};
/** A tmpfs this small cannot hold one 12 MiB project: the spool files fill it. */
const FULL_DISK_BYTES = 4 * MiB;
/** `ulimit -f` of the file size limit cells, in 1 KiB blocks (bash): 8 MiB. */
const FILE_SIZE_LIMIT_BLOCKS = 8 * 1024;

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

let turn: Promise<unknown> = Promise.resolve();

/**
 * Runs `step` after the steps queued before it: the cells of one fault take turns for the
 * call under the fault (on a 2-core machine, uploads side by side would miss the short
 * deadlines), while their waits and checks afterwards overlap.
 */
function inTurn<T>(step: () => Promise<T>): Promise<T> {
  const result = turn.then(step);
  turn = result.catch(() => undefined);
  return result;
}
const SPOOL_LIMIT_CHILD = fileURLToPath(
  new URL('./support/spool-limit-child.mjs', import.meta.url),
);

/** The request line of CreateMultipartUpload of `key`. */
function createRequest(bucket: string, key: string): RegExp {
  return new RegExp(`^POST /${bucket}/${key.replace(/[.]/g, '\\.')}\\?uploads`);
}

/** The request line of the step that makes an upload visible: PutObject or CompleteMultipartUpload. */
function commitRequest(bucket: string, key: string): RegExp {
  const at = `/${bucket}/${key.replace(/[.]/g, '\\.')}`;
  return new RegExp(`^(PUT ${at}(\\?x-id=PutObject)? HTTP|POST ${at}\\?uploadId=)`);
}

function inMemoryBody(kind: BodyKind, data: Buffer): ProjectBody | undefined {
  if (kind === 'Buffer, one part' || kind === 'Buffer, several parts') return data;
  if (kind === 'Uint8Array') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

const isStream = (body: BodyKind): boolean =>
  body === 'Readable' || body === 'Readable with sha256' || body === 'fs read stream';

/** The options of a direct upload: the SHA-256 of `data` for the body kind that supplies it. */
const uploadOptions = (cell: Cell, data: Buffer): UploadOptions =>
  cell.body === 'Readable with sha256' ? { sha256: sha256Of(data) } : {};

/** What the caller's abort must reject with: the contract's typed error, saying who stopped it. */
const CALLER_ABORTED = /^StorageUnavailableError: .*aborted by the caller/;
/** Where a caller aborts "while the body is read": past the first part's read-ahead. */
const ABORT_WHILE_READ_AT = 7 * MiB;

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

let compiled: Promise<string> | undefined;

/** The library compiled once per run, for the child processes of the file size limit cells. */
function compiledLibrary(): Promise<string> {
  compiled ??= (async () => {
    const dir = path.join(process.cwd(), 'node_modules', '.cache', 'nct-reliability-dist');
    await rm(dir, { recursive: true, force: true });
    await run(path.join(process.cwd(), 'node_modules', '.bin', 'tsc'), [
      '-p',
      'tsconfig.build.json',
      '--outDir',
      dir,
    ]);
    return dir;
  })();
  return compiled;
}

/**
 * Runs the file size limit child under `ulimit -f` and reads its outcome. Its deadline starts
 * when it says "ready" (the module is built): starting Node and Nest on a loaded machine takes
 * seconds that are not the upload's. A child that does not answer by then is killed (a hang).
 */
function childOutcome(
  args: string,
  timeoutMs: number,
): Promise<{ outcome: Outcome; ms: number; worksAgain: Outcome }> {
  const child = spawn(
    'bash',
    ['-c', `ulimit -f ${FILE_SIZE_LIMIT_BLOCKS} && exec node "$0" "$1"`, SPOOL_LIMIT_CHILD, args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const startup = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!timer && stdout.includes('ready\n')) {
        clearTimeout(startup);
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the child did not settle within ${timeoutMs} ms (a hang)`));
        }, timeoutMs);
      }
    });
    child.on('close', (code) => {
      clearTimeout(startup);
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) {
        resolve(JSON.parse(last) as { outcome: Outcome; ms: number; worksAgain: Outcome });
      } else {
        reject(new Error(`the child failed (exit ${code}): ${stderr.slice(0, 300)}`));
      }
    });
  });
}

describe.each(MATRIX_BACKENDS)('the matrix on the %s backend', (backend: MatrixBackend) => {
  let work: string;
  const rigs = new Map<BodyKind, Rig>();
  const extraRigs: Rig[] = [];
  let fullDiskDir: string | undefined;

  /** A module like `base` (same bucket, proxy) with its spool directory at `spoolDir`. */
  const sibling = (base: Rig, spoolDir = base.spoolDir) =>
    startRig({
      backend,
      bucket: base.bucket,
      spoolDir,
      proxy: base.proxy,
      projectsDir: base.projectsDir,
    });

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `nct-matrix-${backend}-`));
    if (backend !== 'filesystem') await requireS3Server();
    for (const body of BODIES) {
      const spoolDir = path.join(work, `spool-${slug(body)}`);
      await mkdir(spoolDir);
      const proxy = backend === 'filesystem' ? undefined : await startS3Proxy();
      const bucket =
        backend === 'filesystem'
          ? `mx-${slug(body)}`
          : await createTestBucket(`rel-mx-${backend.slice(0, 3)}`);
      const projectsDir = backend === 'filesystem' ? path.join(work, 'projects') : undefined;
      rigs.set(body, await startRig({ backend, bucket, spoolDir, proxy, projectsDir }));
    }
  });

  afterAll(async () => {
    for (const rig of [...rigs.values(), ...extraRigs]) {
      // A cell whose upload hangs must not hang the run as well.
      await within(rig.close(), 10_000, 'closing the module').catch(() => undefined);
    }
    for (const rig of rigs.values()) {
      await rig.proxy?.close();
      if (rig.proxy) await deleteTestBucket(rig.bucket).catch(() => undefined);
    }
    if (fullDiskDir) {
      try {
        execFileSync('umount', ['-l', fullDiskDir]);
      } catch {
        // not mounted
      }
    }
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  });

  const cells = allCells().filter((cell) => cell.backend === backend);

  it('records the cells that do not apply, each with its reason', () => {
    recordMatrixAxes({ bodies: BODIES, faults: FAULTS, backends: MATRIX_BACKENDS });
    const skipped = cells.filter((cell) => cell.reason !== undefined);
    for (const cell of skipped) {
      expect(cell.reason).toMatch(/\w/);
      recordNotApplicable(
        { category: 'matrix', group: cell.fault, backend, body: cell.body },
        cell.reason!,
      );
    }
  });

  it('a multipart POST whose client sends its headers, then nothing, is answered 408', async () => {
    const rig = rigs.get('HTTP multipart POST')!;
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

  /**
   * Makes the call of `cell` for `data` at `key` on `rig` and says how it settled, and when
   * (from the moment the fault struck, for a client that goes away). `whileRunning` runs once
   * the call is under way (the shutdown cells close the module there).
   */
  async function call(
    rig: Rig,
    cell: Cell,
    key: string,
    data: Buffer,
    t: Trial,
    options: { cut?: Cut; timeoutMs: number; whileRunning?: () => Promise<void> },
  ): Promise<{ outcome: Outcome; ms: number; spoolEmptyMs?: number }> {
    const { cut, timeoutMs } = options;
    let from = performance.now();
    const inMemory = inMemoryBody(cell.body, data);
    let settled: Promise<Outcome>;
    if (inMemory !== undefined) {
      settled = directOutcome(rig.credentials.uploadProject(key, inMemory));
    } else if (isStream(cell.body)) {
      const stream: Readable =
        cell.body === 'fs read stream' ? await fileBody(data, cut) : readableBody(data, cut);
      from = performance.now();
      settled = directOutcome(
        rig.credentials.uploadProject(key, stream, uploadOptions(cell, data)),
      );
    } else if (cut === undefined) {
      const answered = sendHttp(rig, cell.body, key, data, timeoutMs);
      // When the app itself shuts down, the handler's outcome is what counts (the connection
      // may close before the answer).
      settled = options.whileRunning
        ? answered.then(async () => (await rig.handlers.until(key, timeoutMs))!.outcome)
        : answered;
    } else {
      // A raw client: the head, part of the body, then the connection closes.
      const request = httpRequestOf(cell.body, key, data);
      const socket = await openRawRequest(rig.port, {
        method: request.method,
        path: request.path,
        headers: request.headers,
        contentLength: request.bytes.length,
      });
      const prefix = cut.atBytes === 0 ? request.beforeFile : request.fileOffset + cut.atBytes;
      await writeAll(socket, request.bytes.subarray(0, prefix));
      if (cut.atBytes > MATRIX_SETTINGS.partSize) {
        // A later part: the spool file holds the first parts already.
        await untilSpooled(rig.spoolDir, MATRIX_SETTINGS.partSize);
      } else {
        await sleep(300);
      }
      socket.destroy();
      from = performance.now();
      const spoolEmpty = msUntil(
        async () => (await spoolFiles(rig.spoolDir)).length === 0,
        timeoutMs,
      );
      const handler = await rig.handlers.until(key, timeoutMs);
      const emptyAfter = await spoolEmpty;
      t.metric('spool empty after', emptyAfter === undefined ? 'never' : `${emptyAfter} ms`);
      if (!handler) throw new Error(`the request handler did not settle within ${timeoutMs} ms`);
      return {
        outcome: handler.outcome,
        ms: Math.round(handler.at - from),
        spoolEmptyMs: emptyAfter ?? Infinity,
      };
    }
    if (options.whileRunning) {
      await options.whileRunning();
      // A shutdown cell is timed from the moment close() was called.
      from = performance.now();
    }
    const outcome = await within(settled, timeoutMs, `the call (${cell.body})`);
    return { outcome, ms: Math.round(performance.now() - from) };
  }

  /**
   * The call of a caller-abort cell: the upload of `data` with an `AbortSignal` that the caller
   * aborts at the cell's moment (before the call, once the stream has given 7 MiB or the fs
   * read stream's file is being hashed, once a part and a half went out, while the commit
   * request's answer is held by the proxy). Timed from the abort; says whether the caller's
   * stream was stopped (destroyed, or read to its end when the upload finished first).
   */
  async function abortedCall(
    rig: Rig,
    cell: Cell,
    key: string,
    data: Buffer,
    t: Trial,
    timeoutMs: number,
  ): Promise<{ outcome: Outcome; ms: number; streamStopped?: boolean }> {
    const { fault } = cell;
    const controller = new AbortController();
    let abortedAt: number | undefined;
    const abort = (where: string) => {
      if (abortedAt !== undefined) return;
      abortedAt = performance.now();
      t.metric('aborted', where);
      controller.abort(new Error('the caller gave up'));
    };
    if (fault === 'caller abort before the call') abort('before the call');
    const whileRead = fault === 'caller abort while the body is read';
    const creating = fault === 'caller abort awaiting the upload id';
    let stream: Readable | undefined;
    if (cell.body === 'fs read stream') {
      stream = await fileBody(data);
    } else if (isStream(cell.body)) {
      stream = readableBody(data, undefined, (bytes) => {
        if (whileRead && bytes >= ABORT_WHILE_READ_AT) abort(`after ${bytes} bytes read`);
      });
    }
    const body = stream ?? inMemoryBody(cell.body, data)!;
    const options = { ...uploadOptions(cell, data), signal: controller.signal };
    const started = performance.now();
    const settled = directOutcome(rig.credentials.uploadProject(key, body, options));
    if (whileRead && cell.body === 'fs read stream') {
      // Read by position from its file: the first step of the call opens and hashes it.
      setImmediate(() => abort('while its file is opened and hashed'));
    } else if (fault === 'caller abort mid-parts') {
      const midParts = MATRIX_SETTINGS.partSize + MiB;
      if (await untilWritten(rig, midParts, settled)) abort(`after ${midParts} bytes written`);
    } else if (rig.proxy && (fault === 'caller abort during the commit' || creating)) {
      const held = await msUntil(
        async () => (rig.proxy?.stats.delayedResponses ?? 0) > 0,
        MATRIX_SETTINGS.uploadTimeoutMs,
      );
      if (held !== undefined)
        abort(`while the answer to the ${creating ? 'create' : 'commit'} is held`);
    }
    const outcome = await within(settled, timeoutMs, `the call (${cell.body})`);
    if (abortedAt === undefined) t.metric('aborted', 'never: the call settled first');
    return {
      outcome,
      ms: Math.round(performance.now() - (abortedAt ?? started)),
      streamStopped: stream && (stream.destroyed || stream.readableEnded),
    };
  }

  /** The call of a file size limit cell, in a child process under `ulimit -f`. */
  async function callUnderFileSizeLimit(
    rig: Rig,
    cell: Cell,
    key: string,
    data: Buffer,
    timeoutMs: number,
  ): Promise<{ outcome: Outcome; ms: number; worksAgain: Outcome }> {
    const dist = await compiledLibrary();
    const file = path.join(work, `${slug(cell.body)}-source.zip`);
    await writeFile(file, data);
    const env =
      backend === 'filesystem'
        ? {
            CREDENTIALS: 'filesystem',
            BUCKET_NAME_PROJECTS: rig.bucket,
            REGISTRY_HOST: AUTH_REGISTRY.host,
            PROJECTS_DIR: rig.projectsDir!,
          }
        : storageEnv(backend, rig.bucket, undefined, rig.proxy!.url);
    const args = JSON.stringify({
      dist,
      env,
      options: { spoolDir: rig.spoolDir, ...MATRIX_SETTINGS },
      body: cell.body,
      key,
      file,
    });
    try {
      return await childOutcome(args, timeoutMs);
    } finally {
      await rm(file, { force: true });
    }
  }

  let fullDisk: Promise<string> | undefined;

  /** A small tmpfs, mounted once per backend (needs root: CI runs as root). */
  function mountFullDisk(): Promise<string> {
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
      return fullDiskDir;
    })();
    return fullDisk;
  }

  /** A module of `base`'s backend whose spool directory is on the small tmpfs. */
  async function fullDiskRig(base: Rig): Promise<Rig> {
    const spoolDir = path.join(await mountFullDisk(), path.basename(base.spoolDir));
    await mkdir(spoolDir, { recursive: true });
    const rig = await sibling(base, spoolDir);
    extraRigs.push(rig);
    return rig;
  }

  /** Runs one applicable cell: previous version, the call under the fault, then the checks. */
  async function runCell(cell: Cell): Promise<void> {
    const { body, fault } = cell;
    const deadlineMs = deadlineOf(fault);
    const base = rigs.get(body)!;
    const { proxy } = base;
    await trial({ category: 'matrix', group: fault, backend, body }, async (t) => {
      const key = `${slug(fault)}.zip`;
      const previous = randomZip(256 * KiB);
      const data = randomZip(bodySize(body));
      // The child processes of the file size limit cells wait side by side (they use no CPU
      // while they hang); every other call takes its turn.
      const underFault = async () => {
        proxy?.setMode({ kind: 'pass' });
        await base.credentials.uploadProject(key, previous);
        const timeoutMs = deadlineMs + SLACK_MS + HANG_MS;

        let rig = base;
        let closed: Promise<number> | undefined;
        let mode: FaultMode | undefined;
        if (fault === 'connection reset by the server') {
          mode = { kind: 'reset', direction: 'upstream', afterBytes: 512 * KiB };
        } else if (fault === 'silent server') {
          mode = { kind: 'blackhole' };
        } else if (fault === 'slow commit after the whole body') {
          mode = {
            kind: 'delay-response',
            match: commitRequest(base.bucket, key),
            delayMs: MATRIX_SETTINGS.uploadTimeoutMs + 2_000,
            times: 1,
          };
        } else if (fault === 'caller abort awaiting the upload id') {
          // The upload id comes after the abort: the upload must be aborted once it does.
          mode = {
            kind: 'delay-response',
            match: createRequest(base.bucket, key),
            delayMs: 1_500,
            times: 1,
          };
        } else if (fault === 'caller abort during the commit') {
          // The commit reaches the server in full; its answer is held while the caller aborts.
          mode = {
            kind: 'delay-response',
            match: commitRequest(base.bucket, key),
            delayMs: MATRIX_SETTINGS.uploadTimeoutMs - 1_000,
            times: 1,
          };
        } else if (fault === 'spool write failure: full disk') {
          rig = await fullDiskRig(base);
        } else if (fault === 'module shutdown mid-upload') {
          rig = await sibling(base);
          extraRigs.push(rig);
        }
        proxy?.resetStats();
        if (mode) proxy?.setMode(mode);

        let result:
          | {
              outcome: Outcome;
              ms: number;
              worksAgain?: Outcome;
              spoolEmptyMs?: number;
              streamStopped?: boolean;
            }
          | Error;
        try {
          if (isCallerAbort(fault)) {
            result = await abortedCall(rig, cell, key, data, t, timeoutMs);
          } else if (fault === 'spool write failure: file size limit') {
            result = await callUnderFileSizeLimit(rig, cell, key, data, timeoutMs);
          } else {
            const cut = CUTS[fault];
            result = await call(rig, cell, key, data, t, {
              cut: cut === undefined ? undefined : { atBytes: cut },
              timeoutMs,
              whileRunning:
                fault === 'module shutdown mid-upload'
                  ? async () => {
                      await underWay(rig, body);
                      const started = performance.now();
                      closed = rig.close().then(() => Math.round(performance.now() - started));
                    }
                  : undefined,
            });
          }
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
          t.expectKept(typeof ms === 'number', 'close() of the module did not return');
        }
        if (!(result instanceof Error)) {
          t.metric('outcome', result.outcome.ok ? 'stored' : result.outcome.error.split(':')[0]);
          t.metric('settled after', `${result.ms} ms`);
          if (!result.outcome.ok) t.note(result.outcome.error);
        }
        if (mode?.kind === 'reset') t.expectKept(proxy!.stats.resets > 0, 'no reset was injected');
        if (mode?.kind === 'delay-response') {
          t.expectKept(proxy!.stats.delayedResponses > 0, 'no response was delayed');
        }

        return { rig, result };
      };
      const { rig, result } =
        fault === 'spool write failure: file size limit'
          ? await underFault()
          : await inTurn(underFault);

      await sleep(observeAfterMs(fault));
      await expectKey(t, base, key, previous, data, result instanceof Error ? undefined : result);
      const spool = await spoolFiles(rig.spoolDir);
      t.expectKept(spool.length === 0, `${spool.length} spool file(s) left`);
      await Promise.all(spool.map((name) => rm(path.join(rig.spoolDir, name), { force: true })));
      const incomplete = await incompleteUploads(base);
      t.expectKept(incomplete.length === 0, `${incomplete.length} incomplete upload(s) left`);
      if (result instanceof Error || result.worksAgain === undefined) {
        // After a shutdown the instance refuses new work (typed); the check runs on another one.
        await expectWorksAgain(t, fault === 'module shutdown mid-upload' ? base : rig, key);
      } else {
        t.expectKept(result.worksAgain.ok, 'the same instance failed the next upload');
      }

      if (result instanceof Error) throw result;
      expect(result.outcome.ok || result.outcome.typed).toBe(true);
      expect(result.ms).toBeLessThanOrEqual(deadlineMs + SLACK_MS);
      // A client that went away: its spool file is gone as soon as the handler settles.
      expect(result.spoolEmptyMs ?? 0).toBeLessThanOrEqual(deadlineMs + SLACK_MS);
      if (isCallerAbort(fault)) {
        // Stored only when the commit had taken effect (then reported as stored, checked above);
        // else the contract's error for an abort, and the caller's stream is stopped.
        if (!result.outcome.ok) expect(result.outcome.error).toMatch(CALLER_ABORTED);
        if (fault === 'caller abort before the call') expect(result.outcome.ok).toBe(false);
        expect(result.streamStopped ?? true).toBe(true);
      }
    });
  }

  /**
   * Waits until a shutdown cell's call is under way: bytes spooled or sent to the server (an
   * fs read stream of a whole file is sent from the file itself, never spooled).
   */
  async function underWay(rig: Rig, body: BodyKind): Promise<void> {
    if (isSpooled(body)) {
      await untilSpooled(rig.spoolDir, MiB);
    } else if (rig.proxy) {
      await rig.proxy.untilBytes('upstream', rig.proxy.stats.bytesUp + 128 * KiB, 10_000);
    }
  }

  /** The key holds the previous object after a failure, the new one after a success. */
  async function expectKey(
    t: Trial,
    rig: Rig,
    key: string,
    previous: Buffer,
    data: Buffer,
    result: { outcome: Outcome } | undefined,
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
    if (result?.outcome.ok) {
      t.expectKept(holds === 'the new object', `reported stored, but the key holds ${holds}`);
      t.expectKept(result.outcome.sha256 === sha256Of(data), 'the SHA-256 reported differs');
    } else {
      t.expectKept(
        holds === 'the previous object',
        result ? `reported failed, but the key holds ${holds}` : `hung; the key holds ${holds}`,
      );
    }
  }

  /** A new project is stored on `rig` and reads back whole. */
  async function expectWorksAgain(t: Trial, rig: Rig, key: string): Promise<void> {
    rig.proxy?.setMode({ kind: 'pass' });
    const data = randomZip(512 * KiB);
    const after = `${key}.after`;
    const stored = await rig.credentials.uploadProject(after, data).catch((err: Error) => err);
    const back = await storedBytes(rig, after);
    t.expectKept(
      !(stored instanceof Error) && stored.sha256 === sha256Of(data) && !!back?.equals(data),
      `the next upload on the instance ${stored instanceof Error ? `failed: ${stored.message}` : 'stored other bytes'}`,
    );
  }

  for (const fault of FAULTS) {
    const applicable = cells.filter((cell) => cell.fault === fault && cell.reason === undefined);
    if (applicable.length === 0) continue;
    it(`${fault}: ${applicable.map((cell) => cell.body).join(', ')}`, async () => {
      const outcomes = await Promise.allSettled(applicable.map((cell) => runCell(cell)));
      const failed = outcomes.flatMap((outcome, i) =>
        outcome.status === 'rejected'
          ? [`${applicable[i].body}: ${(outcome.reason as Error).message.split('\n')[0]}`]
          : [],
      );
      expect(failed).toEqual([]);
    });
  }

  /**
   * The caller's abort of a download into a stream (recorded with the faults: the matrix's body
   * kinds are uploads): before the call, and while the GET's answer is held, it rejects;
   * mid-download the stream the caller reads ends with the typed error and gives no more bytes.
   * Each within one request deadline plus the slack, timed from the abort.
   */
  it('caller abort of a download into a stream: before the call, while it is opened, mid-download', async () => {
    const rig = rigs.get('Buffer, several parts')!;
    const key = 'caller-abort-download.zip';
    const data = randomZip(12 * MiB);
    rig.proxy?.setMode({ kind: 'pass' });
    await rig.credentials.uploadProject(key, data);
    const bound = MATRIX_SETTINGS.requestTimeoutMs + SLACK_MS;

    const { proxy } = rig;
    const asOutcome = (opening: Promise<Readable>): Promise<Error | string> =>
      opening.then(
        (stream) => {
          stream.destroy();
          return 'a stream';
        },
        (err: Error) => err,
      );
    const expectAborted = (outcome: Error | string | undefined, ms: number) => {
      expect(outcome).toBeInstanceOf(StorageUnavailableError);
      expect(`${(outcome as Error).name}: ${(outcome as Error).message}`).toMatch(CALLER_ABORTED);
      expect(ms).toBeLessThanOrEqual(bound);
    };

    // One case per backend (the report has a row per case): its three moments as its figures.
    await trial(
      {
        category: 'faults',
        group: 'caller abort of a download (before, opened, mid-way)',
        backend,
      },
      async (t) => {
        // Before the call: an aborted signal is refused at once.
        let started = performance.now();
        const refused = await within(
          asOutcome(
            rig.credentials.downloadProject(rig.bucket, key, { signal: AbortSignal.abort() }),
          ),
          bound + HANG_MS,
          'the download',
        );
        t.metric('before the call: settled after', `${Math.round(performance.now() - started)} ms`);
        expectAborted(refused, performance.now() - started);

        if (proxy) {
          // While it is opened: the GET reaches the server; its answer is held while the caller
          // aborts.
          proxy.resetStats();
          proxy.setMode({
            kind: 'delay-response',
            match: new RegExp(`^GET /${rig.bucket}/${key.replace(/[.]/g, '\\.')}`),
            delayMs: 1_500,
            times: 1,
          });
          const controller = new AbortController();
          const opening = asOutcome(
            rig.credentials.downloadProject(rig.bucket, key, { signal: controller.signal }),
          );
          const held = await msUntil(async () => proxy.stats.delayedResponses > 0, 10_000);
          started = performance.now();
          controller.abort(new Error('the caller gave up'));
          const outcome = await within(opening, bound + HANG_MS, 'the download').finally(() =>
            proxy.setMode({ kind: 'pass' }),
          );
          const ms = Math.round(performance.now() - started);
          t.metric('while opened: settled after', held === undefined ? 'never held' : `${ms} ms`);
          expect(held).toBeDefined();
          expectAborted(outcome, ms);
        }

        // Mid-download: the stream the caller reads ends with the typed error, and no more bytes.
        const controller = new AbortController();
        const stream = await rig.credentials.downloadProject(rig.bucket, key, {
          signal: controller.signal,
        });
        let read = 0;
        let readAfterAbort = 0;
        let abortedAt: number | undefined;
        const ended = new Promise<Error | undefined>((resolve) => {
          stream.on('data', (chunk: Buffer) => {
            if (abortedAt === undefined) {
              read += chunk.length;
              if (read >= MiB) {
                abortedAt = performance.now();
                controller.abort(new Error('the caller gave up'));
              }
            } else {
              readAfterAbort += chunk.length;
            }
          });
          stream.on('error', (err) => resolve(err));
          stream.on('end', () => resolve(undefined));
        });
        const error = await within(ended, bound + HANG_MS, 'the end of the download');
        const ms = Math.round(performance.now() - (abortedAt ?? 0));
        t.metric(
          'mid-download: read before / after the abort',
          `${read} / ${readAfterAbort} bytes`,
        );
        t.metric('mid-download: ended after', `${ms} ms`);
        expect(abortedAt).toBeDefined();
        expectAborted(error, ms);
        expect(stream.destroyed).toBe(true);
        expect(read + readAfterAbort).toBeLessThan(data.length);
      },
    );
  });
});
