import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AccessDeniedError, InvalidProjectError } from '../errors.js';

/** Where a `memory://` download URL points, once its signature and expiry are checked. */
export interface MemoryUrlTarget {
  bucket: string;
  key: string;
}

/** SigV4 presigned URLs live at most 7 days; the double holds its URLs to the same range. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** Refuses a time-to-live as the real backends do (`InvalidProjectError`, reason `argument`). */
export function assertTtlSeconds(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new InvalidProjectError(
      `ttlSeconds must be a whole number from 1 to ${MAX_TTL_SECONDS} (got ${ttlSeconds})`,
      'argument',
    );
  }
}

/**
 * Signs and checks the `memory://<bucket>/<key>?expires=<ms>&signature=<hex>` URLs of the
 * test double: well-formed URLs that only the double that signed them resolves, and only
 * until they expire, as a presigned S3 URL behaves for a plain GET.
 */
export class MemoryUrlSigner {
  readonly #key = randomBytes(32);

  sign(target: MemoryUrlTarget, ttlSeconds: number, now = Date.now()): string {
    const expires = now + ttlSeconds * 1000;
    const url = new URL(
      `memory://${target.bucket}/${encodeURIComponent(target.key)}?expires=${expires}`,
    );
    url.searchParams.set('signature', this.signature(target, expires));
    return url.href;
  }

  /** The target of a URL this signer made; `AccessDeniedError` if forged or expired. */
  resolve(href: string, now = Date.now()): MemoryUrlTarget {
    let url: URL;
    try {
      url = new URL(href);
    } catch {
      throw new AccessDeniedError('Not a download URL of this InMemoryCredentials');
    }
    const target = { bucket: url.hostname, key: decodeURIComponent(url.pathname.slice(1)) };
    const expires = Number(url.searchParams.get('expires'));
    const given = Buffer.from(url.searchParams.get('signature') ?? '', 'hex');
    const expected = Buffer.from(this.signature(target, expires), 'hex');
    if (
      url.protocol !== 'memory:' ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      throw new AccessDeniedError('Not a download URL of this InMemoryCredentials');
    }
    if (now > expires) throw new AccessDeniedError('The download URL has expired');
    return target;
  }

  private signature(target: MemoryUrlTarget, expires: number): string {
    return createHmac('sha256', this.#key)
      .update(`${target.bucket}\n${target.key}\n${expires}`)
      .digest('hex');
  }
}
