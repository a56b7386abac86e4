import { inspect } from 'node:util';
import type { Readable } from 'node:stream';

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

/**
 * The contract every backend fulfils, after estela's credentials interface. A backend fills
 * `this.credentials` in its constructor with the secrets and settings a build job needs; the
 * record is never logged, serialized or shown by `util.inspect`.
 */
export abstract class Credentials {
  /** Secrets and settings of this backend; filled by the subclass constructor. */
  declare protected readonly credentials: Record<string, string | null>;

  constructor() {
    // Not enumerable, so neither spreading nor serializing the instance reaches it.
    Object.defineProperty(this, 'credentials', {
      value: {},
      enumerable: false,
      writable: false,
      configurable: false,
    });
  }

  /** The token for the container registry, or `null` when it needs none. */
  abstract getRegistryToken(): Promise<string | null>;

  /** Stores a project ZIP under key `projectName` in the projects bucket. */
  abstract uploadProject(projectName: string, project: ProjectBody): Promise<ProjectObject>;

  /** Streams a project back; the stream fails with `IntegrityError` if its bytes changed. */
  abstract downloadProject(bucketName: string, projectName: string): Promise<Readable>;

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
