import { describe, expect, it } from '@jest/globals';
import {
  AccessDeniedError,
  BucketNotFoundError,
  type CredentialsError,
  IntegrityError,
  InvalidProjectError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../errors.js';
import {
  answerMissed,
  deadlineExceeded,
  type StorageCall,
  summarizeError,
  toStorageError,
} from './storage-errors.js';

const KEY_CALL: StorageCall = { operation: 'download', bucket: 'projects', key: 'demo.zip' };
const BUCKET_CALL: StorageCall = { operation: 'bucket check', bucket: 'projects' };

type ErrorClass = abstract new (...args: never[]) => CredentialsError;

/** An AWS SDK v3 style service error: a name and `$metadata.httpStatusCode`. */
function sdkError(name: string, status?: number, message = `${name} happened`) {
  return Object.assign(new Error(message), {
    name,
    $fault: status !== undefined && status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId: 'REQ1', attempts: 1 },
  });
}

/** A minio-js style error: `code` carries the S3 error code, `name` is generic. */
function minioError(code: string, message = `${code} happened`) {
  return Object.assign(new Error(message), { name: 'S3Error', code });
}

describe('toStorageError with AWS SDK errors', () => {
  it.each<[string, unknown, StorageCall, ErrorClass]>([
    ['NoSuchKey', sdkError('NoSuchKey', 404), KEY_CALL, ProjectNotFoundError],
    ['NoSuchBucket on a key call', sdkError('NoSuchBucket', 404), KEY_CALL, BucketNotFoundError],
    [
      'NoSuchBucket on a bucket call',
      sdkError('NoSuchBucket', 404),
      BUCKET_CALL,
      BucketNotFoundError,
    ],
    ['NotFound (HEAD) on a key call', sdkError('NotFound', 404), KEY_CALL, ProjectNotFoundError],
    [
      'NotFound (HEAD) on a bucket call',
      sdkError('NotFound', 404),
      BUCKET_CALL,
      BucketNotFoundError,
    ],
    ['a bare 404 on a key call', sdkError('UnknownError', 404), KEY_CALL, ProjectNotFoundError],
    [
      'a bare 404 on a bucket call',
      sdkError('UnknownError', 404),
      BUCKET_CALL,
      BucketNotFoundError,
    ],
    ['AccessDenied', sdkError('AccessDenied', 403), KEY_CALL, AccessDeniedError],
    ['Forbidden (HEAD)', sdkError('Forbidden', 403), KEY_CALL, AccessDeniedError],
    ['a bare 403', sdkError('UnknownError', 403), BUCKET_CALL, AccessDeniedError],
    ['SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403), KEY_CALL, AccessDeniedError],
    ['InvalidAccessKeyId', sdkError('InvalidAccessKeyId', 403), KEY_CALL, AccessDeniedError],
    ['a 401', sdkError('Unauthorized', 401), KEY_CALL, AccessDeniedError],
    ['InternalError 500', sdkError('InternalError', 500), KEY_CALL, StorageUnavailableError],
    [
      'ServiceUnavailable 503',
      sdkError('ServiceUnavailable', 503),
      KEY_CALL,
      StorageUnavailableError,
    ],
    ['SlowDown 503', sdkError('SlowDown', 503), BUCKET_CALL, StorageUnavailableError],
    ['BadDigest (a body changed in transit)', sdkError('BadDigest', 400), KEY_CALL, IntegrityError],
    [
      'XAmzContentSHA256Mismatch',
      sdkError('XAmzContentSHA256Mismatch', 400),
      KEY_CALL,
      IntegrityError,
    ],
    ['BadDigest from minio-js', minioError('BadDigest'), KEY_CALL, IntegrityError],
  ])('maps %s', (_label, err, call, expected) => {
    expect(toStorageError(err, call)).toBeInstanceOf(expected);
  });

  it('keeps bucket and key on ProjectNotFoundError', () => {
    const mapped = toStorageError(sdkError('NoSuchKey', 404), KEY_CALL) as ProjectNotFoundError;
    expect(mapped.bucket).toBe('projects');
    expect(mapped.key).toBe('demo.zip');
  });

  it('keeps the bucket on BucketNotFoundError', () => {
    const mapped = toStorageError(sdkError('NotFound', 404), BUCKET_CALL) as BucketNotFoundError;
    expect(mapped.bucket).toBe('projects');
  });

  it('keeps the name and status of the original error as the cause', () => {
    const mapped = toStorageError(sdkError('ServiceUnavailable', 503), KEY_CALL);
    expect(mapped.cause).toEqual({ name: 'ServiceUnavailable', code: undefined, status: 503 });
  });
});

describe('toStorageError with network errors', () => {
  it.each<[string, unknown]>([
    ['ECONNREFUSED', { code: 'ECONNREFUSED' }],
    ['ECONNRESET', { code: 'ECONNRESET' }],
    [
      'an Error with code ECONNRESET',
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ],
    ['ETIMEDOUT', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' })],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })],
    ['TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
    ['AbortError', Object.assign(new Error('aborted'), { name: 'AbortError' })],
    ['a plain Error', new Error('something broke')],
    ['a thrown string', 'something broke'],
    ['undefined', undefined],
  ])('maps %s to StorageUnavailableError', (_label, err) => {
    expect(toStorageError(err, KEY_CALL)).toBeInstanceOf(StorageUnavailableError);
  });
});

describe('toStorageError with minio errors', () => {
  it.each<[string, string, StorageCall, ErrorClass]>([
    ['NoSuchKey', 'an object', KEY_CALL, ProjectNotFoundError],
    ['NoSuchBucket', 'an object', KEY_CALL, BucketNotFoundError],
    ['NotFound', 'an object', KEY_CALL, ProjectNotFoundError],
    ['NotFound', 'a bucket', BUCKET_CALL, BucketNotFoundError],
    ['AccessDenied', 'an object', KEY_CALL, AccessDeniedError],
    ['SignatureDoesNotMatch', 'an object', KEY_CALL, AccessDeniedError],
    ['InvalidAccessKeyId', 'a bucket', BUCKET_CALL, AccessDeniedError],
    ['InternalError', 'an object', KEY_CALL, StorageUnavailableError],
  ])('maps code %s on %s call', (code, _kind, call, expected) => {
    expect(toStorageError(minioError(code), call)).toBeInstanceOf(expected);
  });

  it('reads a status from minio-style `statusCode`', () => {
    const err = Object.assign(new Error('x'), { name: 'S3Error', statusCode: 503 });
    const mapped = toStorageError(err, KEY_CALL);
    expect(mapped).toBeInstanceOf(StorageUnavailableError);
    expect((mapped.cause as { status?: number }).status).toBe(503);
  });
});

describe('toStorageError with errors that are already typed', () => {
  it.each<[string, CredentialsError]>([
    ['IntegrityError', new IntegrityError('bytes differ')],
    ['InvalidProjectError', new InvalidProjectError('bad', 'too-large')],
    ['ProjectNotFoundError', new ProjectNotFoundError('projects', 'other.zip')],
    ['StorageUnavailableError', new StorageUnavailableError('down')],
  ])('passes %s through unchanged', (_label, err) => {
    expect(toStorageError(err, BUCKET_CALL)).toBe(err);
  });
});

describe('toStorageError keeps secrets out', () => {
  const secretMessage =
    'The request signature we calculated does not match. Key: SECRET123, ' +
    'Authorization: AWS4-HMAC-SHA256 Credential=AKIDSECRET123/20300101';

  it.each<[string, unknown]>([
    ['an SDK access error', sdkError('SignatureDoesNotMatch', 403, secretMessage)],
    ['an SDK 500', sdkError('InternalError', 500, secretMessage)],
    ['an SDK 404', sdkError('NoSuchKey', 404, secretMessage)],
    ['a minio error', minioError('AccessDenied', secretMessage)],
    ['a network error', Object.assign(new Error(secretMessage), { code: 'ECONNRESET' })],
    ['a plain Error', new Error(secretMessage)],
  ])('leaves the original message of %s out of the message and cause', (_label, err) => {
    const mapped = toStorageError(err, KEY_CALL);

    expect(mapped.message).not.toContain('SECRET123');
    expect(JSON.stringify(mapped.cause) ?? '').not.toContain('SECRET123');
    expect(JSON.stringify(mapped)).not.toContain('SECRET123');
  });

  it('drops headers and bodies of the original error', () => {
    const err = Object.assign(sdkError('AccessDenied', 403), {
      $response: {
        statusCode: 403,
        headers: { authorization: 'AWS4 SECRET123' },
        body: 'SECRET123',
      },
    });

    const summary = summarizeError(err);

    expect(JSON.stringify(summary)).not.toContain('SECRET123');
    expect(summary).toEqual({ name: 'AccessDenied', code: undefined, status: 403 });
  });
});

describe('deadlineExceeded', () => {
  it('is a StorageUnavailableError naming the operation, the object and the deadline', () => {
    const err = deadlineExceeded(KEY_CALL, 1_500);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(err.message).toContain('download');
    expect(err.message).toContain('demo.zip');
    expect(err.message).toContain('1500 ms');
  });
});

describe('answerMissed', () => {
  it.each<[string, unknown, boolean]>([
    ['a deadline', deadlineExceeded(KEY_CALL, 1_000), true],
    [
      'an abort',
      Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' }),
      true,
    ],
    ['a reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    ['a mapped network error', toStorageError({ code: 'ECONNRESET' }, KEY_CALL), true],
    ['a 500 answer', sdkError('InternalError', 500), false],
    ['a mapped 500 answer', toStorageError(sdkError('InternalError', 500), KEY_CALL), false],
    ['a minio error code', minioError('InvalidPart'), false],
    ['access denied', toStorageError(sdkError('AccessDenied', 403), KEY_CALL), false],
  ])('%s: %s', (_label, err, missed) => {
    expect(answerMissed(err)).toBe(missed);
  });
});
