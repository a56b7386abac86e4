/**
 * A fault-injecting TCP proxy on loopback, put between a client and a real server (Swift s3api,
 * the fake ECR endpoint) to break connections the way networks and servers break them.
 *
 * Modes (switch at any time with `setMode`; a new mode applies to the bytes that arrive next):
 * - `pass`: forwards both ways, untouched.
 * - `reset`: once a connection has carried `afterBytes` in `direction` (`upstream`: client to
 *   server, `downstream`: server to client), it forwards exactly that many and then resets both
 *   sides (TCP RST). `times` bounds how many connections are reset (default: every one).
 * - `blackhole`: the server stops answering: bytes are read and dropped both ways, connections
 *   stay open. Leaving the mode destroys the connections whose bytes were dropped.
 * - `fail-http`: requests whose request line (`PUT /bucket/key?partNumber=1&uploadId=x HTTP/1.1`)
 *   matches `match` never reach the server: the proxy answers `status` with an S3-style error
 *   body itself, then closes that connection. `times` bounds how many requests fail.
 * - `delay-response`: requests whose request line matches `match` reach the server in full (a
 *   slow commit: the server has acted on them); once the request body has gone through, the
 *   server's response bytes are held for `delayMs` from the first one before being forwarded.
 *   Interim bytes before the body ends (`100 Continue`) pass at once. `times` bounds how many
 *   responses are delayed.
 *
 * Requests are framed (Content-Length and chunked bodies) on every connection, so the request
 * lines seen are counted in `stats.requests` whatever the mode.
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, Socket } from 'node:net';

export type Direction = 'upstream' | 'downstream';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'reset'; direction: Direction; afterBytes: number; times?: number }
  | { kind: 'blackhole' }
  | { kind: 'fail-http'; match: RegExp; status?: number; times?: number }
  | { kind: 'delay-response'; match: RegExp; delayMs: number; times?: number };

export interface FaultProxyStats {
  /** Connections accepted. */
  connections: number;
  /** Connections open now, and the most open at once. */
  open: number;
  maxOpen: number;
  /** Bytes received from clients / from the server. */
  bytesUp: number;
  bytesDown: number;
  /** Connections reset by a `reset` mode. */
  resets: number;
  /** Requests answered by the proxy itself (`fail-http`). */
  failedRequests: number;
  /** Responses held back by `delay-response`. */
  delayedResponses: number;
  /** Bytes dropped by `blackhole`. */
  droppedBytes: number;
  /** Request lines seen, oldest first (the first 10,000). */
  requests: string[];
}

