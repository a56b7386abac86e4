import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsConfigError,
  type CredentialsError,
  IntegrityError,
  NotSupportedError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from '../../src/credentials/index.js';
import { InMemoryCredentials } from '../../src/credentials/testing/index.js';
import { sha256Of, zipLike } from '../support/backends.js';
import { API_TOKEN, type RunningApp, startExampleApp } from './support/example-app.js';

const MiB = 1024 * 1024;
const MAX_PROJECT_SIZE = 52 * MiB;

/**
 * The example app with the in-memory double in place of the backend: how the controller answers
 * each error of the contract. (The routes and statuses every implementation shares, the double
 * included, are in test/contract/controller.contract.spec.ts.) The configuration has no
 * BUCKET_NAME_PROJECTS and no backend settings: the double needs none.
 */
const ENV = {
  CREDENTIALS_API_TOKEN: API_TOKEN,
  MAX_PROJECT_SIZE: String(MAX_PROJECT_SIZE),
  REGISTRY_HOST: 'https://registry.example.com:5000/',
};

const bearer = { Authorization: `Bearer ${API_TOKEN}` };

describe('example app with the in-memory double', () => {
  describe('errors of the backend', () => {
    let double: InMemoryCredentials;
    let running: RunningApp;

    beforeAll(async () => {
      double = new InMemoryCredentials({ maxProjectSize: MAX_PROJECT_SIZE });
      running = await startExampleApp(ENV, double);
    });

    afterAll(async () => {
      await running?.close();
    });

    const upload = () =>
      request(running.server)
        .put('/projects/failing.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1000));
    const download = () => request(running.server).get('/projects/failing.zip').set(bearer);
    const token = () => request(running.server).get('/registry/token').set(bearer);

    it.each<[string, number, string, CredentialsError]>([
      [
        'storage unavailable',
        503,
        'STORAGE_UNAVAILABLE',
        new StorageUnavailableError('S3 timed out'),
      ],
      ['access denied', 403, 'ACCESS_DENIED', new AccessDeniedError('Access denied to "x"')],
      ['no bucket', 404, 'BUCKET_NOT_FOUND', new BucketNotFoundError('projects')],
      ['not supported', 501, 'NOT_SUPPORTED', new NotSupportedError('no uploads here')],
    ])('upload: %s answers %i', async (_label, status, code, error) => {
      double.failNext('uploadProject', error);
      const res = await upload();
      expect(res.status).toBe(status);
      expect(res.body).toEqual({
        statusCode: status,
        error: expect.any(String),
        code,
        message: error.message,
      });
      if (status === 503) expect(res.headers['retry-after']).toBe('5');
      else expect(res.headers['retry-after']).toBeUndefined();
    });

    it.each([
      [
        'PUT with a matching Content-Digest',
        (data: Buffer) =>
          request(running.server)
            .put('/projects/failing.zip')
            .set(bearer)
            .set('Content-Type', 'application/zip')
            .set(
              'Content-Digest',
              `sha-256=:${Buffer.from(sha256Of(data), 'hex').toString('base64')}:`,
            )
            .send(data),
      ],
      [
        'POST with a matching sha256 field',
        (data: Buffer) =>
          request(running.server)
            .post('/projects/failing.zip')
            .set(bearer)
            .field('sha256', sha256Of(data))
            .attach('project_zip', data, 'failing.zip'),
      ],
    ])(
      'upload: %s, but an integrity failure of the store: 502 as without a digest, not 400',
      async (_label, send) => {
        const changedInTransit = new IntegrityError(
          'The storage server refused the bytes sent: they do not match their checksum',
        );
        double.failNext('uploadProject', changedInTransit);
        const res = await send(zipLike(1000));
        expect(res.status).toBe(502);
        expect(res.body).toMatchObject({
          statusCode: 502,
          code: 'INTEGRITY',
          message: changedInTransit.message,
        });
      },
    );

    it.each<[string, number, string, CredentialsError]>([
      ['no project', 404, 'PROJECT_NOT_FOUND', new ProjectNotFoundError('projects', 'failing.zip')],
      ['no bucket', 404, 'BUCKET_NOT_FOUND', new BucketNotFoundError('projects')],
      [
        'storage unavailable',
        503,
        'STORAGE_UNAVAILABLE',
        new StorageUnavailableError('S3 is down'),
      ],
      ['access denied', 403, 'ACCESS_DENIED', new AccessDeniedError('Access denied')],
    ])('download: %s answers %i', async (_label, status, code, error) => {
      double.failNext('downloadProject', error);
      const res = await download();
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, code });
      if (status === 503) expect(res.headers['retry-after']).toBe('5');
    });

    it('download: an integrity failure before the first byte left answers 502 as JSON', async () => {
      double.seedProject(double.bucket, 'failing.zip', zipLike(1000));
      double.failNext('downloadProject', new IntegrityError('SHA-256 mismatch'));
      const res = await download();
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['content-disposition']).toBeUndefined();
      expect(res.body).toMatchObject({ code: 'INTEGRITY' });
    });

    it.each<[string, number, string, CredentialsError]>([
      ['registry refused', 403, 'REGISTRY_AUTH', new RegistryAuthError('ECR refused the keys')],
      [
        'registry unreachable',
        503,
        'STORAGE_UNAVAILABLE',
        new StorageUnavailableError('ECR timed out'),
      ],
    ])('token: %s answers %i', async (_label, status, code, error) => {
      double.failNext('getRegistryToken', error);
      const res = await token();
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, code });
    });

    it('answers 500 without the message of an unexpected error', async () => {
      const secret = 'MINIO_SECRET_KEY=wJalrXUtnFEMI-leaked';
      double.failNext('uploadProject', new CredentialsConfigError(secret));
      const res = await upload();
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ statusCode: 500, message: 'Internal server error' });
      expect(res.text).not.toContain('wJalrXUtnFEMI');
    });
  });

  it('refuses to start without CREDENTIALS_API_TOKEN, naming it', async () => {
    const withoutToken: Record<string, string> = { ...ENV };
    delete withoutToken.CREDENTIALS_API_TOKEN;
    const attempt = startExampleApp(withoutToken, new InMemoryCredentials());
    await expect(attempt).rejects.toThrow(CredentialsConfigError);
    await expect(attempt).rejects.toThrow(/CREDENTIALS_API_TOKEN is not set/);
  });
});
