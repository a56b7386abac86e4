import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';

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
 * Destroying the returned stream destroys the body, which frees its connection.
 */
export function verifiedDownload(
  body: Readable,
  expected: ExpectedContent,
  mapError: (err: unknown) => Error,
): Readable {
  const hash = expected.sha256 ? createHash('sha256') : undefined;
  let size = 0;
  const verifier = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      hash?.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const where = `project "${expected.key}" in bucket "${expected.bucket}"`;
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
    if (!body.destroyed) body.destroy();
  });
  body.pipe(verifier);
  return verifier;
}
