import { setTimeout as sleep } from 'node:timers/promises';
import { deadline, raceAbort } from '../util/deadline.js';
import type { PartSource } from './object-store.js';
import { sharedBuffer } from '../util/sha256-worker.js';
import type { AbortOutcome } from './pending-aborts.js';
import { answerMissed } from './storage-errors.js';

/** A part the server took, for CompleteMultipartUpload. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** The requests of a multipart upload, in a store's own client. */
export interface MultipartRequests {
  /**
   * CreateMultipartUpload with the SHA-256 as user metadata; resolves with the upload id. Bounded
   * by the request deadline only: an upload that stops waiting for it hands it to `abortLate`.
   */
  create(): Promise<string>;
  /**
   * UploadPart; resolves with the part's ETag. `data` is a view of a pooled buffer that is
   * refilled once the promise settles, so the request must be done with it by then.
   */
  sendPart(
    uploadId: string,
    partNumber: number,
    data: Buffer,
    signal: AbortSignal,
  ): Promise<string>;
  /** CompleteMultipartUpload; the request is destroyed when `signal` aborts. */
  complete(uploadId: string, parts: UploadedPart[], signal: AbortSignal): Promise<void>;
  /** Aborts the multipart upload, or keeps it to retry later (`PendingAborts.abortOrKeep`). */
  abort(uploadId: string): Promise<AbortOutcome>;
  /** Aborts the upload a create resolves with once it does (`PendingAborts.abortWhenCreated`). */
  abortLate(created: Promise<string>): void;
  /** The SHA-256 recorded on the key now; `undefined` when there is no object (or no SHA-256). */
  storedSha256(): Promise<string | undefined>;
}

/** How long a single PUT whose answer was missed is looked for on the key, and how often. */
const COMMIT_GRACE_MS = 1_000;
const COMMIT_POLL_MS = 100;

/**
 * Settles the outcome of a commit request (a PutObject, a CompleteMultipartUpload) that failed:
 * when the server's answer was missed (a deadline, an abort, a lost connection), the request may
 * have taken effect all the same. `cancel` first makes sure it cannot any more where that is
 * possible (aborting the multipart upload: `aborted` means nothing was stored); then the key is
 * looked at (for a single PUT, again for up to `COMMIT_GRACE_MS`, as it cannot be cancelled), and
 * our SHA-256 there means the bytes were stored: the call succeeded. Returns
 * whether it did, within `withinMs` (one request deadline for the whole settling); an outcome
 * not found by then counts as not stored (the abort, if it is still on its way, carries on).
 */
export async function storedDespite(
  err: unknown,
  check: {
    sha256: string;
    storedSha256(): Promise<string | undefined>;
    cancel?: () => Promise<AbortOutcome>;
  },
  withinMs: number,
): Promise<boolean> {
  if (!answerMissed(err)) {
    await check.cancel?.();
    return false;
  }
  const settle = async () => {
    if (check.cancel) {
      if ((await check.cancel()) === 'aborted') return false;
      return (await check.storedSha256()) === check.sha256;
    }
    // A single PUT cannot be cancelled: a server that had its whole body may still be writing
    // it when we look, so look again for a short while before calling it not stored.
    const until = Date.now() + COMMIT_GRACE_MS;
    for (;;) {
      if ((await check.storedSha256()) === check.sha256) return true;
      if (Date.now() >= until) return false;
      await sleep(COMMIT_POLL_MS);
    }
  };
  const budget = deadline(withinMs);
  try {
    return await raceAbort(settle(), budget.signal, () => new Error('not settled in time'));
  } catch {
    return false;
  } finally {
    budget.clear();
  }
}

/**
 * Sends a single PUT (`send`) and settles one that failed (`storedDespite`): our SHA-256 on the
 * key means the server stored the body although its answer was missed (a slow commit), and the
 * call succeeds; otherwise the failure is thrown as the store maps it (`toError`).
 */
export async function singlePut(
  send: () => Promise<unknown>,
  check: { sha256: string; storedSha256(): Promise<string | undefined> },
  withinMs: number,
  toError: (err: unknown) => Error,
): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (await storedDespite(err, check, withinMs)) return;
    throw toError(err);
  }
}

/**
 * Uploads `body` in parts of `partSize` bytes, `concurrency` at a time, each taken from the body
 * at its offset: as a view of the body's own memory when it offers one (`viewAt`: no copy, no
 * buffer), else read straight into one of `concurrency` buffers (memory is partSize x
 * concurrency whatever the size; one more for a body read front to back, read one part ahead).
 * No part is cut from stream chunks. The first failure, or
 * `signal`, stops the upload: the part requests in flight are destroyed (`sendPart` gets the
 * signal), awaited, and the multipart upload aborted before the error is thrown.
 *
 * Every upload id created is completed or aborted: a create still unanswered when `signal` aborts
 * is handed to `abortLate`. A complete cut off by `signal` or failing without an answer is
 * settled before returning (`storedDespite`): the upload is aborted, and if it was already gone,
 * our SHA-256 on the key means success. So the outcome reported is the outcome stored, at most
 * one request deadline after `signal`.
 */
