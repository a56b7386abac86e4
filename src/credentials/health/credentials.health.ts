import { Inject, Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { CREDENTIALS_PROVIDER } from '../credentials.constants.js';
import type { Credentials } from '../credentials.js';
import { CredentialsError, NotSupportedError } from '../errors.js';

/** The state of one side (storage or registry) of a backend. */
export type CredentialsPartHealth =
  { status: 'up' } | { status: 'not checked' } | { status: 'down'; code: string; message: string };

export interface CredentialsHealthOptions {
  /** Deadline of each check, in ms. Default 5 s. */
  timeoutMs?: number;
}

async function probe(
  check: () => Promise<void>,
  timeoutMs: number,
): Promise<CredentialsPartHealth> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), deadline]);
    return { status: 'up' };
  } catch (err) {
    if (err instanceof NotSupportedError) return { status: 'not checked' };
    // Typed errors carry no secret; anything else is summarized by its name only.
    return err instanceof CredentialsError
      ? { status: 'down', code: err.code, message: err.message }
      : {
          status: 'down',
          code: 'TIMEOUT_OR_UNKNOWN',
          message:
            err instanceof Error && err.message.startsWith('no answer')
              ? err.message
              : 'check failed',
        };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A `@nestjs/terminus` indicator for the chosen backend: `storage` (the projects bucket is
 * reachable with the configured keys; for `filesystem`, `PROJECTS_DIR` is an existing,
 * writable directory) and `registry` (a token is obtainable; for `local` and `filesystem`,
 * `GET /v2/` of `REGISTRY_HOST` accepts it). Each check has a deadline; a check the backend does not offer is
 * reported as `not checked`. Nothing is cached: a server that comes back is `up` at once.
 *
 * Add it to the providers of a module that imports `TerminusModule` and sees
 * `CREDENTIALS_PROVIDER`, then `health.check([() => indicator.isHealthy('credentials')])`.
 */
@Injectable()
export class CredentialsHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    @Inject(CREDENTIALS_PROVIDER) private readonly credentials: Credentials,
  ) {}

  async isHealthy<const Key extends string>(
    key: Key,
    options: CredentialsHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const indicator = this.health.check(key);
    const [storage, registry] = await Promise.all([
      probe(() => this.credentials.checkStorage(), timeoutMs),
      probe(() => this.credentials.checkRegistry(), timeoutMs),
    ]);
    const data = { storage, registry };
    return storage.status === 'down' || registry.status === 'down'
      ? indicator.down(data)
      : indicator.up(data);
  }
}
