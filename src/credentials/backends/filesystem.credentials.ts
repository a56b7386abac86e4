import path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  FilesystemObjectStore,
  type ObjectStore,
  probeRegistry,
  readSettings,
  registryTokenOf,
  resolveTransferSettings,
  setTogether,
  StoreBackedCredentials,
  type StoreModes,
  type TransferSettings,
} from '../backend.js';
import { CREDENTIALS_MODULE_OPTIONS } from '../credentials.module-definition.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import { DEFAULT_PROJECTS_DIR, FILESYSTEM_SETTINGS } from './filesystem.settings.js';

export { DEFAULT_PROJECTS_DIR };

/**
 * Permission bits of what the store creates, by `PROJECTS_GROUP_ACCESS`: owner only by default;
 * `read` lets the directory's group read the projects (a backup job), `write` lets it also
 * write them (several app users sharing one store).
 */
const GROUP_ACCESS_MODES: Record<string, StoreModes | undefined> = {
  none: undefined, // the store's default: owner only
  read: { file: 0o640, directory: 0o750 },
  write: { file: 0o660, directory: 0o770 },
};

const knownGroupAccess = (
  values: { PROJECTS_GROUP_ACCESS?: string },
  nameOf: (name: 'PROJECTS_GROUP_ACCESS') => string,
) =>
  Object.hasOwn(GROUP_ACCESS_MODES, values.PROJECTS_GROUP_ACCESS ?? 'none')
    ? undefined
    : `${nameOf('PROJECTS_GROUP_ACCESS')} must be one of ${Object.keys(GROUP_ACCESS_MODES).join(', ')}`;

/**
 * Projects in a local directory, and a plain Docker registry as in `local`: for a single
 * machine, development, or tests without any storage server.
 *
 * It is not built in, and it is written the way your own backend would be, so it doubles as
 * the worked example of a custom backend: its helpers come from `../backend.ts`, the
 * `nest-credentials/backend` entry, and the rest from modules of the root export
 * (`nest-credentials`):
 *
 * ```ts
 * @Module({
 *   imports: [
 *     ConfigModule.forRoot({ isGlobal: true }),
 *     // CREDENTIALS=filesystem now picks this class; aws and local stay available.
 *     CredentialsModule.forRoot({ backends: { filesystem: FilesystemCredentials } }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * - It is an `@Injectable()` class built by Nest's DI, so it injects what it needs: its
 *   settings through `ConfigService`, and the module's options (optional: the transfer limits,
 *   and its settings given in code) through `CREDENTIALS_MODULE_OPTIONS`; `readSettings` merges
 *   the two sources and checks them together.
 * - The constructor validates every setting at once and throws `CredentialsConfigError`, so a
 *   bad configuration stops the app at startup; it touches neither the disk nor the network.
 * - It fills `this.credentials` (what `getCredentials()` hands to a build job).
 * - Extending `StoreBackedCredentials`, it only says how to build its store and how to get a
 *   registry token; the name rules, ZIP check, size limit, SHA-256 and integrity check come
 *   with the base class. (A backend may instead extend `Credentials` and write the four
 *   methods itself.)
 *
 * Settings: `PROJECTS_DIR` (default `./data/projects`, resolved against the working directory
 * at startup), `BUCKET_NAME_PROJECTS` (a sub-directory of it, created on the first upload),
 * `REGISTRY_HOST`, optionally `REGISTRY_USERNAME` with `REGISTRY_PASSWORD`, and
 * `PROJECTS_GROUP_ACCESS` (`none`, default: files 0600 and directories 0700; `read`: 0640 /
 * 0750; `write`: 0660 / 0770). Each may instead be given in code,
 * `forRoot({ filesystem: { projectsDir, bucket, ... } })` (see `FilesystemSettings`), which
 * wins over the variable.
 */
@Injectable()
export class FilesystemCredentials extends StoreBackedCredentials {
  protected readonly bucketName: string;
  protected readonly transfer: TransferSettings;
  /** Absolute directory holding one sub-directory per bucket. */
  readonly projectsDir: string;
  readonly #env: Record<keyof typeof FILESYSTEM_SETTINGS, string | undefined>;

  constructor(
    config: ConfigService,
    @Optional() @Inject(CREDENTIALS_MODULE_OPTIONS) options?: CredentialsModuleOptions,
  ) {
    super();
    this.#env = readSettings(config, 'filesystem', FILESYSTEM_SETTINGS, options?.filesystem, [
      setTogether('REGISTRY_USERNAME', 'REGISTRY_PASSWORD'),
      knownGroupAccess,
    ]);
    this.transfer = resolveTransferSettings(options);
    this.bucketName = this.#env.BUCKET_NAME_PROJECTS as string;
    // Resolved once, so a later change of working directory cannot move the projects.
    this.projectsDir = path.resolve(this.#env.PROJECTS_DIR ?? DEFAULT_PROJECTS_DIR);
    Object.assign(this.credentials, {
      PROJECTS_DIR: this.projectsDir,
      BUCKET_NAME_PROJECTS: this.bucketName,
      REGISTRY_HOST: this.#env.REGISTRY_HOST ?? null,
      REGISTRY_USERNAME: this.#env.REGISTRY_USERNAME ?? null,
      REGISTRY_PASSWORD: this.#env.REGISTRY_PASSWORD ?? null,
    });
  }

  async getRegistryToken(): Promise<string | null> {
    return registryTokenOf(this.#env.REGISTRY_USERNAME, this.#env.REGISTRY_PASSWORD);
  }

  /** As `local`: `GET /v2/` of the registry answers 200 with the configured credentials. */
  override async checkRegistry(): Promise<void> {
    await probeRegistry(
      this.#env.REGISTRY_HOST as string,
      await this.getRegistryToken(),
      this.transfer.requestTimeoutMs,
    );
  }

  protected async createStore(): Promise<ObjectStore> {
    // Only `node:fs`: no optional peer to load lazily, and nothing is created before the first
    // upload, so startup works on a read-only or not yet mounted volume.
    // The projects bucket exists from the start, even before its directory does: a download
    // from a fresh install is "no such project", not "no such bucket".
    return new FilesystemObjectStore({
      root: this.projectsDir,
      implicitBuckets: [this.bucketName],
      modes: GROUP_ACCESS_MODES[this.#env.PROJECTS_GROUP_ACCESS ?? 'none'],
    });
  }
}
