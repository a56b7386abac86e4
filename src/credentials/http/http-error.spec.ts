import { describe, expect, it } from '@jest/globals';
import { ForbiddenException, UnsupportedMediaTypeException } from '@nestjs/common';
import {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsConfigError,
  type CredentialsError,
  IntegrityError,
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from '../errors.js';
import { toHttpError } from './http-error.js';

describe('toHttpError', () => {
  it.each<[string, CredentialsError, number, string]>([
    ['a refused name', new InvalidProjectError('bad name', 'name'), 400, 'INVALID_PROJECT'],
    ['a body that is not a ZIP', new InvalidProjectError('no', 'not-zip'), 400, 'INVALID_PROJECT'],
    ['an unreadable body', new InvalidProjectError('cut', 'unreadable'), 400, 'INVALID_PROJECT'],
    ['a body over the limit', new InvalidProjectError('big', 'too-large'), 413, 'INVALID_PROJECT'],
    ['a missing project', new ProjectNotFoundError('b', 'k'), 404, 'PROJECT_NOT_FOUND'],
    ['a missing bucket', new BucketNotFoundError('b'), 404, 'BUCKET_NOT_FOUND'],
    ['storage refusing the keys', new AccessDeniedError('denied'), 403, 'ACCESS_DENIED'],
    ['registry refusing the keys', new RegistryAuthError('denied'), 403, 'REGISTRY_AUTH'],
    ['storage unavailable', new StorageUnavailableError('down'), 503, 'STORAGE_UNAVAILABLE'],
    ['changed bytes', new IntegrityError('mismatch'), 502, 'INTEGRITY'],
    [
      "bytes that miss the client's own digest",
      new IntegrityError('not the digest sent', undefined, 'supplied-digest'),
      400,
      'INTEGRITY',
    ],
    ['an unsupported operation', new NotSupportedError('no'), 501, 'NOT_SUPPORTED'],
  ])('answers %s with %i', (_label, error, status, code) => {
    const answer = toHttpError(error);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ statusCode: status, code, message: error.message });
    expect(answer.headers['Retry-After']).toBe(status === 503 ? '5' : undefined);
  });

  it('gives the reason of a refused project', () => {
    expect(toHttpError(new InvalidProjectError('big', 'too-large')).body.reason).toBe('too-large');
    expect(toHttpError(new ProjectNotFoundError('b', 'k')).body).not.toHaveProperty('reason');
  });

  it.each([
    ['a configuration error', new CredentialsConfigError('MINIO_SECRET_KEY=abc is wrong')],
    ['an unknown error', new Error('password=hunter2 in a stack')],
    ['a thrown string', 'password=hunter2'],
  ])('answers %s with 500 and no detail', (_label, error) => {
    const answer = toHttpError(error);
    expect(answer.status).toBe(500);
    expect(answer.body.message).toBe('Internal server error');
    expect(JSON.stringify(answer)).not.toMatch(/abc|hunter2/);
  });

  it("keeps an HttpException's status and message", () => {
    expect(toHttpError(new ForbiddenException()).body).toMatchObject({
      statusCode: 403,
      code: 'FORBIDDEN',
    });
    expect(toHttpError(new UnsupportedMediaTypeException('use zip')).body).toEqual({
      statusCode: 415,
      error: 'Unsupported Media Type',
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'use zip',
    });
  });
});
