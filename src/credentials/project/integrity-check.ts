import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { IntegrityError, StorageUnavailableError } from '../errors.js';

export interface ExpectedContent {
  bucket: string;
  key: string;
  /** Content-Length announced by the server, when known. */
  size?: number;
  /** SHA-256 recorded at upload, when the object carries one. */
  sha256?: string;
}

/**
 * Wraps a downloaded body so that it fails with `IntegrityError` when its bytes differ from the
 * recorded SHA-256 or announced size, and fails with `mapError(err)` when the body itself does.
 * Destroying the returned stream destroys the body, which frees its connection or file handle.
 *
 * With `idleTimeoutMs`, a download that moves no byte for that long (its reader stopped
 * reading, or the store stopped sending) is destroyed with `StorageUnavailableError`, so a
 * client that walks away without closing cannot hold a handle forever.
 */
export function verifiedDownload(
  body: Readable,
  expected: ExpectedContent,
  mapError: (err: unknown) => Error,
  idleTimeoutMs?: number,
  /** Told the bytes of each chunk handed on to the reader (a download's progress). */
  delivered: (bytes: number) => void = () => undefined,
): Readable {
  const hash = expected.sha256 ? createHash('sha256') : undefined;
  const where = `project "${expected.key}" in bucket "${expected.bucket}"`;
  let size = 0;
  let idle: NodeJS.Timeout | undefined;
  const stillReading = () => {
    if (idleTimeoutMs === undefined) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      verifier.destroy(
        new StorageUnavailableError(
          `The download of ${where} moved no byte for ${idleTimeoutMs} ms ` +
            '(requestTimeoutMs): it was stopped and its resources released',
        ),
      );
    }, idleTimeoutMs);
    idle.unref();
  };
  const verifier = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      stillReading();
      size += chunk.length;
      if (expected.size !== undefined && size > expected.size) {
        // More bytes than announced: no need to read the rest to know.
        callback(new IntegrityError(`Read more than the ${expected.size} bytes of ${where}`));
        return;
      }
      hash?.update(chunk);
      callback(null, chunk);
      delivered(chunk.length);
    },
    flush(callback) {
      if (expected.size !== undefined && size !== expected.size) {
        callback(new IntegrityError(`Read ${size} of ${expected.size} bytes of ${where}`));
        return;
      }
      const actual = hash?.digest('hex');
      if (expected.sha256 && actual !== expected.sha256.toLowerCase()) {
        callback(
          new IntegrityError(
            `The bytes of ${where} do not match the SHA-256 recorded at upload ` +
              `(expected ${expected.sha256}, got ${actual})`,
          ),
        );
        return;
      }
      callback();
    },
  });
  body.on('error', (err) => verifier.destroy(mapError(err)));
  verifier.on('close', () => {
    clearTimeout(idle);
    if (!body.destroyed) body.destroy();
  });
  stillReading();
  body.pipe(verifier);
  return verifier;
}
