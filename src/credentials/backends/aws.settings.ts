import type { EnvSchema } from '../config/env-schema.js';

/**
 * Settings of the `aws` backend given in code: `forRoot({ backend: 'aws', aws: { ... } })`.
 * Each one wins over its environment variable (named below), which stays the default source.
 */
export interface AwsSettings {
  /** Bucket that `uploadProject` writes to. Variable `BUCKET_NAME_PROJECTS`. */
  bucket?: string;
  /** Region of the bucket and the registry. Variable `AWS_REGION` (or `AWS_DEFAULT_REGION`). */
  region?: string;
  /**
   * The ECR registry, with or without scheme (`123456789012.dkr.ecr.us-east-2.amazonaws.com`).
   * Variable `REGISTRY_HOST`.
   */
  registryHost?: string;
  /**
   * Static key id; with `secretAccessKey`, or neither (then the SDK's default provider chain is
   * used: IRSA, instance roles). Variable `AWS_ACCESS_KEY_ID`.
   */
  accessKeyId?: string;
  /** Secret of `accessKeyId`; never logged. Variable `AWS_SECRET_ACCESS_KEY`. */
  secretAccessKey?: string;
  /** Session token of temporary keys; never logged. Variable `AWS_SESSION_TOKEN`. */
  sessionToken?: string;
  /** S3 endpoint override (S3-compatible storage, tests). Variable `AWS_ENDPOINT_URL_S3`. */
  s3Endpoint?: string;
  /** ECR endpoint override. Variable `AWS_ENDPOINT_URL_ECR`. */
  ecrEndpoint?: string;
  /**
   * Path-style bucket URLs. Default `true` with `s3Endpoint`, else `false`.
   * Variable `AWS_S3_FORCE_PATH_STYLE`.
   */
  s3ForcePathStyle?: boolean;
  /**
   * When the SDK adds request checksums. Default `WHEN_REQUIRED` with `s3Endpoint`, else
   * `WHEN_SUPPORTED`. Variable `AWS_REQUEST_CHECKSUM_CALCULATION`.
   */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
}

/** Each variable of the `aws` backend, with the name of its setting in `AwsSettings`. */
export const AWS_SETTINGS = {
  BUCKET_NAME_PROJECTS: { required: true, kind: 'bucket', setting: 'bucket' },
  REGISTRY_HOST: { required: true, kind: 'host', setting: 'registryHost' },
  AWS_REGION: { setting: 'region' },
  AWS_DEFAULT_REGION: {},
  AWS_ACCESS_KEY_ID: { secret: true, setting: 'accessKeyId' },
  AWS_SECRET_ACCESS_KEY: { secret: true, setting: 'secretAccessKey' },
  AWS_SESSION_TOKEN: { secret: true, setting: 'sessionToken' },
  AWS_ENDPOINT_URL_S3: { kind: 'url', setting: 's3Endpoint' },
  AWS_ENDPOINT_URL_ECR: { kind: 'url', setting: 'ecrEndpoint' },
  AWS_S3_FORCE_PATH_STYLE: { kind: 'boolean', setting: 's3ForcePathStyle' },
  AWS_REQUEST_CHECKSUM_CALCULATION: { setting: 'requestChecksumCalculation' },
} as const satisfies EnvSchema<string, keyof AwsSettings>;
