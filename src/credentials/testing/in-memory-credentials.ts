import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DEFAULT_TRANSFER_SETTINGS, resolveTransferSettings } from '../config/transfer-settings.js';
import { Credentials, type ProjectBody, type ProjectObject } from '../credentials.js';
import {
  BucketNotFoundError,
  type CredentialsError,
  IntegrityError,
  ProjectNotFoundError,
} from '../errors.js';
import { prepareProjectBody } from '../project/project-body.js';
import { assertBucketName, assertProjectName } from '../project/project-name.js';
import { withProjectSize } from '../project/project-stream.js';

export interface InMemoryCredentialsOptions {
  /** What `getRegistryToken()` resolves to. Default `null` (a registry without auth). */
  registryToken?: string | null;
  /** The bucket `uploadProject` writes to. Default `'projects'`. */
  bucket?: string;
  /** Extra entries of `getCredentials()`, next to `BUCKET_NAME_PROJECTS`. */
  credentials?: Record<string, string | null>;
  /** Largest project accepted, in bytes. Default as in production (1 GiB). */
  maxProjectSize?: number;
}

/** The four methods of the contract, by name. */
export type CredentialsMethod =
  'getRegistryToken' | 'uploadProject' | 'downloadProject' | 'getCredentials';

/** The arguments each method was called with. */
export interface CredentialsCallArgs {
  getRegistryToken: [];
  uploadProject: [projectName: string, project: ProjectBody];
  downloadProject: [bucketName: string, projectName: string];
  getCredentials: [];
}

/** One recorded call, in the order calls were made. */
export type CredentialsCall = {
  [M in CredentialsMethod]: { method: M; args: CredentialsCallArgs[M] };
}[CredentialsMethod];

/**
 * A `Credentials` that keeps projects in memory, for the tests of an app that uses the module.
 *
 * It follows the contract as production does: the same name, bucket, ZIP signature and size
 * rules (so tests meet the same `InvalidProjectError`s), `size` and `sha256` of the stored
 * bytes, `ProjectNotFoundError` / `BucketNotFoundError` on download. It records every call
 * (`calls`, `callsTo`) and fails on request (`failNext`, `failAlways`) with any of the
 * contract's errors. Bind it with `overrideCredentials(builder, double)`.
 *
 * An injected `IntegrityError` on `downloadProject` is delivered as production delivers it:
 * the call resolves, and the stream fails after the stored bytes.
 */
export class InMemoryCredentials extends Credentials {
  /** Every call, oldest first (failed calls included). */
  readonly calls: CredentialsCall[] = [];

  readonly #options: InMemoryCredentialsOptions;
  readonly #bucket: string;
  readonly #maxProjectSize: number;
  /** bucket -> key -> bytes; the default bucket always exists. */
  readonly #buckets = new Map<string, Map<string, Buffer>>();
  readonly #failNext = new Map<CredentialsMethod, CredentialsError[]>();
  readonly #failAlways = new Map<CredentialsMethod, CredentialsError>();

  constructor(options: InMemoryCredentialsOptions = {}) {
    super();
    this.#options = options;
    this.#bucket = options.bucket ?? 'projects';
    assertBucketName(this.#bucket);
    // The production check, so a double configured with an impossible limit fails the same way.
    this.#maxProjectSize = resolveTransferSettings({
      maxProjectSize: options.maxProjectSize ?? DEFAULT_TRANSFER_SETTINGS.maxProjectSize,
    }).maxProjectSize;
    this.reset();
  }

  /** The bucket `uploadProject` writes to. */
  get bucket(): string {
    return this.#bucket;
  }

  async getRegistryToken(): Promise<string | null> {
    this.begin({ method: 'getRegistryToken', args: [] });
    return this.#options.registryToken ?? null;
  }

  async uploadProject(projectName: string, project: ProjectBody): Promise<ProjectObject> {
    try {
      this.begin({ method: 'uploadProject', args: [projectName, project] });
    } catch (err) {
      // A backend that fails mid-upload stops reading the body, and so does the double.
      if (project instanceof Readable) project.destroy();
      throw err;
    }
    assertProjectName(projectName);
    // The whole body may be held here, so the read-ahead limit is the size limit itself.
    const body = await prepareProjectBody(project, {
      maxProjectSize: this.#maxProjectSize,
      wholeBodyLimit: this.#maxProjectSize,
      spoolDir: tmpdir(),
    });
    const data =
      body.kind === 'whole' ? body.data : await collect(body.stream()).finally(body.discard);
    this.bucketOf(this.#bucket).set(projectName, Buffer.from(data));
    return {
      bucket: this.#bucket,
      key: projectName,
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    };
  }

  async downloadProject(bucketName: string, projectName: string): Promise<Readable> {
    const failure = this.failureFor('downloadProject');
    this.calls.push({ method: 'downloadProject', args: [bucketName, projectName] });
    if (failure && !(failure instanceof IntegrityError)) throw failure;
    assertBucketName(bucketName);
    assertProjectName(projectName);
    const bucket = this.#buckets.get(bucketName);
    const data = bucket?.get(projectName);
    if (failure)
      return withProjectSize(failingAfter(data ?? Buffer.alloc(0), failure), data?.length);
    if (!bucket) throw new BucketNotFoundError(bucketName);
    if (!data) throw new ProjectNotFoundError(bucketName, projectName);
    // A copy per download, so a consumer that mutates chunks cannot change what is stored; the
    // size is announced as production announces it (an HTTP layer sends it as Content-Length).
    return withProjectSize(Readable.from([Buffer.from(data)], { objectMode: false }), data.length);
  }

  override async getCredentials(): Promise<Readonly<Record<string, string | null>>> {
    this.begin({ method: 'getCredentials', args: [] });
    return super.getCredentials();
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
   * Back to the state just after construction: no failures planned, no calls recorded, no
   * project stored (only the upload bucket exists, empty).
   */
  reset(): this {
    this.calls.length = 0;
    this.#failNext.clear();
    this.#failAlways.clear();
    this.#buckets.clear();
    this.#buckets.set(this.#bucket, new Map());
    const credentials = this.credentials;
    for (const key of Object.keys(credentials)) delete credentials[key];
    Object.assign(credentials, {
      BUCKET_NAME_PROJECTS: this.#bucket,
      ...this.#options.credentials,
    });
    return this;
  }

  /** A copy of the bytes stored as `key` in `bucket`, in `downloadProject`'s argument order. */
  storedProject(bucket: string, key: string): Buffer | undefined {
    const data = this.#buckets.get(bucket)?.get(key);
    return data && Buffer.from(data);
  }

  /** Copies of every project stored in `bucket` (default: the upload bucket), by key. */
  storedProjects(bucket: string = this.#bucket): Map<string, Buffer> {
    const stored = this.#buckets.get(bucket) ?? new Map<string, Buffer>();
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
    const queued = this.#failNext.get(method);
    if (queued?.length) return queued.shift();
    return this.#failAlways.get(method);
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
