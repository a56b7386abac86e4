import type { EnvSchema } from '../config/env-schema.js';

/** Where projects go when `PROJECTS_DIR` is not set, relative to the working directory. */
export const DEFAULT_PROJECTS_DIR = './data/projects';

/**
 * Settings of the `filesystem` backend given in code:
 * `forRoot({ backend: 'filesystem', backends: { filesystem: FilesystemCredentials }, filesystem: { ... } })`.
 * Each one wins over its environment variable (named below), which stays the default source.
 */
export interface FilesystemSettings {
  /** Sub-directory of `projectsDir` that `uploadProject` writes to. Variable `BUCKET_NAME_PROJECTS`. */
  bucket?: string;
  /** The Docker registry, with or without scheme (`127.0.0.1:5000`). Variable `REGISTRY_HOST`. */
  registryHost?: string;
  /**
   * Directory holding one sub-directory per bucket, resolved against the working directory at
   * startup. Default `./data/projects`. Variable `PROJECTS_DIR`.
   */
  projectsDir?: string;
  /**
   * Who besides the owner may use what the store creates: `none` (default: files 0600,
   * directories 0700), `read` (0640 / 0750) or `write` (0660 / 0770).
   * Variable `PROJECTS_GROUP_ACCESS`.
   */
  projectsGroupAccess?: 'none' | 'read' | 'write';
  /** Basic-auth user of the registry, with `registryPassword`. Variable `REGISTRY_USERNAME`. */
  registryUsername?: string;
  /** Basic-auth password of the registry; never logged. Variable `REGISTRY_PASSWORD`. */
  registryPassword?: string;
}

/** Each variable of the `filesystem` backend, with the name of its setting in `FilesystemSettings`. */
export const FILESYSTEM_SETTINGS = {
  BUCKET_NAME_PROJECTS: { required: true, kind: 'bucket', setting: 'bucket' },
  REGISTRY_HOST: { required: true, kind: 'host', setting: 'registryHost' },
  PROJECTS_DIR: { default: DEFAULT_PROJECTS_DIR, setting: 'projectsDir' },
  PROJECTS_GROUP_ACCESS: { default: 'none', setting: 'projectsGroupAccess' },
  REGISTRY_USERNAME: { setting: 'registryUsername' },
  REGISTRY_PASSWORD: { secret: true, setting: 'registryPassword' },
} as const satisfies EnvSchema<string, keyof FilesystemSettings>;
