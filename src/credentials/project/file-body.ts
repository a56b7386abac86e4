import { createHash } from 'node:crypto';
import fs, { constants as fsConstants, ReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { PartSource } from '../store/object-store.js';
import { IntegrityError } from '../errors.js';

/**
 * An `fs` read stream of a whole regular file (what disk-backed upload middleware hands an
 * app), uploaded from the file itself instead of a spool copy: hashed with one sequential read,
 * then its parts read by position. The file must not change in between: its size, mtime and
 * inode are checked once every part has been read, before the upload is completed
 * (`assertUnchanged`), and a part that ends early fails too; either is an `IntegrityError` and
 * nothing is stored. `discard()` closes the file.
 */
export interface FileBody extends PartSource {
  kind: 'file';
  /** Throws `IntegrityError` when the file changed since it was hashed. */
  assertUnchanged(): Promise<void>;
  /** Closes the file; safe to call more than once. */
  discard(): Promise<void>;
}

/** Bytes per read while hashing (two buffers: the next read overlaps the hashing of this one). */
const HASH_CHUNK = 2 * 1024 * 1024;
/** Bytes per chunk of `stream()` (stores that write a stream). */
const STREAM_CHUNK = 1024 * 1024;

/** Node's own `fs` behind a ReadStream (a stream built with a custom `fs` option reads elsewhere). */
function readsWithNodeFs(stream: ReadStream): boolean {
  const kFs = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kFs');
  return kFs !== undefined && (stream as unknown as Record<symbol, unknown>)[kFs] === fs;
}

/**
 * The path of `body` when it is an `fs.ReadStream` of a whole file that nothing has read from
 * yet (no start/end, no encoding, no custom `fs`); `undefined` for any other stream.
 */
export function wholeFileStreamPath(body: Readable): string | undefined {
  if (!(body instanceof ReadStream) || !readsWithNodeFs(body)) return undefined;
  const stream = body as ReadStream & { start?: number; end?: number };
  const untouched =
    stream.start === undefined &&
    (stream.end === undefined || stream.end === Infinity) &&
    stream.bytesRead === 0 &&
    !stream.readableDidRead &&
    stream.readableLength === 0 &&
    stream.readableEncoding === null &&
    !stream.destroyed &&
    !stream.readableEnded;
  return untouched && typeof stream.path === 'string' ? stream.path : undefined;
}

function changed(what: string): IntegrityError {
  return new IntegrityError(
    `The project file changed while it was uploaded (${what}): nothing was stored`,
  );
}

interface Identity {
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

const identityOf = async (handle: FileHandle): Promise<Identity & { isFile: boolean }> => {
  const stats = await handle.stat({ bigint: true });
  const { size, mtimeNs, ino, dev } = stats;
  return { size, mtimeNs, ino, dev, isFile: stats.isFile() };
};

/**
 * Opens `file` as a `FileBody` when it is a regular file (the same one `stream` has open, when
 * it has one) larger than `minSize`; `undefined` otherwise (the caller keeps its other path).
 * `check(size, head)` is given the size and the first bytes before anything is hashed and
 * throws to refuse the body. `stopped()` is polled while hashing: true ends it.
 */
export async function openFileBody(
  file: string,
  stream: Readable,
  minSize: number,
  check: (size: number, head: Buffer) => void,
  stopped: () => boolean,
): Promise<FileBody | undefined> {
  let handle: FileHandle;
  try {
    // Non-blocking, so that a FIFO put at the path does not wait for a writer.
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  let body: FileBody | undefined;
  try {
    const identity = await identityOf(handle);
    if (!identity.isFile || identity.size <= BigInt(minSize)) return undefined;
    const { fd } = stream as { fd?: unknown };
    if (typeof fd === 'number') {
      const theirs = fs.fstatSync(fd, { bigint: true });
      if (theirs.ino !== identity.ino || theirs.dev !== identity.dev) return undefined;
    }
    const size = Number(identity.size);
    const head = Buffer.alloc(Math.min(size, 4));
    await handle.read(head, 0, head.length, 0);
    check(size, head);
    const sha256 = await hashFile(handle, size, stopped);
    body = fileBody(handle, identity, sha256);
    return body;
  } finally {
    if (!body) await handle.close().catch(() => undefined);
  }
}

/** SHA-256 of the first `size` bytes, read in order; the next read overlaps the hashing. */
async function hashFile(handle: FileHandle, size: number, stopped: () => boolean): Promise<string> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafeSlow(HASH_CHUNK), Buffer.allocUnsafeSlow(HASH_CHUNK)];
  const readAt = (position: number, which: number) =>
    handle.read(buffers[which], 0, Math.min(HASH_CHUNK, size - position), position);
  let position = 0;
  let which = 0;
  let pending = readAt(0, 0);
  while (position < size) {
    const { bytesRead } = await pending;
    if (bytesRead === 0) throw changed(`it ended at ${position} of ${size} bytes`);
    if (stopped()) throw new Error('the upload was stopped');
    const chunk = buffers[which].subarray(0, bytesRead);
    position += bytesRead;
    which ^= 1;
    if (position < size) pending = readAt(position, which);
    hash.update(chunk);
  }
  return hash.digest('hex');
}

function fileBody(handle: FileHandle, identity: Identity, sha256: string): FileBody {
  const size = Number(identity.size);
  let closed: Promise<void> | undefined;
  const readInto = async (into: Buffer, length: number, position: number) => {
    if (closed) throw new Error('the project file was closed');
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(into, filled, length - filled, position + filled);
      if (bytesRead === 0) throw changed(`it ended at ${position + filled} of ${size} bytes`);
      filled += bytesRead;
    }
  };
  const assertUnchanged = async () => {
    const now = await identityOf(handle);
    if (now.size !== identity.size) throw changed(`its size is now ${now.size} bytes`);
    if (now.mtimeNs !== identity.mtimeNs || now.ino !== identity.ino || now.dev !== identity.dev) {
      throw changed('it was written to');
    }
  };
  async function* chunks() {
    for (let position = 0; position < size; position += STREAM_CHUNK) {
      const chunk = Buffer.allocUnsafe(Math.min(STREAM_CHUNK, size - position));
      await readInto(chunk, chunk.length, position);
      yield chunk;
    }
    await assertUnchanged();
  }
  return {
    kind: 'file',
    size,
    sha256,
    readInto,
    assertUnchanged,
    stream: () => Readable.from(chunks(), { objectMode: false }),
    discard() {
      closed ??= handle.close().catch(() => undefined);
      return closed;
    },
  };
}