export async function uploadInParts(
  requests: MultipartRequests,
  body: PartSource,
  settings: { partSize: number; partConcurrency: number; requestTimeoutMs: number },
  signal: AbortSignal,
): Promise<void> {
  const { partSize, partConcurrency } = settings;
  // A body read front to back (`readPart`) has as many parts as it turns out to have.
  const sequential = body.readPart !== undefined;
  const partCount = sequential ? Infinity : Math.max(1, Math.ceil(body.size / partSize));
  let ended = false;
  const stop = new AbortController();
  const stopOnSignal = () => stop.abort(signal.reason);
  signal.addEventListener('abort', stopOnSignal, { once: true });
  if (signal.aborted) stopOnSignal();

  let uploadId: string | undefined;
  let committing = false;
  try {
    signal.throwIfAborted();
    const created = requests.create();
    uploadId = await raceAbort(created, signal, () => {
      requests.abortLate(created);
      return signal.reason instanceof Error ? signal.reason : new Error('aborted');
    });
    const id = uploadId;
    const parts: UploadedPart[] = [];
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      stop.abort(error);
    };

    const send = async ({ partNumber, data }: Part): Promise<void> => {
      if (data.length === 0) {
        ended = true;
        return;
      }
      stop.signal.throwIfAborted();
      parts.push({ partNumber, etag: await requests.sendPart(id, partNumber, data, stop.signal) });
      body.reportSent?.(data.length);
    };

    // Part numbers are taken when a read is asked for (no await before it): they follow the order
    // of a sequential body's reads, which it serves in the order they were asked for.
    let next = 1;
    const readAt = (partNumber: number, buffer: () => Buffer): Promise<Part> =>
      partBytes(body, (partNumber - 1) * partSize, partSize, buffer).then((data) => ({
        partNumber,
        data,
      }));
    // A body read front to back is read one part ahead, into one more buffer: while every worker
    // sends, the next part is already read (and hashed), so a worker that is done sends at once.
    let ahead: Promise<Part> | undefined;
    const readAhead = (into: Buffer): Promise<Part> => {
      const partNumber = next++;
      const read = nextPart(body, into).then((data) => ({ partNumber, data, buffer: into }));
      read.catch(() => undefined); // its failure reaches the worker that takes it, if any
      return read;
    };
    /** The next part; for a sequential body, `free` is refilled ahead while it is sent. */
    const takePart = (free: () => Buffer): Promise<Part> => {
      if (!sequential) return readAt(next++, free);
      const part = ahead ?? readAhead(sharedBuffer(partSize));
      ahead = readAhead(free());
      return part;
    };

    // At most `concurrency` workers, each taking the next part until none is left, and each with
    // one buffer of its own, allocated on its first part and refilled for the next (a sequential
    // body's worker swaps it for the one its part was read ahead into). Outside Node's pool: a
    // part-sized block returned to the system as one piece; in shared memory, so that the
    // SHA-256 worker can hash it in place while the main thread goes on.
    const worker = async (): Promise<void> => {
      let own: Buffer | undefined;
      const free = () => (own ??= sharedBuffer(partSize));
      while (!stop.signal.aborted && !ended && next <= partCount) {
        await takePart(free)
          .then((part) => {
            if (part.buffer) own = part.buffer;
            return send(part);
          })
          .catch(fail);
      }
    };
    const workers = Math.min(partConcurrency, partCount);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure) throw failure.error;
    if (signal.aborted) throw signal.reason;

    await body.assertUnchanged?.();
    parts.sort((a, b) => a.partNumber - b.partNumber);
    await body.verify?.();
    committing = true;
    await requests.complete(id, parts, signal);
  } catch (err) {
    if (uploadId === undefined) throw err;
    const id = uploadId;
    if (!committing) {
      await requests.abort(id);
      throw err;
    }
    const stored = await storedDespite(
      err,
      {
        sha256: body.sha256,
        storedSha256: () => requests.storedSha256(),
        cancel: () => requests.abort(id),
      },
      settings.requestTimeoutMs,
    );
    if (!stored) throw err;
  } finally {
    signal.removeEventListener('abort', stopOnSignal);
  }
}

/**
 * A part's bytes: a view of the source's own memory when it offers one, else read into the
 * worker's buffer (allocated on first use).
 */
async function partBytes(
  body: PartSource,
  position: number,
  partSize: number,
  buffer: () => Buffer,
): Promise<Buffer> {
  const length = Math.min(partSize, body.size - position);
  if (body.viewAt) return body.viewAt(position, length);
  const into = buffer();
  await body.readInto(into, length, position);
  return into.subarray(0, length);
}

/** A part to send: its number, its bytes, and the buffer a sequential body's bytes are in. */
interface Part {
  partNumber: number;
  data: Buffer;
  buffer?: Buffer;
}

/** The next part of a body read front to back, in the worker's buffer (empty at the end). */
async function nextPart(body: PartSource, into: Buffer): Promise<Buffer> {
  const length = await (body.readPart as (into: Buffer) => Promise<number>)(into);
  return into.subarray(0, length);
}
