import { describe, expect, it } from '@jest/globals';
import type { ConfigService } from '@nestjs/config';
import { CredentialsConfigError } from '../errors.js';
import { readEnv, readSettings, setTogether } from './env-schema.js';

const configOf = (env: Record<string, string>) =>
  ({ get: (name: string) => env[name] }) as unknown as ConfigService;

const SCHEMA = {
  BUCKET_NAME_PROJECTS: { kind: 'bucket' },
  MINIO_SECRET_KEY: { secret: true },
  MINIO_ENDPOINT: { kind: 'url' },
} as const;

function problemOf(env: Record<string, string>): CredentialsConfigError {
  try {
    readEnv(configOf(env), 'test', SCHEMA);
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialsConfigError);
    return err as CredentialsConfigError;
  }
  throw new Error('expected a CredentialsConfigError');
}

describe('readEnv: what is trimmed', () => {
  it('trims the whitespace around settings', () => {
    const values = readEnv(configOf({ BUCKET_NAME_PROJECTS: '  projects \n' }), 'test', SCHEMA);
    expect(values.BUCKET_NAME_PROJECTS).toBe('projects');
  });

  it('keeps a secret as written, but for one trailing line break (a mounted secret file)', () => {
    const read = (secret: string) =>
      readEnv(configOf({ MINIO_SECRET_KEY: secret }), 'test', SCHEMA).MINIO_SECRET_KEY;
    expect(read('from-a-file\n')).toBe('from-a-file');
    expect(read('from-a-windows-file\r\n')).toBe('from-a-windows-file');
    expect(read(' spaces are part of it ')).toBe(' spaces are part of it ');
    expect(read('\tkept\n\n')).toBe('\tkept\n');
  });

  it('counts a secret that is only a line break as not set', () => {
    const values = readEnv(configOf({ MINIO_SECRET_KEY: '\n' }), 'test', SCHEMA);
    expect(values.MINIO_SECRET_KEY).toBeUndefined();
  });
});

describe('readEnv: endpoints', () => {
  it.each(['http://minio:pa55w0rd-in-url@127.0.0.1:9000', 'https://only-user@s3.example.com'])(
    'refuses an endpoint with user info (%s), without echoing it',
    (endpoint) => {
      const err = problemOf({ MINIO_ENDPOINT: endpoint });
      expect(err.message).toContain('MINIO_ENDPOINT must not contain a user name or password');
      expect(err.message).not.toContain('pa55w0rd');
      expect(err.message).not.toContain('only-user');
    },
  );

  it('accepts a plain endpoint', () => {
    const values = readEnv(configOf({ MINIO_ENDPOINT: 'http://127.0.0.1:9000' }), 'test', SCHEMA);
    expect(values.MINIO_ENDPOINT).toBe('http://127.0.0.1:9000');
  });
});

