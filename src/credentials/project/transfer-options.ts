import type { Readable } from 'node:stream';
import type { TransferOptions } from '../credentials.js';
import { type ErrorSummary, InvalidProjectError, StorageUnavailableError } from '../errors.js';
import type { StorageCall } from '../store/storage-errors.js';
import type { RedactingLogger } from '../util/redact.js';

/**
 * A transfer stopped by the caller's `signal`: the deadline's error class (the contract's
 * vocabulary has no other for "stopped before it ended"), saying who stopped it; `cause`
 * summarizes `signal.reason` (name and message), so a caller can tell its own abort apart.
 */
export function callerAborted(call: StorageCall, reason: unknown): StorageUnavailableError {
  const where = `"${call.key}" in bucket "${call.bucket}"`;
  const stored = call.operation === 'upload' ? ': nothing was stored' : '';
  return new StorageUnavailableError(
    `The ${call.operation} of ${where} was aborted by the caller (its signal)${stored}`,
    reasonSummary(reason),
  );
}

/** The name and message of an abort reason (the caller's own words, no client internals). */
function reasonSummary(reason: unknown): ErrorSummary {
  if (reason instanceof Error) return { name: reason.name, message: reason.message };
  return { name: 'AbortError', message: reason === undefined ? undefined : String(reason) };
}

/** Refuses options of the wrong type before anything is read or written. */
export function assertTransferOptions(options: TransferOptions): void {
  const { signal, onProgress } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidProjectError('The signal option must be an AbortSignal', 'argument');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidProjectError('The onProgress option must be a function', 'argument');
  }
}

/**
 * Counts a transfer's bytes and tells `onProgress` the running total (rising, its last value
 * the size). A callback that throws does not touch the transfer: its first error is logged and
 * later calls go on.
 */
export function progressCounter(
  onProgress: ((bytes: number) => void) | undefined,
  logger: RedactingLogger,
  what: string,
): (bytes: number) => void {
  if (!onProgress) return () => undefined;
  let total = 0;
  let warned = false;
  return (bytes) => {
    if (bytes <= 0) return;
    total += bytes;
    try {
      onProgress(total);
    } catch (err) {
      if (warned) return;
      warned = true;
      const name = err instanceof Error ? err.name : typeof err;
      logger.warn(
        `onProgress of ${what} threw (${name}); ` +
          'the transfer goes on, later errors of it are not logged',
      );
    }
  };
}

/**
 * Destroys `download` with `aborted()` when `signal` aborts before the stream is over: its
 * reader gets the error, and the stream's source (a connection, a file) is released.
 */
export function destroyOnAbort(
  download: Readable,
  signal: AbortSignal | undefined,
  aborted: () => Error,
): void {
  if (!signal) return;
  const stop = () => download.destroy(aborted());
  signal.addEventListener('abort', stop, { once: true });
  download.once('close', () => signal.removeEventListener('abort', stop));
}
