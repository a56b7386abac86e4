import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';

/** What a client saw of one exchange, including a body cut short. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the body arrived to its end (its Content-Length, or its last chunk). */
  complete: boolean;
  /** What broke the transfer, when it did not complete. */
  error?: Error;
}

export interface RawRequest {
  method: string;
  headers?: OutgoingHttpHeaders;
  /** A Buffer is sent with its length; a Readable, chunked unless `headers` set a length. */
  body?: Buffer | Readable;
  /**
   * Send only this part of the body, and keep the request open: for a Content-Length the
   * server must refuse before the body arrives.
   */
  partialBody?: Buffer;
}

/**
 * One request on a fresh connection, with Node's client: unlike supertest it can stream a body
 * without length, announce a length it never sends, and report a body cut off mid-way
 * (a server that destroys the connection) instead of failing the whole exchange.
 */
export function rawRequest(url: string, request: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, {
      method: request.method,
      headers: request.headers,
      agent: false,
    });
    req.on('error', (err) => {
      // After the answer, a refused upload may end in a reset: the answer is what counts.
      if (!answered) reject(err);
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (request.partialBody) req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: res.complete,
          error,
        });
      };
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => settle());
      res.on('error', (err) => settle(err));
      res.on('close', () => settle(res.complete ? undefined : new Error('connection closed')));
    });
    if (request.partialBody) {
      req.write(request.partialBody);
    } else if (request.body instanceof Readable) {
      request.body.pipe(req);
    } else {
      req.end(request.body);
    }
  });
}

/** The JSON body of a response. */
export function jsonOf(response: RawResponse): Record<string, unknown> {
  return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
}

/**
 * A `multipart/form-data` body with one file in `field` (and optional text fields before it,
 * and `fieldsAfter` after it), built by hand so that tests can send it chunked or malformed.
 */
export function multipartBody(
  field: string,
  file: Buffer,
  fields: Record<string, string> = {},
  fieldsAfter: Record<string, string> = {},
): { contentType: string; body: Buffer } {
  const boundary = `----e2e${Math.random().toString(16).slice(2)}`;
  const textParts = (texts: Record<string, string>) =>
    Object.entries(texts).map(([name, value]) =>
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      ),
    );
  const parts: Buffer[] = [
    ...textParts(fields),
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="project.zip"\r\n` +
        'Content-Type: application/zip\r\n\r\n',
    ),
    file,
    Buffer.from('\r\n'),
    ...textParts(fieldsAfter),
    Buffer.from(`--${boundary}--\r\n`),
  ];
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(parts) };
}

/**
 * Downloads `path` and checks that the transfer was cut off: a 200 whose body stops short of
 * its Content-Length (or of its last chunk), which every HTTP client reports as an error.
 */
export async function expectCutOffDownload(
  url: string,
  headers: OutgoingHttpHeaders,
  size: number,
): Promise<RawResponse> {
  const res = await rawRequest(url, { method: 'GET', headers });
  if (res.status !== 200 || res.complete || res.body.length >= size) {
    throw new Error(
      `expected a download cut off before ${size} bytes, got ${res.status} with ` +
        `${res.body.length} bytes (complete: ${res.complete})`,
    );
  }
  return res;
}
