import { createHash, randomBytes } from 'node:crypto';
import { isShared, Sha256Worker, sharedBuffer } from './sha256-worker.js';

const hex = (...views: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const view of views) hash.update(view);
  return hash.digest('hex');
};

/** `bytes` copied into shared memory. */
const shared = (bytes: Uint8Array): Buffer => {
  const buffer = sharedBuffer(bytes.length);
  buffer.set(bytes);
  return buffer;
};

describe('Sha256Worker', () => {
  const worker = new Sha256Worker();
  afterAll(() => worker.close());

  it('hashes shared and unshared bytes alike, and views of them by their own bytes', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const inShared = shared(bytes);
    expect(isShared(inShared)).toBe(true);
    expect(isShared(bytes)).toBe(false);
    await expect(worker.digest(inShared)).resolves.toBe(hex(bytes));
    await expect(worker.digest(bytes)).resolves.toBe(hex(bytes));
    const view = inShared.subarray(1000, 2_000_000);
    await expect(worker.digest(view)).resolves.toBe(hex(bytes.subarray(1000, 2_000_000)));
  });

  it('keeps running hashes apart and in the order of their updates', async () => {
    const parts = Array.from({ length: 6 }, (_, i) => randomBytes(100_000 + i * 7919));
    const first = worker.running();
    const second = worker.running();
    // Interleaved, and not awaited one by one: the worker serves them in the order they came.
    const updates = parts.flatMap((part) => [
      first.update(shared(part)),
      second.update(shared(part.subarray(1))),
    ]);
    await Promise.all(updates);
    await expect(first.digest()).resolves.toBe(hex(...parts));
    await expect(second.digest()).resolves.toBe(hex(...parts.map((p) => p.subarray(1))));
  });

  it('hashes a run that starts with shared bytes and goes on with a view of a large unshared buffer', async () => {
    const head = randomBytes(50_000);
    const large = randomBytes(8 * 1024 * 1024);
    const tail = large.subarray(100, 300);
    const run = worker.running();
    await run.update(shared(head));
    await run.update(tail);
    await expect(run.digest()).resolves.toBe(hex(head, tail));
  });

  it('hashes a run that starts with unshared bytes on the calling thread, also when shared ones follow', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    const run = worker.running();
    await run.update(a);
    await run.update(shared(b));
    await expect(run.digest()).resolves.toBe(hex(a, b));
  });

  it('an empty run has the SHA-256 of no bytes', async () => {
    await expect(worker.running().digest()).resolves.toBe(hex());
  });

  it('a part whose worker dies under it is hashed on the calling thread; a running hash rejects', async () => {
    const dying = new Sha256Worker();
    const bytes = randomBytes(16 * 1024 * 1024);
    const run = dying.running();
    await run.update(shared(bytes.subarray(0, 1024)));
    const digest = dying.digest(shared(bytes));
    await dying.close();
    await expect(digest).resolves.toBe(hex(bytes));
    await expect(run.digest()).rejects.toThrow(/SHA-256 worker exited/);
    // A new worker serves the next call.
    await expect(dying.digest(shared(bytes.subarray(5)))).resolves.toBe(hex(bytes.subarray(5)));
    await dying.close();
  });

  it('drops the state of a run that will not be finished', async () => {
    const run = worker.running();
    await run.update(shared(randomBytes(10)));
    run.dispose();
    await expect(run.digest()).rejects.toThrow(/disposed/);
    await expect(run.update(shared(randomBytes(10)))).rejects.toThrow(/disposed/);
  });

  it('hashes everything on the calling thread where no worker can be started', async () => {
    const none = new Sha256Worker(() => {
      throw new Error('worker_threads are not available here');
    });
    const bytes = randomBytes(100_000);
    await expect(none.digest(shared(bytes))).resolves.toBe(hex(bytes));
    const run = none.running();
    await run.update(shared(bytes));
    await run.update(bytes.subarray(7));
    await expect(run.digest()).resolves.toBe(hex(bytes, bytes.subarray(7)));
    expect(none.usable()).toBe(false);
  });
});
