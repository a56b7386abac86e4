import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { registryHostOf } from '../config/env-schema.js';
import { type CredentialsError, RegistryAuthError, StorageUnavailableError } from '../errors.js';
import { summarizeError } from '../store/storage-errors.js';
import { RegistryTokenCache, type RegistryToken } from './registry-token-cache.js';

export interface EcrTokenSourceConfig {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** `REGISTRY_HOST`; the token of the registry whose `proxyEndpoint` has this host is used. */
  registryHost: string;
  requestTimeoutMs: number;
}

const RETRYABLE = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServerException',
  'ServiceUnavailable',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);

export function isRetryableEcrError(err: unknown): boolean {
  const { name, code, status } = summarizeError(err);
  return (
    (name !== undefined && RETRYABLE.has(name)) ||
    (code !== undefined && RETRYABLE.has(code)) ||
    status === 429 ||
    (status !== undefined && status >= 500)
  );
}

export function toRegistryError(err: unknown): CredentialsError {
  const summary = summarizeError(err);
  const reason = [summary.name, summary.code, summary.status].filter(Boolean).join(' ');
  const refused =
    (summary.status !== undefined && summary.status >= 400 && summary.status < 500) ||
    /Credential|Denied|Unrecognized|Auth|Signature|Token/i.test(summary.name ?? '');
  if (isRetryableEcrError(err) || !refused) {
    return new StorageUnavailableError(`The ECR registry API is unavailable (${reason})`, summary);
  }
  return new RegistryAuthError(`ECR refused to issue a registry token (${reason})`, summary);
}

/** Fetches the ECR authorization token of the registry named by `REGISTRY_HOST`. */
export function createEcrTokenCache(config: EcrTokenSourceConfig): {
  cache: RegistryTokenCache;
  close(): void;
} {
  const client = new ECRClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: config.credentials,
    // Retries are the cache's: jittered, inside one deadline, shared by all callers.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: Math.min(5_000, config.requestTimeoutMs),
      requestTimeout: config.requestTimeoutMs,
      // Without it the SDK only logs a warning when a server stops answering.
      throwOnRequestTimeout: true,
    },
  });
  const wanted = registryHostOf(config.registryHost);

  async function fetchToken(signal: AbortSignal): Promise<RegistryToken> {
    const { authorizationData = [] } = await client.send(new GetAuthorizationTokenCommand({}), {
      abortSignal: signal,
    });
    const match = authorizationData.find(
      (data) => data.proxyEndpoint && registryHostOf(data.proxyEndpoint) === wanted,
    );
    if (!match?.authorizationToken || !match.expiresAt) {
      const offered = authorizationData.map((data) => data.proxyEndpoint).join(', ') || 'none';
      throw new RegistryAuthError(
        `REGISTRY_HOST is "${wanted}", but ECR issued tokens only for: ${offered}`,
      );
    }
    return { token: match.authorizationToken, expiresAt: new Date(match.expiresAt) };
  }

  const cache = new RegistryTokenCache(fetchToken, {
    isRetryable: isRetryableEcrError,
    toError: toRegistryError,
    refreshDeadlineMs: config.requestTimeoutMs,
  });
  return {
    cache,
    close: () => {
      cache.close();
      client.destroy();
    },
  };
}
