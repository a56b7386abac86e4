import { expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import {
  IntegrityError,
  InvalidProjectError,
  StorageUnavailableError,
} from '../../src/credentials/index.js';
import { readAll, rejectionOf, sha256Of, streamOf, zipLike } from '../support/backends.js';
import { CONTRACT_MAX_PROJECT_SIZE, describeContract } from './support/implementations.js';

const MiB = 1024 * 1024;
/** Above one part (8 MiB): the multipart path of the S3 backends. */
const LARGE = 10 * MiB;

/**
 * A stream of `data` that calls `at(offset)` before each chunk it delivers, so that a test can
 * act (abort) at a known point of the transfer.
 */
function streamWatching(data: Buffer, at: (offset: number) => void, chunkSize = 256 * 1024) {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      at(offset);
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** A digest that is well-formed but not the body's. */
const wrongDigestOf = (data: Buffer) => sha256Of(Buffer.concat([data, Buffer.from('x')]));

const expectAbortedByCaller = (err: Error) => {
  expect(err).toBeInstanceOf(StorageUnavailableError);
  expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  expect(err.message).toMatch(/aborted by the caller/);
};

describeContract('transfer options: signal', (subject) => {
  it.each([
    ['a Buffer', () => zipLike(4096)],
    ['a stream', () => streamOf(zipLike(LARGE))],
  ])(
    'refuses an upload of %s whose signal is already aborted, storing nothing',
    async (_label, body) => {
      const key = `pre-aborted-${_label.replace(/\W+/g, '-')}.zip`;
      const source = body();
      const err = await rejectionOf(
        subject().credentials.uploadProject(key, source, { signal: AbortSignal.abort() }),
      );
      expectAbortedByCaller(err);
      if (source instanceof Readable) expect(source.destroyed).toBe(true);
      expect(await subject().isStored(key)).toBe(false);
      expect(await subject().leftovers()).toEqual([]);
    },
  );

  it('ends a streamed upload aborted while its body arrives, storing nothing', async () => {
    const controller = new AbortController();
    const source = streamWatching(zipLike(LARGE), (offset) => {
      if (offset >= 9 * MiB) controller.abort();
    });
    const started = Date.now();
    const err = await rejectionOf(
      subject().credentials.uploadProject('aborted-stream.zip', source, {
        signal: controller.signal,
      }),
    );
    expectAbortedByCaller(err);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(source.destroyed).toBe(true);
    expect(await subject().isStored('aborted-stream.zip')).toBe(false);
    expect(await subject().leftovers()).toEqual([]);
  });

  it('ends a multipart upload aborted after its first bytes went out, storing nothing', async () => {
    const controller = new AbortController();
    const err = await rejectionOf(
      subject().credentials.uploadProject('aborted-parts.zip', zipLike(LARGE), {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    );
    expectAbortedByCaller(err);
    expect(await subject().isStored('aborted-parts.zip')).toBe(false);
    expect(await subject().leftovers()).toEqual([]);
  });

  it('ends an upload with a supplied digest aborted during its parts, storing nothing', async () => {
    const controller = new AbortController();
    const data = zipLike(CONTRACT_MAX_PROJECT_SIZE);
    const source = streamWatching(data, (offset) => {
      if (offset >= 10 * MiB) controller.abort(new Error('the user pressed cancel'));
    });
    const err = await rejectionOf(
      subject().credentials.uploadProject('aborted-digest.zip', source, {
        signal: controller.signal,
        sha256: sha256Of(data),
      }),
    );
    expectAbortedByCaller(err);
    expect(err.cause).toMatchObject({ message: 'the user pressed cancel' });
    expect(await subject().isStored('aborted-digest.zip')).toBe(false);
    expect(await subject().leftovers()).toEqual([]);
  });

  it('refuses a download whose signal is already aborted', async () => {
    const { credentials, bucket } = subject();
    await credentials.uploadProject('download-pre-aborted.zip', zipLike(2048));
    const err = await rejectionOf(
      credentials.downloadProject(bucket, 'download-pre-aborted.zip', {
        signal: AbortSignal.abort(),
      }),
    );
    expectAbortedByCaller(err);
  });

  it('fails a download stream aborted while it is read', async () => {
    const { credentials, bucket } = subject();
    await credentials.uploadProject('download-aborted.zip', zipLike(LARGE));
    const controller = new AbortController();
    const download = await credentials.downloadProject(bucket, 'download-aborted.zip', {
      signal: controller.signal,
    });
    let read = 0;
    const err = await rejectionOf(
      (async () => {
        for await (const chunk of download) {
          read += (chunk as Buffer).length;
          controller.abort();
        }
      })(),
    );
    expectAbortedByCaller(err);
    expect(read).toBeLessThan(LARGE);
    expect(download.destroyed).toBe(true);
  });
});

describeContract('transfer options: onProgress', (subject) => {
  const expectProgressTo = (calls: number[], size: number) => {
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.at(-1)).toBe(size);
    for (let i = 1; i < calls.length; i++) expect(calls[i]).toBeGreaterThanOrEqual(calls[i - 1]);
    for (const bytes of calls) expect(bytes).toBeLessThanOrEqual(size);
  };

  it.each([
    ['a small Buffer', () => zipLike(3000), {}],
    ['a Buffer of several parts', () => zipLike(LARGE), {}],
    ['a stream of several parts', () => zipLike(LARGE), { streamed: true }],
    ['a stream with its digest', () => zipLike(LARGE), { streamed: true, digest: true }],
    ['a small stream with its digest', () => zipLike(5000), { streamed: true, digest: true }],
  ])(
    'reports the bytes of an upload of %s, rising to its size',
    async (label, make, how: { streamed?: boolean; digest?: boolean }) => {
      const data = make();
      const calls: number[] = [];
      const key = `progress-${label.replace(/\W+/g, '-')}.zip`;
      await subject().credentials.uploadProject(key, how.streamed ? streamOf(data) : data, {
        onProgress: (bytes) => calls.push(bytes),
        sha256: how.digest ? sha256Of(data) : undefined,
      });
      expectProgressTo(calls, data.length);
      // Part by part on the S3 backends (and the double); the filesystem writes a Buffer whole.
      if (data.length > 8 * MiB && (how.streamed || subject().name !== 'filesystem')) {
        expect(calls.length).toBeGreaterThan(1);
      }
    },
  );

  it('reports the bytes of a download as they are delivered, rising to its size', async () => {
    const { credentials, bucket } = subject();
    const data = zipLike(LARGE);
    await credentials.uploadProject('progress-download.zip', data);
    const calls: number[] = [];
    const download = await credentials.downloadProject(bucket, 'progress-download.zip', {
      onProgress: (bytes) => calls.push(bytes),
    });
    expect((await readAll(download)).equals(data)).toBe(true);
    expectProgressTo(calls, data.length);
  });

  it('completes transfers whose onProgress throws, with the right bytes', async () => {
    const { credentials, bucket } = subject();
    const data = zipLike(LARGE);
    const onProgress = () => {
      throw new Error('a broken progress bar');
    };
    await expect(
      credentials.uploadProject('progress-throws.zip', streamOf(data), { onProgress }),
    ).resolves.toMatchObject({ size: data.length, sha256: sha256Of(data) });
    const download = await credentials.downloadProject(bucket, 'progress-throws.zip', {
      onProgress,
    });
    expect((await readAll(download)).equals(data)).toBe(true);
  });
});

describeContract('upload option: a supplied sha256', (subject) => {
  it.each([
    ['a stream of several parts', zipLike(CONTRACT_MAX_PROJECT_SIZE), true],
    ['a stream of one part', zipLike(100 * 1024), true],
    ['a Buffer', zipLike(LARGE), false],
  ])('stores %s whose digest matches', async (label, data, streamed) => {
    const { credentials, bucket } = subject();
    const key = `digest-ok-${label.replace(/\W+/g, '-')}.zip`;
    const stored = await credentials.uploadProject(key, streamed ? streamOf(data) : data, {
      sha256: sha256Of(data),
    });
    expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });
    expect((await readAll(await credentials.downloadProject(bucket, key))).equals(data)).toBe(true);
  });

  it.each([
    ['a stream of several parts', zipLike(CONTRACT_MAX_PROJECT_SIZE), true],
    ['a stream of one part', zipLike(100 * 1024), true],
    ['a Buffer', zipLike(LARGE), false],
    ['a small Buffer', zipLike(1000), false],
  ])(
    'refuses %s whose digest does not match with IntegrityError, leaving nothing behind',
    async (label, data, streamed) => {
      const key = `digest-wrong-${label.replace(/\W+/g, '-')}.zip`;
      const err = await rejectionOf(
        subject().credentials.uploadProject(key, streamed ? streamOf(data) : data, {
          sha256: wrongDigestOf(data),
        }),
      );
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err).toMatchObject({ code: 'INTEGRITY', reason: 'supplied-digest' });
      expect(await subject().isStored(key)).toBe(false);
      expect(await subject().leftovers()).toEqual([]);
    },
  );

  it('keeps the previous project when a replacement does not match its digest', async () => {
    const { credentials, bucket } = subject();
    const first = zipLike(3000);
    await credentials.uploadProject('digest-keep.zip', first);
    const second = zipLike(LARGE);
    await expect(
      credentials.uploadProject('digest-keep.zip', streamOf(second), {
        sha256: wrongDigestOf(second),
      }),
    ).rejects.toBeInstanceOf(IntegrityError);
    const download = await credentials.downloadProject(bucket, 'digest-keep.zip');
    expect((await readAll(download)).equals(first)).toBe(true);
  });

  it.each([
    ['too short', 'abc123'],
    ['upper-case', sha256Of(Buffer.from('x')).toUpperCase()],
    ['not hex', 'z'.repeat(64)],
    ['base64', Buffer.alloc(32).toString('base64')],
  ])(
    'refuses a %s digest as InvalidProjectError before reading the body',
    async (label, sha256) => {
      const key = `digest-malformed-${label.replace(/\W+/g, '-')}.zip`;
      const source = streamOf(zipLike(LARGE));
      const err = await rejectionOf(subject().credentials.uploadProject(key, source, { sha256 }));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect(err).toMatchObject({ reason: 'argument' });
      expect(err.message).toMatch(/sha256/);
      expect(await subject().isStored(key)).toBe(false);
    },
  );

  it('still applies the ZIP signature and size rules to a body with its digest', async () => {
    const notZip = Buffer.alloc(LARGE, 7);
    const refused = await rejectionOf(
      subject().credentials.uploadProject('digest-not-zip.zip', streamOf(notZip), {
        sha256: sha256Of(notZip),
      }),
    );
    expect(refused).toMatchObject({ reason: 'not-zip' });
    const big = zipLike(CONTRACT_MAX_PROJECT_SIZE + MiB);
    const tooLarge = await rejectionOf(
      subject().credentials.uploadProject('digest-too-large.zip', streamOf(big), {
        sha256: sha256Of(big),
      }),
    );
    expect(tooLarge).toMatchObject({ reason: 'too-large' });
    expect(await subject().isStored('digest-too-large.zip')).toBe(false);
    expect(await subject().leftovers()).toEqual([]);
  });
});
