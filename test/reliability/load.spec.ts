/**
 * Reliability, category 3: load on the real S3 server (Swift s3api), on both storage backends.
 * Every round trip compares the SHA-256 of what came back with what went in; a difference is a
 * loss. Measured: 50 concurrent uploads then downloads of distinct projects, 500 sequential
 * round trips (with the heap and RSS before and after), 200 downloads destroyed unread (the
 * connection pool must not run dry), and concurrent multipart uploads to one name (exactly one
 * upload's bytes must win, never a mix).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  readAll,
  type RunningBackend,
  sha256Of,
  startBackend,
  STORAGE_BACKENDS,
  storageEnv,
  streamOf,
} from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireS3Server,
  S3_SERVER,
} from '../support/test-servers.js';
import { FaultProxy } from './support/fault-proxy.js';
import { type CaseMeta, describeError, record, trial } from './support/results.js';
import { headObject, KiB, MiB, randomZip, readObject, settledMemory } from './support/storage.js';

const PART_SIZE = 5 * MiB;
/** What the heap and RSS may grow by over the 450 measured round trips (after full GCs). */
const HEAP_TOLERANCE = 8 * MiB;
const RSS_TOLERANCE = 64 * MiB;

const randomSize = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const ms = (value: number) => `${value.toFixed(0)} ms`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

