import { describe, expect, it } from '@jest/globals';
import type { ConfigService } from '@nestjs/config';
import { CredentialsConfigError } from '../errors.js';
import { readEnv } from './env-schema.js';

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
