import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import {
  CredentialsConfigError,
  CredentialsModule,
  FilesystemCredentials,
} from './credentials/index.js';
import { CredentialsHealthIndicator } from './credentials/health/index.js';
import { HealthController } from './health.controller.js';

/** An optional whole number of the configuration; its range is the module's to check. */
function optionalInteger(config: ConfigService, name: string): number | undefined {
  const raw = String(config.get<unknown>(name) ?? '').trim();
  if (raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new CredentialsConfigError(`${name} must be a number of bytes`);
  return Number(raw);
}

/**
 * The example application: the credentials module with the `filesystem` backend registered
 * next to the built-in `aws` and `local` (`CREDENTIALS` picks one), and its HTTP controller
 * mounted, behind the bearer token `CREDENTIALS_API_TOKEN`. `MAX_PROJECT_SIZE` (bytes, optional)
 * sets the largest upload accepted.
 *
 * Build it with `AppModule.fromEnvironment()` (what `npm start` runs) or, in tests,
 * `AppModule.forTest(env)`, which reads nothing but `env`.
 */
@Module({})
export class AppModule {
  /**
   * Settings from the process environment, then `.env` in the working directory, then
   * `defaults` (lowest precedence: how `main.ts` supplies a generated API token).
   */
  static fromEnvironment(defaults: Record<string, string> = {}): DynamicModule {
    // Loaded values win over the environment in ConfigService.get(), so only the defaults that
    // neither the environment nor .env (already copied into process.env by now) set are loaded.
    const unset = () =>
      Object.fromEntries(
        Object.entries(defaults).filter(([name]) => process.env[name] === undefined),
      );
    return AppModule.withConfig(ConfigModule.forRoot({ isGlobal: true, load: [unset] }));
  }

  /** Settings from `env` only: neither the process environment nor `.env` is read. */
  static forTest(env: Record<string, string>): DynamicModule {
    return AppModule.withConfig(
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: true,
        ignoreEnvVars: true,
        // Without it ConfigService.get() still falls back to process.env.
        skipProcessEnv: true,
        load: [() => env],
      }),
    );
  }

  private static withConfig(config: Promise<DynamicModule>): DynamicModule {
    return {
      module: AppModule,
      imports: [
        config,
        // forRootAsync, to take the size limit from the configuration; `controller` shapes the
        // module itself, so it is given here, not by the factory.
        CredentialsModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            backends: { filesystem: FilesystemCredentials },
            maxProjectSize: optionalInteger(config, 'MAX_PROJECT_SIZE'),
          }),
          controller: true,
        }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [HealthController],
      providers: [CredentialsHealthIndicator],
    };
  }
}
