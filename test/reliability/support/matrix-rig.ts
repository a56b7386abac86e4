/**
 * What a matrix cell runs against: the module of one backend, built as an app builds it (with
 * the HTTP controller, so the same instance serves direct calls and HTTP bodies), behind the
 * fault proxy for the S3 backends; and what a cell looks at behind the module's back (the key on
 * the server or the disk, the spool directory, multipart uploads left).
 */
import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Module,
  type NestInterceptor,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventEmitter } from 'node:events';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type Observable, tap } from 'rxjs';
import {
  type Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsError,
  CredentialsModule,
  FilesystemCredentials,
} from '../../../src/credentials/index.js';
import { listen, type RunningApp } from '../../e2e/support/example-app.js';
import { multipartBody } from '../../e2e/support/http-client.js';
import { configFromEnv, storageEnv } from '../../support/backends.js';
import { AUTH_REGISTRY, listIncompleteUploads } from '../../support/test-servers.js';
import type { FaultProxy } from './fault-proxy.js';
import { type BodyKind, MATRIX_SETTINGS, type MatrixBackend, MiB } from './matrix.js';
import { rawHttp } from './raw-http.js';
import { readObject, s3 } from './storage.js';
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';

/** How a call ended: stored (with the SHA-256 the caller was given) or failed. */
export type Outcome = { ok: true; sha256: string } | { ok: false; error: string; typed: boolean };

/** When each request handler of the controller settled, by project name. */
export class HandlerLog extends EventEmitter implements NestInterceptor {
  readonly settled = new Map<string, { at: number; outcome: Outcome }>();

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<IncomingMessage>();
    const key = decodeURIComponent((req.url ?? '').split('?')[0].split('/').pop() ?? '');
    const done = (outcome: Outcome) => {
      this.settled.set(key, { at: performance.now(), outcome });
      this.emit('settled', key);
    };
    return next.handle().pipe(
      tap({
        next: (value) => done({ ok: true, sha256: String((value as { sha256?: unknown }).sha256) }),
        error: (err: unknown) =>
          done({
            ok: false,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
            typed: err instanceof CredentialsError || err instanceof HttpException,
          }),
      }),
    );
  }

  /** Resolves when the handler of `key` has settled; `undefined` after `timeoutMs`. */
  until(key: string, timeoutMs: number): Promise<{ at: number; outcome: Outcome } | undefined> {
    const now = this.settled.get(key);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('settled', check);
        resolve(undefined);
      }, timeoutMs);
      const check = (settledKey: string) => {
        if (settledKey !== key) return;
        clearTimeout(timer);
        this.off('settled', check);
        resolve(this.settled.get(key));
      };
      this.on('settled', check);
    });
  }
}

export interface Rig {
  backend: MatrixBackend;
  credentials: Credentials;
  app: RunningApp;
  port: number;
  bucket: string;
  spoolDir: string;
  /** The filesystem backend's root (its bucket is a directory in it). */
  projectsDir?: string;
  /** Between an S3 backend and its server. */
  proxy?: FaultProxy;
  handlers: HandlerLog;
  close(): Promise<void>;
}

export interface RigOptions {
  backend: MatrixBackend;
  bucket: string;
  spoolDir: string;
  /** S3 backends talk to the server through it. */
  proxy?: FaultProxy;
  projectsDir?: string;
}

