import { HttpException } from '@nestjs/common';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsError,
  IntegrityError,
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from '../errors.js';
import { RETRY_AFTER_SECONDS } from './credentials-http.constants.js';
import { declaredLength } from './upload-body.js';

/** The JSON body of every error the controller answers. */
export interface HttpErrorBody {
  statusCode: number;
  /** The status text: `Not Found`. */
  error: string;
  /** A stable code to branch on: the `CredentialsError` code, else derived from the status. */
  code: string;
  /** For `INVALID_PROJECT`: why the project was refused (`name`, `not-zip`, `too-large`...). */
  reason?: string;
  message: string;
}

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: HttpErrorBody;
}

/**
 * How much of a refused request's body is read (and thrown away) before the answer, and for how
 * long. An answer sent while the client is still writing is often lost: the connection closes
 * under the client (EPIPE, ECONNRESET) before it reads the answer. A larger or slower rest is
 * not worth the bandwidth: the answer then goes out at once and the connection is closed.
 */
export const REFUSED_BODY_DISCARD_LIMIT = 16 * 1024 * 1024;
export const REFUSED_BODY_DISCARD_MS = 10_000;

function statusOf(err: CredentialsError): number {
  if (err instanceof InvalidProjectError) return err.reason === 'too-large' ? 413 : 400;
  if (err instanceof ProjectNotFoundError || err instanceof BucketNotFoundError) return 404;
  // The caller is authenticated; it is the server's own storage or registry credentials that
  // were refused. 403 keeps 401 for "your API token is wrong", and it is not worth retrying.
  if (err instanceof AccessDeniedError || err instanceof RegistryAuthError) return 403;
  if (err instanceof StorageUnavailableError) return 503;
  // Bytes that differ from the client's own digest are the client's fault; any other integrity
  // failure means the stored bytes are not the ones uploaded: a fault of the upstream store.
  if (err instanceof IntegrityError) return err.reason === 'supplied-digest' ? 400 : 502;
  if (err instanceof NotSupportedError) return 501;
  return 500;
}

function codeOfStatus(status: number): string {
  return (STATUS_CODES[status] ?? 'Error').toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

function messageOf(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  return exception.message;
}

/**
 * The one place that turns an error into the controller's answer. `CredentialsError` messages
 * carry no secret (a contract of the error vocabulary), so 4xx answers show them; anything
 * unexpected becomes a 500 without details, since its message could hold anything.
 */
export function toHttpError(err: unknown): HttpError {
  let status: number;
  let code: string;
  let message: string;
  let reason: string | undefined;
  if (err instanceof HttpException) {
    status = err.getStatus();
    code = codeOfStatus(status);
    message = messageOf(err);
  } else if (err instanceof CredentialsError) {
    status = statusOf(err);
    code = err.code;
    message = status === 500 ? 'Internal server error' : err.message;
    if (err instanceof InvalidProjectError) reason = err.reason;
  } else {
    status = 500;
    code = codeOfStatus(500);
    message = 'Internal server error';
  }
  const headers: Record<string, string> = {};
  if (status === 503) headers['Retry-After'] = String(RETRY_AFTER_SECONDS);
  const body: HttpErrorBody = {
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    code,
    ...(reason === undefined ? {} : { reason }),
    message,
  };
  return { status, headers, body };
}

/**
 * Reads the rest of a request body and throws it away. Resolves `true` once it has ended, or
 * `false` when it is larger than `REFUSED_BODY_DISCARD_LIMIT`, slower than
 * `REFUSED_BODY_DISCARD_MS`, or the client went away. The body may be half-read already: piped
 * into a stream that failed, then unpiped.
 */
function discardBody(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    let discarded = 0;
    const done = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (!ended) req.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > REFUSED_BODY_DISCARD_LIMIT) done(false);
    };
    const onEnd = () => done(true);
    const onClose = () => done(req.complete);
    const timer = setTimeout(() => done(false), REFUSED_BODY_DISCARD_MS);
    // The client may hang up meanwhile: nothing to do then but not crash.
    req.on('error', () => undefined);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.unpipe();
    req.resume();
  });
}

function writeHttpError(res: ServerResponse, error: HttpError, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const json = JSON.stringify(error.body);
  res.statusCode = error.status;
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  // The unread rest of the body cannot be told from a next request: end the connection.
  if (close) res.setHeader('Connection', 'close');
  res.end(json);
}

/**
 * Sends `error` as JSON, or, when the answer has already started (a download that failed
 * mid-way), destroys the connection: a truncated body must never look like a complete one.
 * A request body not read to its end is first discarded, within limits (see
 * `REFUSED_BODY_DISCARD_LIMIT`).
 */
export function sendHttpError(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (req.complete || req.destroyed) {
    writeHttpError(res, error, !req.complete);
    return;
  }
  const length = declaredLength(req);
  // A 408 went to a client that stopped sending: waiting for the rest would only hold it longer.
  if (error.status === 408 || (length !== undefined && length > REFUSED_BODY_DISCARD_LIMIT)) {
    writeHttpError(res, error, true);
    return;
  }
  void discardBody(req).then((ended) => writeHttpError(res, error, !ended));
}
