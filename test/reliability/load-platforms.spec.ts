/**
 * Reliability, category 3 (load): streaming stays streaming on both HTTP platforms. One 200 MiB
 * PUT through the controller to the real S3 server (aws backend) on Express and on Fastify; the
 * server runs in a process of its own (support/put-memory-child.ts), whose peak RSS growth over
 * the upload must stay under a bound far below the body's size. The control runs the same PUT
 * into an app that buffers the body (a body parser): its growth must exceed the bound, so the
 * bound would catch a controller that buffered.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { API_TOKEN, PLATFORMS, type Platform } from '../e2e/support/example-app.js';
import { storageEnv, zipLike } from '../support/backends.js';
import { createTestBucket, deleteTestBucket, requireS3Server } from '../support/test-servers.js';
import type { PutMemoryReport } from './support/put-memory-child.js';
import { record, trial } from './support/results.js';
import { headObject, MiB } from './support/storage.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BODY_BYTES = 200 * MiB;
/** Streaming holds a few parts (the multipart driver) and socket buffers, never the body. */
const GROWTH_BOUND_MIB = 64;
const WARM_UP_BYTES = 24 * MiB;

/** The server process of one measurement, and its stdout as lines. */
interface ServerChild {
  port: number;
  send(command: 'baseline' | 'report'): Promise<Record<string, unknown>>;
  stop(): void;
}

async function startServer(
  platform: Platform,
  env: Record<string, string>,
  buffered: boolean,
): Promise<ServerChild> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      path.join(HERE, '../support/ts-loader.mjs'),
      path.join(HERE, 'support/put-memory-child.ts'),
      platform,
      JSON.stringify(env),
    ],
    {
      env: { ...process.env, NODE_OPTIONS: '', BUFFER_BODIES: buffered ? '1' : '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: Interface = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await iterator.next();
    if (line.done) throw new Error(`the server process ended: ${stderr.slice(-2000)}`);
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  const { port } = (await next()) as { port: number };
  return {
    port,
    send: (command) => {
      child.stdin.write(`${command}\n`);
      return next();
    },
    stop: () => child.kill('SIGKILL'),
  };
}

/** A ZIP-like body of `bytes`, generated as it is sent (the client holds one chunk). */
function generatedZip(bytes: number): Readable {
  const chunk = zipLike(MiB);
  let sent = 0;
  return new Readable({
    read() {
      const size = Math.min(chunk.length, bytes - sent);
      sent += size;
      this.push(size > 0 ? chunk.subarray(0, size) : null);
    },
  });
}

/** PUTs `bytes` to the server's controller, and answers its status. */
function put(port: number, name: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: `/projects/${name}`,
      agent: false,
      headers: {
        Authorization: `Bearer ${API_TOKEN}`,
        'Content-Type': 'application/zip',
        'Content-Length': bytes,
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    // A server that refuses early may reset the rest of the upload: the status still counts.
    req.on('error', reject);
    generatedZip(bytes).pipe(req);
  });
}

describe('peak memory of a 200 MiB PUT through the controller (aws backend, real S3 server)', () => {
  let bucket: string;

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket('platform-memory');
  });

  afterAll(async () => {
    if (bucket) await deleteTestBucket(bucket);
  });

  const measure = async (platform: Platform, buffered: boolean, key: string) => {
    const env = {
      ...storageEnv('aws', bucket),
      CREDENTIALS_API_TOKEN: API_TOKEN,
      MAX_PROJECT_SIZE: String(BODY_BYTES),
    };
    const server = await startServer(platform, env, buffered);
    try {
      // Warm up on a project above the part size, so that the multipart path is loaded (and,
      // under the TypeScript loader, transpiled) and the S3 client connected before the baseline.
      expect(await put(server.port, `${key}.warm`, WARM_UP_BYTES)).toBe(buffered ? 415 : 201);
      await server.send('baseline');
      const status = await put(server.port, key, BODY_BYTES);
      const report = (await server.send('report')) as unknown as PutMemoryReport;
      return { status, report };
    } finally {
      server.stop();
    }
  };

  it.each(PLATFORMS)(
    'on %s: the RSS of the server grows by less than 64 MiB, and the object is whole',
    async (platform) => {
      await trial(
        {
          category: 'load',
          group: `200 MiB PUT through the controller on ${platform}`,
          backend: 'aws',
        },
        async (t) => {
          const key = `memory-${platform}.zip`;
          const { status, report } = await measure(platform, false, key);
          t.metric('peak RSS growth', `${report.growthMiB.toFixed(1)} MiB`);
          t.metric('baseline RSS', `${report.baselineMiB.toFixed(1)} MiB`);
          t.metric('Buffers at most', `${report.arrayBuffersMiB.toFixed(1)} MiB`);
          t.metric('heap at most', `${report.heapUsedMiB.toFixed(1)} MiB`);
          expect(status).toBe(201);
          expect((await headObject(bucket, key))?.size).toBe(BODY_BYTES);
          expect(report.growthMiB).toBeLessThan(GROWTH_BOUND_MIB);
        },
        240_000,
      );
    },
    250_000,
  );

  it.each(PLATFORMS)(
    'control on %s: an app that buffers the body grows by more than the bound',
    async (platform) => {
      const { status, report } = await measure(platform, true, `buffered-${platform}.zip`);
      record({
        category: 'load',
        group: `200 MiB PUT into a buffering body parser on ${platform} (control)`,
        backend: 'aws',
        tried: 1,
        held: report.growthMiB > GROWTH_BOUND_MIB ? 1 : 0,
        lost: [],
        ms: 0,
        failures: [],
        metrics: { 'peak RSS growth': `${report.growthMiB.toFixed(1)} MiB` },
      });
      // The body parser read it all; the controller refuses a body read by the app.
      expect(status).toBe(415);
      expect(report.growthMiB).toBeGreaterThan(GROWTH_BOUND_MIB);
    },
    250_000,
  );
});
