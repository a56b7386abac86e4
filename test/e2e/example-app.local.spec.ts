import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createServer } from 'node:net';
import request from 'supertest';
import { sha256Of, storageEnv, zipLike } from '../support/backends.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  createTestS3Client,
  deleteTestBucket,
  requireS3Server,
} from '../support/test-servers.js';
import { API_TOKEN, type RunningApp, startExampleApp } from './support/example-app.js';
import { expectCutOffDownload } from './support/http-client.js';

const MiB = 1024 * 1024;
const MAX_PROJECT_SIZE = 52 * MiB;
const bearer = { Authorization: `Bearer ${API_TOKEN}` };
const s3 = createTestS3Client();

async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'NotFound') return false;
    throw err;
  }
}

/** A local port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let bucket: string;
let env: Record<string, string>;

/** The example app on `local` with `changes` to the environment of the main one. */
async function startVariant(changes: Record<string, string>): Promise<RunningApp> {
  return startExampleApp({ ...env, ...changes });
}

describe('example app on the local backend', () => {
  let running: RunningApp;

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket('e2e-local');
    env = {
      ...storageEnv('local', bucket),
      REGISTRY_USERNAME: AUTH_REGISTRY.username,
      REGISTRY_PASSWORD: AUTH_REGISTRY.password,
      CREDENTIALS_API_TOKEN: API_TOKEN,
      MAX_PROJECT_SIZE: String(MAX_PROJECT_SIZE),
    };
    running = await startExampleApp(env);
  });

  afterAll(async () => {
    await running?.close();
    if (bucket) await deleteTestBucket(bucket);
  });

  it('answers 503 with Retry-After when the storage server cannot be reached', async () => {
    const down = await startVariant({ MINIO_ENDPOINT: `http://127.0.0.1:${await closedPort()}` });
    try {
      const upload = await request(down.server)
        .put('/projects/unreachable.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1000));
      const download = await request(down.server).get('/projects/put-50mib.zip').set(bearer);
      for (const res of [upload, download]) {
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('5');
        expect(res.body.code).toBe('STORAGE_UNAVAILABLE');
      }
    } finally {
      await down.close();
    }
  });

  it('answers 403, without the secret, when the storage refuses the keys', async () => {
    const wrongSecret = 'wrong-secret-for-e2e-42';
    const refused = await startVariant({ MINIO_SECRET_KEY: wrongSecret });
    try {
      const upload = await request(refused.server)
        .put('/projects/refused.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1000));
      const download = await request(refused.server).get('/projects/put-50mib.zip').set(bearer);
      for (const res of [upload, download]) {
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('ACCESS_DENIED');
        expect(res.text).not.toContain(wrongSecret);
      }
    } finally {
      await refused.close();
    }
    expect(await objectExists(bucket, 'refused.zip')).toBe(false);
  });

  it('answers 404 when the projects bucket does not exist', async () => {
    const missing = await startVariant({ BUCKET_NAME_PROJECTS: `${bucket}-missing` });
    try {
      const download = await request(missing.server).get('/projects/any.zip').set(bearer);
      expect(download.status).toBe(404);
      expect(download.body.code).toBe('BUCKET_NOT_FOUND');
      const upload = await request(missing.server)
        .put('/projects/any.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1000));
      expect(upload.status).toBe(404);
      expect(upload.body.code).toBe('BUCKET_NOT_FOUND');
    } finally {
      await missing.close();
    }
  });

  it('cuts off the download of a project whose bytes changed on the server', async () => {
    const data = zipLike(20 * MiB);
    const stored = await request(running.server)
      .put('/projects/tampered.zip')
      .set(bearer)
      .set('Content-Type', 'application/zip')
      .send(data);
    expect(stored.body.sha256).toBe(sha256Of(data));
    const tampered = Buffer.from(data);
    tampered[10 * MiB] ^= 0xff;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'tampered.zip',
        Body: tampered,
        Metadata: { sha256: stored.body.sha256 },
      }),
    );
    const res = await expectCutOffDownload(
      `${running.url}/projects/tampered.zip`,
      bearer,
      data.length,
    );
    expect(res.headers['content-length']).toBe(String(data.length));
  });
});
