import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  AUTH_REGISTRY,
  OPEN_REGISTRY,
  S3_SERVER,
  createTestBucket,
  createTestS3Client,
  deleteTestBucket,
  listIncompleteUploads,
  requireRegistry,
  requireS3Server,
  startAuthRegistry,
  startS3Server,
  stopAuthRegistry,
  stopS3Server,
  uniqueBucketName,
} from './test-servers.js';

// Sanity checks of the test-server infrastructure itself (test/services, test/support).
describe('test servers', () => {
  const s3 = createTestS3Client();
  afterAll(() => s3.destroy());

  it('makes valid, unique bucket names', () => {
    const a = uniqueBucketName('My_Prefix--Test!');
    expect(a).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    expect(a.startsWith('my-prefix-test-')).toBe(true);
    expect(uniqueBucketName('x'.repeat(100)).length).toBeLessThanOrEqual(63);
    expect(uniqueBucketName('a')).not.toBe(uniqueBucketName('a'));
  });

  it('has both registries: one with auth (401), one without (200)', async () => {
    await requireRegistry(AUTH_REGISTRY.host);
    await requireRegistry(OPEN_REGISTRY.host);
    expect((await fetch(`http://${AUTH_REGISTRY.host}/v2/`)).status).toBe(401);
    const basic = Buffer.from(`${AUTH_REGISTRY.username}:${AUTH_REGISTRY.password}`).toString(
      'base64',
    );
    const authed = await fetch(`http://${AUTH_REGISTRY.host}/v2/`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(authed.status).toBe(200);
    expect((await fetch(`http://${OPEN_REGISTRY.host}/v2/`)).status).toBe(200);
  });

  it('creates, fills and deletes a bucket (objects and pending multipart uploads)', async () => {
    await requireS3Server();
    const bucket = await createTestBucket('infra');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.txt', Body: 'hello' }));
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big' }));
    const pending = await listIncompleteUploads(bucket);
    expect(pending.map((u) => u.UploadId)).toEqual([upload.UploadId]);

    await deleteTestBucket(bucket);
    await expect(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/b.txt' })),
    ).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await deleteTestBucket(bucket); // a missing bucket is fine
  });

  it('keeps the other account apart', async () => {
    const bucket = await createTestBucket('infra-acl');
    const other = createTestS3Client(S3_SERVER.otherAccount);
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'v' }));
      await expect(
        other.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })),
      ).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
    } finally {
      other.destroy();
      await deleteTestBucket(bucket);
    }
  });

  it('stops and restarts the S3 server, keeping its data', async () => {
    const bucket = await createTestBucket('infra-restart');
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'kept' }));
      stopS3Server();
      await expect(requireS3Server()).rejects.toThrow(/start-s3\.sh/);
      startS3Server();
      await requireS3Server();
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
      expect(await got.Body?.transformToString()).toBe('kept');
    } finally {
      startS3Server(); // no-op when running
      await deleteTestBucket(bucket);
    }
  });

  it('stops and restarts the registry with auth', async () => {
    stopAuthRegistry();
    await expect(requireRegistry(AUTH_REGISTRY.host)).rejects.toThrow(/start-registry\.sh/);
    startAuthRegistry();
    await requireRegistry(AUTH_REGISTRY.host);
  });
});
