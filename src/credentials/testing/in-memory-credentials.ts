import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ConfigService } from '@nestjs/config';
import { readSettings, registryHostOf } from '../config/env-schema.js';
import { DEFAULT_TRANSFER_SETTINGS, resolveTransferSettings } from '../config/transfer-settings.js';
import { CREDENTIALS_ENV } from '../credentials.constants.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import {
  Credentials,
  type ProjectBody,
  type ProjectObject,
  type TransferOptions,
  type UploadOptions,
} from '../credentials.js';
import {
  BucketNotFoundError,
  CredentialsConfigError,
  type CredentialsError,
  IntegrityError,
  ProjectNotFoundError,
} from '../errors.js';
import {
  type DockerConfig,
  dockerConfigOf,
  type RegistryAuth,
  registryAuthFromToken,
} from '../registry/registry-auth.js';
import { assertSha256, assertSuppliedDigest } from '../project/digest-upload.js';
import { verifiedDownload } from '../project/integrity-check.js';
import { prepareProjectBody } from '../project/project-body.js';
import {
  assertTransferOptions,
  callerAborted,
  destroyOnAbort,
  progressCounter,
} from '../project/transfer-options.js';
import { RedactingLogger } from '../util/redact.js';
import { assertBucketName, assertProjectName } from '../project/project-name.js';
import { withProjectSize } from '../project/project-stream.js';
import { assertTtlSeconds, MemoryUrlSigner } from './memory-download-url.js';

export interface InMemoryCredentialsOptions {
  /** What `getRegistryToken()` resolves to. Default `null` (a registry without auth). */
  registryToken?: string | null;
  /**
   * The bucket `uploadProject` writes to. Default: the app's `BUCKET_NAME_PROJECTS` (read
   * through `ConfigService` once bound by `overrideCredentials`), else `'projects'`.
   */
  bucket?: string;
  /**
   * The registry host of `getRegistryAuth()` / `getDockerConfig()`. Default: the app's
   * `REGISTRY_HOST`, else `'localhost:5000'`.
   */
  registryHost?: string;
  /** Extra entries of `getCredentials()`, next to `BUCKET_NAME_PROJECTS` and `REGISTRY_HOST`. */
  credentials?: Record<string, string | null>;
  /**
   * Largest project accepted, in bytes. Default: the module's `maxProjectSize`, else as in
   * production (1 GiB).
   */
  maxProjectSize?: number;
}

/** The settings of the app the double is bound into (see `overrideCredentials`). */
export interface InMemoryAppSettings {
  config?: ConfigService;
  moduleOptions?: CredentialsModuleOptions;
}

/** The methods of the contract, by name: every one of them is recorded. */
export type CredentialsMethod =
  | 'getRegistryToken'
  | 'uploadProject'
  | 'downloadProject'
  | 'getCredentials'
  | 'getRegistryAuth'
  | 'getDockerConfig'
  | 'getProjectDownloadUrl'
  | 'checkStorage'
  | 'checkRegistry';

/** The arguments each method was called with. */
export interface CredentialsCallArgs {
  getRegistryToken: [];
  uploadProject: [projectName: string, project: ProjectBody, options?: UploadOptions];
  downloadProject: [bucketName: string, projectName: string, options?: TransferOptions];
  getCredentials: [];
  getRegistryAuth: [];
  getDockerConfig: [];
  getProjectDownloadUrl: [bucketName: string, projectName: string, ttlSeconds: number];
  checkStorage: [];
  checkRegistry: [];
}

/** One recorded call, in the order calls were made. */
export type CredentialsCall = {
  [M in CredentialsMethod]: { method: M; args: CredentialsCallArgs[M] };
}[CredentialsMethod];

/** Methods that need the registry token: a failure planned for `getRegistryToken` fails them too. */
const NEEDS_REGISTRY_TOKEN: ReadonlySet<CredentialsMethod> = new Set([
  'getRegistryAuth',
  'getDockerConfig',
  'checkRegistry',
]);

const DEFAULT_BUCKET = 'projects';
/** The chunks a download is delivered in (as a store's response would be). */
const DOWNLOAD_CHUNK = 64 * 1024;
const logger = new RedactingLogger('Credentials');
const DEFAULT_REGISTRY_HOST = 'localhost:5000';