async function sha256OfStream(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

describe.each(STORAGE_BACKENDS)('load on the %s backend (real S3 server)', (backend) => {
  let bucket: string;
  let running: RunningBackend;

  const meta = (group: string): CaseMeta => ({ category: 'load', group, backend });

  beforeAll(async () => {
    await requireS3Server();
    bucket = await createTestBucket(`rel-load-${backend}`);
    running = await startBackend(storageEnv(backend, bucket), {
      partSize: PART_SIZE,
      requestTimeoutMs: 10_000,
    });
  });

  afterAll(async () => {
    await running?.close();
    if (bucket) await deleteTestBucket(bucket);
  });

  /** Uploads and downloads one project; returns whether the bytes came back identical. */
  async function roundTrip(key: string, data: Buffer, streamed = false) {
    const t0 = performance.now();
    const stored = await running.credentials.uploadProject(key, streamed ? streamOf(data) : data);
    const t1 = performance.now();
    const back = await sha256OfStream(await running.credentials.downloadProject(bucket, key));
    const t2 = performance.now();
    const expected = sha256Of(data);
    return {
      identical:
        stored.sha256 === expected && back.sha256 === expected && back.size === data.length,
      upload: t1 - t0,
      download: t2 - t1,
    };
  }

  it('50 concurrent uploads, then 50 concurrent downloads of distinct projects', async () => {
    // Small ZIPs, and five multipart streams of 6 MiB among them.
    const projects = Array.from({ length: 50 }, (_, i) => ({
      key: `concurrent-${i}.zip`,
      data: randomZip(i % 10 === 9 ? 6 * MiB : randomSize(64 * KiB, MiB)),
      streamed: i % 10 === 9,
    }));
    const started = performance.now();
    const uploads = await Promise.allSettled(
      projects.map((p) =>
        running.credentials.uploadProject(p.key, p.streamed ? streamOf(p.data) : p.data),
      ),
    );
    const uploaded = performance.now();
    const downloads = await Promise.allSettled(
      projects.map(async (p) =>
        sha256OfStream(await running.credentials.downloadProject(bucket, p.key)),
      ),
    );
    const done = performance.now();
    const failures: string[] = [];
    const lost: string[] = [];
    let held = 0;
    projects.forEach((p, i) => {
      const up = uploads[i];
      const down = downloads[i];
      if (up.status === 'rejected') failures.push(`${p.key}: upload ${describeError(up.reason)}`);
      else if (down.status === 'rejected')
        failures.push(`${p.key}: download ${describeError(down.reason)}`);
      else if (down.value.sha256 !== sha256Of(p.data)) lost.push(`${p.key}: other bytes came back`);
      else held++;
    });
    const total = projects.reduce((n, p) => n + p.data.length, 0);
    record({
      ...meta('50 concurrent uploads, then 50 concurrent downloads'),
      tried: projects.length,
      held,
      lost,
      ms: Math.round(done - started),
      failures: [...failures, ...lost].slice(0, 20),
      metrics: {
        bytes: mib(total),
        'uploads took': ms(uploaded - started),
        'downloads took': ms(done - uploaded),
        throughput: `${((2 * total) / MiB / ((done - started) / 1000)).toFixed(1)} MiB/s`,
      },
    });
    expect(failures).toEqual([]);
    expect(lost).toEqual([]);
    expect(await listIncompleteUploads(bucket)).toEqual([]);
  });

  it('500 sequential round trips, byte for byte, with memory that does not climb', async () => {
    const uploads: number[] = [];
    const downloads: number[] = [];
    const failures: string[] = [];
    const lost: string[] = [];
    let held = 0;
    const one = async (i: number) => {
      const data = randomZip(randomSize(64 * KiB, 256 * KiB));
      try {
        const result = await roundTrip(`sequential-${i % 50}.zip`, data);
        uploads.push(result.upload);
        downloads.push(result.download);
        if (result.identical) held++;
        else lost.push(`round trip ${i}: other bytes came back`);
      } catch (err) {
        failures.push(`round trip ${i}: ${describeError(err)}`);
      }
    };
    const started = performance.now();
    // 50 to warm up (JIT, sockets, caches), then the memory baseline, then 450 more.
    for (let i = 0; i < 50; i++) await one(i);
    const before = await settledMemory();
    for (let i = 50; i < 500; i++) await one(i);
    const after = await settledMemory();
    const elapsed = performance.now() - started;
    const heapGrowth = after.heapUsed - before.heapUsed;
    const rssGrowth = after.rss - before.rss;
    record({
      ...meta('500 sequential round trips (64-256 KiB)'),
      tried: 500,
      held,
      lost,
      ms: Math.round(elapsed),
      failures: [...failures, ...lost].slice(0, 20),
      metrics: {
        'round trips/s': (500 / (elapsed / 1000)).toFixed(1),
        'upload p50/p95': `${ms(percentile(uploads, 50))} / ${ms(percentile(uploads, 95))}`,
        'download p50/p95': `${ms(percentile(downloads, 50))} / ${ms(percentile(downloads, 95))}`,
      },
    });
    const memoryHeld = heapGrowth < HEAP_TOLERANCE && rssGrowth < RSS_TOLERANCE;
    record({
      ...meta('memory over 450 round trips (after full GCs)'),
      tried: 1,
      held: memoryHeld ? 1 : 0,
      lost: [],
      ms: 0,
      failures: memoryHeld ? [] : [`heap grew ${mib(heapGrowth)}, RSS ${mib(rssGrowth)}`],
      metrics: {
        heap: `${mib(before.heapUsed)} -> ${mib(after.heapUsed)} (tolerance +${mib(HEAP_TOLERANCE)})`,
        RSS: `${mib(before.rss)} -> ${mib(after.rss)} (tolerance +${mib(RSS_TOLERANCE)})`,
      },
    });
    expect(failures).toEqual([]);
    expect(lost).toEqual([]);
    expect(heapGrowth).toBeLessThan(HEAP_TOLERANCE);
    expect(rssGrowth).toBeLessThan(RSS_TOLERANCE);
  });

  it('200 downloads destroyed unread do not exhaust the connection pool', async () => {
    await trial(meta('200 downloads destroyed unread, then a normal call'), async (t) => {
      // Through a pass-through proxy, to count the connections the backend keeps open.
      const proxy = await FaultProxy.start({
        host: '127.0.0.1',
        port: Number(new URL(S3_SERVER.endpoint).port),
      });
      const viaProxy = await startBackend(storageEnv(backend, bucket, undefined, proxy.url), {
        requestTimeoutMs: 5_000,
      });
      try {
        const data = randomZip(4 * MiB);
        await viaProxy.credentials.uploadProject('abandoned.zip', data);
        const started = performance.now();
        for (let i = 0; i < 200; i++) {
          const stream = await viaProxy.credentials.downloadProject(bucket, 'abandoned.zip');
          // Half are dropped before any byte is read, half after the first chunk.
          if (i % 2 === 1) await stream[Symbol.asyncIterator]().next();
          stream.destroy();
        }
        t.metric('200 abandoned downloads took', ms(performance.now() - started));
        t.metric('most connections open at once', proxy.stats.maxOpen);
        const normal = performance.now();
        const back = await readAll(
          await viaProxy.credentials.downloadProject(bucket, 'abandoned.zip'),
        );
        const normalMs = performance.now() - normal;
        t.metric('next normal download', ms(normalMs));
        t.expectKept(back.equals(data), 'the normal download after them returned other bytes');
        expect(normalMs).toBeLessThan(2_000);
        // A destroyed download frees its socket: far fewer connections than downloads.
        expect(proxy.stats.maxOpen).toBeLessThanOrEqual(64);
      } finally {
        await viaProxy.close();
        await proxy.close();
      }
    });
  });

  it('concurrent multipart uploads to one name leave exactly one whole upload, never a mix', async () => {
    await trial(meta('4 concurrent multipart uploads to one name, 3 rounds'), async (t) => {
      const winners: number[] = [];
      for (let round = 0; round < 3; round++) {
        const bodies = Array.from({ length: 4 }, () => randomZip(12 * MiB));
        const results = await Promise.allSettled(
          bodies.map((body) => running.credentials.uploadProject('contended.zip', streamOf(body))),
        );
        const rejected = results.filter((r) => r.status === 'rejected');
        t.expectKept(rejected.length === 0, `round ${round}: ${rejected.length} uploads failed`);
        const stored = await readObject(bucket, 'contended.zip');
        const head = await headObject(bucket, 'contended.zip');
        const winner = bodies.findIndex((body) => stored !== undefined && body.equals(stored));
        winners.push(winner);
        t.expectKept(
          winner >= 0,
          `round ${round}: the object is a mix of uploads (${stored?.length} bytes)`,
        );
        t.expectKept(
          winner >= 0 && head?.sha256 === sha256Of(bodies[winner]),
          `round ${round}: the recorded SHA-256 is not the winner's`,
        );
        // The library's own download verifies the recorded SHA-256 against the bytes.
        const back = await readAll(
          await running.credentials.downloadProject(bucket, 'contended.zip'),
        );
        t.expectKept(
          stored !== undefined && back.equals(stored),
          `round ${round}: the download differs`,
        );
        const left = await listIncompleteUploads(bucket);
        t.expectKept(left.length === 0, `round ${round}: ${left.length} multipart uploads left`);
      }
      t.metric('winning upload per round', winners.join(', '));
    });
  });

  it('concurrent single-request uploads to one name leave exactly one of them', async () => {
    await trial(meta('8 concurrent single-PUT uploads to one name, 5 rounds'), async (t) => {
      for (let round = 0; round < 5; round++) {
        const bodies = Array.from({ length: 8 }, () => randomZip(randomSize(256 * KiB, 2 * MiB)));
        await Promise.all(
          bodies.map((body) => running.credentials.uploadProject('raced.zip', body)),
        );
        const stored = await readObject(bucket, 'raced.zip');
        const head = await headObject(bucket, 'raced.zip');
        const winner = bodies.findIndex((body) => stored !== undefined && body.equals(stored));
        t.expectKept(winner >= 0, `round ${round}: the object is none of the uploads`);
        t.expectKept(
          winner >= 0 && head?.sha256 === sha256Of(bodies[winner]),
          `round ${round}: the recorded SHA-256 is not the winner's`,
        );
        const back = await readAll(await running.credentials.downloadProject(bucket, 'raced.zip'));
        t.expectKept(
          stored !== undefined && back.equals(stored),
          `round ${round}: the download differs`,
        );
      }
    });
  });
});
