import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsError,
  type ErrorSummary,
  IntegrityError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../errors.js';

/** The server refused a body whose bytes do not match the checksum it was sent with. */
const DIGEST_MISMATCH = new Set(['BadDigest', 'XAmzContentSHA256Mismatch']);

export interface StorageCall {
  /** What was being done, for the message: `upload of "x"`. */
  operation: string;
  bucket: string;
  /** The object key; absent for bucket-level calls, where a 404 means the bucket. */
  key?: string;
}

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'CredentialsProviderError',
]);

interface ClientErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  statusCode?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown };
}

/** Names and status of a client error: what may be kept and shown. Never headers or bodies. */
export function summarizeError(err: unknown): ErrorSummary {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const e = err as ClientErrorShape;
  const status = [e.$metadata?.httpStatusCode, e.$response?.statusCode, e.statusCode].find(
    (value): value is number => typeof value === 'number',
  );
  const code = [e.code, e.Code].find((value): value is string => typeof value === 'string');
  return {
    name: typeof e.name === 'string' ? e.name : undefined,
    code,
    status,
  };
}

/**
 * The one place where S3 and MinIO client errors become the contract's typed errors. Both
 * families are handled: GET-style codes (`NoSuchKey`, `NoSuchBucket`, `SignatureDoesNotMatch`)
 * and HEAD-style names and statuses (`NotFound`, `Forbidden`, 404, 403), plus network errors.
 */
export function toStorageError(err: unknown, call: StorageCall): CredentialsError {
  if (err instanceof CredentialsError) return err;
  const summary = summarizeError(err);
  const codes = [summary.code, summary.name].filter((c): c is string => Boolean(c));
  const has = (c: string) => codes.includes(c);
  const where =
    call.key === undefined ? `bucket "${call.bucket}"` : `"${call.key}" in bucket "${call.bucket}"`;

  if (has('NoSuchKey')) return new ProjectNotFoundError(call.bucket, call.key ?? '', summary);
  if (codes.some((c) => DIGEST_MISMATCH.has(c))) {
    return new IntegrityError(
      `The storage server refused the bytes sent during ${call.operation} of ${where}: they do not match their checksum (changed in transit)`,
      summary,
    );
  }
  if (has('NoSuchBucket')) return new BucketNotFoundError(call.bucket, summary);
  if (codes.some((c) => ACCESS_DENIED.has(c)) || summary.status === 401 || summary.status === 403) {
    return new AccessDeniedError(
      `Access denied to ${where} during ${call.operation} (${codes[0] ?? summary.status}): check the storage keys`,
      summary,
    );
  }
  if (has('NotFound') || summary.status === 404) {
    return call.key === undefined
      ? new BucketNotFoundError(call.bucket, summary)
      : new ProjectNotFoundError(call.bucket, call.key, summary);
  }
  const reason = [codes[0], summary.status].filter((x) => x !== undefined).join(' ') || 'error';
  return new StorageUnavailableError(
    `Storage failed during ${call.operation} of ${where} (${reason})`,
    summary,
  );
}

/** A deadline passed: the same typed error whatever the client. */
export function deadlineExceeded(call: StorageCall, ms: number): StorageUnavailableError {
  const where =
    call.key === undefined ? `bucket "${call.bucket}"` : `"${call.key}" in bucket "${call.bucket}"`;
  return new StorageUnavailableError(
    `Storage did not finish ${call.operation} of ${where} within ${ms} ms`,
    { name: 'TimeoutError' },
  );
}

/**
 * The error of an upload that failed under `signal` (its deadline or a shutdown): the deadline
 * when the signal fired, whatever the client made of its abort; otherwise the mapped error.
 */
export function uploadFailure(
  err: unknown,
  call: StorageCall,
  signal: AbortSignal,
  uploadTimeoutMs: number,
): CredentialsError {
  return signal.aborted ? deadlineExceeded(call, uploadTimeoutMs) : toStorageError(err, call);
}

/**
 * Whether a request failed without the server's answer (a deadline, an abort, a lost
 * connection), so that it may have taken effect on the server all the same. An error the server
 * answered (a status or an S3 error code) means it did not.
 */
export function answerMissed(err: unknown): boolean {
  if (err instanceof CredentialsError && !(err instanceof StorageUnavailableError)) return false;
  const { status, code } =
    err instanceof CredentialsError ? ((err.cause ?? {}) as ErrorSummary) : summarizeError(err);
  // S3 error codes are CamelCase (`InternalError`); Node's are not (`ECONNRESET`, `ABORT_ERR`).
  return status === undefined && (code === undefined || /^[A-Z0-9_]+$/.test(code));
}
