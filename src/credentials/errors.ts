/**
 * The error vocabulary of the module. Every error a caller can meet extends `CredentialsError`
 * and carries a stable string `code` to branch on. Messages never contain secret values; the
 * original error, when there is one, is kept only as a sanitized summary in `cause`.
 */
export type CredentialsErrorCode =
  | 'CREDENTIALS_CONFIG'
  | 'INVALID_PROJECT'
  | 'PROJECT_NOT_FOUND'
  | 'BUCKET_NOT_FOUND'
  | 'ACCESS_DENIED'
  | 'REGISTRY_AUTH'
  | 'STORAGE_UNAVAILABLE'
  | 'INTEGRITY'
  | 'NOT_SUPPORTED';

/** What is kept of an underlying client error: names and statuses, never headers or bodies. */
export interface ErrorSummary {
  name?: string;
  code?: string;
  status?: number;
  message?: string;
}

export abstract class CredentialsError extends Error {
  abstract readonly code: CredentialsErrorCode;

  constructor(message: string, cause?: ErrorSummary) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
  }
}

/** Missing or invalid configuration; thrown at startup, before the app listens. */
export class CredentialsConfigError extends CredentialsError {
  readonly code = 'CREDENTIALS_CONFIG' as const;
  /** One entry per problem, each naming the offending variable. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(
      list.length === 1
        ? `Invalid credentials configuration: ${list[0]}`
        : `Invalid credentials configuration (${list.length} problems):\n- ${list.join('\n- ')}`,
    );
    this.problems = list;
  }
}

/** A project name or body that is refused before anything is written. */
export class InvalidProjectError extends CredentialsError {
  readonly code = 'INVALID_PROJECT' as const;
  constructor(
    message: string,
    /** Why it was refused: lets an HTTP layer answer 400 or 413. */
    readonly reason:
      'name' | 'bucket' | 'not-zip' | 'too-large' | 'unreadable' | 'argument' = 'name',
  ) {
    super(message);
  }
}

export class ProjectNotFoundError extends CredentialsError {
  readonly code = 'PROJECT_NOT_FOUND' as const;
  constructor(
    readonly bucket: string,
    readonly key: string,
    cause?: ErrorSummary,
  ) {
    super(`Project "${key}" does not exist in bucket "${bucket}"`, cause);
  }
}

export class BucketNotFoundError extends CredentialsError {
  readonly code = 'BUCKET_NOT_FOUND' as const;
  constructor(
    readonly bucket: string,
    cause?: ErrorSummary,
  ) {
    super(`Bucket "${bucket}" does not exist`, cause);
  }
}

export class AccessDeniedError extends CredentialsError {
  readonly code = 'ACCESS_DENIED' as const;
}

export class RegistryAuthError extends CredentialsError {
  readonly code = 'REGISTRY_AUTH' as const;
}

/** Network failure, timeout, or a 5xx that outlived the retries. Worth retrying later. */
export class StorageUnavailableError extends CredentialsError {
  readonly code = 'STORAGE_UNAVAILABLE' as const;
}

/** The bytes read back differ from the SHA-256 (or size) recorded at upload. */
export class IntegrityError extends CredentialsError {
  readonly code = 'INTEGRITY' as const;
  constructor(
    message: string,
    cause?: ErrorSummary,
    /**
     * Whose check the bytes failed: lets an HTTP layer answer 502 or 400. `changed`: they
     * changed on their way or at rest (in transit, in the store, a file written to while it was
     * uploaded), a fault of the storage path. `supplied-digest`: they differ from the SHA-256
     * the caller supplied with them (`UploadOptions.sha256`), so the caller's bytes or digest
     * are wrong.
     */
    readonly reason: 'changed' | 'supplied-digest' = 'changed',
  ) {
    super(message, cause);
  }
}

/** The backend does not offer this operation (for example presigned URLs on a directory). */
export class NotSupportedError extends CredentialsError {
  readonly code = 'NOT_SUPPORTED' as const;
}
