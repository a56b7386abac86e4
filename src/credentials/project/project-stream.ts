import type { Readable } from 'node:stream';

/**
 * A download stream that may announce its length in bytes as `size`, so that an HTTP layer can
 * send `Content-Length`. Optional: a backend that does not know the size leaves it out and the
 * answer is chunked.
 */
export type ProjectStream = Readable & { readonly size?: number };

/** Attaches the size (when known) to a download stream; returns the same stream. */
export function withProjectSize(stream: Readable, size: number | undefined): ProjectStream {
  if (size !== undefined && Number.isSafeInteger(size) && size >= 0) {
    Object.defineProperty(stream, 'size', { value: size, enumerable: true });
  }
  return stream;
}

/** The size a download stream announces, if it is a plausible one. */
export function projectSizeOf(stream: Readable): number | undefined {
  const size = (stream as ProjectStream).size;
  return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined;
}
