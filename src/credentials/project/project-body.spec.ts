import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { createReadStream, mkdtempSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ProjectBody } from '../credentials.js';
import { IntegrityError, InvalidProjectError, StorageUnavailableError } from '../errors.js';
import { type BodyLimits, prepareProjectBody } from './project-body.js';

const LOCAL_FILE_HEADER = Buffer.from('PK\x03\x04', 'latin1');
const EMPTY_ARCHIVE = Buffer.concat([Buffer.from('PK\x05\x06', 'latin1'), Buffer.alloc(18)]);
const SPOOL_DIR = mkdtempSync(path.join(tmpdir(), 'project-body-spec-'));
const LIMITS: BodyLimits = { maxProjectSize: 1_000, wholeBodyLimit: 100, spoolDir: SPOOL_DIR };
/** Files left in the spool directory (must be none after a refusal or a discard). */
const spooled = () => readdirSync(SPOOL_DIR);

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A ZIP-looking body of `size` bytes (local file header, then a byte pattern). */
function zipOf(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) % 251;
  LOCAL_FILE_HEADER.copy(data, 0, 0, Math.min(4, size));
  return data;
}

/** Splits `data` into chunks of `size` bytes. */
function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

/** A byte stream of the given chunks. */
const streamOf = (chunks: Buffer[]) => Readable.from(chunks, { objectMode: false });

/** A stream that hands out exactly the given chunks, never merged (object mode). */
const exactChunks = (chunks: Buffer[]) => Readable.from(chunks, { objectMode: true });

/** A byte stream of `chunks` that then fails with `error`. */
function failingStream(chunks: Buffer[], error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      throw error;
    })(),
    { objectMode: false },
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function refusal(promise: Promise<unknown>): Promise<InvalidProjectError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidProjectError);
  return err as InvalidProjectError;
}

describe('prepareProjectBody with a Buffer', () => {
  it('accepts an empty archive (22 bytes starting PK\\x05\\x06)', async () => {
    const body = await prepareProjectBody(EMPTY_ARCHIVE, LIMITS);

    expect(body).toMatchObject({
      kind: 'whole',
      data: EMPTY_ARCHIVE,
      size: 22,
      sha256: sha256(EMPTY_ARCHIVE),
    });
  });

  it('accepts a ZIP and reports its size and sha256', async () => {
    const data = zipOf(500);

    const body = await prepareProjectBody(data, LIMITS);

    expect(body).toMatchObject({ kind: 'whole', size: 500, sha256: sha256(data) });
  });

  it.each([
    ['text', Buffer.from('hello world, this is not a zip')],
    ['a gzip header', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0])],
    ['a spanned-archive marker', Buffer.from('PK\x07\x08rest', 'latin1')],
    ['lower-case pk', Buffer.from('pk\x03\x04rest', 'latin1')],
  ])('refuses %s with reason not-zip', async (_label, data) => {
    expect((await refusal(prepareProjectBody(data, LIMITS))).reason).toBe('not-zip');
  });

  it.each([
    ['0 bytes', Buffer.alloc(0)],
    ['1 byte', Buffer.from('P')],
    ['3 bytes of a signature', Buffer.from('PK\x03', 'latin1')],
  ])('refuses a body shorter than 4 bytes: %s', async (_label, data) => {
    expect((await refusal(prepareProjectBody(data, LIMITS))).reason).toBe('not-zip');
  });

  it('accepts a body of exactly the maximum size', async () => {
    const body = await prepareProjectBody(zipOf(1_000), LIMITS);
    expect(body).toMatchObject({ kind: 'whole', size: 1_000 });
  });

  it('refuses a body one byte over the maximum with reason too-large', async () => {
    expect((await refusal(prepareProjectBody(zipOf(1_001), LIMITS))).reason).toBe('too-large');
  });
});

