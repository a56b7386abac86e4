import type { PartSource } from './object-store.js';

/** A part the server took, for CompleteMultipartUpload. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** The four requests of a multipart upload, in a store's own client. */
export interface MultipartRequests {
  /** CreateMultipartUpload with the SHA-256 as user metadata; resolves with the upload id. */
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
  complete(uploadId: string, parts: UploadedPart[]): Promise<void>;
  /** Aborts the multipart upload, or keeps it to retry later (`PendingAborts.abortOrKeep`). */
  abort(uploadId: string): Promise<void>;
}

/**
 * Uploads `body` in parts of `partSize` bytes, `concurrency` at a time, each taken from the body
 * at its offset: as a view of the body's own memory when it offers one (`viewAt`: no copy, no
 * buffer), else read straight into one of `concurrency` buffers (memory is partSize x
 * concurrency whatever the size). No part is cut from stream chunks. The first failure, or
 * `signal`, stops the upload; the parts in flight are awaited and the multipart upload aborted
 * before the error is thrown.
 */
export async function uploadInParts(
  requests: MultipartRequests,
  body: PartSource,
  settings: { partSize: number; partConcurrency: number },
  signal: AbortSignal,
): Promise<void> {
  const { partSize, partConcurrency } = settings;
  const partCount = Math.max(1, Math.ceil(body.size / partSize));
  const stop = new AbortController();
  const stopOnSignal = () => stop.abort(signal.reason);
  signal.addEventListener('abort', stopOnSignal, { once: true });
  if (signal.aborted) stopOnSignal();

  let uploadId: string | undefined;
  try {
    signal.throwIfAborted();
    uploadId = await requests.create();
    const id = uploadId;
    const parts: UploadedPart[] = [];
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      stop.abort(error);
    };

    const sendOne = async (partNumber: number, buffer: () => Buffer): Promise<void> => {
      const position = (partNumber - 1) * partSize;
      const length = Math.min(partSize, body.size - position);
      const data = await partBytes(body, position, length, buffer);
      stop.signal.throwIfAborted();
      parts.push({ partNumber, etag: await requests.sendPart(id, partNumber, data, stop.signal) });
    };

    // At most `concurrency` workers, each taking the next part number until none is left, and
    // each with one buffer of its own, allocated on its first part and refilled for the next
    // (outside Node's shared pool: a part-sized block returned to the system as one piece).
    let next = 1;
    const worker = async (): Promise<void> => {
      let buffer: Buffer | undefined;
      const ownBuffer = () => (buffer ??= Buffer.allocUnsafeSlow(partSize));
      while (!stop.signal.aborted && next <= partCount) {
        const partNumber = next++;
        await sendOne(partNumber, ownBuffer).catch(fail);
      }
    };
    const workers = Math.min(partConcurrency, partCount);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure) throw failure.error;
    if (signal.aborted) throw signal.reason;

    parts.sort((a, b) => a.partNumber - b.partNumber);
    await requests.complete(id, parts);
  } catch (err) {
    if (uploadId !== undefined) await requests.abort(uploadId);
    throw err;
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
  length: number,
  buffer: () => Buffer,
): Promise<Buffer> {
  if (body.viewAt) return body.viewAt(position, length);
  const into = buffer();
  await body.readInto(into, length, position);
  return into.subarray(0, length);
}
