import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import {
  AccessDeniedError,
  BucketNotFoundError,
  IntegrityError,
  InvalidProjectError,
} from '../../src/credentials/index.js';
import {
  type BackendOnTestBucket,
  objectExists,
  readAll,
  rejectionOf,
  sha256Of,
  startBackend,
  startOnTestBucket,
  STORAGE_BACKENDS,
  storageEnv,
  streamOf,
  zipLike,
} from '../support/backends.js';
import { createTestS3Client, listIncompleteUploads, S3_SERVER } from '../support/test-servers.js';

const MiB = 1024 * 1024;
const s3 = createTestS3Client();

/** What a plain S3 client finds at `key`: its bytes and user metadata, or `undefined`. */
async function readWithPlainClient(bucket: string, key: string) {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await response.Body!.transformToByteArray());
    return { body, metadata: response.Metadata ?? {} };
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

describe.each(STORAGE_BACKENDS)('%s backend on a real S3 server (Swift s3api)', (backend) => {
  let running: BackendOnTestBucket;
  let bucket: string;

  beforeAll(async () => {
    running = await startOnTestBucket(backend, `it-${backend}`);
    ({ bucket } = running);
  });

  afterAll(() => running?.close());

  describe('round trips byte for byte', () => {
    // Smaller round trips, on every implementation: test/contract/projects.contract.spec.ts.
    it.each([
      ['20 MiB', zipLike(20 * MiB), 'buffer'],
      ['20 MiB streamed', zipLike(20 * MiB), 'stream'],
      ['100 MiB streamed (multipart)', zipLike(100 * MiB), 'stream'],
    ])('%s', async (label, data, form) => {
      const key = `roundtrip-${label.replace(/[^a-z0-9]+/gi, '-')}.zip`;
      const body = form === 'stream' ? streamOf(data) : data;

      const stored = await running.credentials.uploadProject(key, body);
      expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });

      const downloaded = await readAll(await running.credentials.downloadProject(bucket, key));
      expect(downloaded.length).toBe(data.length);
      expect(downloaded.equals(data)).toBe(true);

      const plain = await readWithPlainClient(bucket, key);
      expect(plain?.body.equals(data)).toBe(true);
      expect(plain?.metadata.sha256).toBe(sha256Of(data));
    });
  });

  describe('refuses bad input before writing anything', () => {
    // Names, ZIP signatures and the size limit on every implementation: test/contract.
    it('a stream that grows past the maximum size, leaving no object and no parts', async () => {
      const limited = await startBackend(storageEnv(backend, bucket), {
        maxProjectSize: 12 * MiB,
        partSize: 5 * MiB,
      });
      try {
        const err = await rejectionOf(
          limited.credentials.uploadProject('too-big.zip', streamOf(zipLike(30 * MiB))),
        );
        expect(err).toBeInstanceOf(InvalidProjectError);
        expect((err as InvalidProjectError).reason).toBe('too-large');
        const whole = await rejectionOf(
          limited.credentials.uploadProject('too-big.zip', zipLike(13 * MiB)),
        );
        expect((whole as InvalidProjectError).reason).toBe('too-large');
      } finally {
        await limited.close();
      }
      expect(await objectExists(bucket, 'too-big.zip')).toBe(false);
      expect(await listIncompleteUploads(bucket)).toEqual([]);
    });

    it('a source stream that fails mid-upload, leaving no object and no parts', async () => {
      const data = zipLike(25 * MiB);
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 18 * MiB) {
            this.destroy(new Error('client went away'));
            return;
          }
          this.push(data.subarray(sent, sent + MiB));
          sent += MiB;
        },
      });
      const err = await rejectionOf(running.credentials.uploadProject('broken.zip', failing));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect((err as InvalidProjectError).reason).toBe('unreadable');
      expect(await objectExists(bucket, 'broken.zip')).toBe(false);
      expect(await listIncompleteUploads(bucket)).toEqual([]);
    });
  });

  describe('typed errors', () => {
    it('missing upload bucket: BucketNotFoundError (filesystem creates it instead)', async () => {
      const elsewhere = await startBackend(storageEnv(backend, `${bucket}-missing`));
      try {
        const upload = await rejectionOf(
          elsewhere.credentials.uploadProject('x.zip', zipLike(100)),
        );
        expect(upload).toBeInstanceOf(BucketNotFoundError);
      } finally {
        await elsewhere.close();
      }
    });

    it('wrong secret: AccessDeniedError, with no secret in the message', async () => {
      const wrongSecret = 'wrong-secret-value-42';
      const wrong = await startBackend(
        storageEnv(backend, bucket, { accessKey: S3_SERVER.accessKey, secretKey: wrongSecret }),
      );
      try {
        const upload = await rejectionOf(
          wrong.credentials.uploadProject('denied.zip', zipLike(100)),
        );
        expect(upload).toBeInstanceOf(AccessDeniedError);
        const download = await rejectionOf(wrong.credentials.downloadProject(bucket, 'denied.zip'));
        expect(download).toBeInstanceOf(AccessDeniedError);
        for (const err of [upload, download]) {
          expect(err.message).not.toContain(wrongSecret);
          expect(JSON.stringify(err.cause ?? {})).not.toContain(wrongSecret);
        }
      } finally {
        await wrong.close();
      }
      expect(await objectExists(bucket, 'denied.zip')).toBe(false);
    });

    it('bytes changed on the server: the download stream fails with IntegrityError', async () => {
      const original = zipLike(4096);
      const stored = await running.credentials.uploadProject('tampered.zip', original);
      const tampered = Buffer.from(original);
      tampered[1000] ^= 0xff;
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'tampered.zip',
          Body: tampered,
          Metadata: { sha256: stored.sha256 },
        }),
      );
      const stream = await running.credentials.downloadProject(bucket, 'tampered.zip');
      const err = await rejectionOf(readAll(stream));
      expect(err).toBeInstanceOf(IntegrityError);
    });

    it('an object written by another client without a SHA-256 still downloads', async () => {
      const data = zipLike(5000);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'foreign.zip', Body: data }));
      const downloaded = await readAll(
        await running.credentials.downloadProject(bucket, 'foreign.zip'),
      );
      expect(downloaded.equals(data)).toBe(true);
    });
  });
});