describe('prepareProjectBody with a Uint8Array', () => {
  it('uses only the bytes of a view with a non-zero byteOffset', async () => {
    const zip = zipOf(300);
    const backing = new ArrayBuffer(400);
    new Uint8Array(backing).fill(0x41); // "AAAA..." around the view: not a ZIP
    const view = new Uint8Array(backing, 50, 300);
    view.set(zip);

    const body = await prepareProjectBody(view, LIMITS);

    expect(body.kind).toBe('whole');
    if (body.kind !== 'whole') return;
    expect(body.size).toBe(300);
    expect(Buffer.compare(body.data, zip)).toBe(0);
    expect(body.sha256).toBe(sha256(zip));
  });

  it("hands out its parts as views of the caller's memory (no copy), and reads and streams the same bytes", async () => {
    const zip = zipOf(300);
    const view = new Uint8Array(new ArrayBuffer(400), 50, 300);
    view.set(zip);

    const body = await prepareProjectBody(view, LIMITS);

    if (body.kind !== 'whole') throw new Error(`expected a whole body, got ${body.kind}`);
    expect(body.data.buffer).toBe(view.buffer);
    const part = body.viewAt(100, 120);
    expect(part.buffer).toBe(view.buffer);
    expect(part.byteOffset).toBe(150);
    expect(Buffer.compare(part, zip.subarray(100, 220))).toBe(0);
    const into = Buffer.alloc(120);
    await body.readInto(into, 120, 100);
    expect(Buffer.compare(into, zip.subarray(100, 220))).toBe(0);
    expect(Buffer.compare(await readAll(body.stream()), zip)).toBe(0);
  });

  it('refuses a view whose own first bytes are not a ZIP signature, even if the backing buffer starts with one', async () => {
    const backing = Buffer.concat([zipOf(10), Buffer.from('not a zip at all')]);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 10, 16);

    expect((await refusal(prepareProjectBody(view, LIMITS))).reason).toBe('not-zip');
  });

  it('accepts an empty archive as a plain Uint8Array', async () => {
    const body = await prepareProjectBody(new Uint8Array(EMPTY_ARCHIVE), LIMITS);
    expect(body).toMatchObject({ kind: 'whole', size: 22, sha256: sha256(EMPTY_ARCHIVE) });
  });

  it('refuses an over-size Uint8Array with reason too-large', async () => {
    const view = new Uint8Array(zipOf(1_001));
    expect((await refusal(prepareProjectBody(view, LIMITS))).reason).toBe('too-large');
  });
});

