/**
 * Would parallel ranged GETs (what boto3's `download_file` does: 8 MiB ranges, 10 threads)
 * download faster than one GetObject here? In a fresh process, with one `@aws-sdk/client-s3`
 * client (path style, checksums WHEN_REQUIRED, a keep-alive agent of up to 64 sockets), the
 * object `key` is downloaded into a file, ways alternated over `rounds` rounds (each round
 * starting with the next way):
 *
 * - `single`: one GetObject, its body hashed (SHA-256) chunk by chunk and written to the file;
 * - `ranged xW`: a first GetObject of `bytes=0-(rangeBytes-1)` (its Content-Range gives the
 *   size), then GetObjects of the following ranges with `If-Match` = the first one's ETag, at
 *   most W-1 ranges ahead of the one being written (a bounded window: at most W ranges in
 *   memory); each range collected into one Buffer, then hashed and written in order.
 *
 * Every way's SHA-256 and file size are checked against each other (and against the object's
 * `x-amz-meta-sha256` when it has one); a mismatch fails the probe.
 *
 * Prints one JSON line: RangedProbeResult. argv: JSON { key, sink, rangeBytes, windows, rounds }
 */
import { createHash } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { once } from 'node:events';
import { GetObjectCommand, type GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { BUCKET, now, S3 } from './common.js';

export interface RangedProbeJob {
  key: string;
  sink: string;
  rangeBytes: number;
  /** Windows of the ranged ways, e.g. [4, 8]. */
  windows: number[];
  rounds: number;
}

export interface RangedProbeWay {
  /** `single`, or `ranged xW`. */
  way: string;
  /** Ranges in flight or in memory at most (1 for `single`). */
  window: number;
  /** GetObject requests per download. */
  requests: number;
  /** Wall time per download (ms), per round. */
  ms: number[];
  /** CPU time of this process per download, all threads (ms), per round. */
  cpuMs: number[];
}

export interface RangedProbeResult {
  bytes: number;
  rangeBytes: number;
  rounds: number;
  ways: RangedProbeWay[];
  /** The SHA-256 every way computed (they are checked to be the same). */
  sha256: string;
  /** Whether the object carried x-amz-meta-sha256 and it matched too. */
  matchesMetadata: boolean;
}

const job = JSON.parse(process.argv[2]) as RangedProbeJob;

const client = new S3Client({
  endpoint: S3.endpoint,
  region: S3.region,
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  credentials: { accessKeyId: S3.accessKey, secretAccessKey: S3.secretKey },
  requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }) },
});

const get = (range?: string, ifMatch?: string): Promise<GetObjectCommandOutput> =>
  client.send(
    new GetObjectCommand({ Bucket: BUCKET, Key: job.key, Range: range, IfMatch: ifMatch }),
  );

/** A response body collected into one Buffer of its Content-Length. */
async function collect(res: GetObjectCommandOutput): Promise<Buffer> {
  const length = res.ContentLength ?? Number.NaN;
  const buf = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of res.Body as Readable) {
    const c = chunk as Buffer;
    if (at + c.length > length) throw new Error(`range body longer than ${length} bytes`);
    c.copy(buf, at);
    at += c.length;
  }
  if (at !== length) throw new Error(`range body of ${at} bytes, expected ${length}`);
  return buf;
}

