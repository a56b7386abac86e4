import { inspect } from 'node:util';
import type { Readable } from 'node:stream';
import { NotSupportedError } from './errors.js';
import { watchCredentialsRecord } from './util/redact.js';
import {
  type DockerConfig,
  dockerConfigOf,
  type RegistryAuth,
  registryAuthFromToken,
  type RegistryTokenWithExpiry,
} from './registry/registry-auth.js';

/** Where `uploadProject` stored a project, and what it stored. */
export interface ProjectObject {
  bucket: string;
  key: string;
  size: number;
  /** Lower-case hex SHA-256 of the stored bytes. */
  sha256: string;
}

/** The body of a project ZIP: bytes in memory or a stream of them. */
export type ProjectBody = Buffer | Uint8Array | Readable;

/** Per-call options of a transfer (`uploadProject`, `downloadProject`). */
export interface TransferOptions {
  /** Ends the transfer as its deadline does: a typed error, nothing stored. */
  signal?: AbortSignal;
  /** Called with the number of the project's bytes transferred so far. */
  onProgress?: (bytes: number) => void;
}

/** Per-call options of `uploadProject`. */
export interface UploadOptions extends TransferOptions {
  /**
   * Lower-case hex SHA-256 of the body, when the caller knows it: the upload may start sending
   * before the body ends, and bytes that do not match it end in `IntegrityError` with nothing
   * stored.
   */
  sha256?: string;
}

/** Reads a backend's record without a public call; set by the class below. */
let recordOf: (credentials: Credentials) => Readonly<Record<string, string | null>>;

/**
 * The bucket a backend uploads to, for the HTTP controller: `BUCKET_NAME_PROJECTS` of the
 * record its constructor filled (where a built-in backend puts the bucket it was given, in
 * code or in the environment), read without a call of a public method (so it costs no
 * registry token, and a test double's call log shows only the application's calls); else
 * `configured` (the app's `BUCKET_NAME_PROJECTS`); else that of `getCredentials()`, for a
 * backend that fills its record later.
 */
export async function projectsBucketOf(
  credentials: Credentials,
  configured?: string,
): Promise<string> {
  const recorded = recordOf(credentials).BUCKET_NAME_PROJECTS;
  if (recorded) return recorded;
  if (configured) return configured;
  return (await credentials.getCredentials()).BUCKET_NAME_PROJECTS ?? '';
}

/**
 * The contract every backend fulfils, after estela's credentials interface. A backend fills
 * `this.credentials` in its constructor with the secrets and settings a build job needs; the
 * record is never logged, serialized or shown by `util.inspect`.
 */
export abstract class Credentials {
  /** Secrets and settings of this backend; filled by the subclass constructor. */
  declare protected readonly credentials: Record<string, string | null>;

  static {
    recordOf = (credentials) => credentials.credentials;
  }

  constructor() {
    // Not enumerable, so neither spreading nor serializing the instance reaches it.
    Object.defineProperty(this, 'credentials', {
      value: {},
      enumerable: false,
      writable: false,
      configurable: false,
    });
    watchCredentialsRecord(this.credentials);
  }

  /** The token for the container registry, or `null` when it needs none. */
  abstract getRegistryToken(): Promise<string | null>;

  /** Stores a project ZIP under key `projectName` in the projects bucket. */
  abstract uploadProject(
    projectName: string,
    project: ProjectBody,
    options?: UploadOptions,
  ): Promise<ProjectObject>;

  /** Streams a project back; the stream fails with `IntegrityError` if its bytes changed. */
  abstract downloadProject(
    bucketName: string,
    projectName: string,
    options?: TransferOptions,
  ): Promise<Readable>;

  /**
   * The registry credentials as `{ registry, username, password, token, expiresAt }`, or `null`
   * for a registry without auth. Comes from the same cache as `getRegistryToken()`.
   */
  async getRegistryAuth(): Promise<RegistryAuth | null> {
    return registryAuthFromToken(
      this.credentials.REGISTRY_HOST ?? '',
      await this.getRegistryTokenWithExpiry(),
    );
  }

  /**
   * `{ auths: { "<host>": { auth } } }`: the content of a Docker or kaniko `config.json` and of a
   * Kubernetes `kubernetes.io/dockerconfigjson` secret. `{ auths: {} }` for an open registry.
   */
  async getDockerConfig(): Promise<DockerConfig> {
    return dockerConfigOf(await this.getRegistryAuth());
  }

  /**
   * A URL that a plain HTTP GET can fetch without any key, for `ttlSeconds`, so a build job
   * needs no storage keys. Throws `ProjectNotFoundError` for a missing project, and
   * `NotSupportedError` on a backend that cannot sign URLs.
   */
  async getProjectDownloadUrl(
    _bucketName: string,
    _projectName: string,
    _ttlSeconds: number,
  ): Promise<string> {
    throw new NotSupportedError(`${this.constructor.name} cannot create presigned download URLs`);
  }

  /**
   * Whether the storage is reachable with the configured keys (for the health indicator).
   * Rejects with a typed error; `NotSupportedError` when the backend has no such check.
   */
  async checkStorage(): Promise<void> {
    throw new NotSupportedError(`${this.constructor.name} has no storage health check`);
  }

  /** Whether a registry token is obtainable (and, where it can be, accepted). */
  async checkRegistry(): Promise<void> {
    await this.getRegistryToken();
  }

  /** The registry token with its expiry; backends whose tokens expire override it. */
  protected async getRegistryTokenWithExpiry(): Promise<RegistryTokenWithExpiry> {
    return { token: await this.getRegistryToken(), expiresAt: null };
  }

  /** A frozen copy of what a build job needs; never the live record. */
  async getCredentials(): Promise<Readonly<Record<string, string | null>>> {
    return Object.freeze({ ...this.credentials });
  }

  /** Serializes to the backend's name only: no secret can leave through `JSON.stringify`. */
  toJSON(): { backend: string } {
    return { backend: this.constructor.name };
  }

  [inspect.custom](): string {
    return `${this.constructor.name} { [credentials hidden] }`;
  }
}
