import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { type FileHandle, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ProjectBody } from '../credentials.js';
import type { PartSource } from '../store/object-store.js';
import { InvalidProjectError, StorageUnavailableError } from '../errors.js';
import { startsWithZipSignature, ZIP_SIGNATURE_LENGTH } from './zip-signature.js';

export interface BodyLimits {
  maxProjectSize: number;
  /** A stream that ends within this many bytes is kept in memory and sent in one request. */
  wholeBodyLimit: number;
  /** Where a longer stream is spooled (a directory on a disk, not a RAM-backed tmpfs). */
  spoolDir: string;
}

/** A body held in memory: its size and SHA-256 are known before anything is written. */
export interface WholeBody {
  kind: 'whole';
  data: Buffer;
  size: number;
  sha256: string;
}

/**
 * A body larger than one part, read once into a temporary file while it is hashed, counted and
 * held to the size limit, so that its SHA-256 is known before the upload starts and can be sent
 * with it (`x-amz-meta-sha256`). Stores read its parts by position; `discard()` removes the file.
 */
export interface SpooledBody extends PartSource {
  kind: 'spooled';
  /** Removes the temporary file; safe to call more than once. */
  discard(): Promise<void>;
}

export type PreparedBody = WholeBody | SpooledBody;

function tooLarge(limit: number): InvalidProjectError {
  return new InvalidProjectError(
    `The project is larger than the maximum of ${limit} bytes`,
    'too-large',
  );
}

function notZip(): InvalidProjectError {
  return new InvalidProjectError(
    'The project is not a ZIP archive (it must start with PK\\x03\\x04, or PK\\x05\\x06 when empty)',
    'not-zip',
  );
}

function unreadable(err: unknown): InvalidProjectError {
  const reason = err instanceof Error ? err.message : String(err);
  return new InvalidProjectError(`The project body could not be read: ${reason}`, 'unreadable');
}

function checkWhole(data: Buffer, limits: BodyLimits): WholeBody {
  if (data.length > limits.maxProjectSize) throw tooLarge(limits.maxProjectSize);
  if (!startsWithZipSignature(data)) throw notZip();
  return {
    kind: 'whole',
    data,
    size: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

function isReadable(body: unknown): body is Readable {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as Readable).pipe === 'function' &&
    typeof (body as Readable)[Symbol.asyncIterator] === 'function'
  );
}

const toBuffer = (chunk: unknown): Buffer =>
  Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array | string);

/**
 * Checks a project body before anything is written: the ZIP signature (from the first four
 * bytes), the size limit, and, for a stream, reads ahead one part to decide whether it fits in
 * a single request. Throws `InvalidProjectError`; a refused stream is destroyed.
 */
export async function prepareProjectBody(
  body: ProjectBody,
  limits: BodyLimits,
): Promise<PreparedBody> {
  if (Buffer.isBuffer(body)) return checkWhole(body, limits);
  if (body instanceof Uint8Array) {
    return checkWhole(Buffer.from(body.buffer, body.byteOffset, body.byteLength), limits);
  }
  if (!isReadable(body)) {
    throw new InvalidProjectError(
      'The project must be a Buffer, a Uint8Array or a Readable',
      'not-zip',
    );
  }

  const source = body[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  const release = () => void source.return?.().catch(() => undefined);
  const head: Buffer[] = [];
  let headSize = 0;
  let ended = false;
  let signatureChecked = false;
  try {
    while (headSize <= limits.wholeBodyLimit) {
      const next = await source.next();
      if (next.done) {
        ended = true;
        break;
      }
      const chunk = toBuffer(next.value);
      head.push(chunk);
      headSize += chunk.length;
      if (headSize > limits.maxProjectSize) throw tooLarge(limits.maxProjectSize);
      if (!signatureChecked && headSize >= ZIP_SIGNATURE_LENGTH) {
        if (!startsWithZipSignature(Buffer.concat(head))) throw notZip();
        signatureChecked = true;
      }
    }
  } catch (err) {
    release();
    throw err instanceof InvalidProjectError ? err : unreadable(err);
  }
  if (ended) return checkWhole(Buffer.concat(head, headSize), limits);

  return spool(source, head, limits);
}

/**
 * Bytes the spool file's write stream buffers before it asks for a pause: chunks queued behind
 * a write in flight go out together in one `writev`, so the writes overlap the reading and
 * hashing instead of adding to them (measured in BENCHMARKS.md, "The spool step").
 */
const SPOOL_WRITE_BUFFER = 1024 * 1024;

/** Writes `head` and the rest of `source` to a temporary file, hashing and counting. */
async function spool(
  source: AsyncIterator<unknown>,
  head: Buffer[],
  limits: BodyLimits,
): Promise<SpooledBody> {
  const file = path.join(limits.spoolDir, `nest-credentials-spool-${randomUUID()}.zip`);
  const hash = createHash('sha256');
  let size = 0;
  const sink = createWriteStream(file, {
    flags: 'wx',
    mode: 0o600,
    highWaterMark: SPOOL_WRITE_BUFFER,
  });
  let sinkFailure: { error: unknown } | undefined;
  sink.on('error', (error) => {
    sinkFailure ??= { error };
  });
  const checkSink = () => {
    if (sinkFailure) throw sinkFailure.error;
  };
  try {
    await once(sink, 'open');
    const take = async (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxProjectSize) throw tooLarge(limits.maxProjectSize);
      hash.update(chunk);
      if (!sink.write(chunk)) await drained(sink);
      checkSink();
    };
    for (const chunk of head) await take(chunk);
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = await source.next();
      } catch (err) {
        throw unreadable(err);
      }
      if (next.done) break;
      await take(toBuffer(next.value));
    }
    await new Promise<void>((resolve, reject) =>
      sink.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    checkSink();
  } catch (err) {
    void source.return?.().catch(() => undefined);
    if (!sink.closed) {
      sink.destroy();
      await once(sink, 'close').catch(() => undefined);
    }
    await rm(file, { force: true });
    if (err instanceof InvalidProjectError) throw err;
    throw new StorageUnavailableError(
      `The project could not be spooled to ${limits.spoolDir}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      { code: (err as NodeJS.ErrnoException).code },
    );
  }
  return spooledFile(file, size, hash.digest('hex'));
}

/** Resolves when `sink` wants more data, or has closed (its error is then kept by a listener). */
function drained(sink: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      sink.off('drain', done);
      sink.off('close', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
  });
}

/** The spool file as a `SpooledBody`: one read handle, opened on first use, shared by reads. */
function spooledFile(file: string, size: number, sha256: string): SpooledBody {
  let reader: Promise<FileHandle> | undefined;
  let discarded: Promise<void> | undefined;
  return {
    kind: 'spooled',
    size,
    sha256,
    async readInto(into, length, position) {
      if (discarded) throw new Error('the spooled project was discarded');
      reader ??= open(file, 'r');
      const handle = await reader;
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(into, filled, length - filled, position + filled);
        if (bytesRead === 0) throw new Error(`the spool file ended at ${position + filled} bytes`);
        filled += bytesRead;
      }
    },
    stream: () => createReadStream(file, { highWaterMark: 1024 * 1024 }),
    discard() {
      discarded ??= (async () => {
        await reader?.then((handle) => handle.close()).catch(() => undefined);
        await rm(file, { force: true });
      })();
      return discarded;
    },
  };
}
