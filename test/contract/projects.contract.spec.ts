import { expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import {
  BucketNotFoundError,
  InvalidProjectError,
  ProjectNotFoundError,
} from '../../src/credentials/index.js';
import {
  EMPTY_ZIP,
  readAll,
  rejectionOf,
  sha256Of,
  streamOf,
  zipLike,
} from '../support/backends.js';
import { CONTRACT_MAX_PROJECT_SIZE, describeContract } from './support/implementations.js';
import { ACCEPTED_NAMES, REFUSED_NAMES } from './support/names.js';

describeContract('uploadProject and downloadProject', (subject) => {
  it.each([
    ['a Buffer', 'buffer.zip', zipLike(64 * 1024), (d: Buffer) => d],
    ['a Uint8Array', 'uint8array.zip', zipLike(5_000), (d: Buffer) => new Uint8Array(d)],
    ['a stream', 'stream.zip', zipLike(300 * 1024), (d: Buffer) => streamOf(d, 10_000)],
    ['an empty archive', 'empty-archive.zip', EMPTY_ZIP, (d: Buffer) => d],
  ])('stores %s and streams the same bytes back', async (_label, key, data, body) => {
    const { credentials, bucket } = subject();
    const stored = await credentials.uploadProject(key, body(data));
    expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });
    expect(await subject().isStored(key)).toBe(true);
    const download = await credentials.downloadProject(bucket, key);
    // Announced, so that an HTTP layer can send it as Content-Length.
    expect((download as { size?: number }).size).toBe(data.length);
    expect((await readAll(download)).equals(data)).toBe(true);
  });

  it('accepts a Uint8Array view into a larger buffer', async () => {
    const { credentials, bucket } = subject();
    const data = zipLike(4096);
    const padded = Buffer.concat([Buffer.from('junk'), data, Buffer.from('junk')]);
    const view = new Uint8Array(padded.buffer, padded.byteOffset + 4, data.length);
    await credentials.uploadProject('from-view.zip', view);
    const downloaded = await readAll(await credentials.downloadProject(bucket, 'from-view.zip'));
    expect(downloaded.equals(data)).toBe(true);
  });

  it('keeps what was uploaded, whatever the caller does with its buffer afterwards', async () => {
    const { credentials, bucket } = subject();
    const data = zipLike(2048);
    const copy = Buffer.from(data);
    await credentials.uploadProject('caller-buffer.zip', data);
    data.fill(0);
    const downloaded = await readAll(
      await credentials.downloadProject(bucket, 'caller-buffer.zip'),
    );
    expect(downloaded.equals(copy)).toBe(true);
  });

  it('replaces an existing project with the new bytes', async () => {
    const { credentials, bucket } = subject();
    const second = zipLike(3000);
    await credentials.uploadProject('replaced.zip', zipLike(2048));
    await credentials.uploadProject('replaced.zip', second);
    const downloaded = await readAll(await credentials.downloadProject(bucket, 'replaced.zip'));
    expect(downloaded.equals(second)).toBe(true);
  });

  it.each(ACCEPTED_NAMES)('accepts a name of %s', async (_label, name) => {
    await expect(subject().credentials.uploadProject(name, zipLike(100))).resolves.toMatchObject({
      key: name,
    });
  });

  it.each(REFUSED_NAMES)(
    'refuses a name with %s before writing anything, saying why',
    async (_label, name) => {
      for (const body of [zipLike(100), streamOf(zipLike(100))]) {
        const err = await rejectionOf(subject().credentials.uploadProject(name, body));
        expect(err).toBeInstanceOf(InvalidProjectError);
        expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
        expect(err.message).toContain('Invalid project name');
      }
      expect(await subject().isStored(name)).toBe(false);
    },
  );

  it('says why a Windows device name and a trailing dot are refused', async () => {
    const device = await rejectionOf(subject().credentials.uploadProject('nul.zip', zipLike(100)));
    expect(device.message).toMatch(/"nul" is a Windows device name/);
    const dot = await rejectionOf(subject().credentials.uploadProject('a.', zipLike(100)));
    expect(dot.message).toMatch(/ends with "\."/);
  });

  it.each(REFUSED_NAMES)('refuses to download a name with %s', async (_label, name) => {
    const err = await rejectionOf(subject().credentials.downloadProject(subject().bucket, name));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
  });

  it.each([
    ['a text body', Buffer.from('hello, this is not a zip')],
    ['an empty body', Buffer.alloc(0)],
    ['a truncated signature', Buffer.from('PK\x03')],
    ['a gzip stream', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4])],
  ])('refuses %s as not-zip, in memory and streamed, storing nothing', async (label, data) => {
    const key = `not-zip-${label.replace(/[^a-z]+/g, '-')}.zip`;
    for (const body of [data, streamOf(data, 1)]) {
      const err = await rejectionOf(subject().credentials.uploadProject(key, body));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'not-zip' });
    }
    expect(await subject().isStored(key)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'PK\x03\x04 as text'],
    ['a number', 42],
    ['a plain object', { length: 4 }],
  ])('refuses %s as the body, storing nothing', async (label, body) => {
    const key = `wrong-type-${label.replace(/[^a-z]+/g, '-')}.zip`;
    const err = await rejectionOf(subject().credentials.uploadProject(key, body as never));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect(await subject().isStored(key)).toBe(false);
  });

  it('refuses a stream that fails part-way as unreadable, storing nothing', async () => {
    const data = zipLike(300 * 1024);
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent >= 200 * 1024) {
          this.destroy(new Error('client went away'));
          return;
        }
        this.push(data.subarray(sent, sent + 50 * 1024));
        sent += 50 * 1024;
      },
    });
    const err = await rejectionOf(subject().credentials.uploadProject('broken.zip', failing));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect(err).toMatchObject({ reason: 'unreadable' });
    expect(await subject().isStored('broken.zip')).toBe(false);
  });

  it('accepts a project of exactly the configured maximum size', async () => {
    const stored = await subject().credentials.uploadProject(
      'exactly-max.zip',
      streamOf(zipLike(CONTRACT_MAX_PROJECT_SIZE)),
    );
    expect(stored.size).toBe(CONTRACT_MAX_PROJECT_SIZE);
  });

  it.each([
    ['in memory', () => zipLike(CONTRACT_MAX_PROJECT_SIZE + 1)],
    ['streamed', () => streamOf(zipLike(CONTRACT_MAX_PROJECT_SIZE + 1024 * 1024))],
  ])('refuses a project over the maximum size (%s), storing nothing', async (_label, body) => {
    const err = await rejectionOf(subject().credentials.uploadProject('too-large.zip', body()));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
    expect(await subject().isStored('too-large.zip')).toBe(false);
    expect(await subject().leftovers()).toEqual([]);
  });

  it('refuses a missing project with ProjectNotFoundError naming it', async () => {
    const { credentials, bucket } = subject();
    const err = await rejectionOf(credentials.downloadProject(bucket, 'no-such-project.zip'));
    expect(err).toBeInstanceOf(ProjectNotFoundError);
    expect(err).toMatchObject({ code: 'PROJECT_NOT_FOUND', bucket, key: 'no-such-project.zip' });
    expect(err.message).toContain('no-such-project.zip');
  });

  it('refuses a download from a bucket that does not exist with BucketNotFoundError', async () => {
    const missing = `${subject().bucket}-missing`;
    const err = await rejectionOf(subject().credentials.downloadProject(missing, 'x.zip'));
    expect(err).toBeInstanceOf(BucketNotFoundError);
    expect(err).toMatchObject({ code: 'BUCKET_NOT_FOUND', bucket: missing });
  });

  it.each(['../etc', 'Bad_Bucket', 'ab', ''])(
    'refuses the bucket name %j on download as InvalidProjectError (bucket)',
    async (bucket) => {
      const err = await rejectionOf(subject().credentials.downloadProject(bucket, 'x.zip'));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect(err).toMatchObject({ reason: 'bucket' });
    },
  );
});
