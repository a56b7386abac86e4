import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { type FileHandle, lstat, open, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { PartSource } from '../store/object-store.js';
import { InvalidProjectError, StorageUnavailableError } from '../errors.js';

/**
 * The temporary file of a stream longer than one part: the one place that owns its lifetime.
 * It is created and written here (`spoolToFile`), read by parts and removed by the upload
 * (`SpooledBody.discard`), and, when a process crashed before removing it, swept at start-up
 * (`sweepStaleSpoolFiles`). Every spool file's name starts with this prefix.
 */
export const SPOOL_FILE_PREFIX = 'nest-credentials-spool-';

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

export interface SpoolLimits {
  maxProjectSize: number;
  spoolDir: string;
}

/** The rest of a stream, one chunk at a time, and a way to stop it at once. */
export interface ChunkSource {
  next(): Promise<IteratorResult<Buffer>>;
  /** Stops and releases the source (destroys the caller's stream). */
  stop(): void;
}

/**
 * Bytes the spool file's write stream buffers before it asks for a pause: chunks queued behind
 * a write in flight go out together in one `writev`, so the writes overlap the reading and
 * hashing instead of adding to them (measured: docs/BENCHMARKS.md, "Earlier findings").
 */
const SPOOL_WRITE_BUFFER = 1024 * 1024;

/**
 * Writes `head`, then the rest of `source`, to a new spool file in `spoolDir`, hashing and
 * counting. A failed write (a full disk, a file size limit, an I/O error) ends it at once, even
 * while it waits for the source: the source is stopped, the file removed, and a
 * `StorageUnavailableError` names the directory and the errno code. `tooLarge` and `unreadable`
 * build the errors of a body over the limit and of a source that fails.
 */
export async function spoolToFile(
  head: readonly Buffer[],
  source: ChunkSource,
  limits: SpoolLimits,
  errors: { tooLarge(): InvalidProjectError; unreadable(err: unknown): InvalidProjectError },
): Promise<SpooledBody> {
  const file = path.join(limits.spoolDir, `${SPOOL_FILE_PREFIX}${randomUUID()}.zip`);
  const hash = createHash('sha256');
  let size = 0;
  const sink = createWriteStream(file, {
    flags: 'wx',
    mode: 0o600,
    highWaterMark: SPOOL_WRITE_BUFFER,
  });
  // Settles (rejects) when the file fails, whenever that is: every wait below races it, so no
  // wait can outlive the failure, however long before the wait it happened. The listener stays,
  // so that no later error of the stream goes unheard.
  // Not `Promise.race([step, failed])`: every race leaves a reaction on `failed`, which holds
  // the race's result (a chunk of the body) until `failed` settles or the file is done, so the
  // whole body stayed in memory while it was spooled (measured: 200 MiB for a 200 MiB PUT).
  let failure: { error: unknown } | undefined;
  let failWait: ((error: unknown) => void) | undefined;
  sink.on('error', (error) => {
    failure ??= { error };
    failWait?.(error);
  });
  const unlessFailed = <T>(step: Promise<T>): Promise<T> => {
    if (failure) {
      step.catch(() => undefined);
      return Promise.reject(failure.error);
    }
    return new Promise<T>((resolve, reject) => {
      failWait = reject;
      step.then(resolve, reject).finally(() => {
        if (failWait === reject) failWait = undefined;
      });
    });
  };

  // Opened as soon as the file exists and held until `discard()`: the upload reads through it,
  // so even a sweep by another process (one with a shorter deadline) only removes the name.
  let reader: FileHandle | undefined;
  try {
    await unlessFailed(once(sink, 'open'));
    reader = await open(file, 'r');
    const take = async (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxProjectSize) throw errors.tooLarge();
      hash.update(chunk);
      if (!sink.write(chunk)) await unlessFailed(once(sink, 'drain'));
    };
    for (const chunk of head) await take(chunk);
    for (;;) {
      const next = await unlessFailed(
        source.next().catch((err: unknown) => {
          throw errors.unreadable(err);
        }),
      );
      if (next.done) break;
      await take(next.value);
    }
    sink.end();
    await unlessFailed(once(sink, 'close'));
  } catch (err) {
    source.stop();
    if (!sink.closed) {
      sink.destroy();
      await once(sink, 'close').catch(() => undefined);
    }
    await reader?.close().catch(() => undefined);
    await rm(file, { force: true });
    if (err instanceof InvalidProjectError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new StorageUnavailableError(
      `The project could not be spooled to ${limits.spoolDir}: ${code ?? (err as Error).message}`,
      { code },
    );
  }
  return spooledFile(file, reader, size, hash.digest('hex'));
}

/** The spool file as a `SpooledBody`, read through `reader` (shared by all reads). */
function spooledFile(file: string, reader: FileHandle, size: number, sha256: string): SpooledBody {
  let discarded: Promise<void> | undefined;
  return {
    kind: 'spooled',
    size,
    sha256,
    async readInto(into, length, position) {
      if (discarded) throw new Error('the spooled project was discarded');
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await reader.read(into, filled, length - filled, position + filled);
        if (bytesRead === 0) throw new Error(`the spool file ended at ${position + filled} bytes`);
        filled += bytesRead;
      }
    },
    stream: () =>
      reader.createReadStream({ start: 0, autoClose: false, highWaterMark: 1024 * 1024 }),
    discard() {
      discarded ??= (async () => {
        await reader.close().catch(() => undefined);
        await rm(file, { force: true });
      })();
      return discarded;
    },
  };
}

/**
 * Removes the spool files a crashed process left in `spoolDir`: names with this module's
 * prefix only, regular files only (a link is never followed nor removed), last written more
 * than `olderThanMs` (the upload deadline) ago. A live upload's file is younger than that: it
 * is written after the upload starts, and the upload ends at its deadline. Should a process
 * with a shorter deadline share the directory, it removes only the name: the live upload reads
 * through the handle it holds. Returns how many files it removed; a file it cannot inspect or
 * remove is left alone.
 */
export async function sweepStaleSpoolFiles(spoolDir: string, olderThanMs: number): Promise<number> {
  const cutoff = Date.now() - olderThanMs;
  let removed = 0;
  for (const name of await readdir(spoolDir)) {
    if (!name.startsWith(SPOOL_FILE_PREFIX)) continue;
    const file = path.join(spoolDir, name);
    try {
      const stats = await lstat(file);
      if (!stats.isFile() || stats.mtimeMs >= cutoff) continue;
      await unlink(file);
      removed++;
    } catch {
      // Gone meanwhile, or not ours to touch: nothing to do.
    }
  }
  return removed;
}
