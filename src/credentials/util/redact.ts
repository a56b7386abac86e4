import { Logger } from '@nestjs/common';

/** Keys of a credentials record whose values are not secret and may appear in logs. */
const PUBLIC_KEYS =
  /^(BUCKET_NAME_PROJECTS|REGISTRY_HOST|REGISTRY_USERNAME|AWS_REGION|MINIO_REGION|MINIO_ENDPOINT|PROJECTS_DIR)$/;

/** Secret-looking fragments, whoever wrote them: auth headers and SigV4 query signatures. */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi, '$1[redacted]'],
  // The header form of a session token (one from the SDK's provider chain is in no record).
  [/(X-Amz-Security-Token["']?\s*:\s*["']?)[^\s"',]+/gi, '$1[redacted]'],
  [/(Signature=)[0-9a-f]{16,}/gi, '$1[redacted]'],
  // The password of a URL with user info (`scheme://user:password@host`).
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi, '$1[redacted]@'],
];

/**
 * Secrets shorter than this are masked only as whole tokens (not next to a letter or digit),
 * so that a short password such as `pw` does not mask `password` in every log line.
 */
const MIN_SUBSTRING_SECRET_LENGTH = 6;
const MAX_LOOSE_SECRETS = 256;

const records = new Set<WeakRef<Record<string, string | null>>>();
const looseSecrets = new Set<string>();

/** Every backend's credentials record is watched (weakly): its secret values are masked in logs. */
export function watchCredentialsRecord(record: Record<string, string | null>): void {
  records.add(new WeakRef(record));
}

/** A secret that lives outside a credentials record (a fetched registry token). */
export function watchSecret(value: string | null | undefined): void {
  if (!value) return;
  looseSecrets.delete(value);
  looseSecrets.add(value);
  if (looseSecrets.size > MAX_LOOSE_SECRETS) {
    looseSecrets.delete(looseSecrets.values().next().value as string);
  }
}

function knownSecrets(): string[] {
  const secrets = new Set(looseSecrets);
  for (const ref of records) {
    const record = ref.deref();
    if (!record) {
      records.delete(ref);
      continue;
    }
    for (const [key, value] of Object.entries(record)) {
      if (value && !PUBLIC_KEYS.test(key)) secrets.add(value);
    }
  }
  // Longest first, so a secret that contains another is masked whole.
  return [...secrets].sort((a, b) => b.length - a.length);
}

const escapeRegExp = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `secret` where neither side touches a letter or digit. */
const wholeToken = (secret: string) =>
  new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(secret)}(?![\\p{L}\\p{N}])`, 'gu');

/** The one redaction point: every log line of the module passes through here. */
export function redact(text: string): string {
  let out = text;
  for (const secret of knownSecrets()) {
    out =
      secret.length >= MIN_SUBSTRING_SECRET_LENGTH
        ? out.split(secret).join('[redacted]')
        : out.replace(wholeToken(secret), '[redacted]');
  }
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Nest's logger with every message redacted first. Use it for every log line of the module. */
export class RedactingLogger {
  readonly #logger: Logger;

  constructor(context: string) {
    this.#logger = new Logger(context);
  }

  error(message: string): void {
    this.#logger.error(redact(message));
  }

  warn(message: string): void {
    this.#logger.warn(redact(message));
  }

  log(message: string): void {
    this.#logger.log(redact(message));
  }
}
