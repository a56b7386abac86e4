import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  Credentials,
  CredentialsConfigError,
  CredentialsModule,
  type CredentialsBackend,
  type ProjectObject,
} from './index.js';
import { configFromEnv } from '../../test/support/backends.js';

/** The four methods, so that the classes below differ only in what each test is about. */
abstract class Minimal extends Credentials {
  async getRegistryToken(): Promise<string | null> {
    return null;
  }
  async uploadProject(projectName: string): Promise<ProjectObject> {
    return { bucket: 'b', key: projectName, size: 0, sha256: '' };
  }
  async downloadProject(): Promise<Readable> {
    throw new Error('not used');
  }
}

@Injectable()
class ThrowingCredentials extends Minimal {
  constructor(config: ConfigService) {
    super();
    this.credentials.GCP_KEY = config.get<string>('GCP_KEY') ?? null;
    throw new Error(`cannot reach the vault with key ${this.credentials.GCP_KEY}`);
  }
}

class UndecoratedCredentials extends Minimal {
  constructor(config: ConfigService) {
    super();
    this.credentials.GCP_KEY = config.get<string>('GCP_KEY') ?? null;
  }
}

@Injectable()
class NotCredentials {
  async getRegistryToken(): Promise<string | null> {
    return null;
  }
}

async function startupError(backend: unknown, env: Record<string, string> = {}): Promise<Error> {
  const compiled = Test.createTestingModule({
    imports: [
      configFromEnv({ CREDENTIALS: 'gcp', ...env }),
      CredentialsModule.forRoot({ backends: { gcp: backend as CredentialsBackend } }),
    ],
  }).compile();
  const err = await compiled.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialsConfigError);
  return err as Error;
}

describe('CredentialsModule: custom backends that cannot be built', () => {
  it('reports a constructor that throws as CredentialsConfigError naming the backend and the cause', async () => {
    const err = await startupError(ThrowingCredentials, { GCP_KEY: 'gcp-secret-key-value' });
    expect(err.message).toContain('"gcp"');
    expect(err.message).toContain('ThrowingCredentials');
    expect(err.message).toContain('cannot reach the vault');
    expect(err.message).not.toContain('gcp-secret-key-value');
    expect(JSON.stringify(err.cause ?? {})).not.toContain('gcp-secret-key-value');
  });

  it('refuses a class that does not extend Credentials at startup', async () => {
    const err = await startupError(NotCredentials);
    expect(err.message).toContain('backends.gcp');
    expect(err.message).toContain('NotCredentials');
    expect(err.message).toContain('does not extend Credentials');
  });

  it('explains a backend without @Injectable()', async () => {
    const err = await startupError(UndecoratedCredentials);
    expect(err.message).toContain('UndecoratedCredentials');
    expect(err.message).toContain('@Injectable()');
  });
});
