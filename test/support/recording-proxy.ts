/**
 * An HTTP proxy on loopback that forwards every request to a real server unchanged (the Host
 * header included, so SigV4 signatures stay valid) and records what it saw: method, path and
 * headers. Tests use it to check how a client signs its requests; with `corrupt`, it flips one
 * byte in the bodies of the requests it selects (a network that damages data in transit).
 */
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RecordingProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** Requests whose body gets one byte flipped (`undefined`: none); counted in `corrupted`. */
  corrupt?: (request: RecordedRequest) => boolean;
  corrupted: number;
  close(): Promise<void>;
}

/** Flips the bits of the byte at `offset` of a stream (bodies shorter than that pass as they are). */
function flipByteAt(offset: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const at = offset - seen;
      seen += chunk.length;
      if (at < 0 || at >= chunk.length) {
        done(null, chunk);
        return;
      }
      const copy = Buffer.from(chunk);
      copy[at] ^= 0xff;
      done(null, copy);
    },
  });
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const proxy: RecordingProxy = {
    endpoint: '',
    requests,
    corrupted: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((incoming, answer) => {
    const seen = {
      method: incoming.method ?? '',
      url: incoming.url ?? '',
      headers: incoming.headers,
    };
    requests.push(seen);
    const corrupt = proxy.corrupt?.(seen) ?? false;
    if (corrupt) proxy.corrupted++;
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    forwarded.on('error', () => answer.destroy());
    if (corrupt) incoming.pipe(flipByteAt(1000)).pipe(forwarded);
    else incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  proxy.endpoint = `http://127.0.0.1:${port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
