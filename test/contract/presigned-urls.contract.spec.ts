import { expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BucketNotFoundError,
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
} from '../../src/credentials/index.js';
import { rejectionOf, zipLike } from '../support/backends.js';
import { describeContract } from './support/implementations.js';

describeContract('getProjectDownloadUrl', (subject) => {
  it('gives a URL of a stored project that a plain GET fetches, until its time-to-live ends', async () => {
    const { credentials, bucket, presignsUrls, secrets } = subject();
    const data = zipLike(100_000);
    await credentials.uploadProject('presigned.zip', data);
    if (!presignsUrls) {
      const err = await rejectionOf(credentials.getProjectDownloadUrl(bucket, 'presigned.zip', 60));
      expect(err).toBeInstanceOf(NotSupportedError);
      return;
    }
    const url = await credentials.getProjectDownloadUrl(bucket, 'presigned.zip', 1);
    const parsed = new URL(url);
    expect(parsed.pathname.endsWith('/presigned.zip')).toBe(true);
    for (const secret of secrets) expect(url).not.toContain(secret);
    const fetched = await subject().fetchUrl(url);
    expect(fetched.status).toBe(200);
    expect(fetched.body.equals(data)).toBe(true);
    // The expiry has a resolution of one second: a generous margin on a loaded machine.
    await sleep(3_000);
    expect((await subject().fetchUrl(url)).status).toBe(403);
  });

  it('refuses a missing project with ProjectNotFoundError instead of a URL to a 404', async () => {
    const { credentials, bucket, presignsUrls } = subject();
    const err = await rejectionOf(credentials.getProjectDownloadUrl(bucket, 'nope.zip', 60));
    expect(err).toBeInstanceOf(presignsUrls ? ProjectNotFoundError : NotSupportedError);
  });

  it('refuses a bucket that does not exist', async () => {
    const { credentials, bucket, presignsUrls } = subject();
    const missing = `${bucket}-missing`;
    const err = await rejectionOf(credentials.getProjectDownloadUrl(missing, 'x.zip', 60));
    if (presignsUrls) expect(err).toBeInstanceOf(BucketNotFoundError);
    else expect(err).toBeInstanceOf(NotSupportedError);
  });

  it.each([0, -1, 1.5, 7 * 24 * 3600 + 1])(
    'refuses a time-to-live of %p s (1 s to 7 days)',
    async (ttl) => {
      const { credentials, bucket } = subject();
      const err = await rejectionOf(credentials.getProjectDownloadUrl(bucket, 'x.zip', ttl));
      expect(err).toBeInstanceOf(InvalidProjectError);
      expect(err).toMatchObject({ reason: 'argument' });
    },
  );

  it.each([
    ['an invalid bucket', 'Bad_Bucket', 'x.zip', 'bucket'],
    ['an invalid name', null, 'nul.zip', 'name'],
  ])('refuses %s', async (_label, bucket, name, reason) => {
    const { credentials } = subject();
    const err = await rejectionOf(
      credentials.getProjectDownloadUrl(bucket ?? subject().bucket, name, 60),
    );
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect(err).toMatchObject({ reason });
  });
});
