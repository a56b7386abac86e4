import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { readSettings, setTogether } from '../config/env-schema.js';
import { resolveTransferSettings, type TransferSettings } from '../config/transfer-settings.js';
import { CREDENTIALS_MODULE_OPTIONS } from '../credentials.module-definition.js';
import { CredentialsConfigError, StorageUnavailableError } from '../errors.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import type { RegistryTokenWithExpiry } from '../registry/registry-auth.js';
import type { RegistryTokenCache } from '../registry/registry-token-cache.js';
import type { ObjectStore } from '../store/object-store.js';
import { loadAdapter } from '../util/optional-peer.js';
import { AWS_SETTINGS } from './aws.settings.js';
import { StoreBackedCredentials } from './store-backed-credentials.js';

type AwsEnvName = keyof typeof AWS_SETTINGS;

const oneOf =
  (name: AwsEnvName, allowed: readonly string[]) =>
  (values: Record<AwsEnvName, string | undefined>, nameOf: (name: AwsEnvName) => string) =>
    values[name] === undefined || allowed.includes(values[name].toLowerCase())
      ? undefined
      : `${nameOf(name)} must be one of ${allowed.map((value) => value.toUpperCase()).join(', ')}`;

/**
 * The `aws` backend: registry tokens from ECR (cached), projects on S3. Honours the SDK's
 * standard `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_ECR`; without static keys the SDK's
 * default provider chain is used (IRSA on EKS, instance roles). Settings given in code
 * (`forRoot({ aws: { ... } })`, see `AwsSettings`) win over the variables.
 */
@Injectable()
export class AwsCredentials extends StoreBackedCredentials {
  protected readonly bucketName: string;
  protected readonly transfer: TransferSettings;
  readonly #env: Record<AwsEnvName, string | undefined>;
  private readonly region: string;
  #registry?: Promise<{ cache: RegistryTokenCache; close(): void }>;
  #destroyed = false;

  constructor(
    config: ConfigService,
    @Optional() @Inject(CREDENTIALS_MODULE_OPTIONS) options?: CredentialsModuleOptions,
  ) {
    super();
    this.#env = readSettings(config, 'aws', AWS_SETTINGS, options?.aws, [
      setTogether('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'),
      (v) =>
        v.AWS_REGION || v.AWS_DEFAULT_REGION
          ? undefined
          : 'AWS_REGION (or AWS_DEFAULT_REGION) is required by the "aws" backend ' +
            '(set it in the environment, or aws.region in forRoot)',
      oneOf('AWS_REQUEST_CHECKSUM_CALCULATION', ['when_supported', 'when_required']),
    ]);
    this.transfer = resolveTransferSettings(options);
    this.bucketName = this.#env.BUCKET_NAME_PROJECTS as string;
    this.region = (this.#env.AWS_REGION ?? this.#env.AWS_DEFAULT_REGION) as string;
    Object.assign(this.credentials, {
      AWS_ACCESS_KEY_ID: this.#env.AWS_ACCESS_KEY_ID ?? null,
      AWS_SECRET_ACCESS_KEY: this.#env.AWS_SECRET_ACCESS_KEY ?? null,
      // Temporary keys are unusable without it; in the record, it is also masked in logs.
      AWS_SESSION_TOKEN: this.#env.AWS_SESSION_TOKEN ?? null,
      AWS_REGION: this.region,
      BUCKET_NAME_PROJECTS: this.bucketName,
      REGISTRY_HOST: this.#env.REGISTRY_HOST ?? null,
    });
  }

  async getRegistryToken(): Promise<string> {
    const { cache } = await this.registryTokens();
    return (await cache.get()).token;
  }

  protected override async getRegistryTokenWithExpiry(): Promise<RegistryTokenWithExpiry> {
    const { cache } = await this.registryTokens();
    return cache.get();
  }

  override async getCredentials(): Promise<Readonly<Record<string, string | null>>> {
    const base = await super.getCredentials();
    return Object.freeze({ ...base, REGISTRY_TOKEN: await this.getRegistryToken() });
  }

  /** Loads both SDK clients at startup (without contacting AWS), so a missing peer fails fast. */
  override async onModuleInit(): Promise<void> {
    const loads = await Promise.allSettled([super.onModuleInit(), this.registryTokens()]);
    const failures = loads.flatMap((load) => (load.status === 'rejected' ? [load.reason] : []));
    const problems = failures.flatMap((err: unknown) =>
      err instanceof CredentialsConfigError ? err.problems : [],
    );
    // Every missing peer at once, not whichever import happened to fail first.
    if (problems.length === failures.length && problems.length > 0) {
      throw new CredentialsConfigError(problems);
    }
    if (failures.length > 0) throw failures[0];
  }

  override async onModuleDestroy(): Promise<void> {
    this.#destroyed = true;
    const registry = this.#registry;
    this.#registry = undefined;
    if (registry) (await registry).close();
    await super.onModuleDestroy();
  }

  protected async createStore(): Promise<ObjectStore> {
    const { S3ObjectStore } = await loadAdapter(
      'aws',
      ['@aws-sdk/client-s3'],
      () => import('../store/s3-object-store.js'),
    );
    const endpoint = this.#env.AWS_ENDPOINT_URL_S3;
    const pathStyle = this.#env.AWS_S3_FORCE_PATH_STYLE;
    const checksums = this.#env.AWS_REQUEST_CHECKSUM_CALCULATION?.toUpperCase();
    return new S3ObjectStore({
      region: this.region,
      endpoint,
      credentials: this.staticKeys(),
      forcePathStyle:
        pathStyle === undefined ? endpoint !== undefined : pathStyle.toLowerCase() === 'true',
      checksums:
        checksums === 'WHEN_SUPPORTED' || checksums === 'WHEN_REQUIRED'
          ? checksums
          : endpoint !== undefined
            ? 'WHEN_REQUIRED'
            : 'WHEN_SUPPORTED',
      transfer: this.transfer,
    });
  }

  private registryTokens(): Promise<{ cache: RegistryTokenCache; close(): void }> {
    // After shutdown no new ECR client (and no background refresh) may start.
    if (this.#destroyed) {
      return Promise.reject(
        new StorageUnavailableError('The credentials module has been shut down (onModuleDestroy)'),
      );
    }
    this.#registry ??= loadAdapter(
      'aws',
      ['@aws-sdk/client-ecr'],
      () => import('../registry/ecr-token-source.js'),
    ).then(({ createEcrTokenCache }) =>
      createEcrTokenCache({
        region: this.region,
        endpoint: this.#env.AWS_ENDPOINT_URL_ECR,
        credentials: this.staticKeys(),
        registryHost: this.#env.REGISTRY_HOST as string,
        requestTimeoutMs: this.transfer.requestTimeoutMs,
      }),
    );
    return this.#registry;
  }

  private staticKeys() {
    const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = this.#env;
    return AWS_ACCESS_KEY_ID && AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: AWS_ACCESS_KEY_ID,
          secretAccessKey: AWS_SECRET_ACCESS_KEY,
          sessionToken: AWS_SESSION_TOKEN,
        }
      : undefined;
  }
}
