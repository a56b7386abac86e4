/**
 * A bare HTTP/1.1 exchange over a TCP socket: the request goes out byte for byte as given
 * (header values with control characters, UTF-8, several Authorization headers, paths no client
 * would normalise), which Node's HTTP client refuses to send.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Status line, headers and body as text (latin1), for the secret scan. */
  text: string;
}

export interface RawHttpRequest {
  method: string;
  path: string;
  /** Header lines as [name, value]; a value may be raw bytes. */
  headers?: [string, string | Buffer][];
  body?: Buffer;
}

/** Sends `request` to 127.0.0.1:`port` with `Connection: close` and reads the whole answer. */
export function rawHttp(
  port: number,
  request: RawHttpRequest,
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  const lines: Buffer[] = [
    Buffer.from(
      `${request.method} ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`,
      'latin1',
    ),
  ];
  for (const [name, value] of request.headers ?? []) {
    lines.push(
      Buffer.from(`${name}: `, 'latin1'),
      Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
      Buffer.from('\r\n'),
    );
  }
  if (request.body) lines.push(Buffer.from(`Content-Length: ${request.body.length}\r\n`));
  lines.push(Buffer.from('\r\n'));
  if (request.body) lines.push(request.body);

  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A server that refuses early may reset while the request is still being written.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      const head = (end < 0 ? raw : raw.subarray(0, end)).toString('latin1');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0)
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = end < 0 ? Buffer.alloc(0) : raw.subarray(end + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0),
        headers,
        body,
        text: raw.toString('latin1'),
      });
    });
    socket.write(Buffer.concat(lines));
  });
}

/**
 * Opens a request and sends its head, announcing `contentLength`, and leaves the body to the
 * caller: a client that sends part of it, or nothing, and then goes away (`socket.destroy()`)
 * or stays silent. Resolves once connected and the head is written.
 */
export function openRawRequest(
  port: number,
  request: { method: string; path: string; headers?: [string, string][]; contentLength: number },
): Promise<Socket> {
  const head =
    `${request.method} ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    (request.headers ?? []).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    `Content-Length: ${request.contentLength}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.off('error', reject);
      // The server may answer and close early; the caller looks at the server side instead.
      socket.on('error', () => undefined);
      socket.write(head, 'latin1', () => resolve(socket));
    });
  });
}

/** Writes `bytes` and resolves when the kernel has taken them. */
export function writeAll(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(bytes, (err) => (err ? reject(err) : resolve())),
  );
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const eol = data.indexOf('\r\n', offset);
    if (eol < 0) break;
    const size = parseInt(data.subarray(offset, eol).toString('latin1'), 16);
    if (!size) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    offset = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
