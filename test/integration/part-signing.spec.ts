/**
 * How upload requests are signed, seen on the wire between the module and Swift s3api (which
 * checks SigV4 signatures and, when a payload hash is signed, the hash of the body):
 * parts go as UNSIGNED-PAYLOAD by default (no second SHA-256 pass over every byte; the project's
 * SHA-256 is signed in CreateMultipartUpload and checked on download), and hashed with
 * `signParts: true`.
 */
import {
  readAll,
  sha256Of,
  startBackend,
  STORAGE_BACKENDS,
  storageEnv,
  streamOf,
  zipLike,
} from '../support/backends.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import {
  createTestBucket,
  deleteTestBucket,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

const payloadHashes = (proxy: RecordingProxy, match: (url: string) => boolean) =>
  proxy.requests
    .filter(({ method, url }) => method === 'PUT' && match(url))
    .map(({ headers }) => headers['x-amz-content-sha256']);

const isPart = (url: string) => /[?&]partNumber=\d+/.test(url);

describe.each(STORAGE_BACKENDS)('%s backend: how uploads are signed', (backend) => {
  let bucket: string;
  let proxy: RecordingProxy;

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket(`sign-${backend}`);
    proxy = await startRecordingProxy(S3_SERVER.endpoint);
  });

  afterAll(async () => {
    await proxy?.close();
    if (bucket) await deleteTestBucket(bucket);
  });

  beforeEach(() => {
    proxy.requests.length = 0;
  });

  async function roundTrip(data: Buffer, signParts?: boolean) {
    const running = await startBackend(storageEnv(backend, bucket, S3_SERVER, proxy.endpoint), {
      partSize: PART,
      signParts,
    });
    try {
      const stored = await running.credentials.uploadProject('signed.zip', streamOf(data));
      const back = await readAll(await running.credentials.downloadProject(bucket, 'signed.zip'));
      expect(stored.sha256).toBe(sha256Of(data));
      expect(Buffer.compare(back, data)).toBe(0);
    } finally {
      await running.close();
    }
  }

  it('sends parts as UNSIGNED-PAYLOAD by default, and the project round-trips', async () => {
    await roundTrip(zipLike(3 * PART + 1234));
    expect(payloadHashes(proxy, isPart)).toEqual(Array(4).fill('UNSIGNED-PAYLOAD'));
  });

  it('with signParts, every part carries the SHA-256 of its own bytes (checked by the server)', async () => {
    const data = zipLike(2 * PART + 99);
    await roundTrip(data, true);
    const parts = [0, 1, 2].map((n) => data.subarray(n * PART, (n + 1) * PART));
    expect(payloadHashes(proxy, isPart).sort()).toEqual(parts.map(sha256Of).sort());
  });

  it('a project of one part is sent in one signed request', async () => {
    const data = zipLike(MiB);
    await roundTrip(data);
    const puts = proxy.requests.filter(({ method }) => method === 'PUT');
    expect(puts).toHaveLength(1);
    // Signed with the SHA-256 of the whole body (aws: the module's own, not computed again).
    expect(puts[0].headers['x-amz-content-sha256']).toBe(sha256Of(data));
  });
});
