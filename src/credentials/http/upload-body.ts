import type { IncomingMessage } from 'node:http';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { InvalidProjectError } from '../errors.js';

/** The Content-Length of a request, when it announces one (and is not chunked). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || header === undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

export function projectTooLarge(maxProjectSize: number): InvalidProjectError {
  return new InvalidProjectError(
    `The project is larger than the maximum of ${maxProjectSize} bytes`,
    'too-large',
  );
}

/**
 * The body handed to `uploadProject`: the request's bytes, counted, failing with
 * `InvalidProjectError` ('too-large') as soon as they pass the maximum, whatever the backend
 * does (a custom backend may not check sizes). It also stands between the request and the
 * backend: a backend that destroys its input destroys this stream, not the socket, so the
 * client can still be answered.
 */
export class ProjectSizeLimit extends Transform {
  /** Set once the body went past the maximum; the backend may report it otherwise. */
  exceeded = false;
  #received = 0;

  constructor(private readonly maxProjectSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#received > this.maxProjectSize) {
      this.exceeded = true;
      callback(projectTooLarge(this.maxProjectSize));
      return;
    }
    callback(null, chunk);
  }
}

/** Why an upload stopped when its client went away (nobody hears it: for logs and backends). */
const CLIENT_GONE = 'The client closed the connection before the upload ended';

/** What a handler answers when its client went away before the body arrived (nobody hears it). */
export function clientGoneError(): InvalidProjectError {
  return new InvalidProjectError(
    `The project body could not be read: ${CLIENT_GONE}`,
    'unreadable',
  );
}

/**
 * The one place that notices a client going away during an upload, for PUT and POST alike: the
 * signal aborts when the connection closes before the request's body has arrived whole, or
 * before its answer is sent (a closed tab, a dropped network). `release()` stops listening once
 * the handler has settled (a kept-alive connection outlives its requests).
 */
export function whenClientGone(req: IncomingMessage): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const { socket } = req;
  const gone = () => controller.abort(new Error(CLIENT_GONE));
  const requestClosed = () => {
    if (!req.complete) gone();
  };
  if (socket.destroyed || (req.destroyed && !req.complete)) {
    gone();
    return { signal: controller.signal, release: () => undefined };
  }
  req.once('close', requestClosed);
  socket.once('close', gone);
  return {
    signal: controller.signal,
    release() {
      req.off('close', requestClosed);
      socket.off('close', gone);
    },
  };
}

/**
 * Pipes `source` (the request, or the file of a multipart form) into a new `ProjectSizeLimit`.
 * `pipe` alone does not forward errors: a source that fails or closes before its end, or a
 * client that goes away (`clientGone`), fails the limit stream too, so the backend stops reading
 * (and removes its spool file, aborts its upload) instead of waiting for bytes that will not come.
 */
export function limitedBody(
  source: Readable,
  maxProjectSize: number,
  clientGone: AbortSignal,
): ProjectSizeLimit {
  const limit = new ProjectSizeLimit(maxProjectSize);
  if (source.destroyed || clientGone.aborted) {
    limit.destroy(source.errored ?? new Error(CLIENT_GONE));
    return limit;
  }
  const stop = () => limit.destroy(clientGone.reason as Error);
  clientGone.addEventListener('abort', stop, { once: true });
  limit.once('close', () => clientGone.removeEventListener('abort', stop));
  source.once('error', (err) => limit.destroy(err));
  source.once('close', () => {
    if (!source.readableEnded) limit.destroy(new Error('The request ended before its body did'));
  });
  source.pipe(limit);
  return limit;
}