const MAX_HEAD = 64 * 1024;
const MAX_LOGGED_REQUESTS = 10_000;
const STATUS_TEXT: Record<number, string> = {
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface Head {
  line: string;
  raw: Buffer;
  contentLength: number;
  chunked: boolean;
  expectContinue: boolean;
}

/**
 * Splits a client's byte stream into request heads and body bytes (HTTP/1.1, no pipelining
 * assumptions beyond what the framing says). Anything it cannot frame is passed on raw.
 */
class RequestFramer {
  private state:
    'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'raw' = 'head';
  private head = Buffer.alloc(0);
  private remaining = 0;
  private line = Buffer.alloc(0);

  constructor(
    private readonly onHead: (head: Head) => void,
    private readonly onBody: (bytes: Buffer) => void,
    private readonly onBodyEnd: () => void,
  ) {}

  push(data: Buffer): void {
    let rest = data;
    while (rest.length > 0) {
      switch (this.state) {
        case 'raw':
          this.onBody(rest);
          return;
        case 'head': {
          this.head = Buffer.concat([this.head, rest]);
          const end = this.head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (this.head.length > MAX_HEAD) {
              this.state = 'raw';
              const raw = this.head;
              this.head = Buffer.alloc(0);
              this.onBody(raw);
            }
            return;
          }
          const raw = this.head.subarray(0, end + 4);
          rest = this.head.subarray(end + 4);
          this.head = Buffer.alloc(0);
          const text = raw.toString('latin1');
          const lines = text.split('\r\n');
          const header = (name: string) =>
            lines
              .slice(1)
              .map((l) => /^([^:]+):\s*(.*)$/.exec(l))
              .find((m) => m?.[1].trim().toLowerCase() === name)?.[2]
              .trim();
          const chunked = /chunked/i.test(header('transfer-encoding') ?? '');
          const contentLength = chunked ? 0 : Number(header('content-length') ?? 0) || 0;
          const expectContinue = /100-continue/i.test(header('expect') ?? '');
          this.onHead({ line: lines[0], raw, contentLength, chunked, expectContinue });
          if (chunked) {
            this.state = 'chunk-size';
          } else if (contentLength > 0) {
            this.state = 'length';
            this.remaining = contentLength;
          } else {
            this.onBodyEnd();
          }
          break;
        }
        case 'length': {
          const take = Math.min(this.remaining, rest.length);
          this.onBody(rest.subarray(0, take));
          this.remaining -= take;
          rest = rest.subarray(take);
          if (this.remaining === 0) {
            this.state = 'head';
            this.onBodyEnd();
          }
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const eol = rest.indexOf('\n');
          const upto = eol < 0 ? rest.length : eol + 1;
          this.onBody(rest.subarray(0, upto));
          this.line = Buffer.concat([this.line, rest.subarray(0, upto)]);
          rest = rest.subarray(upto);
          if (eol < 0) break;
          const text = this.line.toString('latin1').trim();
          this.line = Buffer.alloc(0);
          if (this.state === 'trailer') {
            if (text === '') {
              this.state = 'head';
              this.onBodyEnd();
            }
          } else {
            const size = parseInt(text.split(';')[0], 16);
            if (Number.isNaN(size)) {
              this.state = 'raw';
            } else if (size === 0) {
              this.state = 'trailer';
            } else {
              this.state = 'chunk-data';
              this.remaining = size;
            }
          }
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, rest.length);
          this.onBody(rest.subarray(0, take));
          this.remaining -= take;
          rest = rest.subarray(take);
          if (this.remaining === 0) {
            this.state = 'chunk-crlf';
            this.remaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const take = Math.min(this.remaining, rest.length);
          this.onBody(rest.subarray(0, take));
          this.remaining -= take;
          rest = rest.subarray(take);
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
      }
    }
  }
}

interface Connection {
  client: Socket;
  server: Socket;
  up: number;
  down: number;
  dropped: boolean;
  /** Set when the proxy answered a request itself: the rest of that request is swallowed. */
  failing: boolean;
  /** Set once a reset is decided: nothing more is forwarded. */
  resetting: boolean;
  /** The delay of the current request's response, once its head matched `delay-response`. */
  delayNext?: number;
  /** Set once that request's body has gone through: its response bytes are held from now on. */
  delayMs?: number;
  /** Response bytes held back, in order, and the timer that releases them. */
  held: Buffer[];
  releaseAt?: number;
  releaseTimer?: NodeJS.Timeout;
  /** The server ended or closed while bytes were held: done once they are out. */
  serverDone?: 'end' | 'close';
  framer: RequestFramer;
}

function s3ErrorBody(status: number): string {
  const code = status === 503 ? 'ServiceUnavailable' : 'InternalError';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>Injected by the fault proxy</Message>` +
    '<RequestId>fault-proxy</RequestId></Error>'
  );
}

export class FaultProxy extends EventEmitter {
  readonly url: string;
  readonly port: number;
  readonly stats: FaultProxyStats = FaultProxy.emptyStats();

  private mode: FaultMode = { kind: 'pass' };
  /** How many more resets / failed requests the current mode may inject. */
  private budget = Infinity;
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    super();
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Starts a proxy on a free port of 127.0.0.1 that forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const proxy = new FaultProxy(server, target);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  private static emptyStats(): FaultProxyStats {
    return {
      connections: 0,
      open: 0,
      maxOpen: 0,
      bytesUp: 0,
      bytesDown: 0,
      resets: 0,
      failedRequests: 0,
      delayedResponses: 0,
      droppedBytes: 0,
      requests: [],
    };
  }

  /** Switches mode; leaving `blackhole` destroys the connections whose bytes were dropped. */
  setMode(mode: FaultMode): void {
    if (this.mode.kind === 'blackhole' && mode.kind !== 'blackhole') {
      for (const conn of this.connections) if (conn.dropped) this.destroy(conn);
    }
    this.mode = mode;
    this.budget = 'times' in mode ? (mode.times ?? Infinity) : Infinity;
  }

  get currentMode(): FaultMode {
    return this.mode;
  }

  /** Zeroes the counters (open connections stay counted as open). */
  resetStats(): void {
    const open = this.stats.open;
    Object.assign(this.stats, FaultProxy.emptyStats(), { open, maxOpen: open });
  }

  /** Resolves once `stats.bytesUp` (or `bytesDown`) reaches `total`; rejects after `timeoutMs`. */
  untilBytes(direction: Direction, total: number, timeoutMs = 60_000): Promise<void> {
    const value = () => (direction === 'upstream' ? this.stats.bytesUp : this.stats.bytesDown);
    if (value() >= total) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('bytes', check);
        reject(new Error(`the proxy did not see ${total} bytes ${direction} in ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (value() < total) return;
        clearTimeout(timer);
        this.off('bytes', check);
        resolve();
      };
      this.on('bytes', check);
    });
  }

  /** Destroys every open connection (as a proxy restart would). */
  dropConnections(): void {
    for (const conn of this.connections) this.destroy(conn);
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const server = new Socket();
    const conn: Connection = {
      client,
      server,
      up: 0,
      down: 0,
      dropped: false,
      failing: false,
      resetting: false,
      held: [],
      framer: new RequestFramer(
        (head) => this.onHead(conn, head),
        (bytes) => {
          if (!conn.failing) this.forward(conn, 'upstream', bytes);
        },
        () => {
          if (conn.failing) client.end();
          if (conn.delayNext !== undefined) {
            conn.delayMs = conn.delayNext;
            conn.delayNext = undefined;
          }
        },
      ),
    };
    this.connections.add(conn);
    this.stats.connections++;
    this.stats.open++;
    this.stats.maxOpen = Math.max(this.stats.maxOpen, this.stats.open);
    client.setNoDelay(true);
    server.setNoDelay(true);

    client.on('data', (chunk: Buffer) => this.fromClient(conn, chunk));
    server.on('data', (chunk: Buffer) => this.fromServer(conn, chunk));
    client.on('end', () => {
      if (!conn.dropped) server.end();
    });
    server.on('end', () => {
      if (conn.held.length > 0) conn.serverDone ??= 'end';
      else if (!conn.dropped) client.end();
    });
    client.on('error', () => this.destroy(conn));
    client.on('close', () => this.destroy(conn));
    // After the proxy answered a request itself, the client's side lives on until it is done;
    // a silent server (blackhole) says nothing either when it closes.
    server.on('error', () => {
      if (!conn.failing && !conn.dropped) this.destroy(conn);
    });
    server.on('close', () => {
      if (conn.held.length > 0) conn.serverDone = 'close';
      else if (!conn.failing && !conn.dropped) this.destroy(conn);
    });
    server.connect(this.target.port, this.target.host);
  }

  private fromClient(conn: Connection, chunk: Buffer): void {
    this.stats.bytesUp += chunk.length;
    this.emit('bytes');
    if (this.mode.kind === 'blackhole' || conn.dropped) {
      conn.dropped = true;
      this.stats.droppedBytes += chunk.length;
      return;
    }
    if (conn.resetting) return;
    if (this.mode.kind === 'reset' && this.mode.direction === 'upstream' && this.budget > 0) {
      const allowed = this.mode.afterBytes - conn.up;
      if (chunk.length > allowed) {
        if (allowed > 0) conn.framer.push(chunk.subarray(0, allowed));
        conn.resetting = true;
        this.reset(conn);
        return;
      }
    }
    conn.up += chunk.length;
    conn.framer.push(chunk);
  }

  private fromServer(conn: Connection, chunk: Buffer): void {
    this.stats.bytesDown += chunk.length;
    this.emit('bytes');
    if (this.mode.kind === 'blackhole' || conn.dropped) {
      conn.dropped = true;
      this.stats.droppedBytes += chunk.length;
      return;
    }
    if (conn.failing || conn.resetting) return;
    if (this.mode.kind === 'reset' && this.mode.direction === 'downstream' && this.budget > 0) {
      const allowed = this.mode.afterBytes - conn.down;
      if (chunk.length > allowed) {
        if (allowed > 0) this.forward(conn, 'downstream', chunk.subarray(0, allowed));
        conn.resetting = true;
        conn.server.pause();
        // Let the allowed bytes leave before the reset (a reset drops what is still queued).
        conn.client.write(Buffer.alloc(0), () => this.reset(conn));
        return;
      }
    }
    conn.down += chunk.length;
    if (conn.delayMs !== undefined || conn.held.length > 0) {
      this.hold(conn, chunk);
      return;
    }
    this.forward(conn, 'downstream', chunk);
  }

  /** Queues response bytes until their release time (`delay-response`), keeping their order. */
  private hold(conn: Connection, chunk: Buffer): void {
    conn.held.push(chunk);
    if (conn.delayMs !== undefined && conn.releaseAt === undefined) {
      this.stats.delayedResponses++;
      conn.releaseAt = Date.now() + conn.delayMs;
    }
    if (conn.releaseTimer) return;
    conn.releaseTimer = setTimeout(
      () => this.release(conn),
      Math.max(0, (conn.releaseAt ?? 0) - Date.now()),
    );
  }

  private release(conn: Connection): void {
    conn.releaseTimer = undefined;
    for (const chunk of conn.held.splice(0)) this.forward(conn, 'downstream', chunk);
    if (conn.serverDone === 'end') conn.client.end();
    if (conn.serverDone === 'close') this.destroy(conn);
    conn.serverDone = undefined;
  }

  private onHead(conn: Connection, head: Head): void {
    if (this.stats.requests.length < MAX_LOGGED_REQUESTS) this.stats.requests.push(head.line);
    const mode = this.mode;
    if (mode.kind === 'fail-http' && this.budget > 0 && mode.match.test(head.line)) {
      this.budget--;
      this.stats.failedRequests++;
      conn.failing = true;
      const status = mode.status ?? 500;
      const body = s3ErrorBody(status);
      conn.client.write(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
          'Content-Type: application/xml\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          'Connection: close\r\n\r\n' +
          body,
      );
      // The server never sees this request: its connection goes, and so does the client's once
      // the body (if the client sends it) has been swallowed.
      conn.server.destroy();
      if (head.expectContinue || (head.contentLength === 0 && !head.chunked)) conn.client.end();
      return;
    }
    // A new request: the previous response (if it was held) is complete.
    conn.delayMs = undefined;
    conn.releaseAt = undefined;
    if (mode.kind === 'delay-response' && this.budget > 0 && mode.match.test(head.line)) {
      this.budget--;
      conn.delayNext = mode.delayMs;
    }
    this.forward(conn, 'upstream', head.raw);
  }

  private forward(conn: Connection, direction: Direction, bytes: Buffer): void {
    const [from, to] =
      direction === 'upstream' ? [conn.client, conn.server] : [conn.server, conn.client];
    if (to.destroyed || bytes.length === 0) return;
    if (!to.write(bytes)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  }

  private reset(conn: Connection): void {
    this.budget--;
    this.stats.resets++;
    if (!conn.client.destroyed) conn.client.resetAndDestroy();
    if (!conn.server.destroyed) conn.server.resetAndDestroy();
    this.destroy(conn);
  }

  private destroy(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    clearTimeout(conn.releaseTimer);
    this.stats.open--;
    conn.client.destroy();
    conn.server.destroy();
  }
}
