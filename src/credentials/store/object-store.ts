import type { Readable } from 'node:stream';

/**
 * A body of known size and SHA-256 whose bytes can be read at any offset (a spooled project, or
 * a Buffer), so that a store takes each part at its offset instead of cutting a stream.
 */
export interface PartSource {
  readonly size: number;
  readonly sha256: string;
  /** Fills `into[0, length)` with the bytes at `position`. */
  readInto(into: Buffer, length: number, position: number): Promise<void>;
  /**
   * The `length` bytes at `position` as a view of memory the source already holds (a body
   * given as a Buffer or Uint8Array), so that a part is sent without a copy. Sources on disk
   * leave it out, and their parts are read with `readInto`.
   */
  viewAt?(position: number, length: number): Buffer;
  /**
   * Throws (`IntegrityError`) when the bytes may differ from those hashed: a source read from a
   * file the caller still owns checks that it did not change. Called once every part has been
   * read, before the upload is completed; sources that cannot change leave it out.
   */
  assertUnchanged?(): Promise<void>;
  /**
   * A fresh stream of all the bytes (for stores that write a stream); a source with
   * `assertUnchanged` runs it before the stream ends.
   */
  stream(): Readable;
  /**
   * A body read once, front to back, whose size is known only at its end (a stream with a
   * digest supplied by the caller): fills `into` with the next bytes and resolves with how many
   * (less than its length only at the end, 0 once it is over). Calls are served in the order
   * they are made. Such a body leaves `readInto` and `viewAt` unused and its `size` counts the
   * bytes read so far.
   */
  readPart?(into: Buffer): Promise<number>;
  /** Rejects (an `IntegrityError`) when the bytes read do not match `sha256`; before completing. */
  verify?(): Promise<void>;
  /** Told the bytes of each part the store has sent (the upload's progress). */
  reportSent?(bytes: number): void;
}

/** An object read back from a store. */
export interface StoredObject {
  body: Readable;
  /** Content-Length announced by the server. */
  size?: number;
  /** SHA-256 recorded at upload (user metadata `x-amz-meta-sha256`), when present. */
  sha256?: string;
}

/**
 * The port between the project rules (names, ZIP signature, size, hashing, integrity) and a
 * storage client. An adapter only translates calls and errors (through `toStorageError`);
 * every method throws `CredentialsError`s.
 */
export interface ObjectStore {
  /** Writes a body of at most one part, held in memory, in one request, its SHA-256 as metadata. */
  putObject(
    bucket: string,
    key: string,
    data: Buffer,
    sha256: string,
    signal: AbortSignal,
  ): Promise<void>;

  /**
   * Uploads a body larger than one part (a spooled stream, or a Buffer that hands out views) as
   * a multipart upload, the SHA-256 as user metadata from the start. On failure the multipart
   * upload is aborted, so no part is left behind.
   */
  putParts(bucket: string, key: string, body: PartSource, signal: AbortSignal): Promise<void>;

  /** The ETag of an object, or `undefined` when there is none. */
  etagOf(bucket: string, key: string): Promise<string | undefined>;

  /** Resolves when `bucket` exists and the keys may use it (for health checks). */
  checkBucket(bucket: string): Promise<void>;

  /**
   * A URL that fetches the object with a plain GET for `ttlSeconds`. Stores that cannot sign
   * URLs leave it out.
   */
  presignGet?(bucket: string, key: string, ttlSeconds: number): Promise<string>;

  /** Opens an object for reading. */
  getObject(bucket: string, key: string): Promise<StoredObject>;

  /** Releases sockets and timers. */
  close(): Promise<void>;
}

/** User metadata key under which the SHA-256 is kept (`x-amz-meta-sha256`). */
export const SHA256_METADATA_KEY = 'sha256';
export const ZIP_CONTENT_TYPE = 'application/zip';
