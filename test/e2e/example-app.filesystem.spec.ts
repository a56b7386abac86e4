import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { zipLike } from '../support/backends.js';
import { API_TOKEN, type RunningApp, startExampleApp } from './support/example-app.js';
import { expectCutOffDownload } from './support/http-client.js';

const MiB = 1024 * 1024;
const MAX_PROJECT_SIZE = 52 * MiB;
const BUCKET = 'projects';
const bearer = { Authorization: `Bearer ${API_TOKEN}` };

describe('example app on the filesystem backend', () => {
  let dir: string;
  let running: RunningApp;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'e2e-filesystem-'));
    running = await startExampleApp({
      CREDENTIALS: 'filesystem',
      PROJECTS_DIR: dir,
      BUCKET_NAME_PROJECTS: BUCKET,
      REGISTRY_HOST: '127.0.0.1:5000',
      CREDENTIALS_API_TOKEN: API_TOKEN,
      MAX_PROJECT_SIZE: String(MAX_PROJECT_SIZE),
    });
  });

  afterAll(async () => {
    await running?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts off the download of a project whose file changed on disk', async () => {
    const data = zipLike(20 * MiB);
    const stored = await request(running.server)
      .put('/projects/tampered.zip')
      .set(bearer)
      .set('Content-Type', 'application/zip')
      .send(data);
    expect(stored.status).toBe(201);
    // Same file, same size, one byte changed: only the SHA-256 can tell.
    const file = await open(path.join(dir, BUCKET, 'tampered.zip'), 'r+');
    await file.write(Buffer.from([data[10 * MiB] ^ 0xff]), 0, 1, 10 * MiB);
    await file.close();
    const res = await expectCutOffDownload(
      `${running.url}/projects/tampered.zip`,
      bearer,
      data.length,
    );
    expect(res.headers['content-length']).toBe(String(data.length));
  });
});
