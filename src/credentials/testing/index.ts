import type { TestingModuleBuilder } from '@nestjs/testing';
import { CREDENTIALS_PROVIDER } from '../credentials.constants.js';
import type { Credentials } from '../credentials.js';
import { InMemoryCredentials } from './in-memory-credentials.js';

export {
  type CredentialsCall,
  type CredentialsCallArgs,
  type CredentialsMethod,
  InMemoryCredentials,
  type InMemoryCredentialsOptions,
} from './in-memory-credentials.js';

/**
 * Binds `CREDENTIALS_PROVIDER` to `double` in a testing module, in place of the backend that
 * `CredentialsModule` would build. It is the one-liner
 *
 * ```ts
 * builder.overrideProvider(CREDENTIALS_PROVIDER).useValue(double)
 * ```
 *
 * and returns the builder to go on chaining:
 *
 * ```ts
 * const credentials = new InMemoryCredentials({ registryToken: 'token' });
 * const moduleRef = await overrideCredentials(
 *   Test.createTestingModule({ imports: [AppModule] }),
 *   credentials,
 * ).compile();
 * ```
 *
 * The real backend is then never constructed, so its settings (`CREDENTIALS`, keys, buckets)
 * are not needed.
 */
export function overrideCredentials(
  builder: TestingModuleBuilder,
  double: Credentials = new InMemoryCredentials(),
): TestingModuleBuilder {
  return builder.overrideProvider(CREDENTIALS_PROVIDER).useValue(double);
}