describe('prepareProjectBody with a Readable', () => {
  it('accepts an empty archive and returns it whole', async () => {
    const body = await prepareProjectBody(streamOf([EMPTY_ARCHIVE]), LIMITS);

    expect(body).toMatchObject({ kind: 'whole', size: 22, sha256: sha256(EMPTY_ARCHIVE) });
  });

  it('returns a stream that ends within wholeBodyLimit as a whole body with its sha256', async () => {
    const data = zipOf(90);

    const body = await prepareProjectBody(streamOf(chunksOf(data, 25)), LIMITS);

    expect(body.kind).toBe('whole');
    if (body.kind !== 'whole') return;
    expect(Buffer.compare(body.data, data)).toBe(0);
    expect(body.size).toBe(90);
    expect(body.sha256).toBe(sha256(data));
  });

  it('returns a stream of exactly wholeBodyLimit bytes as a whole body', async () => {
    const body = await prepareProjectBody(streamOf(chunksOf(zipOf(100), 10)), LIMITS);
    expect(body).toMatchObject({ kind: 'whole', size: 100 });
  });

  it('accepts a ZIP signature split across 1-byte chunks', async () => {
    const data = zipOf(60);
    const chunks = [...chunksOf(data.subarray(0, 4), 1), data.subarray(4)];

    const body = await prepareProjectBody(exactChunks(chunks), LIMITS);

    expect(body).toMatchObject({ kind: 'whole', size: 60, sha256: sha256(data) });
  });

  it('refuses a non-ZIP signature split across 1-byte chunks, and destroys the source', async () => {
    const data = Buffer.concat([Buffer.from('PK\x03\x05', 'latin1'), Buffer.alloc(500)]);
    const source = exactChunks(chunksOf(data, 1));

    expect((await refusal(prepareProjectBody(source, LIMITS))).reason).toBe('not-zip');
    await tick();
    expect(source.destroyed).toBe(true);
  });

  it('refuses a long non-ZIP stream with reason not-zip, and destroys the source', async () => {
    const source = streamOf(chunksOf(Buffer.alloc(5_000, 0x41), 64));

    expect((await refusal(prepareProjectBody(source, LIMITS))).reason).toBe('not-zip');
    await tick();
    expect(source.destroyed).toBe(true);
  });

  it.each([
    ['an empty stream', []],
    ['a 3-byte stream', [Buffer.from('PK', 'latin1'), Buffer.from('\x03', 'latin1')]],
  ])('refuses %s shorter than 4 bytes with reason not-zip', async (_label, chunks) => {
    expect((await refusal(prepareProjectBody(streamOf(chunks), LIMITS))).reason).toBe('not-zip');
  });

  it('spools a stream longer than wholeBodyLimit: same bytes, size and sha256, file removed by discard', async () => {
    const data = zipOf(950);
    const source = streamOf(chunksOf(data, 37));

    const body = await prepareProjectBody(source, LIMITS);

    expect(body).toMatchObject({ kind: 'spooled', size: 950, sha256: sha256(data) });
    if (body.kind !== 'spooled') return;
    expect(spooled()).toHaveLength(1);
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    // It can be read again (a retried upload).
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    await body.discard();
    await body.discard();
    expect(spooled()).toEqual([]);
  });

  it('accepts a ZIP signature split across 1-byte chunks of a long stream', async () => {
    const data = zipOf(400);
    const chunks = [...chunksOf(data.subarray(0, 4), 1), ...chunksOf(data.subarray(4), 64)];

    const body = await prepareProjectBody(exactChunks(chunks), LIMITS);

    expect(body).toMatchObject({ kind: 'spooled', size: 400, sha256: sha256(data) });
    if (body.kind !== 'spooled') return;
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    await body.discard();
  });

  it('spools a stream of wholeBodyLimit + 1 bytes', async () => {
    const data = zipOf(101);

    const body = await prepareProjectBody(streamOf(chunksOf(data, 101)), LIMITS);

    expect(body).toMatchObject({ kind: 'spooled', size: 101, sha256: sha256(data) });
    if (body.kind !== 'spooled') return;
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    await body.discard();
  });

  it('refuses a stream that passes the maximum within the head, and destroys the source', async () => {
    const limits = { maxProjectSize: 50, wholeBodyLimit: 100, spoolDir: SPOOL_DIR };
    const source = streamOf(chunksOf(zipOf(80), 10));

    expect((await refusal(prepareProjectBody(source, limits))).reason).toBe('too-large');
    await tick();
    expect(source.destroyed).toBe(true);
  });

  it('refuses with too-large a source that passes the maximum after the head, leaving no spool file', async () => {
    const source = streamOf(chunksOf(zipOf(2_000), 50));

    const err = await refusal(prepareProjectBody(source, LIMITS));

    expect(err.reason).toBe('too-large');
    await tick();
    expect(source.destroyed).toBe(true);
    expect(spooled()).toEqual([]);
  });

  it('accepts a stream of exactly the maximum size', async () => {
    const data = zipOf(1_000);

    const body = await prepareProjectBody(streamOf(chunksOf(data, 50)), LIMITS);

    expect(body).toMatchObject({ kind: 'spooled', size: 1_000, sha256: sha256(data) });
    if (body.kind !== 'spooled') return;
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    await body.discard();
  });

  it('maps a source error within the head to reason unreadable', async () => {
    const source = failingStream([zipOf(20)], new Error('connection reset'));

    expect((await refusal(prepareProjectBody(source, LIMITS))).reason).toBe('unreadable');
  });

  it('maps a source error after the head to reason unreadable, leaving no spool file', async () => {
    const source = failingStream(chunksOf(zipOf(300), 50), new Error('connection reset'));

    expect((await refusal(prepareProjectBody(source, LIMITS))).reason).toBe('unreadable');
    expect(spooled()).toEqual([]);
  });

  it('maps a source destroyed with an error mid-way to reason unreadable', async () => {
    const source = new Readable({ read() {} });
    source.push(zipOf(30));
    const prepared = prepareProjectBody(source, LIMITS);
    setTimeout(() => source.destroy(new Error('socket hang up')), 5);

    expect((await refusal(prepared)).reason).toBe('unreadable');
  });

  it('refuses a value that is neither bytes nor a stream', async () => {
    const body = 'PK\x03\x04 as a string' as unknown as ProjectBody;
    await refusal(prepareProjectBody(body, LIMITS));
  });
});

