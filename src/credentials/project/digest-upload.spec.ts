import { createHash, randomBytes } from 'node:crypto';
import { IntegrityError, InvalidProjectError } from '../errors.js';
import { sharedBuffer } from '../util/sha256-worker.js';
import { streamedWithDigest } from './digest-upload.js';
import type { ChunkSource } from './spool-file.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `data` as a source of chunks of varied sizes (1 byte to 70 KiB), as sockets deliver them. */
function chunksOf(data: Buffer): ChunkSource & { stopped: boolean } {
  let offset = 0;
  let n = 0;
  const source = {
    stopped: false,
    next: async (): Promise<IteratorResult<Buffer>> => {
      if (offset >= data.length) return { done: true, value: undefined };
      const size = [1, 4096, 65_536, 70_001, 333][n++ % 5];
      const chunk = Buffer.from(data.subarray(offset, offset + size)); // a copy, as a stream's
      offset += chunk.length;
      return { done: false, value: chunk };
    },
    stop: () => {
      source.stopped = true;
    },
  };
  return source;
}

const errors = {
  tooLarge: () => new InvalidProjectError('too large', 'too-large'),
  unreadable: () => new InvalidProjectError('unreadable', 'unreadable'),
};

/** Reads the body as the multipart driver does: `buffers` part buffers, each refilled at once. */
async function readAllParts(
  body: ReturnType<typeof streamedWithDigest>,
  buffers: Buffer[],
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; ; i++) {
    const into = buffers[i % buffers.length];
    const length = await body.readPart(into);
    if (length === 0) break;
    // A copy of what would be sent; the buffer is refilled by the very next call.
    parts.push(Buffer.from(into.subarray(0, length)));
  }
  return Buffer.concat(parts);
}

describe('streamedWithDigest', () => {
  const data = randomBytes(5 * 1024 * 1024 + 12_345);
  const partSize = 1024 * 1024;

  it.each([
    ['shared part buffers (hashed in the worker)', () => sharedBuffer(partSize)],
    ['unshared part buffers (hashed here)', () => Buffer.allocUnsafeSlow(partSize)],
  ])(
    'with %s refilled at once, the bytes read and the digest are those of the stream',
    async (_, buffer) => {
      const body = streamedWithDigest([], chunksOf(data), sha256(data), Infinity, errors);
      // One buffer: each fill must wait until the worker has read the previous part from it.
      const read = await readAllParts(body, [buffer()]);
      expect(Buffer.compare(read, data)).toBe(0);
      expect(body.size).toBe(data.length);
      await expect(body.verify()).resolves.toBeUndefined();
    },
  );

  it('parts asked for at once are filled in order, each hashed once', async () => {
    const head = [data.subarray(0, 100), data.subarray(100, 70_000)];
    const body = streamedWithDigest(
      head,
      chunksOf(data.subarray(70_000)),
      sha256(data),
      Infinity,
      errors,
    );
    const buffers = [0, 1, 2].map(() => sharedBuffer(partSize));
    const lengths = await Promise.all(buffers.map((b) => body.readPart(b)));
    expect(lengths).toEqual([partSize, partSize, partSize]);
    expect(Buffer.compare(Buffer.concat(buffers), data.subarray(0, 3 * partSize))).toBe(0);
    const rest = await readAllParts(body, buffers);
    expect(Buffer.compare(rest, data.subarray(3 * partSize))).toBe(0);
    await expect(body.verify()).resolves.toBeUndefined();
  });

  it('bytes that do not match the supplied digest: verify rejects with an IntegrityError', async () => {
    const body = streamedWithDigest([], chunksOf(data), sha256(data.subarray(1)), Infinity, errors);
    await readAllParts(body, [sharedBuffer(partSize), sharedBuffer(partSize)]);
    await expect(body.verify()).rejects.toBeInstanceOf(IntegrityError);
  });

  it('a body not read to its end is not verified, and discard stops the source', async () => {
    const source = chunksOf(data);
    const body = streamedWithDigest([], source, sha256(data), Infinity, errors);
    await body.readPart(sharedBuffer(partSize));
    await expect(body.verify()).rejects.toThrow(/not read to its end/);
    await body.discard();
    expect(source.stopped).toBe(true);
  });

  it('as a stream (stores that write one), the same bytes and the same check', async () => {
    const good = streamedWithDigest([], chunksOf(data), sha256(data), Infinity, errors);
    const read: Buffer[] = [];
    for await (const chunk of good.stream()) read.push(chunk as Buffer);
    expect(Buffer.compare(Buffer.concat(read), data)).toBe(0);

    const bad = streamedWithDigest([], chunksOf(data), sha256(Buffer.alloc(1)), Infinity, errors);
    const failed = (async () => {
      for await (const chunk of bad.stream()) void chunk;
    })();
    await expect(failed).rejects.toBeInstanceOf(IntegrityError);
  });
});
