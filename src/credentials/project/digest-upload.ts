import { Readable } from 'node:stream';
import { IntegrityError, InvalidProjectError } from '../errors.js';
import type { PartSource } from '../store/object-store.js';
import type { ChunkSource } from './spool-file.js';
import { sha256Worker } from '../util/sha256-worker.js';

/** A SHA-256 as `UploadOptions.sha256` takes it: 64 lower-case hex digits. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Refuses a supplied digest of the wrong form, before anything is read or written. */
export function assertSha256(sha256: unknown): asserts sha256 is string | undefined {
  if (sha256 === undefined) return;
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
    throw new InvalidProjectError(
      'The sha256 option must be the SHA-256 of the project as 64 lower-case hex digits',
      'argument',
    );
  }
}

/**
 * The one check of a digest the caller supplied: throws an `IntegrityError` (reason
 * `supplied-digest`) when `supplied` is given and is not `actual`, the SHA-256 of the bytes read.
 */
export function assertSuppliedDigest(supplied: string | undefined, actual: string): void {
  if (supplied === undefined || actual === supplied) return;
  throw new IntegrityError(
    `The project's bytes do not match the SHA-256 supplied with it ` +
      `(expected ${supplied}, got ${actual}): nothing was stored`,
    undefined,
    'supplied-digest',
  );
}

/**
 * A stream longer than one part whose SHA-256 the caller supplied: sent as it arrives, with no
 * spool file. The store takes it part by part (`readPart`, in order, each into a buffer of its
 * own, one part read ahead: memory stays at partSize x (partConcurrency + 1)), counting on the
 * way and hashing each part as it is filled (in the SHA-256 worker when the part buffers are
 * shared memory, while the next part is read), and asks `verify()` before completing: a digest that does not match is an
 * `IntegrityError`, and the upload is aborted. `discard()` stops the caller's stream when the
 * upload ended early.
 */
export interface StreamedBody extends PartSource {
  kind: 'streamed';
  readPart(into: Buffer): Promise<number>;
  verify(): Promise<void>;
  discard(): Promise<void>;
}

export function streamedWithDigest(
  head: readonly Buffer[],
  source: ChunkSource,
  sha256: string,
  maxProjectSize: number,
  errors: { tooLarge(): InvalidProjectError; unreadable(err: unknown): InvalidProjectError },
): StreamedBody {
  const hash = sha256Worker.running();
  /** The worker's read of each part buffer: a buffer is refilled once the worker has hashed it. */
  const hashing = new WeakMap<ArrayBufferLike, Promise<void>>();
  const unread = [...head];
  let size = 0;
  let ended = false;
  let actual: string | undefined;
  /** The rest of a chunk that did not fit in the last part (already counted). */
  let leftover: Buffer | undefined;
  let failure: { error: unknown } | undefined;

  const nextChunk = async (): Promise<Buffer | undefined> => {
    if (leftover) {
      const chunk = leftover;
      leftover = undefined;
      return chunk;
    }
    let chunk = unread.shift();
    if (chunk === undefined) {
      if (ended) return undefined;
      const next = await source.next().catch((err: unknown) => {
        throw errors.unreadable(err);
      });
      if (next.done) {
        ended = true;
        return undefined;
      }
      chunk = next.value;
    }
    size += chunk.length;
    if (size > maxProjectSize) throw errors.tooLarge();
    return chunk;
  };

  const fill = async (into: Buffer): Promise<number> => {
    if (failure) throw failure.error;
    let filled = 0;
    try {
      await hashing.get(into.buffer);
      while (filled < into.length) {
        const chunk = await nextChunk();
        if (chunk === undefined) break;
        const taken = Math.min(chunk.length, into.length - filled);
        chunk.copy(into, filled, 0, taken);
        filled += taken;
        if (taken < chunk.length) leftover = chunk.subarray(taken);
      }
      if (filled > 0) hashing.set(into.buffer, hash.update(into.subarray(0, filled)));
    } catch (error) {
      failure = { error };
      throw error;
    }
    return filled;
  };

  // Reads are served one after the other, in the order they were asked for.
  let queue: Promise<unknown> = Promise.resolve();
  const verify = async () => {
    if (!ended || leftover) throw new Error('the project was not read to its end');
    actual ??= await hash.digest();
    assertSuppliedDigest(sha256, actual);
  };

  return {
    kind: 'streamed',
    sha256,
    get size() {
      return size;
    },
    readPart(into) {
      const read = queue.then(() => fill(into));
      queue = read.catch(() => undefined);
      return read;
    },
    async readInto() {
      throw new Error('a streamed project is read front to back (readPart)');
    },
    verify,
    stream: () =>
      Readable.from(
        (async function* () {
          for (let chunk = await nextChunk(); chunk; chunk = await nextChunk()) {
            await hash.update(chunk);
            yield chunk;
          }
          await verify();
        })(),
        { objectMode: false },
      ),
    async discard() {
      if (!ended) source.stop();
      if (actual === undefined) hash.dispose();
    },
  };
}
