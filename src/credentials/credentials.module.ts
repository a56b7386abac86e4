import { type DynamicModule, type FactoryProvider, Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AwsCredentials } from './backends/aws.credentials.js';
import { LocalCredentials } from './backends/local.credentials.js';
import { Credentials } from './credentials.js';
import { CREDENTIALS_ENV, getCredentialsToken } from './credentials.constants.js';
import {
  ConfigurableCredentialsModule,
  CREDENTIALS_MODULE_OPTIONS,
  type CredentialsModuleAsyncOptions,
  type CredentialsModuleSyncOptions,
} from './credentials.module-definition.js';
import type {
  CredentialsBackend,
  CredentialsModuleExtras,
  CredentialsModuleOptions,
} from './credentials.options.js';
import { CredentialsConfigError } from './errors.js';
import { withController } from './http/credentials-http.providers.js';

/** The backends every app has; `options.backends` adds to them (and may replace them). */
export const BUILT_IN_BACKENDS: Readonly<Record<string, CredentialsBackend>> = Object.freeze({
  aws: AwsCredentials,
  local: LocalCredentials,
});

/** Picks the backend class from `options.backend`, else from `CREDENTIALS`. */
export function chooseBackend(
  options: CredentialsModuleOptions,
  config: ConfigService,
): { name: string; backend: CredentialsBackend } {
  const available: Record<string, CredentialsBackend> = {
    ...BUILT_IN_BACKENDS,
    ...options.backends,
  };
  const valid = Object.keys(available).sort().join(', ');
  for (const [name, backend] of Object.entries(options.backends ?? {})) {
    if (typeof backend !== 'function') {
      throw new CredentialsConfigError(
        `option backends.${name} must be a class that extends Credentials`,
      );
    }
  }
  const fromOption = options.backend?.trim();
  const name = fromOption || String(config.get<unknown>(CREDENTIALS_ENV) ?? '').trim();
  const source = fromOption ? 'option backend' : CREDENTIALS_ENV;
  if (!name) {
    throw new CredentialsConfigError(`${CREDENTIALS_ENV} is not set; valid backends: ${valid}`);
  }
  if (!Object.hasOwn(available, name)) {
    throw new CredentialsConfigError(
      `${source} is "${name}", which is not a known backend; valid backends: ${valid}`,
    );
  }
  return { name, backend: available[name] };
}

const backendProvider = (token: symbol): FactoryProvider<Promise<Credentials>> => ({
  provide: token,
  inject: [CREDENTIALS_MODULE_OPTIONS, ConfigService, ModuleRef],
  // Built through Nest's DI, so a backend injects ConfigService (or anything else it needs);
  // only the chosen one is constructed, so only its settings are validated.
  useFactory: async (
    options: CredentialsModuleOptions,
    config: ConfigService,
    moduleRef: ModuleRef,
  ) => {
    const { backend } = chooseBackend(options ?? {}, config);
    return moduleRef.create(backend);
  },
});

/** The instance name of `extras`, checked: `undefined` for the default instance. */
function instanceName({ name, controller }: CredentialsModuleExtras): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new CredentialsConfigError(
      'option name must be a non-empty word of letters, digits, "_", "." and "-"',
    );
  }
  if (controller) {
    throw new CredentialsConfigError(
      `option controller: mount the controller on the default instance, not on "${name}"`,
    );
  }
  return name;
}

function withBackend(definition: DynamicModule, name: string | undefined): DynamicModule {
  const token = getCredentialsToken(name);
  // The default instance is also provided under the `Credentials` class, so that a service
  // needs no decorator; an alias, so overrideProvider(CREDENTIALS_PROVIDER) reaches it too.
  const byClass = name === undefined ? [{ provide: Credentials, useExisting: token }] : [];
  return {
    ...definition,
    imports: [...(definition.imports ?? []), ConfigModule],
    providers: [...(definition.providers ?? []), backendProvider(token), ...byClass],
    exports: [...(definition.exports ?? []), token, ...byClass.map(({ provide }) => provide)],
  };
}

/**
 * Binds `CREDENTIALS_PROVIDER` to the backend named by `CREDENTIALS` (read through
 * `ConfigService`) or by the `backend` option; with the `controller` option, also mounts the
 * HTTP controller (off by default).
 */
@Module({})
export class CredentialsModule extends ConfigurableCredentialsModule {
  static override forRoot(options: CredentialsModuleSyncOptions = {}): DynamicModule {
    const name = instanceName(options);
    return withController(withBackend(super.forRoot(options), name), options.controller);
  }

  static override forRootAsync(options: CredentialsModuleAsyncOptions): DynamicModule {
    const name = instanceName(options);
    return withController(withBackend(super.forRootAsync(options), name), options.controller);
  }
}
