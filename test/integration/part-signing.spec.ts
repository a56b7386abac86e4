/**
 * How upload requests are signed, seen on the wire between the module and Swift s3api (which
 * checks SigV4 signatures and, when a payload hash is signed, the hash of the body). The test
 * endpoint is plain HTTP, where every part carries the SHA-256 of its bytes, signed, so that the
 * server refuses a part damaged in transit (UNSIGNED-PAYLOAD is kept for HTTPS, where TLS
 * protects each request; `signParts: true` signs parts there too).
 */
import { CredentialsError, IntegrityError } from '../../src/credentials/index.js';
import {
  readAll,
  rejectionOf,
  sha256Of,
  startBackend,
  STORAGE_BACKENDS,
  storageEnv,
  streamOf,
  zipLike,
} from '../support/backends.js';
import { jest } from '@jest/globals';
import { sha256Worker } from '../../src/credentials/util/sha256-worker.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import {
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
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
    proxy.corrupt = undefined;
    proxy.corrupted = 0;
  });

  type Kind = 'stream' | 'stream with its sha256' | 'Buffer';
  const bodyOf = (kind: Kind, data: Buffer) => ({
    body: kind === 'Buffer' ? data : streamOf(data),
    options: kind === 'stream with its sha256' ? { sha256: sha256Of(data) } : {},
  });

  async function roundTrip(data: Buffer, signParts?: boolean, kind: Kind = 'stream') {
    const running = await startBackend(storageEnv(backend, bucket, S3_SERVER, proxy.endpoint), {
      partSize: PART,
      signParts,
    });
    try {
      const { body, options } = bodyOf(kind, data);
      const stored = await running.credentials.uploadProject('signed.zip', body, options);
      const back = await readAll(await running.credentials.downloadProject(bucket, 'signed.zip'));
      expect(stored.sha256).toBe(sha256Of(data));
      expect(Buffer.compare(back, data)).toBe(0);
    } finally {
      await running.close();
    }
  }

  const partHashes = (data: Buffer) =>
    Array.from({ length: Math.ceil(data.length / PART) }, (_, n) =>
      sha256Of(data.subarray(n * PART, (n + 1) * PART)),
    ).sort();

  it.each<Kind>(['stream', 'stream with its sha256', 'Buffer'])(
    'over plain HTTP, every part carries the SHA-256 of its own bytes by default (%s)',
    async (kind) => {
      const data = zipLike(3 * PART + 1234);
      const worker = jest.spyOn(sha256Worker, 'digest');
      try {
        await roundTrip(data, undefined, kind);
        // aws: the parts in the upload's own (shared) buffers are hashed in the SHA-256 worker;
        // a Buffer's parts are views of it, hashed by the signer. minio-js hashes its own.
        const inWorker = backend === 'aws' && kind !== 'Buffer' ? partHashes(data).length : 0;
        expect(worker).toHaveBeenCalledTimes(inWorker);
      } finally {
        worker.mockRestore();
      }
      expect(payloadHashes(proxy, isPart).sort()).toEqual(partHashes(data));
    },
  );

  it('with signParts, the same (the option only matters over HTTPS)', async () => {
    const data = zipLike(2 * PART + 99);
    await roundTrip(data, true);
    expect(payloadHashes(proxy, isPart).sort()).toEqual(partHashes(data));
  });

  it('a part corrupted in transit: the upload fails typed and nothing is stored', async () => {
    const running = await startBackend(storageEnv(backend, bucket, S3_SERVER, proxy.endpoint), {
      partSize: PART,
    });
    try {
      // Part 2 loses one byte on its way, every time it is sent.
      proxy.corrupt = ({ method, url }) => method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url);
      const err = await rejectionOf(
        running.credentials.uploadProject('corrupted.zip', streamOf(zipLike(3 * PART))),
      );
      expect(proxy.corrupted).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(CredentialsError);
      expect(err).toBeInstanceOf(IntegrityError);
      const download = await rejectionOf(
        running.credentials.downloadProject(bucket, 'corrupted.zip').then(readAll),
      );
      expect(download.name).toBe('ProjectNotFoundError');
      expect(await listIncompleteUploads(bucket)).toEqual([]);
    } finally {
      await running.close();
    }
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
