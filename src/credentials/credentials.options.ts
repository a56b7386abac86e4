import type { CanActivate, Type } from '@nestjs/common';
import type { AwsSettings } from './backends/aws.settings.js';
import type { FilesystemSettings } from './backends/filesystem.settings.js';
import type { LocalSettings } from './backends/local.settings.js';
import type { TransferTuning } from './config/transfer-tuning.js';
import type { Credentials } from './credentials.js';

export type { AwsSettings, FilesystemSettings, LocalSettings, TransferTuning };

/** A backend class: an `@Injectable()` subclass of `Credentials`, built through Nest's DI. */
export type CredentialsBackend = Type<Credentials>;

export interface CredentialsModuleOptions extends TransferTuning {
  /** Backend name; overrides the `CREDENTIALS` variable. */
  backend?: string;
  /** Custom backends by name, next to the built-in `aws` and `local`. */
  backends?: Record<string, CredentialsBackend>;
  /**
   * Settings of the `aws` backend, used when it is the chosen one. Each wins over its
   * environment variable; what is not given is read from the environment (`ConfigService`).
   */
  aws?: AwsSettings;
  /** Settings of the `local` backend, used when it is the chosen one; they win over the environment. */
  local?: LocalSettings;
  /**
   * Settings of the `filesystem` backend (registered with `backends: { filesystem:
   * FilesystemCredentials }`), used when it is the chosen one; they win over the environment.
   */
  filesystem?: FilesystemSettings;
}

/** Options of the optional HTTP controller (`forRoot({ controller: ... })`). */
export interface CredentialsControllerOptions {
  /**
   * Guards that decide who may call the controller, instead of the bearer token (list
   * `ApiTokenGuard` among them to keep it too). A guard class is built in the credentials
   * module's scope: it may inject `ConfigService` and global providers; pass an instance for
   * anything else.
   */
  guards?: (Type<CanActivate> | CanActivate)[];
  /** Mount without any guard and without `CREDENTIALS_API_TOKEN`. Only for trusted networks. */
  allowAnonymous?: boolean;
}

/** Options that shape the module itself, so they are given statically even with `forRootAsync`. */
export interface CredentialsModuleExtras {
  isGlobal?: boolean;
  /**
   * Registers a further instance under this name, beside the default (unnamed) one: inject it
   * with `@InjectCredentials(name)` or `getCredentialsToken(name)`. Only the default instance is
   * also provided under the `Credentials` class and may mount the controller.
   */
  name?: string;
  /** Mount the HTTP controller: `true` or its options. Off by default. */
  controller?: boolean | CredentialsControllerOptions;
}