/** No configuration at all: every variable unset. */
const NO_CONFIG = { get: () => undefined } as unknown as ConfigService;

const sameHost = (a: string, b: string) => registryHostOf(a) === registryHostOf(b);

const APP_ENV = {
  BUCKET_NAME_PROJECTS: { kind: 'bucket', setting: 'bucket' },
  REGISTRY_HOST: { kind: 'host', setting: 'registryHost' },
} as const;

/** The backends whose settings may be given in the module options (`forRoot({ local })`). */
const TYPED_BACKENDS = ['aws', 'local', 'filesystem'] as const;

/**
 * The app's backend name and the bucket and registry host given in code for it, so that the
 * double reads them as that backend would (`readSettings`: given settings over the environment).
 */
function givenAppSettings(config: ConfigService | undefined, options?: CredentialsModuleOptions) {
  const name = options?.backend?.trim() || String(config?.get<unknown>(CREDENTIALS_ENV) ?? '');
  const backend = TYPED_BACKENDS.find((typed) => typed === name.trim());
  const given: { bucket?: unknown; registryHost?: unknown } | undefined =
    backend && options?.[backend];
  return {
    backend: backend ?? 'memory',
    given:
      given && typeof given === 'object'
        ? { bucket: given.bucket, registryHost: given.registryHost }
        : undefined,
  };
}

/**
 * A `Credentials` that keeps projects in memory, for the tests of an app that uses the module.
 *
 * It follows the contract as production does: the same name, bucket, ZIP signature and size
 * rules (so tests meet the same `InvalidProjectError`s), `size` and `sha256` of the stored
 * bytes, `ProjectNotFoundError` / `BucketNotFoundError` on download, a Docker config and
 * presigned `memory://` URLs (`readDownloadUrl` fetches them) for the configured registry and
 * bucket. Bound with `overrideCredentials(builder, double)`, it takes the app's settings
 * (`BUCKET_NAME_PROJECTS`, `REGISTRY_HOST` through `ConfigService`, the module's
 * `maxProjectSize`) like the real backends. It records every call the application makes
 * (`calls`, `callsTo`), and only those, and fails on request (`failNext`, `failAlways`) with any
 * of the contract's errors.
 *
 * An injected `IntegrityError` on `downloadProject` is delivered as production delivers it:
 * the call resolves, and the stream fails after the stored bytes.
 */
export class InMemoryCredentials extends Credentials {
  /** Every call, oldest first (failed calls included). */
  readonly calls: CredentialsCall[] = [];

  readonly #options: InMemoryCredentialsOptions;
  #bucket: string;
  #registryHost: string;
  #maxProjectSize: number;
  /** bucket -> key -> bytes; the upload bucket exists even while it is not in the map. */
  readonly #buckets = new Map<string, Map<string, Buffer>>();
  readonly #failNext = new Map<CredentialsMethod, CredentialsError[]>();
  readonly #failAlways = new Map<CredentialsMethod, CredentialsError>();
  readonly #urls = new MemoryUrlSigner();

  constructor(options: InMemoryCredentialsOptions = {}) {
    super();
    this.#options = options;
    this.#bucket = options.bucket ?? DEFAULT_BUCKET;
    assertBucketName(this.#bucket);
    this.#registryHost = options.registryHost ?? DEFAULT_REGISTRY_HOST;
    this.#maxProjectSize = checkedMaxProjectSize(options.maxProjectSize);
    this.reset();
  }

  /** The bucket `uploadProject` writes to. */
  get bucket(): string {
    return this.#bucket;
  }

  /**
   * Takes the settings of the app the double is bound into, as a real backend reads them:
   * `BUCKET_NAME_PROJECTS` and `REGISTRY_HOST` through `ConfigService`, or the `bucket` and
   * `registryHost` given in the module options for the app's backend (`forRoot({ local })`),
   * which win; `maxProjectSize` from the module's options. An option given to the constructor stays; one that differs from the app's
   * setting is a `CredentialsConfigError` (the app and its double would disagree).
   * `overrideCredentials` calls it; call it yourself when binding the double another way.
   */
  followAppSettings({ config, moduleOptions }: InMemoryAppSettings): this {
    const { backend, given } = givenAppSettings(config, moduleOptions);
    const env =
      config || given ? readSettings(config ?? NO_CONFIG, backend, APP_ENV, given) : undefined;
    const options = this.#options;
    this.#bucket = adopt('bucket', options.bucket, env?.BUCKET_NAME_PROJECTS) ?? DEFAULT_BUCKET;
    this.#registryHost =
      adopt('registryHost', options.registryHost, env?.REGISTRY_HOST, sameHost) ??
      DEFAULT_REGISTRY_HOST;
    this.#maxProjectSize = checkedMaxProjectSize(
      adopt('maxProjectSize', options.maxProjectSize, moduleOptions?.maxProjectSize),
    );
    this.fillRecord();
    return this;
  }

