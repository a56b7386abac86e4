import { type BigIntStats, constants as fsConstants } from 'node:fs';
import { chmod, type FileHandle, lstat, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { AccessDeniedError, type CredentialsError, StorageUnavailableError } from '../errors.js';
import { RedactingLogger } from '../util/redact.js';

/**
 * What the directory store accepts on disk, and nothing else: objects are regular files opened
 * without following a link, the store's own directories are real directories. A link, FIFO,
 * socket or device planted in the store is refused (`AccessDeniedError`) and logged, so it can
 * neither lead a read or write outside the store nor block a thread of the process.
 */

const logger = new RedactingLogger('Credentials');

/** Permission bits of what the store creates. */
export interface StoreModes {
  file: number;
  directory: number;
}

/** Owner only: project ZIPs and their records are not for other users of the machine. */
export const PRIVATE_MODES: StoreModes = { file: 0o600, directory: 0o700 };

// Windows has neither flag (nor FIFOs to fear); 0 leaves the open as it was.
const NO_FOLLOW = fsConstants.O_NOFOLLOW ?? 0;
const NON_BLOCKING = fsConstants.O_NONBLOCK ?? 0;
const NO_CONTROLLING_TTY = fsConstants.O_NOCTTY ?? 0;

export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes(errnoOf(err) ?? '');

type EntryStats = Pick<
  BigIntStats,
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isSocket'
  | 'isCharacterDevice'
  | 'isBlockDevice'
>;

function kindOf(stats: EntryStats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isDirectory()) return 'a directory';
  return 'of an unknown type';
}

/**
 * The refusal of an entry the store did not make: typed, and logged for the operator. A plain
 * file where a directory belongs is a broken setup (retrying after a fix helps), anything else
 * (a link, FIFO, socket, device) was planted and is refused as such.
 */
function refuse(file: string, kind: string, expected: string): CredentialsError {
  if (kind === 'a regular file') {
    const message = `${file} is a regular file, not ${expected} of the store`;
    logger.warn(message);
    return new StorageUnavailableError(message, { code: 'ENOTDIR' });
  }
  const message = `Refused ${file}: it is ${kind}, not ${expected} of the store`;
  logger.warn(message);
  return new AccessDeniedError(message, { code: 'UNTRUSTED_ENTRY' });
}

/**
 * Opens an existing file for reading only if it is a regular file: no link is followed
 * (`O_NOFOLLOW`), a FIFO or device cannot block the open (`O_NONBLOCK`), and the type is read
 * from the open handle, so nothing can be swapped in between a check and the open.
 * Rejects with the `errno` error when it does not exist.
 */
export async function openRegularFile(
  file: string,
): Promise<{ handle: FileHandle; stats: BigIntStats }> {
  let handle: FileHandle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | NO_FOLLOW | NON_BLOCKING | NO_CONTROLLING_TTY);
  } catch (err) {
    // ELOOP is what O_NOFOLLOW answers for a link (EMLINK on some BSDs).
    if (errnoOf(err) === 'ELOOP' || errnoOf(err) === 'EMLINK') {
      throw refuse(file, 'a symbolic link', 'a regular file');
    }
    throw err;
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw refuse(file, kindOf(stats), 'a regular file');
    return { handle, stats };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Whether `dir` is a real directory (`lstat`: a link to one is refused); `false` when missing.
 */
export async function isStoreDirectory(dir: string): Promise<boolean> {
  let stats;
  try {
    stats = await lstat(dir);
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
  if (!stats.isDirectory()) throw refuse(dir, kindOf(stats), 'a directory');
  return true;
}

/**
 * Creates `dir` with `mode` unless it exists as a real directory, and makes its entry durable
 * (fsync of the parent). `followLink` accepts a link for this one path (the configured root,
 * which an operator may point anywhere); every directory below it must be real.
 */
export async function ensureDirectory(
  dir: string,
  mode: number,
  followLink = false,
): Promise<void> {
  const exists = followLink ? isDirectoryOrMissing(dir) : isStoreDirectory(dir);
  if (await exists) return;
  const parent = path.dirname(dir);
  if (parent !== dir) await ensureDirectory(parent, mode, true);
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    // Created meanwhile by a concurrent upload: fine if it is a real directory.
    if (errnoOf(err) !== 'EEXIST') throw err;
    if (!followLink) await isStoreDirectory(dir);
    return;
  }
  // `mode` passed through the umask; the store's own choice wins.
  await chmod(dir, mode);
  await fsyncDirectory(parent);
}

async function isDirectoryOrMissing(dir: string): Promise<boolean> {
  try {
    const stats = await stat(dir);
    if (!stats.isDirectory()) throw refuse(dir, kindOf(stats), 'a directory');
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Makes a rename or a new entry in `dir` durable. Windows cannot open a directory for fsync, and
 * its renames are journaled by NTFS, so there it is skipped.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  // Followed if a link: only directories already checked (or the configured root) get here.
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
