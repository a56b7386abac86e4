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
 * Buffers of one part each, allocated when first needed and reused: an upload holds at most
 * `count` of them, whatever the size of the project.
 */
class PartBuffers {
  private readonly free: Buffer[] = [];
  private allocated = 0;

  constructor(
    private readonly partSize: number,
    private readonly count: number,
  ) {}

  /** A buffer, or `undefined` when all `count` are in use. */
  take(): Buffer | undefined {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    if (this.allocated === this.count) return undefined;
    this.allocated++;
    // Outside Node's shared pool: a part-sized block returned to the system as one piece.
    return Buffer.allocUnsafeSlow(this.partSize);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }
}

/**
 * Uploads `body` in parts of `partSize` bytes, `concurrency` at a time, each read straight from
 * the body at its offset into one of `concurrency` buffers: memory is partSize x concurrency
 * whatever the size, and no part is copied or cut from stream chunks. The first failure, or
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
  const buffers = new PartBuffers(partSize, Math.min(partConcurrency, partCount));
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

    const sendOne = async (partNumber: number, buffer: Buffer): Promise<void> => {
      try {
        const position = (partNumber - 1) * partSize;
        const length = Math.min(partSize, body.size - position);
        await body.readInto(buffer, length, position);
        stop.signal.throwIfAborted();
        const data = buffer.subarray(0, length);
        parts.push({
          partNumber,
          etag: await requests.sendPart(id, partNumber, data, stop.signal),
        });
      } finally {
        buffers.give(buffer);
      }
    };

    // `concurrency` workers, each taking the next part number until none is left.
    let next = 1;
    const worker = async (): Promise<void> => {
      while (!stop.signal.aborted && next <= partCount) {
        const partNumber = next++;
        const buffer = buffers.take();
        if (!buffer) throw new Error('no part buffer free: more workers than buffers');
        await sendOne(partNumber, buffer).catch(fail);
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
