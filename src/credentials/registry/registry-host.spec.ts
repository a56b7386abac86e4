import { describe, expect, it } from '@jest/globals';
import type { ConfigService } from '@nestjs/config';
import { FilesystemCredentials } from '../backends/filesystem.credentials.js';
import { CredentialsConfigError } from '../errors.js';
import { registryHostOf } from '../config/env-schema.js';
import { registryBaseUrl } from './registry-probe.js';

const configOf = (env: Record<string, string>) =>
  ({ get: (name: string) => env[name] }) as unknown as ConfigService;

const backendWith = (registryHost: string) =>
  new FilesystemCredentials(
    configOf({
      BUCKET_NAME_PROJECTS: 'projects',
      REGISTRY_HOST: registryHost,
      REGISTRY_USERNAME: 'builder',
      REGISTRY_PASSWORD: 'registry-pw-1',
    }),
  );

describe('REGISTRY_HOST: one reading for validation, the probe and the Docker config', () => {
  it.each([
    ['127.0.0.1:5000', '127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['https://Reg.Example.com/project/', 'reg.example.com', 'https://reg.example.com'],
    ['reg.example.com:8443/some/path', 'reg.example.com:8443', 'https://reg.example.com:8443'],
    ['[::1]:5000', '[::1]:5000', 'http://[::1]:5000'],
    ['http://[::1]:5000/', '[::1]:5000', 'http://[::1]:5000'],
    ['[2001:db8::1]:5000', '[2001:db8::1]:5000', 'https://[2001:db8::1]:5000'],
    ['localhost:5000', 'localhost:5000', 'http://localhost:5000'],
  ])('%s: Docker config key %s, probed at %s/v2/', async (value, key, base) => {
    const backend = backendWith(value);
    expect(registryHostOf(value)).toBe(key);
    expect(registryBaseUrl(value)).toBe(base);
    expect(Object.keys((await backend.getDockerConfig()).auths)).toEqual([key]);
  });

  it.each([
    ['ftp://reg.example.com', 'REGISTRY_HOST (environment) must be a registry host'],
    ['reg example.com', 'REGISTRY_HOST (environment) must be a registry host'],
    ['[::1', 'REGISTRY_HOST (environment) must be a registry host'],
    ['reg.example.com:99999', 'REGISTRY_HOST (environment) must be a registry host'],
    ['builder:hunter22@reg.example.com', 'must not contain a user name or password'],
  ])('refuses %j at startup', (value, message) => {
    let err: unknown;
    try {
      backendWith(value);
    } catch (caught) {
      err = caught;
    }
    expect(err).toBeInstanceOf(CredentialsConfigError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('hunter22');
  });
});
