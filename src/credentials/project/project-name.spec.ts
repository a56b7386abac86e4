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
    ['a trailing dash or underscore', 'project.-_'],
    ['a dot inside before the end', 'project.v1'],
    ['a device name inside a longer word', 'CONSOLE.zip'],
    ['a device name after another word', 'my-con.zip'],
    ['COM0 and LPT0 (not devices)', 'COM0.LPT0'],
    ['COM10 (not a device)', 'COM10.zip'],
    ['a device name as an extension', 'project.nul'],
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

  describe('names that are not portable to a store on Windows', () => {
    const devices = [
      ...['CON', 'PRN', 'AUX', 'NUL'],
      ...Array.from({ length: 9 }, (_, i) => `COM${i + 1}`),
      ...Array.from({ length: 9 }, (_, i) => `LPT${i + 1}`),
    ];

    it.each(devices.flatMap((device) => [device, `${device.toLowerCase()}.zip`]))(
      'refuses the Windows device name %j, saying why',
      (name) => {
        const err = thrownBy(() => assertProjectName(name));
        expect(err).toBeInstanceOf(InvalidProjectError);
        expect((err as InvalidProjectError).reason).toBe('name');
        expect((err as InvalidProjectError).message).toMatch(/Windows device name/);
      },
    );

    it.each(['Con', 'nUl.tar.gz', 'Com1.zip', 'lpt9.', 'AUX.'])(
      'refuses %j: device names in any case, before any dot',
      (name) => {
        expect(thrownBy(() => assertProjectName(name))).toMatchObject({
          code: 'INVALID_PROJECT',
          reason: 'name',
        });
      },
    );

    it.each(['a.', 'project.zip.', 'x'.repeat(254) + '.'])(
      'refuses the trailing dot of %j, saying why',
      (name) => {
        const err = thrownBy(() => assertProjectName(name)) as InvalidProjectError;
        expect(err).toBeInstanceOf(InvalidProjectError);
        expect(err.reason).toBe('name');
        expect(err.message).toMatch(/ends with "\."/);
      },
    );
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
