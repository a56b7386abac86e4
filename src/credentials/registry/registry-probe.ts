import { RegistryAuthError, StorageUnavailableError } from '../errors.js';
import { registryBaseUrl } from './registry-host.js';

export { registryBaseUrl };

/**
 * Asks the registry's `GET /v2/` (the Docker Registry HTTP API v2 version check) whether it
 * accepts `token` (basic auth; `null` for none). 200 is healthy; 401/403 is `RegistryAuthError`;
 * anything else, a network error or the deadline is `StorageUnavailableError`.
 */
export async function probeRegistry(
  registryHost: string,
  token: string | null,
  timeoutMs: number,
): Promise<void> {
  const url = `${registryBaseUrl(registryHost)}/v2/`;
  let status: number;
  try {
    const response = await fetch(url, {
      headers: token === null ? {} : { authorization: `Basic ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    status = response.status;
    await response.body?.cancel();
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    throw new StorageUnavailableError(`The registry at ${url} did not answer (${name})`, { name });
  }
  if (status === 200) return;
  if (status === 401 || status === 403) {
    throw new RegistryAuthError(
      `The registry at ${url} refused the configured credentials (HTTP ${status})`,
      { status },
    );
  }
  throw new StorageUnavailableError(`The registry at ${url} answered HTTP ${status}`, { status });
}
