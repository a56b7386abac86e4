import { describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  type MultipartRequests,
  singlePut,
  type UploadedPart,
  uploadInParts,
} from './multipart-upload.js';
import type { PartSource } from './object-store.js';
import type { AbortOutcome } from './pending-aborts.js';

const KiB = 1024;

function sourceOf(data: Buffer, readFails?: (position: number) => boolean): PartSource {
  return {
    size: data.length,
    sha256: 'f'.repeat(64),
    async readInto(into, length, position) {
      await new Promise((resolve) => setImmediate(resolve));
      if (readFails?.(position)) throw new Error(`read failed at ${position}`);
      data.copy(into, 0, position, position + length);
    },
    stream: () => Readable.from([data]),
  };
}

interface Recorder {
  requests: MultipartRequests;
  parts: Map<number, Buffer>;
  completed?: UploadedPart[];
  aborted: string[];
  /** What the server says to an abort. */
  abortOutcome: AbortOutcome;
  /** Creates handed over unanswered, and the SHA-256 on the key (for settling a commit). */
  late: Promise<string>[];
  storedSha256?: string;
  heads: number;
  /** Distinct memory blocks the parts were sent from. */
  blocks: Set<ArrayBufferLike>;
  /** Where each part's bytes were, as sent: its memory block and offset in it. */
  sentFrom: Map<number, { block: ArrayBufferLike; byteOffset: number }>;
  maxInFlight: number;
}

function recorder(options: { failPart?: number; partDelayMs?: number } = {}): Recorder {
  let inFlight = 0;
  const record: Recorder = {
    parts: new Map(),
    aborted: [],
    abortOutcome: 'aborted',
    late: [],
    heads: 0,
    blocks: new Set(),
    sentFrom: new Map(),
    maxInFlight: 0,
    requests: {
      create: async () => 'upload-1',
      sendPart: async (uploadId, partNumber, data, signal) => {
        expect(uploadId).toBe('upload-1');
        record.blocks.add(data.buffer);
        record.sentFrom.set(partNumber, { block: data.buffer, byteOffset: data.byteOffset });
        record.maxInFlight = Math.max(record.maxInFlight, ++inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, options.partDelayMs ?? 2));
          signal.throwIfAborted();
          if (partNumber === options.failPart) throw new Error(`part ${partNumber} refused`);
          // A copy: the buffer is reused once this resolves.
          record.parts.set(partNumber, Buffer.from(data));
          return `"etag-${partNumber}"`;
        } finally {
          inFlight--;
        }
      },
      complete: async (_uploadId, parts) => {
        record.completed = parts;
      },
      abort: async (uploadId) => {
        record.aborted.push(uploadId);
        return record.abortOutcome;
      },
      abortLate: (created) => {
        record.late.push(created);
      },
      storedSha256: async () => {
        record.heads++;
        return record.storedSha256;
      },
    },
  };
  return record;
}

const reassembled = (parts: Map<number, Buffer>) =>
  Buffer.concat([...parts.keys()].sort((a, b) => a - b).map((n) => parts.get(n) as Buffer));

