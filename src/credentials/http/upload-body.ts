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

/**
 * Pipes `source` (the request, or the file of a multipart form) into a new `ProjectSizeLimit`.
 * `pipe` alone does not forward errors: a client that hangs up, or a source closed before its
 * end, fails the limit stream too, so the backend never waits for bytes that will not come.
 */
export function limitedBody(source: Readable, maxProjectSize: number): ProjectSizeLimit {
  const limit = new ProjectSizeLimit(maxProjectSize);
  if (source.destroyed) {
    limit.destroy(source.errored ?? new Error('The request ended before its body did'));
    return limit;
  }
  source.once('error', (err) => limit.destroy(err));
  source.once('close', () => {
    if (!source.readableEnded) limit.destroy(new Error('The request ended before its body did'));
  });
  source.pipe(limit);
  return limit;
}
