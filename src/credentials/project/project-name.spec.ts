import { describe, expect, it } from '@jest/globals';
import { InvalidProjectError } from '../errors.js';
import { assertBucketName, assertProjectName } from './project-name.js';

/** The error `fn` throws, or fails the test when it throws nothing. */
function thrownBy(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw, got none');
}

describe('assertProjectName', () => {
  it.each([
    ['a single letter', 'a'],
    ['a single digit', '7'],
    ['255 characters', 'a'.repeat(255)],
    ['dots, dashes and underscores inside', 'my.project-name_v1.2'],
    ['a trailing dot, dash or underscore', 'project.-_'],
    ['upper and lower case with digits', 'Project42'],
    ['a name that ends with .zip', 'build-1.zip'],
  ])('accepts %s', (_label, name) => {
    expect(() => assertProjectName(name)).not.toThrow();
  });

  it.each([
    ['an empty name', ''],
    ['256 characters', 'a'.repeat(256)],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-rf'],
    ['a leading underscore', '_private'],
    ['".." alone', '..'],
    ['".." inside', 'a..b'],
    ['".." at the end', 'project..'],
    ['a "/"', 'a/b'],
    ['a path traversal', '../etc/passwd'],
    ['a "\\"', 'a\\b'],
    ['an encoded "..": %2e%2e', '%2e%2e'],
    ['an encoded "/"', 'a%2Fb'],
    ['a space', 'my project'],
    ['a trailing space', 'project '],
    ['a trailing newline', 'project\n'],
    ['a NUL byte', 'project\u0000'],
    ['a tab', 'pro\tject'],
    ['a DEL character', 'pro\u007fject'],
    ['a non-ASCII letter', 'projé'],
    ['Cyrillic letters', 'проект'],
    ['a full-width dot', 'a\uff0eb'],
    ['an emoji', 'project🙂'],
  ])('refuses %s', (_label, name) => {
    const err = thrownBy(() => assertProjectName(name));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect((err as InvalidProjectError).reason).toBe('name');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['an object', { toString: () => 'project' }],
    ['an array', ['project']],
    ['a Buffer', Buffer.from('project')],
  ])('refuses a non-string name: %s', (_label, name) => {
    const err = thrownBy(() => assertProjectName(name));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect((err as InvalidProjectError).reason).toBe('name');
  });

  it('says in the message which name was refused, shortened when long', () => {
    const long = `x${'y'.repeat(300)}`;
    const err = thrownBy(() => assertProjectName(long)) as InvalidProjectError;
    expect(err.message).toContain('301 characters');
    expect(err.message.length).toBeLessThan(400);
  });
});

describe('assertBucketName', () => {
  it.each([
    ['3 characters', 'abc'],
    ['63 characters', 'a'.repeat(63)],
    ['dots and dashes inside', 'my-bucket.projects'],
    ['digits', '123bucket'],
  ])('accepts %s', (_label, bucket) => {
    expect(() => assertBucketName(bucket)).not.toThrow();
  });

  it.each([
    ['an empty name', ''],
    ['2 characters', 'ab'],
    ['64 characters', 'a'.repeat(64)],
    ['upper case', 'MyBucket'],
    ['an underscore', 'my_bucket'],
    ['a leading dash', '-bucket'],
    ['a trailing dash', 'bucket-'],
    ['a leading dot', '.bucket'],
    ['".." inside', 'my..bucket'],
    ['an IP address', '192.168.1.1'],
    ['a "/"', 'my/bucket'],
    ['a space', 'my bucket'],
    ['non-ASCII', 'bücket'],
  ])('refuses %s', (_label, bucket) => {
    const err = thrownBy(() => assertBucketName(bucket));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect((err as InvalidProjectError).reason).toBe('bucket');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 123],
  ])('refuses a non-string bucket: %s', (_label, bucket) => {
    const err = thrownBy(() => assertBucketName(bucket));
    expect(err).toBeInstanceOf(InvalidProjectError);
    expect((err as InvalidProjectError).reason).toBe('bucket');
  });
});