describe('uploadInParts', () => {
  const settings = { partSize: 10 * KiB, partConcurrency: 3, requestTimeoutMs: 500 };

  it('sends every part at its offset and completes with the parts in order', async () => {
    const data = randomBytes(95 * KiB); // 9 full parts and one of 5 KiB
    const record = recorder();
    await uploadInParts(record.requests, sourceOf(data), settings, new AbortController().signal);
    expect(record.parts.size).toBe(10);
    expect(record.parts.get(10)?.length).toBe(5 * KiB);
    expect(Buffer.compare(reassembled(record.parts), data)).toBe(0);
    expect(record.completed).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ partNumber: i + 1, etag: `"etag-${i + 1}"` })),
    );
    expect(record.aborted).toEqual([]);
  });

  it('holds partConcurrency buffers whatever the size, and never more parts in flight', async () => {
    const data = randomBytes(300 * KiB); // 30 parts
    const record = recorder();
    await uploadInParts(record.requests, sourceOf(data), settings, new AbortController().signal);
    expect(record.parts.size).toBe(30);
    expect(record.blocks.size).toBe(3);
    expect(record.maxInFlight).toBe(3);
    expect(Buffer.compare(reassembled(record.parts), data)).toBe(0);
  });

  it('allocates no more buffers than there are parts', async () => {
    const record = recorder();
    const data = randomBytes(15 * KiB);
    await uploadInParts(record.requests, sourceOf(data), settings, new AbortController().signal);
    expect(record.parts.size).toBe(2);
    expect(record.blocks.size).toBe(2);
  });

  it('a refused part: stops sending, aborts the upload, does not complete, throws its error', async () => {
    const record = recorder({ failPart: 4 });
    const data = randomBytes(300 * KiB);
    await expect(
      uploadInParts(record.requests, sourceOf(data), settings, new AbortController().signal),
    ).rejects.toThrow('part 4 refused');
    expect(record.aborted).toEqual(['upload-1']);
    expect(record.completed).toBeUndefined();
    // At most the parts already started when part 4 failed.
    expect(record.parts.size).toBeLessThanOrEqual(3 + settings.partConcurrency);
  });

  it('a failed read of the source aborts the upload', async () => {
    const record = recorder();
    const data = randomBytes(100 * KiB);
    const failAt = 50 * KiB;
    await expect(
      uploadInParts(
        record.requests,
        sourceOf(data, (position) => position === failAt),
        settings,
        new AbortController().signal,
      ),
    ).rejects.toThrow(`read failed at ${failAt}`);
    expect(record.aborted).toEqual(['upload-1']);
    expect(record.completed).toBeUndefined();
  });

  it('the signal stops the upload: parts in flight are cancelled, the upload aborted', async () => {
    const record = recorder({ partDelayMs: 20 });
    const controller = new AbortController();
    const data = randomBytes(300 * KiB);
    setTimeout(() => controller.abort(new Error('deadline')), 30);
    await expect(
      uploadInParts(record.requests, sourceOf(data), settings, controller.signal),
    ).rejects.toThrow('deadline');
    expect(record.aborted).toEqual(['upload-1']);
    expect(record.completed).toBeUndefined();
    expect(record.parts.size).toBeLessThan(30);
  });

  it('an aborted signal before the start creates nothing', async () => {
    const record = recorder();
    const create = jest.spyOn(record.requests, 'create');
    const controller = new AbortController();
    controller.abort(new Error('already over'));
    await expect(
      uploadInParts(record.requests, sourceOf(randomBytes(20 * KiB)), settings, controller.signal),
    ).rejects.toThrow('already over');
    expect(create).not.toHaveBeenCalled();
    expect(record.aborted).toEqual([]);
  });

  it('a failed create aborts nothing and throws its error', async () => {
    const record = recorder();
    record.requests.create = () => Promise.reject(new Error('no such bucket'));
    await expect(
      uploadInParts(
        record.requests,
        sourceOf(randomBytes(20 * KiB)),
        settings,
        new AbortController().signal,
      ),
    ).rejects.toThrow('no such bucket');
    expect(record.aborted).toEqual([]);
    expect(record.parts.size).toBe(0);
  });

  it('a failed complete aborts the upload', async () => {
    const record = recorder();
    record.requests.complete = () => Promise.reject(new Error('InvalidPart'));
    await expect(
      uploadInParts(
        record.requests,
        sourceOf(randomBytes(20 * KiB)),
        settings,
        new AbortController().signal,
      ),
    ).rejects.toThrow('InvalidPart');
    expect(record.aborted).toEqual(['upload-1']);
  });

  describe('a source read front to back (a stream with its SHA-256)', () => {
    /** `data` served by `readPart` in the order asked, slowly; counts the reads under way. */
    function sequentialOf(data: Buffer, failAfter?: number) {
      let offset = 0;
      let queue: Promise<unknown> = Promise.resolve();
      const source = {
        reads: 0,
        verified: 0,
        size: 0,
        sha256: 'f'.repeat(64),
        readPart(into: Buffer): Promise<number> {
          source.reads++;
          const read = queue.then(async () => {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (failAfter !== undefined && offset >= failAfter) throw new Error('source failed');
            const length = data.copy(into, 0, offset, offset + into.length);
            offset += length;
            source.size = offset;
            return length;
          });
          queue = read.catch(() => undefined);
          return read;
        },
        async readInto() {
          throw new Error('read front to back');
        },
        async verify() {
          source.verified++;
        },
        stream: () => Readable.from([data]),
      };
      return source;
    }

    it('reads one part ahead into one more buffer, and sends every part in order', async () => {
      const data = randomBytes(95 * KiB);
      const record = recorder({ partDelayMs: 10 });
      const source = sequentialOf(data);
      await uploadInParts(record.requests, source, settings, new AbortController().signal);
      expect(Buffer.compare(reassembled(record.parts), data)).toBe(0);
      expect(record.completed?.map((p) => p.partNumber)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      expect(source.verified).toBe(1);
      // partConcurrency buffers sending, and one read ahead: never more.
      expect(record.blocks.size).toBe(settings.partConcurrency + 1);
      expect(record.maxInFlight).toBe(settings.partConcurrency);
    });

    it('reads into shared memory, which the SHA-256 worker hashes in place', async () => {
      const record = recorder();
      await uploadInParts(
        record.requests,
        sequentialOf(randomBytes(45 * KiB)),
        settings,
        new AbortController().signal,
      );
      expect(record.blocks.size).toBe(settings.partConcurrency + 1);
      for (const block of record.blocks) expect(block).toBeInstanceOf(SharedArrayBuffer);
    });

    it('while every worker sends, the next part is already read', async () => {
      const data = randomBytes(200 * KiB);
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const record = recorder();
      const send = record.requests.sendPart;
      record.requests.sendPart = async (...args) => {
        await held;
        return send(...args);
      };
      const source = sequentialOf(data);
      const upload = uploadInParts(record.requests, source, settings, new AbortController().signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Three parts held in their requests, the fourth read (and its read asked for) ahead.
      expect(source.reads).toBe(settings.partConcurrency + 1);
      expect(source.size).toBe((settings.partConcurrency + 1) * settings.partSize);
      release();
      await upload;
      expect(Buffer.compare(reassembled(record.parts), data)).toBe(0);
    });

    it('a source that fails while a part is read ahead: the upload is aborted with its error', async () => {
      const record = recorder({ partDelayMs: 5 });
      const source = sequentialOf(randomBytes(100 * KiB), 40 * KiB);
      await expect(
        uploadInParts(record.requests, source, settings, new AbortController().signal),
      ).rejects.toThrow('source failed');
      expect(record.aborted).toEqual(['upload-1']);
      expect(record.completed).toBeUndefined();
      expect(source.verified).toBe(0);
    });
  });

  describe('a source that hands out views of its bytes (a Buffer or Uint8Array body)', () => {
    /** `data` as a source of views; reading it into a buffer fails the test. */
    const viewSource = (data: Buffer): PartSource => ({
      ...sourceOf(data),
      readInto: () => Promise.reject(new Error('a part was copied (readInto)')),
      viewAt: (position, length) => data.subarray(position, position + length),
    });

    it("sends each part as a view of the caller's memory at its offset: no copy, no buffer", async () => {
      // A view that starts 7 bytes into a larger block, as a Uint8Array of a caller may.
      const block = randomBytes(95 * KiB + 20);
      const data = block.subarray(7, 7 + 95 * KiB);
      const record = recorder();
      await uploadInParts(
        record.requests,
        viewSource(data),
        settings,
        new AbortController().signal,
      );
      expect(record.parts.size).toBe(10);
      expect(record.blocks).toEqual(new Set([block.buffer]));
      for (const [partNumber, { block: sentBlock, byteOffset }] of record.sentFrom) {
        expect(sentBlock).toBe(data.buffer);
        expect(byteOffset).toBe(data.byteOffset + (partNumber - 1) * settings.partSize);
      }
      expect(Buffer.compare(reassembled(record.parts), data)).toBe(0);
      expect(record.maxInFlight).toBe(3);
      expect(record.aborted).toEqual([]);
    });

    it('a refused part still aborts the upload', async () => {
      const record = recorder({ failPart: 2 });
      await expect(
        uploadInParts(
          record.requests,
          viewSource(randomBytes(50 * KiB)),
          settings,
          new AbortController().signal,
        ),
      ).rejects.toThrow('part 2 refused');
      expect(record.aborted).toEqual(['upload-1']);
      expect(record.completed).toBeUndefined();
    });
  });

  describe('when the deadline passes in a request whose answer is late', () => {
    const SHA = 'f'.repeat(64);
    const deadlineAfter = (ms: number) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('deadline')), ms);
      return controller.signal;
    };
    /** A complete the server took, whose answer is held until its request is destroyed. */
    const slowComplete = (record: Recorder) => {
      record.requests.complete = (_id, parts, signal) =>
        new Promise((_resolve, reject) => {
          record.completed = parts;
          signal.addEventListener('abort', () => reject(new Error('request destroyed')));
        });
    };

    it('a late create: stops waiting at the deadline and hands the create over to be aborted', async () => {
      const record = recorder();
      let answer: (id: string) => void = () => undefined;
      record.requests.create = () => new Promise((resolve) => (answer = resolve));
      const started = Date.now();
      await expect(
        uploadInParts(
          record.requests,
          sourceOf(randomBytes(20 * KiB)),
          settings,
          deadlineAfter(20),
        ),
      ).rejects.toThrow('deadline');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(record.late).toHaveLength(1);
      answer('late-upload');
      await expect(record.late[0]).resolves.toBe('late-upload');
      expect(record.parts.size).toBe(0);
    });

    it('a complete cut off by the deadline, aborted before the server committed: failure', async () => {
      const record = recorder();
      slowComplete(record);
      await expect(
        uploadInParts(
          record.requests,
          sourceOf(randomBytes(20 * KiB)),
          settings,
          deadlineAfter(50),
        ),
      ).rejects.toThrow('request destroyed');
      expect(record.aborted).toEqual(['upload-1']);
      expect(record.heads).toBe(0);
    });

    it('a complete cut off by the deadline that the server had committed: success', async () => {
      const record = recorder();
      slowComplete(record);
      record.abortOutcome = 'gone';
      record.storedSha256 = SHA;
      await uploadInParts(
        record.requests,
        sourceOf(randomBytes(20 * KiB)),
        settings,
        deadlineAfter(50),
      );
      expect(record.aborted).toEqual(['upload-1']);
      expect(record.heads).toBe(1);
    });

    it('a complete cut off, the upload gone, other bytes on the key: failure', async () => {
      const record = recorder();
      slowComplete(record);
      record.abortOutcome = 'gone';
      record.storedSha256 = 'a'.repeat(64);
      await expect(
        uploadInParts(
          record.requests,
          sourceOf(randomBytes(20 * KiB)),
          settings,
          deadlineAfter(50),
        ),
      ).rejects.toThrow('request destroyed');
      expect(record.heads).toBe(1);
    });

    it('a server that cannot settle it: failure within one request deadline', async () => {
      const record = recorder();
      slowComplete(record);
      record.requests.abort = () => new Promise<AbortOutcome>(() => undefined);
      const started = Date.now();
      await expect(
        uploadInParts(
          record.requests,
          sourceOf(randomBytes(20 * KiB)),
          settings,
          deadlineAfter(50),
        ),
      ).rejects.toThrow('request destroyed');
      const ms = Date.now() - started;
      expect(ms).toBeGreaterThanOrEqual(50 + settings.requestTimeoutMs - 20);
      expect(ms).toBeLessThan(50 + settings.requestTimeoutMs + 1_000);
    });

    it('a complete the server refused (an answer): aborted, the key not looked at', async () => {
      const record = recorder();
      record.abortOutcome = 'gone';
      record.storedSha256 = SHA;
      record.requests.complete = () =>
        Promise.reject(
          Object.assign(new Error('InvalidPart'), { $metadata: { httpStatusCode: 400 } }),
        );
      await expect(
        uploadInParts(
          record.requests,
          sourceOf(randomBytes(20 * KiB)),
          settings,
          new AbortController().signal,
        ),
      ).rejects.toThrow('InvalidPart');
      expect(record.aborted).toEqual(['upload-1']);
      expect(record.heads).toBe(0);
    });
  });
});

