/**
 * A loopback HTTP server that speaks just enough of the ECR API (AWS JSON 1.1 protocol) for
 * `GetAuthorizationToken`, so the real `@aws-sdk/client-ecr` client - with its signer, retries
 * and error parsing - can be tested against it. Point the client at `server.url` through
 * `endpoint` or the SDK's standard `AWS_ENDPOINT_URL_ECR` environment variable.
 *
 * ECR facts mimicked: the token is base64 of `AWS:<password>`, valid 12 hours; `expiresAt` is
 * epoch seconds; `proxyEndpoint` is `https://<account>.dkr.ecr.<region>.amazonaws.com`; beyond
 * ~20 calls/s the API answers HTTP 400 `ThrottlingException`.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export const ECR_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';
export const GET_AUTHORIZATION_TOKEN_TARGET = `${ECR_TARGET_PREFIX}GetAuthorizationToken`;

export interface FakeEcrServerOptions {
  /** Port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  /** The registry password inside the token (default 'fake-ecr-password'). */
  password?: string;
  /** When the token expires (default: 12 hours after each request, like ECR). */
  expiresAt?: Date;
  /** `proxyEndpoint` of each returned authorization (default: one per requested registry id). */
  proxyEndpoints?: string[];
  /** Account id used in the default proxy endpoint (default '123456789012'). */
  accountId?: string;
}

/** One request the server received, for assertions. */
export interface FakeEcrRequest {
  target: string | undefined;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** From the SigV4 credential scope, e.g. 'us-east-1'. */
  region: string | undefined;
  /** From the SigV4 credential scope, e.g. 'AKIDEXAMPLE'. */
  accessKeyId: string | undefined;
}

type Fault = { kind: 'throttle' } | { kind: 'fail'; status: number };

const TWELVE_HOURS_MS = 12 * 60 * 60 * 1000;

export class FakeEcrServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Requests received so far (all of them: answered, throttled, failed or rejected). */
  calls = 0;
  /** The requests received so far, oldest first. */
  readonly requests: FakeEcrRequest[] = [];
  /** Requests whose connection is still open, unanswered (a hung one until the client leaves). */
  pending = 0;

  private password: string;
  private expiresAt: Date | undefined;
  private proxyEndpoints: string[] | undefined;
  private readonly accountId: string;
  private readonly faults: Fault[] = [];
  private delayMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    opts: FakeEcrServerOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.password = opts.password ?? 'fake-ecr-password';
    this.expiresAt = opts.expiresAt;
    this.proxyEndpoints = opts.proxyEndpoints;
    this.accountId = opts.accountId ?? '123456789012';
  }

  static async start(opts: FakeEcrServerOptions = {}): Promise<FakeEcrServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const instance = new FakeEcrServer(server, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      instance.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) FakeEcrServer.sendError(res, 500, 'ServerException', String(err));
      });
    });
    return instance;
  }

  /** The `proxyEndpoint`s of the next answers (one authorization entry each). */
  setProxyEndpoints(endpoints: string[]): void {
    this.proxyEndpoints = [...endpoints];
  }

  /** The password (the token is base64 of `AWS:<password>`) and expiry of the next answers. */
  setToken(password: string, expiresAt: Date): void {
    this.password = password;
    this.expiresAt = expiresAt;
  }

  /** The token the next successful answer will carry. */
  get token(): string {
    return Buffer.from(`AWS:${this.password}`).toString('base64');
  }

  /** Answer the next `n` requests with HTTP 400 ThrottlingException (as ECR does). */
  throttleNext(n = 1): void {
    for (let i = 0; i < n; i++) this.faults.push({ kind: 'throttle' });
  }

  /** Answer the next `n` requests with `status` and a ServerException body. */
  failNext(n = 1, status = 500): void {
    for (let i = 0; i < n; i++) this.faults.push({ kind: 'fail', status });
  }

  /** Drops the faults still queued by `throttleNext` / `failNext`: the next requests succeed. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Delay every answer by `ms` from now on (0 turns it off). Pending answers end on close(). */
  hang(ms: number): void {
    this.delayMs = ms;
  }

  /** Stops listening and drops open connections (including hung requests). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.pending++;
    res.once('close', () => this.pending--);
    const raw = await readBody(req);
    this.calls++;
    const target = header(req.headers, 'x-amz-target');
    const auth = header(req.headers, 'authorization') ?? '';
    const scope = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(auth);
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      // keep the raw text
    }
    this.requests.push({
      target,
      headers: req.headers,
      body,
      region: scope?.[2],
      accessKeyId: scope?.[1],
    });

    if (this.delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, this.delayMs);
        this.timers.add(timer);
      });
      if (res.destroyed) return;
    }

    if (!auth.startsWith('AWS4-HMAC-SHA256')) {
      return FakeEcrServer.sendError(
        res,
        403,
        'UnrecognizedClientException',
        'The request is not signed with AWS Signature Version 4 (no AWS4-HMAC-SHA256 authorization header).',
      );
    }
    if (req.method !== 'POST' || target !== GET_AUTHORIZATION_TOKEN_TARGET) {
      return FakeEcrServer.sendError(
        res,
        400,
        'UnknownOperationException',
        `The fake ECR server only implements POST ${GET_AUTHORIZATION_TOKEN_TARGET} (got ${req.method} ${target ?? 'no X-Amz-Target'}).`,
      );
    }
    const fault = this.faults.shift();
    if (fault?.kind === 'throttle') {
      return FakeEcrServer.sendError(res, 400, 'ThrottlingException', 'Rate exceeded');
    }
    if (fault?.kind === 'fail') {
      return FakeEcrServer.sendError(res, fault.status, 'ServerException', 'Injected failure');
    }

    const region = scope?.[2] ?? 'us-east-1';
    const registryIds = (body as { registryIds?: unknown })?.registryIds;
    const endpoints =
      this.proxyEndpoints ??
      (Array.isArray(registryIds) && registryIds.length > 0
        ? registryIds.map(String)
        : [this.accountId]
      ).map((id) => `https://${id}.dkr.ecr.${region}.amazonaws.com`);
    const expiresAt = this.expiresAt ?? new Date(Date.now() + TWELVE_HOURS_MS);
    FakeEcrServer.send(res, 200, {
      authorizationData: endpoints.map((proxyEndpoint) => ({
        authorizationToken: this.token,
        expiresAt: expiresAt.getTime() / 1000,
        proxyEndpoint,
      })),
    });
  }

  private static send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
      ...headers,
    });
    res.end(text);
  }

  private static sendError(
    res: ServerResponse,
    status: number,
    type: string,
    message: string,
  ): void {
    FakeEcrServer.send(res, status, { __type: type, message }, { 'x-amzn-errortype': type });
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
