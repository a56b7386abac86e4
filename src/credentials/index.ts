// The root export: the contract. What only a custom backend needs is in `./backend.ts`
// (`nest-credentials/backend`); test doubles in `./testing`, the health indicator in `./health`.
export {
  Credentials,
  type ProjectBody,
  type ProjectObject,
  type TransferOptions,
  type UploadOptions,
} from './credentials.js';
export type { DockerConfig, RegistryAuth } from './registry/registry-auth.js';
export { CREDENTIALS_PROVIDER, getCredentialsToken } from './credentials.constants.js';
export { InjectCredentials } from './credentials.decorator.js';
export { CredentialsModule } from './credentials.module.js';
export {
  CREDENTIALS_MODULE_OPTIONS,
  type CredentialsModuleAsyncOptions,
  type CredentialsModuleSyncOptions,
} from './credentials.module-definition.js';
export type {
  CredentialsBackend,
  CredentialsControllerOptions,
  CredentialsModuleExtras,
  CredentialsModuleOptions,
  TransferTuning,
} from './credentials.options.js';
// Typed backend settings of forRoot / forRootAsync (h1).
export type { AwsSettings, FilesystemSettings, LocalSettings } from './credentials.options.js';
export { AwsCredentials } from './backends/aws.credentials.js';
export { LocalCredentials } from './backends/local.credentials.js';
export { FilesystemCredentials } from './backends/filesystem.credentials.js';
export {
  AccessDeniedError,
  BucketNotFoundError,
  CredentialsConfigError,
  CredentialsError,
  type CredentialsErrorCode,
  IntegrityError,
  InvalidProjectError,
  NotSupportedError,
  ProjectNotFoundError,
  RegistryAuthError,
  StorageUnavailableError,
} from './errors.js';
export { ApiTokenGuard } from './http/api-token.guard.js';
export type { RegistryTokenResponse } from './http/registry-token.controller.js';
export type { HttpErrorBody } from './http/http-error.js';