describe('prepareProjectBody spooling', () => {
  it('reports a spool directory it cannot write as StorageUnavailableError', async () => {
    const limits = { ...LIMITS, spoolDir: path.join(SPOOL_DIR, 'no-such-dir') };
    const err = await prepareProjectBody(streamOf(chunksOf(zipOf(300), 50)), limits).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain('ENOENT');
  });

  it('keeps reading a spooled body whose file name was removed meanwhile (a sweep by another process)', async () => {
    const data = zipOf(700);
    const body = await prepareProjectBody(streamOf(chunksOf(data, 64)), LIMITS);
    if (body.kind !== 'spooled') throw new Error(`expected a spooled body, got ${body.kind}`);
    const [file] = spooled();
    expect(file).toMatch(/^nest-credentials-spool-/);
    unlinkSync(path.join(SPOOL_DIR, file));

    const into = Buffer.alloc(300);
    await body.readInto(into, 300, 200);
    expect(Buffer.compare(into, data.subarray(200, 500))).toBe(0);
    expect(Buffer.compare(await readAll(body.stream()), data)).toBe(0);
    await body.discard();
    expect(spooled()).toEqual([]);
  });
});

describe('prepareProjectBody with an fs read stream of a whole file', () => {
  const fileOf = (data: Buffer) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'project-body-file-')), 'p.zip');
    writeFileSync(file, data);
    return file;
  };
  const collect = async (stream: Readable) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  it('reads it from the file (no spool file): same bytes by position and as a stream, the caller stream destroyed', async () => {
    const data = zipOf(700);
    const source = createReadStream(fileOf(data));
    const body = await prepareProjectBody(source, LIMITS);
    expect(body).toMatchObject({ kind: 'file', size: 700, sha256: sha256(data) });
    expect(spooled()).toEqual([]);
    expect(source.destroyed).toBe(true);
    const part = Buffer.alloc(200);
    await body.readInto(part, 200, 300);
    expect(part.equals(data.subarray(300, 500))).toBe(true);
    expect((await collect(body.stream())).equals(data)).toBe(true);
    if (body.kind !== 'file') throw new Error('not a file body');
    await body.assertUnchanged();
    await body.discard();
    await expect(body.readInto(part, 200, 0)).rejects.toThrow(/closed/);
  });

  it('a file written to after hashing: assertUnchanged and the stream fail with IntegrityError', async () => {
    const data = zipOf(700);
    const file = fileOf(data);
    const body = await prepareProjectBody(createReadStream(file), LIMITS);
    if (body.kind !== 'file') throw new Error(`a ${body.kind} body, not a file body`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(file, zipOf(700).reverse());
    await expect(body.assertUnchanged()).rejects.toBeInstanceOf(IntegrityError);
    await expect(collect(body.stream())).rejects.toBeInstanceOf(IntegrityError);
    await body.discard();
  });

  it('refuses an over-size or non-ZIP file before hashing it, and destroys the caller stream', async () => {
    const big = createReadStream(fileOf(zipOf(1_001)));
    await expect(prepareProjectBody(big, LIMITS)).rejects.toMatchObject({ reason: 'too-large' });
    expect(big.destroyed).toBe(true);
    const notZip = createReadStream(fileOf(Buffer.alloc(500, 1)));
    await expect(prepareProjectBody(notZip, LIMITS)).rejects.toMatchObject({ reason: 'not-zip' });
    expect(notZip.destroyed).toBe(true);
    expect(spooled()).toEqual([]);
  });

  it('keeps the other paths for a file within one request (whole) and a stream with an end option (spooled)', async () => {
    const small = await prepareProjectBody(createReadStream(fileOf(zipOf(90))), LIMITS);
    expect(small.kind).toBe('whole');
    const data = zipOf(700);
    const ranged = await prepareProjectBody(createReadStream(fileOf(data), { end: 599 }), LIMITS);
    expect(ranged).toMatchObject({
      kind: 'spooled',
      size: 600,
      sha256: sha256(data.subarray(0, 600)),
    });
    if (ranged.kind === 'spooled') await ranged.discard();
  });
});
