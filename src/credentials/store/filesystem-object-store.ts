import { randomUUID } from 'node:crypto';
import { type BigIntStats, constants as fsConstants } from 'node:fs';
import {
  access,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsError,
  InvalidProjectError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../errors.js';
import type { ObjectStore, PartSource, StoredObject } from './object-store.js';
import type { StorageCall } from './storage-errors.js';

export interface FilesystemStoreConfig {
  /** Directory that holds one sub-directory per bucket (resolved to an absolute path). */
  root: string;
  /**
   * Buckets that exist before their first write: until an upload creates its directory, such a
   * bucket is empty (`ProjectNotFoundError`) rather than missing (`BucketNotFoundError`).
   */
  implicitBuckets?: readonly string[];
}

/**
 * What is kept beside an object, in `<bucket>/.meta/<key>`. `dev` and `ino` name the data file
 * this record describes: a record whose file has been replaced since (by another upload, or by
 * hand) no longer matches and is ignored, so it can never make a good object fail its check.
 */
interface ObjectMetadata {
  etag: string;
  dev: string;
  ino: string;
  size: number;
  sha256?: string;
}

/**
 * Hidden sub-directories of a bucket. Project names cannot start with ".", so no project can
 * ever be stored under (or collide with) one of these names.
 */
const META_DIR = '.meta';
const TEMP_DIR = '.tmp';

/**
 * A temporary file this old cannot belong to a live upload (an upload's deadline is at most
 * 24 h): it was left by a crash and is removed the next time the bucket is written to.
 */
const STALE_TEMP_MS = 25 * 3_600_000;

const ACCESS_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

const where = (call: StorageCall) =>
  call.key === undefined ? `bucket "${call.bucket}"` : `"${call.key}" in bucket "${call.bucket}"`;

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes(errnoOf(err) ?? '');

/**
 * Turns a file system error into the contract's errors. Kept next to the only adapter that
 * meets `errno` codes; `ENOENT` is not handled here because only the caller knows whether the
 * bucket or the object is missing.
 */
export function toFilesystemError(err: unknown, call: StorageCall, root: string): CredentialsError {
  if (err instanceof CredentialsError) return err;
  const code = errnoOf(err);
  const summary = { name: err instanceof Error ? err.name : undefined, code };
  if (code !== undefined && ACCESS_CODES.has(code)) {
    return new AccessDeniedError(
      `Access denied to ${where(call)} during ${call.operation} (${code}): ` +
        `check the permissions of ${root}`,
      summary,
    );
  }
  const reason = code ?? (err instanceof Error && err.name === 'AbortError' ? 'aborted' : 'error');
  return new StorageUnavailableError(
    `Storage failed during ${call.operation} of ${where(call)} in ${root} (${reason})`,
    summary,
  );
}

/** Buckets and keys become path segments: refuse anything that could leave the root. */
function assertSegment(kind: 'bucket' | 'name', value: string): void {
  if (
    value === '' ||
    value.startsWith('.') ||
    /[/\\\0]/.test(value) ||
    value.length > 255 ||
    value !== path.basename(value)
  ) {
    throw new InvalidProjectError(
      `Invalid ${kind === 'bucket' ? 'bucket' : 'project'} name ${JSON.stringify(value)} for a directory store`,
      kind,
    );
  }
}

const identityOf = (stats: BigIntStats) => ({ dev: String(stats.dev), ino: String(stats.ino) });

/** Runs tasks for the same key one after another, so that a commit never interleaves another. */
class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const current = previous.then(task, task);
    const tail = current.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/**
 * The object store on a local directory: bucket `b`, key `k` is the file `<root>/b/k`, so the
 * projects can be read (and backed up) with ordinary tools.
 *
 * Every write goes to a temporary file in `<root>/b/.tmp/` (same file system), is fsynced and
 * renamed over the target, then the directory is fsynced: a reader, a crash or a concurrent
 * upload sees either the old object or the new one, never a part of one. The SHA-256 and an
 * ETag (a random id per write) are kept in `<root>/b/.meta/<key>`, written the same way and
 * bound to the data file's inode, so metadata that does not describe the current file is
 * ignored rather than trusted.
 *
 * Writing to a bucket creates its directory (so the first upload of a new install works);
 * reading from a missing one is `BucketNotFoundError`, unless it is one of `implicitBuckets`.
 * Commits to the same key are serialized within the process; across processes sharing the
 * directory a race can at worst leave an object without a recorded SHA-256, never with a
 * wrong one. (An object replaced by hand with `mv` gets a new inode, so it is served without
 * a check; one changed in place keeps its inode and fails the check, as it should.)
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly #root: string;
  readonly #implicitBuckets: ReadonlySet<string>;
  readonly #commits = new KeyedMutex();
  /** Buckets whose leftover temporary files this process has already removed. */
  readonly #swept = new Set<string>();

  constructor(config: FilesystemStoreConfig) {
    this.#root = path.resolve(config.root);
    this.#implicitBuckets = new Set(config.implicitBuckets);
  }

  /** The directory this store writes under. */
  get root(): string {
    return this.#root;
  }

  async putObject(
    bucket: string,
    key: string,
    data: Buffer,
    sha256: string,
    signal: AbortSignal,
  ): Promise<void> {
    await this.write(bucket, key, signal, sha256, async (handle) => {
      await handle.writeFile(data);
      return data.length;
    });
  }

  async putParts(
    bucket: string,
    key: string,
    parts: PartSource,
    signal: AbortSignal,
  ): Promise<void> {
    const body = parts.stream();
    try {
      await this.write(bucket, key, signal, parts.sha256, async (handle) => {
        const sink = fileSink(handle);
        await pipeline(body, sink, { signal });
        return sink.bytesWritten;
      });
    } finally {
      // Whatever happened, the source is not read any more (frees what the caller holds).
      if (!body.destroyed) body.destroy();
    }
  }

  async checkBucket(bucket: string): Promise<void> {
    const call = { operation: 'health check', bucket };
    try {
      if (!(await this.bucketExists(bucket))) throw new BucketNotFoundError(bucket);
      // Writable where the next upload will write: the bucket, or the nearest existing parent.
      let dir = this.bucketDir(bucket);
      while (!(await exists(dir)) && path.dirname(dir) !== dir) dir = path.dirname(dir);
      await access(dir, fsConstants.W_OK);
    } catch (err) {
      throw toFilesystemError(err, call, this.#root);
    }
  }

  async etagOf(bucket: string, key: string): Promise<string | undefined> {
    this.assertLocation(bucket, key);
    try {
      const current = await this.currentMetadata(bucket, key);
      if (current !== 'missing') return current.metadata?.etag;
      if (!(await this.bucketExists(bucket))) throw new BucketNotFoundError(bucket);
      return undefined;
    } catch (err) {
      throw toFilesystemError(err, { operation: 'head', bucket, key }, this.#root);
    }
  }

  async getObject(bucket: string, key: string): Promise<StoredObject> {
    const call = { operation: 'download', bucket, key };
    this.assertLocation(bucket, key);
    let handle: FileHandle | undefined;
    try {
      try {
        handle = await open(this.objectPath(bucket, key), 'r');
      } catch (err) {
        if (isMissing(err)) throw await this.notFound(bucket, key);
        throw err;
      }
      // Opening first pins this file: a concurrent upload renaming a new one over it does not
      // change what is read, and the metadata is only used if it describes this very file.
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile()) throw new ProjectNotFoundError(bucket, key);
      const metadata = await this.readMetadata(bucket, key);
      const matches = metadata !== undefined && sameFile(metadata, stats);
      const body = handle.createReadStream({ autoClose: true });
      handle = undefined;
      return {
        body,
        size: matches ? metadata.size : Number(stats.size),
        sha256: matches ? metadata.sha256 : undefined,
      };
    } catch (err) {
      await handle?.close().catch(() => undefined);
      throw toFilesystemError(err, call, this.#root);
    }
  }

  async close(): Promise<void> {
    // Nothing is held between calls: every file handle is closed by the call that opened it.
  }

  /**
   * Writes a new object: fills a temporary file, fsyncs it, then (serialized per key) writes
   * its metadata and renames it into place. The metadata goes first: until the rename it names
   * a file nobody reads, so a reader never pairs new metadata with old bytes or the reverse.
   */
  private async write(
    bucket: string,
    key: string,
    signal: AbortSignal,
    sha256: string | undefined,
    fill: (handle: FileHandle) => Promise<number>,
  ): Promise<string> {
    const call = { operation: 'upload', bucket, key };
    this.assertLocation(bucket, key);
    let temp: string | undefined;
    let handle: FileHandle | undefined;
    try {
      signal.throwIfAborted();
      await this.prepareBucket(bucket);
      temp = path.join(this.bucketDir(bucket), TEMP_DIR, `${randomUUID()}.part`);
      handle = await open(temp, 'wx', 0o644);
      const size = await fill(handle);
      await handle.sync();
      const stats = await handle.stat({ bigint: true });
      await handle.close();
      handle = undefined;
      signal.throwIfAborted();

      const etag = randomUUID();
      const source = temp;
      await this.#commits.run(this.lockKey(bucket, key), async () => {
        await this.writeMetadata(bucket, key, { etag, ...identityOf(stats), size, sha256 });
        await rename(source, this.objectPath(bucket, key));
        await fsyncDirectory(this.bucketDir(bucket));
      });
      temp = undefined;
      return etag;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      if (temp !== undefined) await unlink(temp).catch(() => undefined);
      throw toFilesystemError(err, call, this.#root);
    }
  }

  /** The stored object's file and its metadata (when that describes this file). */
  private async currentMetadata(
    bucket: string,
    key: string,
  ): Promise<'missing' | { stats: BigIntStats; metadata?: ObjectMetadata }> {
    let stats: BigIntStats;
    try {
      stats = await stat(this.objectPath(bucket, key), { bigint: true });
    } catch (err) {
      if (isMissing(err)) return 'missing';
      throw err;
    }
    if (!stats.isFile()) return 'missing';
    const metadata = await this.readMetadata(bucket, key);
    return { stats, metadata: metadata && sameFile(metadata, stats) ? metadata : undefined };
  }

  /** Metadata of `key`, or `undefined` when there is none or it is unreadable as such. */
  private async readMetadata(bucket: string, key: string): Promise<ObjectMetadata | undefined> {
    let text: string;
    try {
      text = await readFile(this.metadataPath(bucket, key), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const value = JSON.parse(text) as Partial<ObjectMetadata>;
      return typeof value.etag === 'string' &&
        typeof value.dev === 'string' &&
        typeof value.ino === 'string' &&
        typeof value.size === 'number' &&
        (value.sha256 === undefined || typeof value.sha256 === 'string')
        ? (value as ObjectMetadata)
        : undefined;
    } catch {
      // A damaged record is treated as none: the object is served without a check, as one
      // written by another tool would be, rather than made unreadable.
      return undefined;
    }
  }

  /** Writes metadata atomically: temporary file, fsync, rename, fsync of the directory. */
  private async writeMetadata(bucket: string, key: string, metadata: ObjectMetadata) {
    const temp = path.join(this.bucketDir(bucket), TEMP_DIR, `${randomUUID()}.meta`);
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(metadata));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.metadataPath(bucket, key));
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    await fsyncDirectory(path.join(this.bucketDir(bucket), META_DIR));
  }

  /**
   * Creates the bucket's directories (cheap when they exist, and it keeps working if someone
   * removes them while the app runs), and on the first write of this process removes the
   * temporary files a crash may have left there.
   */
  private async prepareBucket(bucket: string): Promise<void> {
    const temps = path.join(this.bucketDir(bucket), TEMP_DIR);
    await mkdir(path.join(this.bucketDir(bucket), META_DIR), { recursive: true });
    await mkdir(temps, { recursive: true });
    if (this.#swept.has(bucket)) return;
    this.#swept.add(bucket);
    const now = Date.now();
    for (const name of await readdir(temps).catch(() => [])) {
      const file = path.join(temps, name);
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile() && now - info.mtimeMs > STALE_TEMP_MS) {
        await unlink(file).catch(() => undefined);
      }
    }
  }

  private async notFound(bucket: string, key: string): Promise<CredentialsError> {
    return (await this.bucketExists(bucket))
      ? new ProjectNotFoundError(bucket, key)
      : new BucketNotFoundError(bucket);
  }

  private async bucketExists(bucket: string): Promise<boolean> {
    if (this.#implicitBuckets.has(bucket)) return true;
    try {
      return (await stat(this.bucketDir(bucket))).isDirectory();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  private assertLocation(bucket: string, key: string): void {
    assertSegment('bucket', bucket);
    assertSegment('name', key);
  }

  private lockKey(bucket: string, key: string): string {
    return `${bucket}/${key}`;
  }

  private bucketDir(bucket: string): string {
    return path.join(this.#root, bucket);
  }

  private objectPath(bucket: string, key: string): string {
    return path.join(this.#root, bucket, key);
  }

  private metadataPath(bucket: string, key: string): string {
    return path.join(this.#root, bucket, META_DIR, key);
  }
}

/**
 * A writable that appends to `handle` and leaves it open for the fsync. (A stream from
 * `handle.createWriteStream({ autoClose: false })` keeps a reference on the handle that makes
 * its `close()` wait forever.) One chunk is written at a time, so memory stays bounded by the
 * stream's buffer whatever the body's size.
 */
function fileSink(handle: FileHandle): Writable & { bytesWritten: number } {
  const sink = Object.assign(
    new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        writeFully(handle, chunk).then(() => {
          sink.bytesWritten += chunk.length;
          callback();
        }, callback);
      },
    }),
    { bytesWritten: 0 },
  );
  return sink;
}

async function writeFully(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

function sameFile(metadata: ObjectMetadata, stats: BigIntStats): boolean {
  const { dev, ino } = identityOf(stats);
  return metadata.dev === dev && metadata.ino === ino;
}

/**
 * Makes a rename in `dir` durable. Windows cannot open a directory for fsync, and its renames
 * are journaled by NTFS, so there it is skipped.
 */
async function fsyncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}
