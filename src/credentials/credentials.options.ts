import type { CanActivate, Type } from '@nestjs/common';
import type { Credentials } from './credentials.js';

/** A backend class: an `@Injectable()` subclass of `Credentials`, built through Nest's DI. */
export type CredentialsBackend = Type<Credentials>;

/** Tuning of transfers (module settings); every field has a measured default. */
export interface TransferTuning {
  /** Largest project accepted, in bytes. Default 1 GiB; at most 5 GiB. */
  maxProjectSize?: number;
  /** Size of one multipart part, in bytes. Default 8 MiB; at least 5 MiB. */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  partConcurrency?: number;
  /** Deadline of one request to a server (connect, and silence while waiting), in ms. Default 30 s. */
  requestTimeoutMs?: number;
  /** Deadline of a whole upload, in ms. Default 30 min. */
  uploadTimeoutMs?: number;
  /**
   * Directory where a streamed project larger than one part is spooled while its SHA-256 is
   * computed (so the hash travels with the upload). Default: the OS temporary directory. Use a
   * disk, not a RAM-backed tmpfs, for large projects.
   */
  spoolDir?: string;
  /**
   * Sign every part with the SHA-256 of its bytes over HTTPS too. Over plain HTTP parts are
   * always signed so (the server checks each part's bytes: one damaged in transit fails the
   * upload with `IntegrityError` and nothing is stored). Default `false`: over HTTPS parts go as
   * `UNSIGNED-PAYLOAD`, because TLS already protects each request and the project's SHA-256,
   * signed in CreateMultipartUpload, is checked on every download; turn it on to have the
   * server check the parts' bytes as well, at the cost of one more SHA-256 pass over every byte.
   */
  signParts?: boolean;
}

export interface CredentialsModuleOptions extends TransferTuning {
  /** Backend name; overrides the `CREDENTIALS` variable. */
  backend?: string;
  /** Custom backends by name, next to the built-in `aws` and `local`. */
  backends?: Record<string, CredentialsBackend>;
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
