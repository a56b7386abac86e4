import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cancellableTransport, withRequestSignal } from './deadline-agent.js';

/** A server that takes each request's body and never answers; counts the requests it loses. */
let server: Server;
let url: URL;
const closed: string[] = [];

beforeAll(async () => {
  server = createServer((req) => {
    req.resume();
    req.socket.on('close', () => closed.push(req.url ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const transport = cancellableTransport(false);

/** A request through the transport, as minio-js sends one (the response is never awaited here). */
function send(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = transport.request(
      { host: url.hostname, port: url.port, path, method: 'PUT' },
      resolve,
    );
    request.on('error', reject);
    request.end(Buffer.alloc(1024));
  });
}

const untilClosed = async (path: string) => {
  for (let i = 0; i < 100 && !closed.includes(path); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return closed.includes(path);
};

describe('cancellableTransport', () => {
  it('destroys a request in flight, socket included, when the signal of its call aborts', async () => {
    const controller = new AbortController();
    const sent = withRequestSignal(controller.signal, async () => {
      await Promise.resolve(); // the signal follows the call across awaits
      return send('/aborted');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expect(sent).rejects.toMatchObject({ name: 'AbortError' });
    expect(await untilClosed('/aborted')).toBe(true);
  });

  it('refuses at once a request opened after its call was aborted', async () => {
    await expect(withRequestSignal(AbortSignal.abort(), () => send('/late'))).rejects.toMatchObject(
      { name: 'AbortError' },
    );
  });

  it('leaves alone the requests of other calls', async () => {
    const controller = new AbortController();
    const other = withRequestSignal(new AbortController().signal, () => send('/other'));
    const outside = send('/outside');
    const aborted = withRequestSignal(controller.signal, () => send('/mine'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(await untilClosed('/mine')).toBe(true);
    expect(closed).not.toContain('/other');
    expect(closed).not.toContain('/outside');
    server.closeAllConnections();
    await Promise.allSettled([other, outside]);
  });
});
