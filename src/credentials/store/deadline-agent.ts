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
