import type { EnvSchema } from '../config/env-schema.js';

/**
 * Settings of the `local` backend given in code: `forRoot({ backend: 'local', local: { ... } })`.
 * Each one wins over its environment variable (named below), which stays the default source.
 */
export interface LocalSettings {
  /** Bucket that `uploadProject` writes to. Variable `BUCKET_NAME_PROJECTS`. */
  bucket?: string;
  /** The Docker registry, with or without scheme (`127.0.0.1:5000`). Variable `REGISTRY_HOST`. */
  registryHost?: string;
  /** URL of the MinIO (S3 API) server, e.g. `http://127.0.0.1:9000`. Variable `MINIO_ENDPOINT`. */
  minioEndpoint?: string;
  /** MinIO access key (required). Variable `MINIO_ACCESS_KEY`. */
  minioAccessKey?: string;
  /** MinIO secret key (required); never logged. Variable `MINIO_SECRET_KEY`. */
  minioSecretKey?: string;
  /** Region MinIO signs for. Default `us-east-1`. Variable `MINIO_REGION`. */
  minioRegion?: string;
  /** Basic-auth user of the registry, with `registryPassword`. Variable `REGISTRY_USERNAME`. */
  registryUsername?: string;
  /** Basic-auth password of the registry; never logged. Variable `REGISTRY_PASSWORD`. */
  registryPassword?: string;
}

/** Each variable of the `local` backend, with the name of its setting in `LocalSettings`. */
export const LOCAL_SETTINGS = {
  BUCKET_NAME_PROJECTS: { required: true, kind: 'bucket', setting: 'bucket' },
  REGISTRY_HOST: { required: true, kind: 'host', setting: 'registryHost' },
  MINIO_ENDPOINT: { required: true, kind: 'url', setting: 'minioEndpoint' },
  MINIO_ACCESS_KEY: { required: true, secret: true, setting: 'minioAccessKey' },
  MINIO_SECRET_KEY: { required: true, secret: true, setting: 'minioSecretKey' },
  MINIO_REGION: { default: 'us-east-1', setting: 'minioRegion' },
  REGISTRY_USERNAME: { setting: 'registryUsername' },
  REGISTRY_PASSWORD: { secret: true, setting: 'registryPassword' },
} as const satisfies EnvSchema<string, keyof LocalSettings>;
