/**
 * An `fs` read stream of a whole regular file (what disk-backed upload middleware gives an app)
 * is uploaded from the file itself: hashed, then its parts read by position, with no spool
 * copy. A file that changes before the upload completes stores nothing. Any other stream
 * (partly read, with a start offset, a FIFO) keeps the spooled path. On the wire through a
 * proxy between the module and Swift s3api.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, type FSWatcher, watch } from 'node:fs';
import { mkdtemp, readdir, readlink, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { IntegrityError } from '../../src/credentials/index.js';
import type { FaultProxy } from '../reliability/support/fault-proxy.js';
import {
  objectExists,
  type ProxiedBackend,
  readAll,
  rejectionOf,
  sha256Of,
  startProxiedBackend,
  STORAGE_BACKENDS,
  zipLike,
} from '../support/backends.js';
import { createTestS3Client, listIncompleteUploads } from '../support/test-servers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const s3 = createTestS3Client();
const CREATE = /^POST \S*[?&]uploads(=|&|\s)/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The file descriptors of this process open on `file`. */
async function openDescriptorsOf(file: string): Promise<string[]> {
  const found: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === file) found.push(fd);
  }
  return found;
}

describe.each(STORAGE_BACKENDS)('%s backend: an fs read stream of a whole file', (backend) => {
  let running: ProxiedBackend;
  let proxy: FaultProxy;
  let bucket: string;
  let work: string;
  let spoolDir: string;
  let watcher: FSWatcher;
  /** Names that appeared in the spool directory since the last `beforeEach`. */
  let spooled: string[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nct-file-uploads-'));
    spoolDir = await mkdtemp(path.join(tmpdir(), 'nct-file-spool-'));
    watcher = watch(
      spoolDir,
      (_event, name) => name && !spooled.includes(name) && spooled.push(name),
    );
    running = await startProxiedBackend(backend, `file-${backend}`, {
      partSize: PART,
      partConcurrency: 2,
      requestTimeoutMs: 10_000,
      spoolDir,
    });
    ({ proxy, bucket } = running);
  });

  afterAll(async () => {
    watcher?.close();
    await running?.close();
    if (work) await rm(work, { recursive: true, force: true });
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    spooled = [];
    proxy.setMode({ kind: 'pass' });
    proxy.resetStats();
  });

  const fileOf = async (name: string, data: Buffer) => {
    const file = path.join(work, name);
    await writeFile(file, data);
    return file;
  };
  const partsSentFor = (key: string) =>
    proxy.stats.requests.filter(
      (line) => line.includes(`/${bucket}/${key}`) && /^PUT \S*[?&]partNumber=\d+/.test(line),
    );

  async function expectStored(key: string, data: Buffer, parts: number) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ETag).toMatch(new RegExp(`-${parts}"?$`));
    expect(head.Metadata?.sha256).toBe(sha256Of(data));
    const back = await readAll(await running.credentials.downloadProject(bucket, key));
    expect(Buffer.compare(back, data)).toBe(0);
  }

  it('is uploaded in parts read from the file: no spool file, ETag -4, byte-exact, its stream closed, no descriptor left on the file', async () => {
    const key = 'whole-file.zip';
    const data = zipLike(20 * MiB);
    const file = await fileOf(key, data);
    const stream = createReadStream(file);
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));

    const stored = await running.credentials.uploadProject(key, stream);
    expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });
    await sleep(50); // let the watcher deliver its events
    expect(spooled).toEqual([]);
    expect(partsSentFor(key)).toHaveLength(4);
    await closed;
    expect(stream.destroyed).toBe(true);
    expect(await openDescriptorsOf(file)).toEqual([]);
    await expectStored(key, data, 4);
  });

  it.each([
    [
      'rewritten with other bytes of the same size',
      (file: string, size: number) => writeFile(file, zipLike(size)),
    ],
    ['truncated', (file: string) => truncate(file, 7 * MiB)],
  ])(
    'a file %s after it was hashed: IntegrityError, no object, no incomplete upload, no descriptor left',
    async (label, change) => {
      const key = `changed-${label.split(' ')[0]}.zip`;
      const data = zipLike(20 * MiB);
      const file = await fileOf(key, data);
      // The create's answer is held, so that the file changes before any part is read.
      proxy.setMode({ kind: 'delay-response', match: CREATE, delayMs: 1_500, times: 1 });
      const upload = rejectionOf(running.credentials.uploadProject(key, createReadStream(file)));
      const deadline = Date.now() + 10_000;
      while (!proxy.stats.requests.some((line) => CREATE.test(line))) {
        if (Date.now() > deadline) throw new Error('no CreateMultipartUpload was sent in 10 s');
        await sleep(5);
      }
      await change(file, data.length);
      const err = await upload;
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err.message).toContain('changed');
      expect(await objectExists(bucket, key)).toBe(false);
      expect(await listIncompleteUploads(bucket)).toEqual([]);
      expect(await openDescriptorsOf(file)).toEqual([]);
      expect(spooled).toEqual([]);
    },
  );

  async function expectSpooledUpload(key: string, data: Buffer, stream: Readable) {
    const stored = await running.credentials.uploadProject(key, stream);
    expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });
    await sleep(50);
    expect(spooled.length).toBeGreaterThan(0);
    expect(await readdir(spoolDir)).toEqual([]);
    await expectStored(key, data, 3);
  }

  it('a stream already read from (its first chunk read and put back) keeps the spooled path, byte-exact', async () => {
    const key = 'partly-read.zip';
    const data = zipLike(12 * MiB);
    const stream = createReadStream(await fileOf(key, data));
    await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    const first = stream.read() as Buffer;
    stream.unshift(first);
    await expectSpooledUpload(key, data, stream);
  });

  it('a stream with a start offset keeps the spooled path, and only its bytes are stored', async () => {
    const key = 'with-start.zip';
    const data = zipLike(12 * MiB);
    const file = await fileOf(key, Buffer.concat([Buffer.from('junk before the zip'), data]));
    await expectSpooledUpload(key, data, createReadStream(file, { start: 19 }));
  });

  it('a stream of a FIFO keeps the spooled path, byte-exact', async () => {
    const key = 'fifo.zip';
    const data = zipLike(12 * MiB);
    const fifo = path.join(work, key);
    execFileSync('mkfifo', [fifo]);
    const stream = createReadStream(fifo);
    const writer = createWriteStream(fifo);
    writer.end(data);
    await expectSpooledUpload(key, data, stream);
  });
});
