import { inspect } from 'node:util';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { ConfigService } from '@nestjs/config';
import { RedactingLogger, redact } from '../util/redact.js';
import { AwsCredentials } from './aws.credentials.js';

/** Distinctive values, so a leak anywhere is found by a plain substring search. */
const SESSION_TOKEN = 'Unit-Session-Token-IQoJb3JpZ2luX2VjEJr//////////wEaCXVz+Ab9==';
const SECRET_KEY = 'Unit-Temporary-Secret-Key-3318';

const TEMPORARY_KEYS = {
  BUCKET_NAME_PROJECTS: 'projects',
  REGISTRY_HOST: '123456789012.dkr.ecr.us-east-2.amazonaws.com',
  AWS_REGION: 'us-east-2',
  AWS_ACCESS_KEY_ID: 'ASIAUNITTEMPORARYKEY',
  AWS_SECRET_ACCESS_KEY: SECRET_KEY,
  AWS_SESSION_TOKEN: SESSION_TOKEN,
};

/** The backend as the module builds it, from `env` only; its registry token is stubbed. */
function backendWith(env: Record<string, string>): AwsCredentials {
  const backend = new AwsCredentials({ get: (name: string) => env[name] } as ConfigService);
  jest.spyOn(backend, 'getRegistryToken').mockResolvedValue('stubbed-registry-token');
  return backend;
}

describe('AwsCredentials with temporary keys (AWS_SESSION_TOKEN)', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('hands the session token to build jobs in getCredentials(), beside the keys', async () => {
    const record = await backendWith(TEMPORARY_KEYS).getCredentials();

    expect(record).toMatchObject({
      AWS_ACCESS_KEY_ID: 'ASIAUNITTEMPORARYKEY',
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_SESSION_TOKEN: SESSION_TOKEN,
      REGISTRY_TOKEN: 'stubbed-registry-token',
    });
  });

  it('has AWS_SESSION_TOKEN null when it is not set, like the other optional keys', async () => {
    const withoutKeys: Record<string, string> = { ...TEMPORARY_KEYS };
    delete withoutKeys.AWS_ACCESS_KEY_ID;
    delete withoutKeys.AWS_SECRET_ACCESS_KEY;
    delete withoutKeys.AWS_SESSION_TOKEN;

    const record = await backendWith(withoutKeys).getCredentials();

    expect(record).toHaveProperty('AWS_ACCESS_KEY_ID', null);
    expect(record).toHaveProperty('AWS_SECRET_ACCESS_KEY', null);
    expect(record).toHaveProperty('AWS_SESSION_TOKEN', null);
  });

  it('masks the session token in log lines, like the secret key', () => {
    const lines: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message) => {
      lines.push(String(message));
    });
    const backend = backendWith(TEMPORARY_KEYS);

    new RedactingLogger('Credentials').warn(`keys ${SECRET_KEY} and ${SESSION_TOKEN} leaked`);

    expect(lines).toEqual(['keys [redacted] and [redacted] leaked']);
    expect(redact(`X-Amz-Security-Token: ${SESSION_TOKEN}`)).not.toContain(SESSION_TOKEN);
    // The backend is what keeps its record watched; it must still be alive here.
    expect(backend).toBeInstanceOf(AwsCredentials);
  });

  it('shows no session token through JSON.stringify or util.inspect', () => {
    const backend = backendWith(TEMPORARY_KEYS);

    for (const shown of [
      JSON.stringify(backend),
      JSON.stringify({ nested: [backend], spread: { ...backend } }),
      inspect(backend, { depth: 10, showHidden: true }),
    ]) {
      expect(shown).not.toContain(SESSION_TOKEN);
      expect(shown).not.toContain(SECRET_KEY);
    }
  });
});
