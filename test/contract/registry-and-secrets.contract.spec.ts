import { expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { describeContract } from './support/implementations.js';

describeContract('registry, credentials and health checks', (subject) => {
  it('getRegistryToken() gives the registry token of the configured registry', async () => {
    expect(await subject().credentials.getRegistryToken()).toBe(subject().registryToken);
  });

  it('getRegistryAuth() splits the token for the configured registry host', async () => {
    const { credentials, registryHost, registryToken, tokenExpires } = subject();
    const auth = await credentials.getRegistryAuth();
    if (registryToken === null) {
      expect(auth).toBeNull();
      return;
    }
    const decoded = Buffer.from(registryToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    expect(auth).toEqual({
      registry: registryHost,
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      token: registryToken,
      expiresAt: tokenExpires ? expect.any(Date) : null,
    });
    if (tokenExpires) expect(auth!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
  });

  it('getDockerConfig() names the configured registry host, without scheme or path', async () => {
    const { credentials, registryHost, registryToken } = subject();
    expect(await credentials.getDockerConfig()).toEqual(
      registryToken === null
        ? { auths: {} }
        : { auths: { [registryHost]: { auth: registryToken } } },
    );
  });

  it('getCredentials() names the upload bucket and the registry, as a frozen copy', async () => {
    const { credentials, bucket, env } = subject();
    const record = await credentials.getCredentials();
    expect(record).toMatchObject({
      BUCKET_NAME_PROJECTS: bucket,
      REGISTRY_HOST: env.REGISTRY_HOST,
    });
    expect(Object.isFrozen(record)).toBe(true);
    expect(() => {
      (record as Record<string, string | null>).BUCKET_NAME_PROJECTS = 'changed';
    }).toThrow(TypeError);
    expect((await credentials.getCredentials()).BUCKET_NAME_PROJECTS).toBe(bucket);
  });

  it('checkStorage() resolves when the upload bucket is reachable', async () => {
    await expect(subject().credentials.checkStorage()).resolves.toBeUndefined();
  });

  it('checkRegistry() resolves when the registry accepts the configured credentials', async () => {
    await expect(subject().credentials.checkRegistry()).resolves.toBeUndefined();
  });

  it('shows no secret through JSON.stringify, util.inspect or spreading', async () => {
    const { credentials, secrets } = subject();
    const shown = [
      JSON.stringify(credentials),
      inspect(credentials, { depth: 10, showHidden: true }),
      JSON.stringify({ ...credentials }),
      String(credentials),
    ];
    for (const text of shown) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
    expect(JSON.parse(JSON.stringify(credentials))).toEqual({
      backend: credentials.constructor.name,
    });
  });
});