  async getRegistryToken(): Promise<string | null> {
    this.begin({ method: 'getRegistryToken', args: [] });
    return this.#options.registryToken ?? null;
  }

  override async getRegistryAuth(): Promise<RegistryAuth | null> {
    this.begin({ method: 'getRegistryAuth', args: [] });
    return this.registryAuth();
  }

  override async getDockerConfig(): Promise<DockerConfig> {
    this.begin({ method: 'getDockerConfig', args: [] });
    return dockerConfigOf(this.registryAuth());
  }

  override async checkRegistry(): Promise<void> {
    this.begin({ method: 'checkRegistry', args: [] });
  }

  override async checkStorage(): Promise<void> {
    this.begin({ method: 'checkStorage', args: [] });
  }

  async uploadProject(
    projectName: string,
    project: ProjectBody,
    options?: UploadOptions,
  ): Promise<ProjectObject> {
    const stopReading = () => project instanceof Readable && project.destroy();
    try {
      this.begin({
        method: 'uploadProject',
        args: options ? [projectName, project, options] : [projectName, project],
      });
    } catch (err) {
      // A backend that fails mid-upload stops reading the body, and so does the double.
      stopReading();
      throw err;
    }
    assertProjectName(projectName);
    const { signal, onProgress, sha256: expected } = options ?? {};
    assertTransferOptions(options ?? {});
    assertSha256(expected);
    const call = { operation: 'upload', bucket: this.#bucket, key: projectName };
    if (signal?.aborted) stopReading();
    signal?.addEventListener('abort', stopReading, { once: true });
    try {
      signal?.throwIfAborted();
      // The whole body may be held here, so the read-ahead limit is the size limit itself.
      const body = await prepareProjectBody(project, {
        maxProjectSize: this.#maxProjectSize,
        wholeBodyLimit: this.#maxProjectSize,
        spoolDir: tmpdir(),
      });
      const data =
        body.kind === 'whole' ? body.data : await collect(body.stream()).finally(body.discard);
      const sha256 = createHash('sha256').update(data).digest('hex');
      assertSuppliedDigest(expected, sha256);
      // "Sent" a part at a time, as production reports it; the caller may abort in between.
      const sent = progressCounter(onProgress, logger, `the upload of "${projectName}"`);
      for (let at = 0; at < data.length; at += DEFAULT_TRANSFER_SETTINGS.partSize) {
        sent(Math.min(DEFAULT_TRANSFER_SETTINGS.partSize, data.length - at));
        signal?.throwIfAborted();
      }
      this.bucketOf(this.#bucket).set(projectName, Buffer.from(data));
      return { bucket: this.#bucket, key: projectName, size: data.length, sha256 };
    } catch (err) {
      if (signal?.aborted) throw callerAborted(call, signal.reason);
      throw err;
    } finally {
      signal?.removeEventListener('abort', stopReading);
    }
  }

  async downloadProject(
    bucketName: string,
    projectName: string,
    options?: TransferOptions,
  ): Promise<Readable> {
    const failure = this.failureFor('downloadProject');
    this.calls.push({
      method: 'downloadProject',
      args: options ? [bucketName, projectName, options] : [bucketName, projectName],
    });
    if (failure && !(failure instanceof IntegrityError)) throw failure;
    assertBucketName(bucketName);
    assertProjectName(projectName);
    const bucket = this.existingBucket(bucketName);
    const data = bucket?.get(projectName);
    if (failure)
      return withProjectSize(failingAfter(data ?? Buffer.alloc(0), failure), data?.length);
    if (!bucket) throw new BucketNotFoundError(bucketName);
    if (!data) throw new ProjectNotFoundError(bucketName, projectName);
    const { signal, onProgress } = options ?? {};
    assertTransferOptions(options ?? {});
    const call = { operation: 'download', bucket: bucketName, key: projectName };
    const aborted = () => callerAborted(call, signal?.reason);
    if (signal?.aborted) throw aborted();
    // A copy per download, so a consumer that mutates chunks cannot change what is stored; the
    // size is announced as production announces it (an HTTP layer sends it as Content-Length).
    // Delivered in 64 KiB chunks through production's check, which counts the progress.
    const copy = Buffer.from(data);
    const chunks = Array.from({ length: Math.ceil(copy.length / DOWNLOAD_CHUNK) }, (_, i) =>
      copy.subarray(i * DOWNLOAD_CHUNK, (i + 1) * DOWNLOAD_CHUNK),
    );
    const download = verifiedDownload(
      Readable.from(chunks, { objectMode: false }),
      { bucket: bucketName, key: projectName, size: copy.length },
      (err) => err as Error,
      undefined,
      progressCounter(onProgress, logger, `the download of "${projectName}"`),
    );
    destroyOnAbort(download, signal, aborted);
    return withProjectSize(download, data.length);
  }

  /**
   * A `memory://<bucket>/<key>?expires=...&signature=...` URL of a stored project, valid for
   * `ttlSeconds`; `readDownloadUrl` fetches it as a build job would fetch a presigned URL.
   */
  override async getProjectDownloadUrl(
    bucketName: string,
    projectName: string,
    ttlSeconds: number,
  ): Promise<string> {
    this.begin({ method: 'getProjectDownloadUrl', args: [bucketName, projectName, ttlSeconds] });
    assertBucketName(bucketName);
    assertProjectName(projectName);
    assertTtlSeconds(ttlSeconds);
    this.storedOrThrow(bucketName, projectName);
    return this.#urls.sign({ bucket: bucketName, key: projectName }, ttlSeconds);
  }

  override async getCredentials(): Promise<Readonly<Record<string, string | null>>> {
    this.begin({ method: 'getCredentials', args: [] });
    return super.getCredentials();
  }

  /**
   * The bytes behind a URL of `getProjectDownloadUrl`, as a plain GET of a presigned URL gets
   * them: `AccessDeniedError` once it has expired (or for a URL this double did not sign),
   * `ProjectNotFoundError` if the project was removed meanwhile. Not recorded as a call.
   */
  async readDownloadUrl(url: string): Promise<Buffer> {
    const { bucket, key } = this.#urls.resolve(url);
    return Buffer.from(this.storedOrThrow(bucket, key));
  }

  /** The calls made to one method, as their argument lists (like `jest.fn().mock.calls`). */
  callsTo<M extends CredentialsMethod>(method: M): CredentialsCallArgs[M][] {
    // TypeScript cannot narrow a union by a generic key; the filter makes the cast true.
    return this.calls
      .filter((call) => call.method === method)
      .map((call) => call.args as CredentialsCallArgs[M]);
  }

  /** Makes the next call to `method` fail with `error`; several queue up, one call each. */
  failNext(method: CredentialsMethod, error: CredentialsError): this {
    const queue = this.#failNext.get(method) ?? [];
    queue.push(error);
    this.#failNext.set(method, queue);
    return this;
  }

  /** Makes every call to `method` fail with `error` until `reset()`. */
  failAlways(method: CredentialsMethod, error: CredentialsError): this {
    this.#failAlways.set(method, error);
    return this;
  }

  /**
   * Back to the state just after construction (and `followAppSettings`): no failures planned,
   * no calls recorded, no project stored (only the upload bucket exists, empty).
   */
  reset(): this {
    this.calls.length = 0;
    this.#failNext.clear();
    this.#failAlways.clear();
    this.#buckets.clear();
    this.fillRecord();
    return this;
  }

  /** A copy of the bytes stored as `key` in `bucket`, in `downloadProject`'s argument order. */
  storedProject(bucket: string, key: string): Buffer | undefined {
    const data = this.#buckets.get(bucket)?.get(key);
    return data && Buffer.from(data);
  }

  /** Copies of every project stored in `bucket` (default: the upload bucket), by key. */
  storedProjects(bucket: string = this.#bucket): Map<string, Buffer> {
    const stored = this.existingBucket(bucket) ?? new Map<string, Buffer>();
    return new Map([...stored].map(([key, data]) => [key, Buffer.from(data)]));
  }

  /**
   * Stores `data` as `key` in `bucket` (created if needed) without any check and without
   * recording a call: a project that some earlier job, or another tool, put there.
   */
  seedProject(bucket: string, key: string, data: Buffer | Uint8Array | string): this {
    this.bucketOf(bucket).set(key, Buffer.from(data));
    return this;
  }

  /** Records the call, then throws the failure planned for it, if any. */
  private begin(call: CredentialsCall): void {
    const failure = this.failureFor(call.method);
    this.calls.push(call);
    if (failure) throw failure;
  }

  private failureFor(method: CredentialsMethod): CredentialsError | undefined {
    const own = this.plannedFailure(method);
    if (own || !NEEDS_REGISTRY_TOKEN.has(method)) return own;
    return this.plannedFailure('getRegistryToken');
  }

  private plannedFailure(method: CredentialsMethod): CredentialsError | undefined {
    const queued = this.#failNext.get(method);
    if (queued?.length) return queued.shift();
    return this.#failAlways.get(method);
  }

  private registryAuth(): RegistryAuth | null {
    const token = this.#options.registryToken ?? null;
    return registryAuthFromToken(this.#registryHost, { token, expiresAt: null });
  }

  /** A bucket that exists: stored into, seeded, or the upload bucket. */
  private existingBucket(bucket: string): Map<string, Buffer> | undefined {
    return this.#buckets.get(bucket) ?? (bucket === this.#bucket ? new Map() : undefined);
  }

  private storedOrThrow(bucket: string, key: string): Buffer {
    const stored = this.existingBucket(bucket);
    if (!stored) throw new BucketNotFoundError(bucket);
    const data = stored.get(key);
    if (!data) throw new ProjectNotFoundError(bucket, key);
    return data;
  }

  /** What `getCredentials()` hands out: the settings, then the extra entries of the options. */
  private fillRecord(): void {
    const credentials = this.credentials;
    for (const key of Object.keys(credentials)) delete credentials[key];
    Object.assign(credentials, {
      BUCKET_NAME_PROJECTS: this.#bucket,
      REGISTRY_HOST: this.#registryHost,
      ...this.#options.credentials,
    });
  }

  private bucketOf(bucket: string): Map<string, Buffer> {
    let stored = this.#buckets.get(bucket);
    if (!stored) {
      stored = new Map();
      this.#buckets.set(bucket, stored);
    }
    return stored;
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The stored bytes, then `error`: how a corrupted object reaches a reader in production. */
function failingAfter(data: Buffer, error: Error): Readable {
  return Readable.from(
    (async function* () {
      if (data.length > 0) yield Buffer.from(data);
      throw error;
    })(),
    { objectMode: false },
  );
}

/** The production check, so a double configured with an impossible limit fails the same way. */
function checkedMaxProjectSize(maxProjectSize: number | undefined): number {
  return resolveTransferSettings({
    maxProjectSize: maxProjectSize ?? DEFAULT_TRANSFER_SETTINGS.maxProjectSize,
  }).maxProjectSize;
}

/**
 * The option when given (refusing an app setting that is not `same` as it), else the app's
 * setting, else `fallback`.
 */
function adopt<T extends string | number>(
  option: keyof InMemoryCredentialsOptions,
  given: T | undefined,
  fromApp: T | undefined,
  same: (a: T, b: T) => boolean = (a, b) => a === b,
): T | undefined {
  if (given === undefined) return fromApp;
  if (fromApp !== undefined && !same(fromApp, given)) {
    throw new CredentialsConfigError(
      `InMemoryCredentials was given ${option} ${JSON.stringify(given)}, but the app's setting ` +
        `is ${JSON.stringify(fromApp)}: leave the option out to follow the app`,
    );
  }
  return given;
}
