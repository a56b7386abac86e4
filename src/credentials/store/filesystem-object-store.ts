import { createHash, randomUUID } from 'node:crypto';
import { type BigIntStats, constants as fsConstants } from 'node:fs';
import {
  access,
  type FileHandle,
  lstat,
  open,
  readdir,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { pipeline as pipelineCallback, Transform, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsError,
  InvalidProjectError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../errors.js';
import { RedactingLogger } from '../util/redact.js';
import {
  ensureDirectory,
  errnoOf,
  fsyncDirectory,
  isMissing,
  isStoreDirectory,
  openRegularFile,
  PRIVATE_MODES,
  type StoreModes,
} from './filesystem-entries.js';
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
  /** Permission bits of created files and directories; default 0600 / 0700 (owner only). */
  modes?: StoreModes;
}

/**
 * What is kept beside an object, in `<bucket>/.meta/<key>`. `dev`, `ino`, `size` and `mtimeNs`
 * identify the data file the record was written for. A file whose identity changed (a copy of
 * the store, a file replaced or edited by hand) is checked against the recorded SHA-256 all the
 * same: the record is renewed when the bytes match, and the download fails with
 * `IntegrityError` when they do not. A record is never silently dropped.
 */
interface ObjectMetadata {
  etag: string;
  dev: string;
  ino: string;
  size: number;
  /** Modification time in ns; absent in records of earlier versions (then re-checked once). */
  mtimeNs?: string;
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

const logger = new RedactingLogger('Credentials');

const where = (call: StorageCall) =>
  call.key === undefined ? `bucket "${call.bucket}"` : `"${call.key}" in bucket "${call.bucket}"`;

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

/** The identity of a data file as a record keeps it. */
const identityOf = (stats: BigIntStats) => ({
  dev: String(stats.dev),
  ino: String(stats.ino),
  size: Number(stats.size),
  mtimeNs: String(stats.mtimeNs),
});

/** Whether `metadata` was written for this very file, unchanged since. */
function describes(metadata: ObjectMetadata, stats: BigIntStats): boolean {
  const now = identityOf(stats);
  return (
    metadata.dev === now.dev &&
    metadata.ino === now.ino &&
    metadata.size === now.size &&
    metadata.mtimeNs === now.mtimeNs
  );
}

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
 * ETag (a random id per write) are kept in `<root>/b/.meta/<key>`, written the same way, with
 * the identity of the data file (see `ObjectMetadata`).
 *
 * Nothing on disk is trusted (see `filesystem-entries.ts`): objects are opened without
 * following links and must be regular files, `.meta`, `.tmp` and the bucket directories must
 * be real directories; anything else is refused with `AccessDeniedError` and logged. Files are
 * created 0600 and directories 0700 unless `modes` says otherwise; new directories are fsynced
 * in their parent.
 *
 * Writing to a bucket creates its directory (so the first upload of a new install works);
 * reading from a missing one is `BucketNotFoundError`, unless it is one of `implicitBuckets`.
 * Commits to the same key are serialized within the process; across processes sharing the
 * directory a race can at worst leave an object whose record is re-checked on its next read.
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly #root: string;
  readonly #implicitBuckets: ReadonlySet<string>;
  readonly #modes: StoreModes;
  readonly #commits = new KeyedMutex();
  /** Buckets whose leftover temporary files this process has already removed. */
  readonly #swept = new Set<string>();

  constructor(config: FilesystemStoreConfig) {
    this.#root = path.resolve(config.root);
    this.#implicitBuckets = new Set(config.implicitBuckets);
    this.#modes = config.modes ?? PRIVATE_MODES;
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
        const sink = fileSink(handle, (bytes) => parts.reportSent?.(bytes));
        await pipeline(body, sink, { signal });
        return sink.bytesWritten;
      });
    } finally {
      // Whatever happened, the source is not read any more (frees what the caller holds).
      if (!body.destroyed) body.destroy();
    }
  }

  /**
   * Down when the root is missing or not a directory, when the bucket (or its `.meta` /
   * `.tmp`) is anything but a real directory, or when the next upload could not write.
   */
  async checkBucket(bucket: string): Promise<void> {
    const call = { operation: 'health check', bucket };
    try {
      await this.assertRoot();
      const dir = this.bucketDir(bucket);
      if (await isStoreDirectory(dir)) {
        await isStoreDirectory(path.join(dir, META_DIR));
        await isStoreDirectory(path.join(dir, TEMP_DIR));
        await access(dir, fsConstants.W_OK);
      } else if (this.#implicitBuckets.has(bucket)) {
        await access(this.#root, fsConstants.W_OK);
      } else {
        throw new BucketNotFoundError(bucket);
      }
    } catch (err) {
      throw toFilesystemError(err, call, this.#root);
    }
  }

  async etagOf(bucket: string, key: string): Promise<string | undefined> {
    this.assertLocation(bucket, key);
    const call = { operation: 'head', bucket, key };
    try {
      const { handle, stats } = await this.openObject(bucket, key);
      try {
        const metadata = await this.readMetadata(bucket, key);
        // A file without a record of its own still has a stable tag: its identity.
        return metadata && describes(metadata, stats)
          ? metadata.etag
          : Object.values(identityOf(stats)).join('-');
      } finally {
        await handle.close().catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof ProjectNotFoundError) return undefined;
      throw toFilesystemError(err, call, this.#root);
    }
  }

  async getObject(bucket: string, key: string): Promise<StoredObject> {
    const call = { operation: 'download', bucket, key };
    this.assertLocation(bucket, key);
    let opened: { handle: FileHandle; stats: BigIntStats } | undefined;
    try {
      // Opening first pins this file: a concurrent upload renaming a new one over it does not
      // change what is read, and the record is judged against this very file.
      opened = await this.openObject(bucket, key);
      const { handle, stats } = opened;
      const metadata = await this.readMetadata(bucket, key);
      const file = handle.createReadStream({ autoClose: true });
      opened = undefined;
      if (metadata === undefined) return { body: file, size: Number(stats.size) };
      if (describes(metadata, stats) || metadata.sha256 === undefined) {
        return { body: file, size: metadata.size, sha256: metadata.sha256 };
      }
      logger.log(
        `The record of "${key}" in bucket "${bucket}" was written for another file ` +
          '(a copy of the store, or a file changed by hand): checking it against the bytes',
      );
      return {
        body: this.renewedOnMatch(file, bucket, key, metadata, stats),
        size: metadata.size,
        sha256: metadata.sha256,
      };
    } catch (err) {
      await opened?.handle.close().catch(() => undefined);
      throw toFilesystemError(err, call, this.#root);
    }
  }

  async close(): Promise<void> {
    // Nothing is held between calls: every file handle is closed by the call that opened it.
  }

  /** Opens an object (a regular file, no link followed), or says what is missing. */
  private async openObject(
    bucket: string,
    key: string,
  ): Promise<{ handle: FileHandle; stats: BigIntStats }> {
    if (!(await this.bucketExists(bucket))) throw new BucketNotFoundError(bucket);
    try {
      return await openRegularFile(this.objectPath(bucket, key));
    } catch (err) {
      if (isMissing(err)) throw new ProjectNotFoundError(bucket, key);
      throw err;
    }
  }

  /**
   * Passes the bytes of a file whose record describes another file, and hashes them: when they
   * match the record, it is renewed for this file (so the next read is checked as usual) before
   * the stream ends. A mismatch is left to the integrity check of the project layer.
   */
  private renewedOnMatch(
    file: Readable,
    bucket: string,
    key: string,
    metadata: ObjectMetadata,
    stats: BigIntStats,
  ): Readable {
    const hash = createHash('sha256');
    let size = 0;
    const renew = async () => {
      if (size !== metadata.size || hash.digest('hex') !== metadata.sha256?.toLowerCase()) return;
      await this.prepareBucket(bucket);
      await this.#commits.run(this.lockKey(bucket, key), async () => {
        // Only if neither the file nor the record changed while it was read.
        const current = await lstat(this.objectPath(bucket, key), { bigint: true });
        const record = await this.readMetadata(bucket, key);
        if (!current.isFile() || current.ino !== stats.ino || current.dev !== stats.dev) return;
        if (record?.etag !== metadata.etag) return;
        await this.writeMetadata(bucket, key, { ...metadata, ...identityOf(stats) });
      });
      logger.log(`The record of "${key}" in bucket "${bucket}" now describes its copied file`);
    };
    const checker = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        hash.update(chunk);
        callback(null, chunk);
      },
      flush(callback) {
        renew().then(
          () => callback(),
          (err: unknown) => {
            // The bytes are verified; a record that cannot be renewed is re-checked next time.
            logger.warn(
              `Could not renew the record of "${key}" in bucket "${bucket}" (${errnoOf(err) ?? 'error'})`,
            );
            callback();
          },
        );
      },
    });
    pipelineCallback(file, checker, () => undefined);
    return checker;
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
    fill: (handle: FileHandle) => Promise<unknown>,
  ): Promise<string> {
    const call = { operation: 'upload', bucket, key };
    this.assertLocation(bucket, key);
    let temp: string | undefined;
    let handle: FileHandle | undefined;
    try {
      signal.throwIfAborted();
      await this.prepareBucket(bucket);
      temp = path.join(this.bucketDir(bucket), TEMP_DIR, `${randomUUID()}.part`);
      handle = await this.createFile(temp);
      await fill(handle);
      await handle.sync();
      // The record's identity (size and mtime included) is read after the last write.
      const stats = await handle.stat({ bigint: true });
      await handle.close();
      handle = undefined;
      signal.throwIfAborted();

      const etag = randomUUID();
      const source = temp;
      await this.#commits.run(this.lockKey(bucket, key), async () => {
        await this.writeMetadata(bucket, key, { etag, ...identityOf(stats), sha256 });
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

  /** A new file (never an existing entry, never through a link) with the store's file mode. */
  private async createFile(file: string): Promise<FileHandle> {
    const flags =
      fsConstants.O_WRONLY |
      fsConstants.O_CREAT |
      fsConstants.O_EXCL |
      (fsConstants.O_NOFOLLOW ?? 0);
    const handle = await open(file, flags, this.#modes.file);
    try {
      // The mode passed through the umask; the store's own choice wins.
      await handle.chmod(this.#modes.file);
      return handle;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The record of `key`, or `undefined` when there is none or it is unreadable as such. The
   * `.meta` directory must be a real one and the record a regular file.
   */
  private async readMetadata(bucket: string, key: string): Promise<ObjectMetadata | undefined> {
    if (!(await isStoreDirectory(path.join(this.bucketDir(bucket), META_DIR)))) return undefined;
    let text: string;
    try {
      const { handle } = await openRegularFile(this.metadataPath(bucket, key));
      try {
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
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
        (value.mtimeNs === undefined || typeof value.mtimeNs === 'string') &&
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
      const handle = await this.createFile(temp);
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
   * Creates the bucket's directories when missing (and checks that they are real directories:
   * it keeps working if someone removes them while the app runs, and refuses links planted in
   * their place), and on the first write of this process removes the temporary files a crash
   * may have left there.
   */
  private async prepareBucket(bucket: string): Promise<void> {
    const dir = this.bucketDir(bucket);
    const temps = path.join(dir, TEMP_DIR);
    await ensureDirectory(this.#root, this.#modes.directory, true);
    await ensureDirectory(dir, this.#modes.directory);
    await ensureDirectory(path.join(dir, META_DIR), this.#modes.directory);
    await ensureDirectory(temps, this.#modes.directory);
    if (this.#swept.has(bucket)) return;
    this.#swept.add(bucket);
    const now = Date.now();
    for (const name of await readdir(temps).catch(() => [])) {
      const file = path.join(temps, name);
      // lstat: a link is removed as a link, never followed.
      const info = await lstat(file).catch(() => undefined);
      if (info?.isFile() && now - info.mtimeMs > STALE_TEMP_MS) {
        await unlink(file).catch(() => undefined);
      }
    }
  }

  /** The root must exist and be a directory (it may be a link: the operator chose it). */
  private async assertRoot(): Promise<void> {
    let info;
    try {
      info = await stat(this.#root);
    } catch (err) {
      if (isMissing(err)) {
        throw new StorageUnavailableError(
          `The store directory ${this.#root} does not exist (the first upload creates it)`,
          { code: 'ENOENT' },
        );
      }
      throw err;
    }
    if (!info.isDirectory()) {
      throw new StorageUnavailableError(`The store directory ${this.#root} is not a directory`, {
        code: 'ENOTDIR',
      });
    }
  }

  private async bucketExists(bucket: string): Promise<boolean> {
    return (await isStoreDirectory(this.bucketDir(bucket))) || this.#implicitBuckets.has(bucket);
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
function fileSink(
  handle: FileHandle,
  written: (bytes: number) => void = () => undefined,
): Writable & { bytesWritten: number } {
  const sink = Object.assign(
    new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        writeFully(handle, chunk).then(() => {
          sink.bytesWritten += chunk.length;
          written(chunk.length);
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