/** The module of `backend` with the controller mounted (no guard), listening on 127.0.0.1. */
export async function startRig(options: RigOptions): Promise<Rig> {
  const { backend, bucket, spoolDir, proxy, projectsDir } = options;
  const env =
    backend === 'filesystem'
      ? {
          CREDENTIALS: 'filesystem',
          BUCKET_NAME_PROJECTS: bucket,
          REGISTRY_HOST: AUTH_REGISTRY.host,
          PROJECTS_DIR: projectsDir ?? '',
        }
      : storageEnv(backend, bucket, undefined, proxy?.url);

  @Module({
    imports: [
      configFromEnv(env),
      CredentialsModule.forRoot({
        backends: { filesystem: FilesystemCredentials },
        controller: { allowAnonymous: true },
        spoolDir,
        ...MATRIX_SETTINGS,
      }),
    ],
  })
  class MatrixApp {}

  const moduleRef = await Test.createTestingModule({ imports: [MatrixApp] }).compile();
  const handlers = new HandlerLog();
  const nest = moduleRef.createNestApplication({ logger: false });
  nest.useGlobalInterceptors(handlers);
  const app = await listen(nest);
  return {
    backend,
    credentials: moduleRef.get<Credentials>(CREDENTIALS_PROVIDER),
    app,
    port: Number(new URL(app.url).port),
    bucket,
    spoolDir,
    projectsDir,
    proxy,
    handlers,
    close: () => app.close(),
  };
}

/** The bytes at `key`, read behind the module's back, or `undefined` when there is none. */
export async function storedBytes(rig: Rig, key: string): Promise<Buffer | undefined> {
  if (rig.backend !== 'filesystem') return readObject(rig.bucket, key);
  return readFile(path.join(rig.projectsDir!, rig.bucket, key)).catch(() => undefined);
}

/**
 * Uploads the backend did not finish: multipart uploads of the S3 server (aborted afterwards,
 * so the next cell starts clean), or temporary files of the filesystem store.
 */
export async function incompleteUploads(rig: Rig): Promise<string[]> {
  if (rig.backend === 'filesystem') {
    const temps = await readdir(path.join(rig.projectsDir!, rig.bucket, '.tmp')).catch(() => []);
    return temps;
  }
  const uploads = await listIncompleteUploads(rig.bucket);
  for (const upload of uploads) {
    await s3.send(
      new AbortMultipartUploadCommand({
        Bucket: rig.bucket,
        Key: upload.Key,
        UploadId: upload.UploadId,
      }),
    );
  }
  return uploads.map((upload) => `${upload.Key}`);
}

export const spoolFiles = (dir: string): Promise<string[]> => readdir(dir).catch(() => []);

