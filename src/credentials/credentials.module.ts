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
import { redact } from './util/redact.js';

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
    if (!(backend.prototype instanceof Credentials)) {
      throw new CredentialsConfigError(
        `option backends.${name} (${backend.name || 'an anonymous class'}) does not extend ` +
          'Credentials: a backend must be a subclass of Credentials (or of StoreBackedCredentials)',
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
    const { name, backend } = chooseBackend(options ?? {}, config);
    return constructBackend(name, backend, moduleRef);
  },
});

/**
 * Builds the chosen backend through DI. A failure is a `CredentialsConfigError` naming the
 * backend and the cause (its message redacted, as the constructor may have read secrets), so
 * a broken custom backend stops the app at startup with a message that says where to look.
 */
async function constructBackend(
  name: string,
  backend: CredentialsBackend,
  moduleRef: ModuleRef,
): Promise<Credentials> {
  const label = `backend "${name}" (${backend.name || 'an anonymous class'})`;
  // Without a class decorator TypeScript emits no parameter types, and Nest would call the
  // constructor with no arguments (then `config.get` fails with "Cannot read properties of
  // undefined").
  if (backend.length > 0 && !Reflect.hasOwnMetadata('design:paramtypes', backend)) {
    throw new CredentialsConfigError(
      `${label} takes constructor arguments but has no @Injectable() decorator, so Nest cannot ` +
        'tell what to inject: add @Injectable() to the class (and keep emitDecoratorMetadata on)',
    );
  }
  try {
    return await moduleRef.create(backend);
  } catch (err) {
    if (err instanceof CredentialsConfigError) throw err;
    const cause = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new CredentialsConfigError(`${label} could not be constructed: ${redact(cause)}`);
  }
}

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
