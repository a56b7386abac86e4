import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { type StartedApp, startExampleApp } from '../../src/app.bootstrap.js';
import { zipLike } from '../support/backends.js';

/**
 * The start-up path of `npm start` (src/main.ts): the process environment and the committed
 * `.env` (read from the working directory, the repository root), a token generated when none
 * is configured. The environment is restored after each test: ConfigModule copies `.env` into
 * process.env.
 */
describe('npm start (startExampleApp)', () => {
  const saved = { ...process.env };
  let dir: string;
  let started: StartedApp | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'e2e-bootstrap-'));
    for (const name of Object.keys(process.env)) {
      if (/^(CREDENTIALS|PORT|HOST|PROJECTS_DIR|BUCKET_NAME_PROJECTS|REGISTRY_)/.test(name)) {
        delete process.env[name];
      }
    }
    // Only what a test needs to differ from .env: a free port and a temporary directory.
    process.env.PORT = '0';
    process.env.PROJECTS_DIR = dir;
  });

  afterEach(async () => {
    await started?.app.close();
    started = undefined;
    for (const name of Object.keys(process.env)) delete process.env[name];
    Object.assign(process.env, saved);
    await rm(dir, { recursive: true, force: true });
  });

  /** The token printed in the banner's curl lines. */
  const tokenIn = (banner: string) => /Authorization: Bearer ([\w-]+)'/.exec(banner)?.[1];

  it('starts on the filesystem backend of .env, generates a token and prints it', async () => {
    started = await startExampleApp({ logger: false });
    expect(started.banner).toContain(`listening on ${started.url} (backend: filesystem)`);
    const token = tokenIn(started.banner);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(started.banner).toContain(`API token (generated for this run`);
    for (const line of [
      'curl -T project.zip',
      'curl -F project_zip=@project.zip',
      '/registry/token',
    ]) {
      expect(started.banner).toContain(line);
    }

    const data = zipLike(100_000);
    const auth = { Authorization: `Bearer ${token}` };
    const put = await request(started.url)
      .put('/projects/from-banner.zip')
      .set(auth)
      .set('Content-Type', 'application/zip')
      .send(data);
    expect(put.status).toBe(201);
    expect(put.body.bucket).toBe('projects');
    const token401 = await request(started.url).get('/registry/token');
    expect(token401.status).toBe(401);
    const registry = await request(started.url).get('/registry/token').set(auth);
    expect(registry.body).toEqual({ registry: '127.0.0.1:5000', token: null, expiresAt: null });
  });

  it('uses a configured CREDENTIALS_API_TOKEN and does not print it', async () => {
    const configured = 'configured-token-0123456789abcdef';
    process.env.CREDENTIALS_API_TOKEN = configured;
    started = await startExampleApp({ logger: false });
    expect(started.banner).not.toContain(configured);
    expect(started.banner).toContain('Bearer $CREDENTIALS_API_TOKEN');
    const res = await request(started.url)
      .get('/registry/token')
      .set('Authorization', `Bearer ${configured}`);
    expect(res.status).toBe(200);
  });

  it('prints no storage secret', async () => {
    process.env.REGISTRY_USERNAME = 'estela';
    process.env.REGISTRY_PASSWORD = 'registry-password-not-for-print';
    started = await startExampleApp({ logger: false });
    expect(started.banner).not.toContain('registry-password-not-for-print');
  });

  it('fails with a message naming the variable on a bad configuration', async () => {
    process.env.CREDENTIALS = 'azure';
    await expect(startExampleApp({ logger: false })).rejects.toThrow(
      /CREDENTIALS is "azure".*filesystem/,
    );
  });
});
