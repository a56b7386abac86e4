import 'reflect-metadata';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigService } from '@nestjs/config';
import { HealthIndicatorService } from '@nestjs/terminus';
import { OPEN_REGISTRY, requireRegistry } from '../../../test/support/test-servers.js';
import { FilesystemCredentials } from '../backends/filesystem.credentials.js';
import { CredentialsHealthIndicator, type CredentialsPartHealth } from './credentials.health.js';

const configOf = (env: Record<string, string>) =>
  ({ get: (name: string) => env[name] }) as unknown as ConfigService;

let root: string;

beforeAll(async () => {
  await requireRegistry(OPEN_REGISTRY.host);
});

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'nest-credentials-health-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The indicator's verdict on a filesystem backend built from `env`. */
async function healthOf(env: Record<string, string>) {
  const backend = new FilesystemCredentials(
    configOf({
      PROJECTS_DIR: root,
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: OPEN_REGISTRY.host,
      ...env,
    }),
  );
  try {
    const indicator = new CredentialsHealthIndicator(new HealthIndicatorService(), backend);
    const result = await indicator.isHealthy('credentials', { timeoutMs: 3_000 });
    return result.credentials as {
      status: string;
      storage: CredentialsPartHealth;
      registry: CredentialsPartHealth;
    };
  } finally {
    await backend.onModuleDestroy();
  }
}

describe('CredentialsHealthIndicator on the filesystem backend', () => {
  it('is up when the directory exists and the registry answers GET /v2/', async () => {
    expect(await healthOf({})).toEqual({
      status: 'up',
      storage: { status: 'up' },
      registry: { status: 'up' },
    });
  });

  it('probes its registry: nothing listening is down', async () => {
    const health = await healthOf({ REGISTRY_HOST: '127.0.0.1:1' });
    expect(health.status).toBe('down');
    expect(health.registry).toMatchObject({ status: 'down', code: 'STORAGE_UNAVAILABLE' });
    expect(health.storage).toEqual({ status: 'up' });
  });

  it('probes a registry given with a scheme and a path at its root, as the Docker config names it', async () => {
    const health = await healthOf({ REGISTRY_HOST: `http://${OPEN_REGISTRY.host}/v2/` });
    expect(health.registry).toEqual({ status: 'up' });
  });

  it('is down when PROJECTS_DIR does not exist', async () => {
    const health = await healthOf({ PROJECTS_DIR: path.join(root, 'missing') });
    expect(health.status).toBe('down');
    expect(health.storage).toMatchObject({ status: 'down', code: 'STORAGE_UNAVAILABLE' });
    expect((health.storage as { message: string }).message).toContain('does not exist');
  });

  it('is down when PROJECTS_DIR is a regular file', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'not a directory');
    const health = await healthOf({ PROJECTS_DIR: file });
    expect(health.status).toBe('down');
    expect(health.storage).toMatchObject({ status: 'down', code: 'STORAGE_UNAVAILABLE' });
    expect((health.storage as { message: string }).message).toContain('not a directory');
  });

  it('is down when the bucket directory is a symbolic link', async () => {
    const elsewhere = path.join(root, 'elsewhere');
    await mkdir(elsewhere);
    const dir = path.join(root, 'store');
    await mkdir(dir);
    await symlink(elsewhere, path.join(dir, 'projects'));
    const health = await healthOf({ PROJECTS_DIR: dir });
    expect(health.storage).toMatchObject({ status: 'down', code: 'ACCESS_DENIED' });
  });
});
