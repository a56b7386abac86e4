import { describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { IntegrityError, StorageUnavailableError } from '../errors.js';
import { type ExpectedContent, verifiedDownload } from './integrity-check.js';

const DATA = Buffer.from('PK\x03\x04 some project bytes, long enough to span chunks', 'latin1');
const SHA = createHash('sha256').update(DATA).digest('hex');
const WHERE = { bucket: 'projects', key: 'demo.zip' };

const bodyOf = (data: Buffer, chunkSize = 7) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize));
  return Readable.from(chunks, { objectMode: false });
};

const passError = (err: unknown) => err as Error;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function failureOf(stream: Readable): Promise<unknown> {
  return readAll(stream).then(
    () => {
      throw new Error('expected the stream to fail, but it ended');
    },
    (err: unknown) => err,
  );
}

function verify(data: Buffer, expected: Partial<ExpectedContent>, mapError = passError) {
  return verifiedDownload(bodyOf(data), { ...WHERE, ...expected }, mapError);
}

describe('verifiedDownload', () => {
  it('passes matching bytes through unchanged', async () => {
    const out = await readAll(verify(DATA, { size: DATA.length, sha256: SHA }));
    expect(Buffer.compare(out, DATA)).toBe(0);
  });

  it('accepts a recorded sha256 in upper case', async () => {
    const out = await readAll(verify(DATA, { sha256: SHA.toUpperCase() }));
    expect(Buffer.compare(out, DATA)).toBe(0);
  });

  it('fails with IntegrityError when the sha256 differs', async () => {
    const changed = Buffer.from(DATA);
    changed[changed.length - 1] ^= 0x01;

    const err = await failureOf(verify(changed, { size: changed.length, sha256: SHA }));

    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain('demo.zip');
  });

  it('fails with IntegrityError when fewer bytes arrive than announced', async () => {
    const err = await failureOf(verify(DATA.subarray(0, 10), { size: DATA.length }));
    expect(err).toBeInstanceOf(IntegrityError);
  });

  it('fails with IntegrityError when more bytes arrive than announced', async () => {
    const err = await failureOf(verify(DATA, { size: DATA.length - 1 }));
    expect(err).toBeInstanceOf(IntegrityError);
  });

  it('fails with IntegrityError on a size mismatch even when no sha256 was recorded', async () => {
    const err = await failureOf(verify(DATA, { size: DATA.length + 5, sha256: undefined }));
    expect(err).toBeInstanceOf(IntegrityError);
  });

  it('does not check the hash when no sha256 was recorded', async () => {
    const other = Buffer.from('PK\x03\x04 entirely different bytes', 'latin1');
    const out = await readAll(verify(other, { size: other.length }));
    expect(Buffer.compare(out, other)).toBe(0);
  });

  it('does not check the size when none was announced', async () => {
    const out = await readAll(verify(DATA, { sha256: SHA }));
    expect(Buffer.compare(out, DATA)).toBe(0);
  });

  it('maps an error of the body through mapError', async () => {
    const body = new PassThrough();
    const mapped = new StorageUnavailableError('mapped');
    const mapError = jest.fn((_err: unknown): Error => mapped);
    const out = verifiedDownload(body, { ...WHERE, sha256: SHA }, mapError);
    const original = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

    const failure = failureOf(out);
    body.write(DATA.subarray(0, 5));
    body.destroy(original);

    expect(await failure).toBe(mapped);
    expect(mapError).toHaveBeenCalledWith(original);
  });

  it('destroys the body when the returned stream is destroyed', async () => {
    const body = new PassThrough();
    const out = verifiedDownload(body, { ...WHERE }, passError);
    body.write(DATA.subarray(0, 5));

    out.destroy();
    await tick();

    expect(body.destroyed).toBe(true);
  });

  it('destroys the body when the integrity check fails', async () => {
    const body = new PassThrough();
    const out = verifiedDownload(body, { ...WHERE, sha256: SHA }, passError);

    const failure = failureOf(out);
    body.end(Buffer.from('PK\x03\x04 tampered', 'latin1'));

    expect(await failure).toBeInstanceOf(IntegrityError);
    await tick();
    expect(body.destroyed).toBe(true);
  });
});

describe('verifiedDownload: idle deadline', () => {
  it('destroys a download nobody reads after idleTimeoutMs, with StorageUnavailableError, and its body', async () => {
    const body = new PassThrough();
    body.write(Buffer.alloc(256 * 1024, 1));
    const stream = verifiedDownload(body, WHERE, passError, 150);
    const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
    const err = await Promise.race([
      failed,
      new Promise((resolve) => setTimeout(resolve, 3_000, 'still open')),
    ]);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain('150 ms');
    expect(body.destroyed).toBe(true);
  });

  it('keeps a download that is read, however long it takes in total', async () => {
    const data = Buffer.alloc(64 * 1024, 2);
    const body = new Readable({ read() {} });
    const stream = verifiedDownload(body, { ...WHERE, size: data.length * 6 }, passError, 200);
    const read = readAll(stream);
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      body.push(data);
    }
    body.push(null);
    expect((await read).length).toBe(data.length * 6);
  });

  it('fails as soon as more bytes arrive than announced', async () => {
    const err = await failureOf(verify(DATA, { size: 10 }));
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain('more than the 10 bytes');
  });
});
