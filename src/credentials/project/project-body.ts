import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ProjectBody } from '../credentials.js';
import { InvalidProjectError } from '../errors.js';
import { startsWithZipSignature, ZIP_SIGNATURE_LENGTH } from './zip-signature.js';

export interface BodyLimits {
  maxProjectSize: number;
  /** A stream that ends within this many bytes is sent in one request, hash included. */
  wholeBodyLimit: number;
}

/** A body held in memory: its size and SHA-256 are known before anything is written. */
export interface WholeBody {
  kind: 'whole';
  data: Buffer;
  size: number;
  sha256: string;
}

/**
 * A body larger than one part: it is streamed once, hashed and counted on the way, and fails
 * (with `InvalidProjectError`) as soon as it exceeds the maximum size.
 */
export interface StreamedBody {
  kind: 'stream';
  stream: Readable;
  /** Size and SHA-256 of what was streamed; defined once `stream` has ended. */
  digest(): { size: number; sha256: string };
}

export type PreparedBody = WholeBody | StreamedBody;

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

  const hash = createHash('sha256');
  let size = 0;
  let finished = false;
  async function* hashedChunks(): AsyncGenerator<Buffer> {
    try {
      const pass = (chunk: Buffer): Buffer => {
        size += chunk.length;
        if (size > limits.maxProjectSize) throw tooLarge(limits.maxProjectSize);
        hash.update(chunk);
        return chunk;
      };
      for (const chunk of head.splice(0)) yield pass(chunk);
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = await source.next();
        } catch (err) {
          throw unreadable(err);
        }
        if (next.done) break;
        yield pass(toBuffer(next.value));
      }
      finished = true;
    } finally {
      if (!finished) release();
    }
  }
  let digest: { size: number; sha256: string } | undefined;
  return {
    kind: 'stream',
    stream: Readable.from(hashedChunks(), { objectMode: false }),
    digest() {
      if (!finished) throw new Error('The project stream has not ended yet');
      digest ??= { size, sha256: hash.digest('hex') };
      return digest;
    },
  };
}
