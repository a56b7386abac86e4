/**
 * `nest-credentials/backend`: what a custom backend needs beyond the base class `Credentials`
 * (which, with the module, the errors and the option types, comes from `nest-credentials`).
 * `FilesystemCredentials` imports its helpers from here, as your own backend would.
 */

// A backend that keeps projects in an object store: extend it and implement `ObjectStore`.
export { StoreBackedCredentials } from './backends/store-backed-credentials.js';
export type { ObjectStore, PartSource, StoredObject } from './store/object-store.js';
export {
  FilesystemObjectStore,
  type FilesystemStoreConfig,
} from './store/filesystem-object-store.js';
export type { StoreModes } from './store/filesystem-entries.js';
export { withProjectSize, type ProjectStream } from './project/project-stream.js';

// The project rules every store shares.
export { assertProjectName, assertBucketName } from './project/project-name.js';

// Settings: read and check environment variables through ConfigService (and settings given in
// code, which win: `readSettings`), all problems of both sources at once.
export {
  readEnv,
  readSettings,
  setTogether,
  type EnvRule,
  type EnvSchema,
  type EnvVarSpec,
} from './config/env-schema.js';
export {
  resolveTransferSettings,
  DEFAULT_TRANSFER_SETTINGS,
  type TransferSettings,
} from './config/transfer-settings.js';

// A plain Docker registry: its host, basic auth and health probe.
export { registryHostOf } from './registry/registry-host.js';
export { basicAuthToken, registryTokenOf } from './registry/basic-auth.js';
export { probeRegistry } from './registry/registry-probe.js';
// What `getRegistryTokenWithExpiry()` returns, for a backend whose tokens expire.
export type { RegistryTokenWithExpiry } from './registry/registry-auth.js';
