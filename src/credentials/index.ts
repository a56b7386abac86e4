export {
  Credentials,
  type ProjectBody,
  type ProjectObject,
  type TransferOptions,
  type UploadOptions,
} from './credentials.js';
export { CREDENTIALS_PROVIDER, getCredentialsToken } from './credentials.constants.js';
export { InjectCredentials } from './credentials.decorator.js';
export { CredentialsModule, BUILT_IN_BACKENDS } from './credentials.module.js';
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
export { StoreBackedCredentials } from './backends/store-backed-credentials.js';
export type { ObjectStore, StoredObject } from './store/object-store.js';
export { assertProjectName, assertBucketName } from './project/project-name.js';
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
export { FilesystemCredentials, DEFAULT_PROJECTS_DIR } from './backends/filesystem.credentials.js';
export {
  FilesystemObjectStore,
  type FilesystemStoreConfig,
} from './store/filesystem-object-store.js';
export {
  resolveTransferSettings,
  DEFAULT_TRANSFER_SETTINGS,
  type TransferSettings,
} from './config/transfer-settings.js';
export {
  readEnv,
  setTogether,
  registryHostOf,
  type EnvSchema,
  type EnvVarSpec,
} from './config/env-schema.js';
export { basicAuthToken } from './registry/basic-auth.js';
export { ApiTokenGuard } from './http/api-token.guard.js';
export type { RegistryTokenResponse } from './http/registry-token.controller.js';
export type { HttpErrorBody } from './http/http-error.js';
export { withProjectSize, type ProjectStream } from './project/project-stream.js';
