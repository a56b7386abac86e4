import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

type CreateConnection = (options: object, callback?: unknown) => Socket;

/**
 * An HTTP(S) agent whose sockets are destroyed after `idleMs` without traffic, connecting
 * included. Clients without a request timeout of their own (minio-js) get a deadline from it:
 * a server that stops answering fails the call instead of hanging it.
 */
export function createDeadlineAgent(tls: boolean, idleMs: number): http.Agent {
  // `timeout` too: Node's agent resets a pooled socket's timeout to it when the socket is
  // freed, so without it a reused keep-alive socket would have no deadline at all.
  const options = { keepAlive: true, maxSockets: 64, timeout: idleMs };
  const agent = tls ? new https.Agent(options) : new http.Agent(options);
  const target = agent as unknown as { createConnection: CreateConnection };
  const create = target.createConnection.bind(agent);
  target.createConnection = (connectOptions, callback) => {
    const socket = create(connectOptions, callback);
    socket.setTimeout(idleMs, () => {
      const err = new Error(`no answer within ${idleMs} ms`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      socket.destroy(err);
    });
    return socket;
  };
  return agent;
}

const requestSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `send` (calls of a client built with `cancellableTransport`) so that every request it
 * opens is destroyed, its socket included, when `signal` aborts: minio-js takes no abort
 * signal, so the signal travels with the async context down to its `transport.request`.
 */
export function withRequestSignal<T>(signal: AbortSignal, send: () => Promise<T>): Promise<T> {
  return requestSignal.run(signal, send);
}

/** The `transport` of a minio-js client whose requests obey `withRequestSignal`. */
export function cancellableTransport(tls: boolean): Pick<typeof http, 'request'> {
  const base = tls ? https : http;
  const request = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void) =>
    base.request({ ...options, signal: requestSignal.getStore() }, callback);
  return { request } as Pick<typeof http, 'request'>;
}
