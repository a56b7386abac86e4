import { ConfigService } from '@nestjs/config';
import type { TestingModuleBuilder } from '@nestjs/testing';
import { CREDENTIALS_PROVIDER } from '../credentials.constants.js';
import { CREDENTIALS_MODULE_OPTIONS } from '../credentials.module-definition.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import type { Credentials } from '../credentials.js';
import { InMemoryCredentials } from './in-memory-credentials.js';

export {
  type CredentialsCall,
  type CredentialsCallArgs,
  type CredentialsMethod,
  type InMemoryAppSettings,
  InMemoryCredentials,
  type InMemoryCredentialsOptions,
} from './in-memory-credentials.js';

/**
 * Binds `CREDENTIALS_PROVIDER` to `double` in a testing module, in place of the backend that
 * `CredentialsModule` would build:
 *
 * ```ts
 * const credentials = new InMemoryCredentials({ registryToken: 'token' });
 * const moduleRef = await overrideCredentials(
 *   Test.createTestingModule({ imports: [AppModule] }),
 *   credentials,
 * ).compile();
 * ```
 *
 * An `InMemoryCredentials` then follows the app's settings as the real backend would
 * (`BUCKET_NAME_PROJECTS` and `REGISTRY_HOST` through `ConfigService`, the module's
 * `maxProjectSize`; see `followAppSettings`). The real backend is never constructed, so the
 * rest of its settings (`CREDENTIALS`, keys) are not needed. Returns the builder to go on
 * chaining.
 */
export function overrideCredentials(
  builder: TestingModuleBuilder,
  double: Credentials = new InMemoryCredentials(),
): TestingModuleBuilder {
  return builder.overrideProvider(CREDENTIALS_PROVIDER).useFactory({
    factory: (config?: ConfigService, moduleOptions?: CredentialsModuleOptions) =>
      double instanceof InMemoryCredentials
        ? double.followAppSettings({ config, moduleOptions })
        : double,
    inject: [
      { token: ConfigService, optional: true },
      { token: CREDENTIALS_MODULE_OPTIONS, optional: true },
    ],
  });
}
