/**
 * One upload whose spool file cannot be written (a full disk, a file size limit), run with the
 * real `ProjectStorage` over a filesystem store, and what became of it: how long it took to
 * settle and with what error, whether `close()` returned, and which spool files are left.
 * Shared by the in-process test (a full tmpfs) and the child process run under `ulimit -f`.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveTransferSettings } from '../../src/credentials/config/transfer-settings.js';
import { ProjectStorage } from '../../src/credentials/project/project-storage.js';
import { FilesystemObjectStore } from '../../src/credentials/store/filesystem-object-store.js';

const MiB = 1024 * 1024;
export const SPOOL_PREFIX = 'nest-credentials-spool-';

export interface SpoolFaultOutcome {
  /** `undefined` when the upload had not settled after `waitMs`. */
  error?: { name: string; code?: string; message: string; cause?: unknown };
  stored?: boolean;
  /** From the upload's start, and from the last chunk the body handed out, to its settling. */
  settledAfterStartMs?: number;
  settledAfterLastReadMs?: number;
  /** How long `close()` took, `undefined` when it had not returned after `waitMs`. */
  closeMs?: number;
  spoolFilesLeft: string[];
}

/**
 * A 20 MiB project arriving as a network client sends it: 256 KiB at a time, a few
 * milliseconds apart (so the spool write can fail while the upload waits for the client).
 */
function pacedProject(size: number, onRead: () => void): Readable {
  const chunk = 256 * 1024;
  let sent = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      setTimeout(() => {
        onRead();
        if (sent >= size) return void this.push(null);
        const bytes = Buffer.alloc(Math.min(chunk, size - sent), sent % 251);
        if (sent === 0) Buffer.from('PK\x03\x04').copy(bytes);
        sent += bytes.length;
        this.push(bytes);
      }, 2);
    },
  });
}

/** `promise`'s value, or `undefined` when it has not settled after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  const stop = new AbortController();
  const timeout = sleep(ms, undefined, { signal: stop.signal }).catch(() => undefined);
  try {
    return await Promise.race([promise.then((value) => ({ value })), timeout]);
  } finally {
    stop.abort();
  }
}

export async function uploadWithFailingSpool(
  spoolDir: string,
  options: { size?: number; waitMs?: number } = {},
): Promise<SpoolFaultOutcome> {
  const size = options.size ?? 20 * MiB;
  const waitMs = options.waitMs ?? 5_000;
  const projectsDir = await mkdtemp(path.join(tmpdir(), 'spool-fault-projects-'));
  const transfer = resolveTransferSettings({
    partSize: 5 * MiB,
    spoolDir,
    uploadTimeoutMs: 60_000,
  });
  const storage = new ProjectStorage(
    new FilesystemObjectStore({ root: projectsDir, implicitBuckets: ['projects'] }),
    'projects',
    transfer,
  );
  const outcome: SpoolFaultOutcome = { spoolFilesLeft: [] };
  let lastReadAt = 0;
  const started = performance.now();
  try {
    const upload = storage.upload(
      'spooled.zip',
      pacedProject(size, () => (lastReadAt = performance.now())),
    );
    const settled = await within(
      upload.then(
        () => ({ stored: true }),
        (err: Error & { code?: string }) => ({
          stored: false,
          error: { name: err.name, code: err.code, message: err.message, cause: err.cause },
        }),
      ),
      waitMs,
    );
    if (settled) {
      const now = performance.now();
      Object.assign(outcome, settled.value, {
        settledAfterStartMs: Math.round(now - started),
        settledAfterLastReadMs: Math.round(now - lastReadAt),
      });
    }
    const closing = performance.now();
    if (await within(storage.close(), waitMs)) {
      outcome.closeMs = Math.round(performance.now() - closing);
    }
    outcome.spoolFilesLeft = (await readdir(spoolDir)).filter((f) => f.startsWith(SPOOL_PREFIX));
    return outcome;
  } finally {
    await rm(projectsDir, { recursive: true, force: true });
  }
}
