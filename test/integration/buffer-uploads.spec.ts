/**
 * A Buffer or Uint8Array larger than one part goes through the module's own multipart driver,
 * as a stream does: parts are views of the caller's bytes, nothing is listed or resumed (as
 * minio-js's own putObject would), a failed part aborts the upload. Seen on the wire through
 * a proxy between the module and Swift s3api.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { StorageUnavailableError } from '../../src/credentials/index.js';
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

/** `data` copied into a Uint8Array (not a Buffer) that starts 13 bytes into a larger block. */
function uint8ArrayViewOf(data: Buffer): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(data.length + 29), 13, data.length);
  view.set(data);
  return view;
}

describe.each(STORAGE_BACKENDS)('%s backend: a body in memory larger than one part', (backend) => {
  let running: ProxiedBackend;
  let proxy: FaultProxy;
  let bucket: string;

  beforeAll(async () => {
    running = await startProxiedBackend(backend, `mem-${backend}`, {
      partSize: PART,
      partConcurrency: 2,
      requestTimeoutMs: 10_000,
    });
    ({ proxy, bucket } = running);
  });

  afterAll(() => running?.close());

  beforeEach(() => {
    proxy.setMode({ kind: 'pass' });
    proxy.resetStats();
  });

  /** The request lines that touched `key` (method and path with query). */
  const requestsFor = (key: string) =>
    proxy.stats.requests.filter(
      (line) => line.includes(`/${bucket}/${key}`) || /[?&]uploads/.test(line),
    );

  it.each([
    ['a 20 MiB Buffer', (data: Buffer) => data],
    ['a 20 MiB Uint8Array at byteOffset 13', uint8ArrayViewOf],
  ])(
    '%s: a multipart upload of 4 parts (no single PUT, no listing of older uploads), byte-exact with its SHA-256',
    async (label, bodyOf) => {
      const key = `in-memory-${label.replace(/[^a-z0-9]+/gi, '-')}.zip`;
      const data = zipLike(20 * MiB);
      const stored = await running.credentials.uploadProject(key, bodyOf(data));
      expect(stored).toEqual({ bucket, key, size: data.length, sha256: sha256Of(data) });

      const lines = requestsFor(key);
      const parts = lines.filter((line) => /^PUT \S*[?&]partNumber=\d+/.test(line));
      expect(parts).toHaveLength(4);
      expect(lines.filter((line) => line.startsWith('PUT ')).length).toBe(4); // no PutObject
      expect(lines.filter((line) => /^POST \S*[?&]uploads(=|&|\s)/.test(line))).toHaveLength(1);
      expect(lines.filter((line) => /^GET \S*[?&]uploads(=|&|\s)/.test(line))).toEqual([]);

      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ETag).toMatch(/-4"?$/);
      expect(head.Metadata?.sha256).toBe(sha256Of(data));
      const back = await readAll(await running.credentials.downloadProject(bucket, key));
      expect(Buffer.compare(back, data)).toBe(0);
    },
  );

  it('a part the server refuses: StorageUnavailableError, no object, no incomplete upload', async () => {
    const key = 'in-memory-refused.zip';
    proxy.setMode({ kind: 'fail-http', match: /^PUT \S*[?&]partNumber=2[&\s]/ });
    const err = await rejectionOf(running.credentials.uploadProject(key, zipLike(20 * MiB)));
    proxy.setMode({ kind: 'pass' });
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(proxy.stats.failedRequests).toBeGreaterThan(0);
    expect(await objectExists(bucket, key)).toBe(false);
    expect(await listIncompleteUploads(bucket)).toEqual([]);
  });
});
