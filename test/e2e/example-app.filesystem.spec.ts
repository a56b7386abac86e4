import 'reflect-metadata';
import { expect, it } from '@jest/globals';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { zipLike } from '../support/backends.js';
import { describeControllerCases } from './support/controller-cases.js';
import { API_TOKEN, startExampleApp } from './support/example-app.js';
import { expectCutOffDownload } from './support/http-client.js';

const MiB = 1024 * 1024;
const MAX_PROJECT_SIZE = 52 * MiB;
const BUCKET = 'projects';
const REGISTRY = { host: '127.0.0.1:5000', username: 'estela', password: 'fs-registry-password' };
const bearer = { Authorization: `Bearer ${API_TOKEN}` };

/** Every file under `dir`, as paths relative to it with "/" separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) =>
      path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    );
}

let dir: string;

describeControllerCases(
  async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'e2e-filesystem-'));
    const running = await startExampleApp({
      CREDENTIALS: 'filesystem',
      PROJECTS_DIR: dir,
      BUCKET_NAME_PROJECTS: BUCKET,
      REGISTRY_HOST: REGISTRY.host,
      REGISTRY_USERNAME: REGISTRY.username,
      REGISTRY_PASSWORD: REGISTRY.password,
      CREDENTIALS_API_TOKEN: API_TOKEN,
      MAX_PROJECT_SIZE: String(MAX_PROJECT_SIZE),
    });
    return {
      running,
      bucket: BUCKET,
      maxProjectSize: MAX_PROJECT_SIZE,
      // By listing, not by path: a refused name like ".." or "a/b" must not be resolved.
      isStored: async (name) => (await filesUnder(dir)).includes(`${BUCKET}/${name}`),
      assertNoLeftovers: async () => {
        const temporary = (await filesUnder(dir)).filter((file) => file.includes('/.tmp/'));
        expect(temporary).toEqual([]);
      },
      announcesSize: true,
      registry: {
        registry: REGISTRY.host,
        token: Buffer.from(`${REGISTRY.username}:${REGISTRY.password}`).toString('base64'),
      },
      secrets: [REGISTRY.password],
      close: async () => {
        await running.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  (fixture) => {
    it('cuts off the download of a project whose file changed on disk', async () => {
      const data = zipLike(20 * MiB);
      const stored = await request(fixture().running.server)
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
        `${fixture().running.url}/projects/tampered.zip`,
        bearer,
        data.length,
      );
      expect(res.headers['content-length']).toBe(String(data.length));
    });
  },
);