/** Resolves once a spool file in `dir` holds at least `bytes`; rejects after `timeoutMs`. */
export async function untilSpooled(dir: string, bytes: number, timeoutMs = 10_000): Promise<void> {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    for (const name of await spoolFiles(dir)) {
      const size = await stat(path.join(dir, name)).then(
        (s) => s.size,
        () => 0,
      );
      if (size >= bytes) return;
    }
    if (performance.now() > giveUpAt) {
      throw new Error(`no spool file of ${bytes} bytes in ${dir} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Resolves once the upload under way on `rig` has written `bytes` to its backend: sent through
 * the proxy (since its last `resetStats()`), or in a temporary file of the filesystem store.
 * Resolves `false` instead when `settled` comes first (the upload ended before that point).
 */
export async function untilWritten(
  rig: Rig,
  bytes: number,
  settled: Promise<unknown>,
  timeoutMs = 10_000,
): Promise<boolean> {
  let done = false;
  const ended = settled.then(() => {
    done = true;
    return false;
  });
  const written = (async () => {
    const giveUpAt = performance.now() + timeoutMs;
    const tempDir = path.join(rig.projectsDir ?? '', rig.bucket, '.tmp');
    while (!done && performance.now() < giveUpAt) {
      if (rig.proxy) {
        if (rig.proxy.stats.bytesUp >= bytes) return true;
      } else {
        for (const name of await spoolFiles(tempDir)) {
          const size = await stat(path.join(tempDir, name)).then(
            (s) => s.size,
            () => 0,
          );
          if (size >= bytes) return true;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return false;
  })();
  return Promise.race([written, ended]);
}

/** Polls `condition` every 20 ms; the milliseconds it took, or `undefined` after `timeoutMs`. */
export async function msUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<number | undefined> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Where a body stops, as a client that goes away would stop it (`undefined`: it does not). */
export interface Cut {
  atBytes: number;
}

export const goneError = () => new Error('the client went away');

/** A generic Readable of `data` in 1 MiB chunks that fails at `cut` (when given). */
export function readableBody(data: Buffer, cut?: Cut, onBytes?: (n: number) => void): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (cut && offset >= cut.atBytes) {
        this.destroy(goneError());
        return;
      }
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(data.length, offset + MiB, cut ? Math.max(cut.atBytes, 1) : Infinity);
      const chunk = data.subarray(offset, end);
      offset = end;
      this.push(chunk);
      onBytes?.(offset);
    },
  });
}

/**
 * An `fs` read stream of `data` (written to a file of its own) that is destroyed once it has
 * read `cut.atBytes`, as a file on a failing disk or network share would end.
 */
export async function fileBody(data: Buffer, cut?: Cut): Promise<ReadStream> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nct-matrix-src-'));
  const file = path.join(dir, 'project.zip');
  await writeFile(file, data);
  const stream = createReadStream(file, { highWaterMark: MiB });
  stream.once('close', () => void rm(dir, { recursive: true, force: true }));
  if (cut?.atBytes === 0) {
    stream.destroy(goneError());
  } else if (cut) {
    const timer = setInterval(() => {
      if (stream.destroyed) {
        clearInterval(timer);
      } else if (stream.bytesRead >= cut.atBytes) {
        clearInterval(timer);
        stream.destroy(goneError());
      }
    }, 2);
  }
  return stream;
}

/**
 * The HTTP request of an HTTP body: method, path, headers, the bytes it carries, where the ZIP
 * starts in them (`fileOffset`), and how many come before the file part (`beforeFile`: a text
 * field for the form, nothing for PUT).
 */
export function httpRequestOf(
  body: BodyKind,
  key: string,
  data: Buffer,
): {
  method: string;
  path: string;
  headers: [string, string][];
  bytes: Buffer;
  fileOffset: number;
  beforeFile: number;
} {
  const pathname = `/projects/${encodeURIComponent(key)}`;
  if (body === 'HTTP PUT') {
    return {
      method: 'PUT',
      path: pathname,
      headers: [['Content-Type', 'application/zip']],
      bytes: data,
      fileOffset: 0,
      beforeFile: 0,
    };
  }
  const form = multipartBody('project_zip', data, { note: 'matrix' });
  const fileHeader = form.body.indexOf('name="project_zip"');
  return {
    method: 'POST',
    path: pathname,
    headers: [['Content-Type', form.contentType]],
    bytes: form.body,
    fileOffset: form.body.indexOf('\r\n\r\n', fileHeader) + 4,
    beforeFile: form.body.lastIndexOf('\r\n--', fileHeader) + 2,
  };
}

/** The outcome of an HTTP answer: 2xx with the stored SHA-256, or a typed JSON error. */
export function outcomeOfAnswer(status: number, body: Buffer): Outcome {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    // not JSON: untyped
  }
  if (status >= 200 && status < 300) return { ok: true, sha256: String(json.sha256) };
  return {
    ok: false,
    error: `${status} ${String(json.code ?? '')} ${String(json.message ?? '')}`.trim(),
    typed: status >= 400 && typeof json.code === 'string',
  };
}

/** Sends a whole HTTP body and reads the answer (a closed connection is an untyped failure). */
export async function sendHttp(
  rig: Rig,
  body: BodyKind,
  key: string,
  data: Buffer,
  timeoutMs: number,
): Promise<Outcome> {
  const request = httpRequestOf(body, key, data);
  const answer = await rawHttp(
    rig.port,
    { method: request.method, path: request.path, headers: request.headers, body: request.bytes },
    timeoutMs,
  );
  if (answer.status === 0) return { ok: false, error: 'no answer', typed: false };
  return outcomeOfAnswer(answer.status, answer.body);
}