/** Hashes `chunks` in order while writing them to `file` (with backpressure). */
async function hashInto(
  file: string,
  chunks: AsyncIterable<Buffer>,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      hash.update(chunk);
      bytes += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    throw err;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** The object's size and ETag from the first range's response. */
function totalOf(res: GetObjectCommandOutput): number {
  const match = /^bytes \d+-\d+\/(\d+)$/.exec(res.ContentRange ?? '');
  if (!match) throw new Error(`no usable Content-Range in the first ranged response`);
  return Number(match[1]);
}

let metadataSha256: string | undefined;

async function single(): Promise<{ sha256: string; bytes: number; requests: number }> {
  const res = await get();
  metadataSha256 ??= res.Metadata?.sha256;
  return { ...(await hashInto(job.sink, res.Body as AsyncIterable<Buffer>)), requests: 1 };
}

async function ranged(
  window: number,
): Promise<{ sha256: string; bytes: number; requests: number }> {
  const size = job.rangeBytes;
  const first = await get(`bytes=0-${size - 1}`);
  const total = totalOf(first);
  const etag = first.ETag;
  if (!etag) throw new Error('no ETag in the first ranged response');
  const count = Math.max(1, Math.ceil(total / size));
  const pending = new Map<number, Promise<Buffer>>();
  const start = (i: number, p: Promise<Buffer>) => {
    // Awaited in order below; a failure of a range further ahead must not go unhandled first.
    p.catch(() => undefined);
    pending.set(i, p);
  };
  start(0, collect(first));
  let next = 1;
  async function* inOrder(): AsyncGenerator<Buffer> {
    for (let i = 0; i < count; i++) {
      // While range i is written, at most window - 1 ranges after it are in flight.
      for (; next < count && next <= i + window - 1; next++) {
        const from = next * size;
        const to = Math.min(total, from + size) - 1;
        start(next, get(`bytes=${from}-${to}`, etag).then(collect));
      }
      const buf = await (pending.get(i) as Promise<Buffer>);
      pending.delete(i);
      yield buf;
    }
  }
  return { ...(await hashInto(job.sink, inOrder())), requests: count };
}

const ways: { way: RangedProbeWay; run: () => ReturnType<typeof single> }[] = [
  { way: { way: 'single', window: 1, requests: 1, ms: [], cpuMs: [] }, run: single },
  ...job.windows.map((w) => ({
    way: { way: `ranged x${w}`, window: w, requests: 0, ms: [], cpuMs: [] },
    run: () => ranged(w),
  })),
];

try {
  await mkdir(path.dirname(job.sink), { recursive: true });
  // Warm-up (untimed): as many connections as the widest window, the code paths loaded.
  const widest = Math.max(1, ...job.windows);
  const head = await get(`bytes=0-${job.rangeBytes - 1}`);
  const total = totalOf(head);
  await collect(head);
  await Promise.all(
    Array.from({ length: Math.min(widest, Math.ceil(total / job.rangeBytes)) }, (_, i) =>
      get(
        `bytes=${i * job.rangeBytes}-${Math.min(total, (i + 1) * job.rangeBytes) - 1}`,
        head.ETag,
      ).then(collect),
    ),
  );

  const sums = new Set<string>();
  for (let round = 0; round < job.rounds; round++) {
    for (let i = 0; i < ways.length; i++) {
      const { way, run } = ways[(i + round) % ways.length];
      const t0 = now();
      const cpu = process.cpuUsage();
      const got = await run();
      const used = process.cpuUsage(cpu);
      way.ms.push(now() - t0);
      way.cpuMs.push((used.user + used.system) / 1000);
      way.requests = got.requests;
      const onDisk = statSync(job.sink).size;
      if (got.bytes !== total || onDisk !== total) {
        throw new Error(`${way.way}: ${got.bytes} bytes hashed, ${onDisk} on disk, of ${total}`);
      }
      sums.add(got.sha256);
      if (sums.size > 1) throw new Error(`${way.way}: SHA-256 differs from the other ways`);
      await rm(job.sink, { force: true });
    }
  }
  const [sha256] = sums;
  if (metadataSha256 !== undefined && metadataSha256 !== sha256) {
    throw new Error(`SHA-256 ${sha256} differs from the object's x-amz-meta-sha256`);
  }
  const result: RangedProbeResult = {
    bytes: total,
    rangeBytes: job.rangeBytes,
    rounds: job.rounds,
    ways: ways.map((w) => w.way),
    sha256,
    matchesMetadata: metadataSha256 === sha256,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await rm(job.sink, { force: true });
  client.destroy();
}