describe('readSettings: settings given in code over the environment', () => {
  const SETTINGS = {
    BUCKET_NAME_PROJECTS: { required: true, kind: 'bucket', setting: 'bucket' },
    MINIO_ENDPOINT: { required: true, kind: 'url', setting: 'minioEndpoint' },
    MINIO_SECRET_KEY: { secret: true, setting: 'minioSecretKey' },
    MINIO_REGION: { default: 'us-east-1', setting: 'minioRegion' },
    REGISTRY_USERNAME: { setting: 'registryUsername' },
    REGISTRY_PASSWORD: { secret: true, setting: 'registryPassword' },
    FORCE: { kind: 'boolean', setting: 'force' },
  } as const;
  const together = setTogether<keyof typeof SETTINGS>('REGISTRY_USERNAME', 'REGISTRY_PASSWORD');

  function settingsProblem(env: Record<string, string>, given: object): CredentialsConfigError {
    try {
      readSettings(configOf(env), 'local', SETTINGS, given, [together]);
    } catch (err) {
      expect(err).toBeInstanceOf(CredentialsConfigError);
      return err as CredentialsConfigError;
    }
    throw new Error('expected a CredentialsConfigError');
  }

  it('takes a given setting over its variable, and the variable for what is not given', () => {
    const values = readSettings(
      configOf({ BUCKET_NAME_PROJECTS: 'from-env', MINIO_ENDPOINT: 'http://env:9000' }),
      'local',
      SETTINGS,
      { bucket: 'from-code' },
    );
    expect(values.BUCKET_NAME_PROJECTS).toBe('from-code');
    expect(values.MINIO_ENDPOINT).toBe('http://env:9000');
    expect(values.MINIO_REGION).toBe('us-east-1');
  });

  it('needs no environment at all when everything is given', () => {
    const values = readSettings(configOf({}), 'local', SETTINGS, {
      bucket: 'projects',
      minioEndpoint: 'http://127.0.0.1:9000',
      minioRegion: 'eu-west-1',
      force: true,
    });
    expect(values).toMatchObject({
      BUCKET_NAME_PROJECTS: 'projects',
      MINIO_ENDPOINT: 'http://127.0.0.1:9000',
      MINIO_REGION: 'eu-west-1',
      FORCE: 'true',
    });
  });

  it('falls back to the variable for a setting given as undefined or empty', () => {
    const values = readSettings(
      configOf({ BUCKET_NAME_PROJECTS: 'from-env', MINIO_ENDPOINT: 'http://env:9000' }),
      'local',
      SETTINGS,
      { bucket: '', minioEndpoint: undefined },
    );
    expect(values.BUCKET_NAME_PROJECTS).toBe('from-env');
    expect(values.MINIO_ENDPOINT).toBe('http://env:9000');
  });

  it('cleans a given value as a variable (trims settings, keeps a secret as written)', () => {
    const values = readSettings(configOf({}), 'local', SETTINGS, {
      bucket: ' projects\n',
      minioEndpoint: 'http://127.0.0.1:9000',
      minioSecretKey: ' spaced secret \n',
    });
    expect(values.BUCKET_NAME_PROJECTS).toBe('projects');
    expect(values.MINIO_SECRET_KEY).toBe(' spaced secret ');
  });

  it('reports every problem of both sources at once, each naming where it came from', () => {
    const err = settingsProblem(
      { MINIO_ENDPOINT: 'not a url', REGISTRY_PASSWORD: 'env-password-value' },
      { bucket: 'Bad_Bucket', force: 'yes', bukket: 'typo' },
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('local.bucket (forRoot) must be a valid bucket name'),
        expect.stringContaining('MINIO_ENDPOINT (environment) must be an http(s) URL'),
        expect.stringContaining('local.force (forRoot) must be true or false'),
        expect.stringContaining('local.bukket (forRoot) is not a setting of the "local" backend'),
        expect.stringMatching(
          /REGISTRY_USERNAME and REGISTRY_PASSWORD must be set together \(only REGISTRY_PASSWORD \(environment\) is set\)/,
        ),
      ]),
    );
    expect(err.problems).toHaveLength(5);
  });

  it('names a missing required setting by both its variable and its setting', () => {
    const err = settingsProblem({}, {});
    expect(err.problems).toEqual([
      'BUCKET_NAME_PROJECTS is required by the "local" backend (set it in the environment, or local.bucket in forRoot)',
      'MINIO_ENDPOINT is required by the "local" backend (set it in the environment, or local.minioEndpoint in forRoot)',
    ]);
  });

  it('names the given half of a pair by its setting', () => {
    const err = settingsProblem(
      { BUCKET_NAME_PROJECTS: 'projects', MINIO_ENDPOINT: 'http://127.0.0.1:9000' },
      { registryUsername: 'builder' },
    );
    expect(err.problems).toEqual([
      'REGISTRY_USERNAME and REGISTRY_PASSWORD must be set together (only local.registryUsername (forRoot) is set)',
    ]);
  });

  it('refuses a value of the wrong type without echoing it', () => {
    const err = settingsProblem(
      { BUCKET_NAME_PROJECTS: 'projects', MINIO_ENDPOINT: 'http://127.0.0.1:9000' },
      { minioSecretKey: { nested: 'Secret-In-An-Object-8812' } },
    );
    expect(err.problems).toEqual(['local.minioSecretKey (forRoot) must be a string']);
    expect(err.message).not.toContain('Secret-In-An-Object-8812');
  });

  it('refuses given settings that are not an object', () => {
    const err = settingsProblem({}, 'bucket=projects' as unknown as object);
    expect(err.problems).toContain('local (forRoot) must be an object of settings');
  });

  it('never echoes a secret given in code, even in a rejected endpoint', () => {
    const err = settingsProblem(
      { BUCKET_NAME_PROJECTS: 'projects' },
      {
        minioEndpoint: 'http://user:Given-Pa55-In-Url@127.0.0.1:9000',
        registryPassword: 'Given-Pw-1234',
      },
    );
    expect(err.message).toContain('local.minioEndpoint (forRoot) must not contain a user name');
    expect(err.message).not.toContain('Given-Pa55-In-Url');
    expect(err.message).not.toContain('Given-Pw-1234');
  });
});
