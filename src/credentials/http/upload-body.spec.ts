import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { whenClientGone } from './upload-body.js';

/** A server whose handler hands its request to `onRequest` and answers when told. */
async function serve(
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = http.createServer(onRequest);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

describe('whenClientGone', () => {
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  it('aborts when the client closes the connection in the middle of the body', async () => {
    let signal: AbortSignal | undefined;
    const started = await serve((req) => {
      signal = whenClientGone(req).signal;
      req.resume();
    });
    server = started.server;
    const socket = connect(started.port, '127.0.0.1');
    socket.write(
      'PUT /projects/a.zip HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nPK\x03\x04',
    );
    while (!signal) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(signal.aborted).toBe(false);
    const goneAt = performance.now();
    socket.destroy();
    await once(signal, 'abort');
    expect(performance.now() - goneAt).toBeLessThan(1_000);
    expect((signal.reason as Error).message).toMatch(/closed the connection/);
  });

  it('aborts when the client goes away after the body, before its answer', async () => {
    let signal: AbortSignal | undefined;
    const started = await serve((req) => {
      signal = whenClientGone(req).signal;
      req.resume();
    });
    server = started.server;
    const socket = connect(started.port, '127.0.0.1');
    socket.write('PUT /projects/a.zip HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nPK\x03\x04');
    while (!signal) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(signal.aborted).toBe(false);
    socket.destroy();
    await once(signal, 'abort');
  });

  it('stays quiet for a request answered in full, and stops listening once released', async () => {
    let signal: AbortSignal | undefined;
    let leaked = -1;
    const started = await serve((req, res) => {
      const before = req.socket.listenerCount('close') + req.listenerCount('close');
      const client = whenClientGone(req);
      signal = client.signal;
      req.resume();
      req.on('end', () => {
        client.release();
        leaked = req.socket.listenerCount('close') + req.listenerCount('close') - before;
        res.end('ok');
      });
    });
    server = started.server;
    // A connection of its own (no keep-alive pool), so nothing stays open after the test.
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: started.port,
          method: 'PUT',
          path: '/projects/a.zip',
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end('PK\x03\x04');
    });
    expect(answer).toBe('ok');
    expect(signal?.aborted).toBe(false);
    expect(leaked).toBe(0);
  });
});
