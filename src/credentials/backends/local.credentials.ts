import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { readSettings, setTogether } from '../config/env-schema.js';
import { resolveTransferSettings, type TransferSettings } from '../config/transfer-settings.js';
import { CREDENTIALS_MODULE_OPTIONS } from '../credentials.module-definition.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import { registryTokenOf } from '../registry/basic-auth.js';
import { probeRegistry } from '../registry/registry-probe.js';
import type { ObjectStore } from '../store/object-store.js';
import { loadAdapter } from '../util/optional-peer.js';
import { LOCAL_SETTINGS } from './local.settings.js';
import { StoreBackedCredentials } from './store-backed-credentials.js';

/**
 * The `local` backend: a plain Docker registry (open, or with basic auth from
 * `REGISTRY_USERNAME` / `REGISTRY_PASSWORD`) and MinIO (or any S3 API server) for projects.
 * Settings given in code (`forRoot({ local: { ... } })`, see `LocalSettings`) win over the
 * variables.
 */
@Injectable()
export class LocalCredentials extends StoreBackedCredentials {
  protected readonly bucketName: string;
  protected readonly transfer: TransferSettings;
  readonly #env: Record<keyof typeof LOCAL_SETTINGS, string | undefined>;

  constructor(
    config: ConfigService,
    @Optional() @Inject(CREDENTIALS_MODULE_OPTIONS) options?: CredentialsModuleOptions,
  ) {
    super();
    this.#env = readSettings(config, 'local', LOCAL_SETTINGS, options?.local, [
      setTogether('REGISTRY_USERNAME', 'REGISTRY_PASSWORD'),
    ]);
    this.transfer = resolveTransferSettings(options);
    this.bucketName = this.#env.BUCKET_NAME_PROJECTS as string;
    Object.assign(this.credentials, {
      MINIO_ENDPOINT: this.#env.MINIO_ENDPOINT ?? null,
      MINIO_ACCESS_KEY: this.#env.MINIO_ACCESS_KEY ?? null,
      MINIO_SECRET_KEY: this.#env.MINIO_SECRET_KEY ?? null,
      MINIO_REGION: this.#env.MINIO_REGION ?? null,
      BUCKET_NAME_PROJECTS: this.bucketName,
      REGISTRY_HOST: this.#env.REGISTRY_HOST ?? null,
      REGISTRY_USERNAME: this.#env.REGISTRY_USERNAME ?? null,
      REGISTRY_PASSWORD: this.#env.REGISTRY_PASSWORD ?? null,
    });
  }

  async getRegistryToken(): Promise<string | null> {
    return registryTokenOf(this.#env.REGISTRY_USERNAME, this.#env.REGISTRY_PASSWORD);
  }

  /** `GET /v2/` of the registry answers 200 with the configured credentials (or none). */
  override async checkRegistry(): Promise<void> {
    await probeRegistry(
      this.#env.REGISTRY_HOST as string,
      await this.getRegistryToken(),
      this.transfer.requestTimeoutMs,
    );
  }

  protected async createStore(): Promise<ObjectStore> {
    const { MinioObjectStore } = await loadAdapter(
      'local',
      ['minio'],
      () => import('../store/minio-object-store.js'),
    );
    return new MinioObjectStore({
      endpoint: new URL(this.#env.MINIO_ENDPOINT as string),
      accessKey: this.#env.MINIO_ACCESS_KEY as string,
      secretKey: this.#env.MINIO_SECRET_KEY as string,
      region: this.#env.MINIO_REGION as string,
      transfer: this.transfer,
    });
  }
}
