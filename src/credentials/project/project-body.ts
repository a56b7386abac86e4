import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ProjectBody } from '../credentials.js';
import type { PartSource } from '../store/object-store.js';
import { IntegrityError, InvalidProjectError } from '../errors.js';
import { type StreamedBody, streamedWithDigest } from './digest-upload.js';
import { type FileBody, openFileBody, wholeFileStreamPath } from './file-body.js';
import { type ChunkSource, type SpooledBody, spoolToFile } from './spool-file.js';
import { startsWithZipSignature, ZIP_SIGNATURE_LENGTH } from './zip-signature.js';

export type { SpooledBody } from './spool-file.js';
export type { FileBody } from './file-body.js';

export interface BodyLimits {
  maxProjectSize: number;
  /** A stream that ends within this many bytes is kept in memory and sent in one request. */
  wholeBodyLimit: number;
  /** Where a longer stream is spooled (a directory on a disk, not a RAM-backed tmpfs). */
  spoolDir: string;
  /**
   * The SHA-256 the caller supplied: a stream longer than one part is then sent as it arrives
   * (`StreamedBody`) instead of being spooled.
   */
  sha256?: string;
}

/**
 * A body held in memory (a Buffer, a Uint8Array, or a stream that ended within one part): its
 * size and SHA-256 are known before anything is written. `data` is the caller's own memory, not
 * a copy; larger than one part, it is uploaded in parts that are views of it (`viewAt`).
 */
export interface WholeBody extends PartSource {
  kind: 'whole';
  data: Buffer;
  viewAt(position: number, length: number): Buffer;
}

export type PreparedBody = WholeBody | SpooledBody | FileBody | StreamedBody;

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
  const viewAt = (position: number, length: number) => data.subarray(position, position + length);
  return {
    kind: 'whole',
    data,
    size: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    viewAt,
    async readInto(into, length, position) {
      viewAt(position, length).copy(into);
    },
    stream: () => Readable.from([data]),
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
 * `stream` (an untouched `fs` read stream of `file`) as a body read from the file itself, when
 * the file is a regular one larger than one request: no spool copy. The caller's stream is
 * destroyed (its file descriptor released) once the body is ready or refused; `undefined`
 * leaves it untouched for the spooled path.
 */
async function fileBodyOf(
  file: string,
  stream: Readable,
  limits: BodyLimits,
): Promise<FileBody | undefined> {
  try {
    const body = await openFileBody(
      file,
      stream,
      limits.wholeBodyLimit,
      (size, head) => {
        if (size > limits.maxProjectSize) throw tooLarge(limits.maxProjectSize);
        if (!startsWithZipSignature(head)) throw notZip();
      },
      // A deadline or shutdown destroys the caller's stream: the hashing stops with it.
      () => stream.destroyed,
    );
    if (body) stream.destroy();
    return body;
  } catch (err) {
    stream.destroy();
    throw err instanceof InvalidProjectError || err instanceof IntegrityError
      ? err
      : unreadable(err);
  }
}

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

  const file = wholeFileStreamPath(body);
  if (file !== undefined) {
    const fromFile = await fileBodyOf(file, body, limits);
    if (fromFile) return fromFile;
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

  const rest: ChunkSource = {
    next: async () => {
      const next = await source.next();
      return next.done ? next : { done: false, value: toBuffer(next.value) };
    },
    // At once, even while a read is pending (which a `return()` would wait for).
    stop: () => {
      body.destroy();
      release();
    },
  };
  const errors = { tooLarge: () => tooLarge(limits.maxProjectSize), unreadable };
  return limits.sha256 === undefined
    ? spoolToFile(head, rest, limits, errors)
    : streamedWithDigest(head, rest, limits.sha256, limits.maxProjectSize, errors);
}