describe('singlePut', () => {
  const SHA = 'f'.repeat(64);
  const mapped = (err: unknown) => new Error(`mapped: ${(err as Error).message}`);
  /** A PUT that failed without an answer (a lost connection), and a key that holds `stored`. */
  const missedAnswer = (stored: string | undefined) => {
    let heads = 0;
    const put = singlePut(
      () => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
      { sha256: SHA, storedSha256: async () => (heads++, stored) },
      2_000,
      mapped,
    );
    return { put, heads: () => heads };
  };

  it('a PUT that succeeds: resolves, the key not looked at', async () => {
    let heads = 0;
    const check = { sha256: SHA, storedSha256: async () => (heads++, undefined) };
    await singlePut(async () => 'ok', check, 2_000, mapped);
    expect(heads).toBe(0);
  });

  it('a PUT the server refused (an answer): the error as the store maps it, the key not looked at', async () => {
    let heads = 0;
    const refused = Object.assign(new Error('AccessDenied'), {
      $metadata: { httpStatusCode: 403 },
    });
    await expect(
      singlePut(
        () => Promise.reject(refused),
        { sha256: SHA, storedSha256: async () => (heads++, SHA) },
        2_000,
        mapped,
      ),
    ).rejects.toThrow('mapped: AccessDenied');
    expect(heads).toBe(0);
  });

  it('an answer missed, our SHA-256 on the key: stored, so it resolves', async () => {
    const { put, heads } = missedAnswer(SHA);
    await put;
    expect(heads()).toBe(1);
  });

  it('an answer missed, other bytes on the key: the mapped error once the grace is over', async () => {
    const { put, heads } = missedAnswer('a'.repeat(64));
    await expect(put).rejects.toThrow('mapped: socket hang up');
    expect(heads()).toBeGreaterThan(1);
  });
});
