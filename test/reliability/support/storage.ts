/**
 * What the reliability specs check on the S3 test server behind the library's back, with a
 * plain S3 client that talks to it directly (never through the fault proxy).
 */
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { sha256Of } from '../../support/backends.js';
import { createTestS3Client, listIncompleteUploads } from '../../support/test-servers.js';
import type { Trial } from './results.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const s3 = createTestS3Client();

export interface ObjectInfo {
  size: number;
  etag: string | undefined;
  sha256: string | undefined;
}

/** HeadObject: what any S3 client would see at `key`, or `undefined` for a 404. */
export async function headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: head.ContentLength ?? -1, etag: head.ETag, sha256: head.Metadata?.sha256 };
  } catch (err) {
    if ((err as Error).name === 'NotFound') return undefined;
    throw err;
  }
}

/** The bytes at `key`, or `undefined` for a 404. */
export async function readObject(bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/**
 * No partial object: `key` is absent (`previous` undefined) or still holds `previous` whole,
 * with its SHA-256 recorded. Anything else is a loss.
 */
export async function expectNoPartialObject(
  t: Trial,
  bucket: string,
  key: string,
  previous?: Buffer,
): Promise<void> {
  const head = await headObject(bucket, key);
  if (previous === undefined) {
    t.expectKept(head === undefined, `a partial object of ${head?.size} bytes is visible`);
    return;
  }
  if (head === undefined) {
    t.lose('the previous complete version is gone');
    return;
  }
  const bytes = await readObject(bucket, key);
  t.expectKept(
    bytes !== undefined && bytes.equals(previous),
    `the previous version was replaced by ${bytes?.length} other bytes`,
  );
  t.expectKept(
    head.sha256 === sha256Of(previous),
    'the SHA-256 recorded on the previous version changed',
  );
}

/**
 * No multipart upload left in `bucket`: each one left is a loss (storage kept garbage). Waits up
 * to `graceMs` for a library that aborts in the background; then aborts what is left, so the
 * next case starts clean.
 */
export async function expectNoIncompleteUploads(
  t: Trial,
  bucket: string,
  graceMs = 0,
): Promise<void> {
  const giveUpAt = Date.now() + graceMs;
  let uploads = await listIncompleteUploads(bucket);
  while (uploads.length > 0 && Date.now() < giveUpAt) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    uploads = await listIncompleteUploads(bucket);
  }
  t.metric('incomplete uploads left', uploads.length);
  if (uploads.length === 0) return;
  t.lose(
    `${uploads.length} incomplete multipart upload(s) left (${uploads.map((u) => u.Key).join(', ')})`,
  );
  for (const upload of uploads) {
    await s3.send(
      new AbortMultipartUploadCommand({
        Bucket: bucket,
        Key: upload.Key,
        UploadId: upload.UploadId,
      }),
    );
  }
}

/** Milliseconds the event loop takes to come back to a callback queued now. */
export async function eventLoopLag(): Promise<number> {
  const started = performance.now();
  await tick();
  return performance.now() - started;
}

/**
 * The process is healthy: the event loop answers within 250 ms (nothing spins or blocks; the
 * margin is for a busy 2-core machine running the servers too) and the heap is far from its
 * limit.
 */
export async function expectHealthy(): Promise<void> {
  const lags: number[] = [];
  for (let i = 0; i < 5; i++) lags.push(await eventLoopLag());
  const worst = Math.max(...lags);
  if (worst > 250) throw new Error(`the event loop took ${worst.toFixed(0)} ms to answer`);
  const { heapUsed } = process.memoryUsage();
  if (heapUsed > 1.5 * 1024 * MiB) {
    throw new Error(`the heap holds ${(heapUsed / MiB).toFixed(0)} MiB`);
  }
}

/** `size` bytes starting with a ZIP local file header, the rest random. */
export function randomZip(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  randomFillSync(data);
  Buffer.from([0x50, 0x4b, 0x03, 0x04]).copy(data);
  return data;
}

/**
 * A stream of `data` in 1 MiB chunks that calls `onBytes(sent)` as it is read: a source that lets
 * a test act once the upload has pulled a given amount.
 */
export function observedStream(data: Buffer, onBytes: (sent: number) => void): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const chunk = data.subarray(offset, offset + MiB);
      offset += chunk.length;
      this.push(chunk);
      onBytes(offset);
    },
  });
}

let gcFunction: (() => void) | undefined;

/**
 * A full garbage collection. Jest's sandbox does not expose `gc` even with `--expose-gc`, so it
 * is taken from a fresh V8 context after turning the flag on (it then works without the flag).
 */
export function collectGarbage(): void {
  if (!gcFunction) {
    const fromGlobal = (globalThis as { gc?: () => void }).gc;
    if (typeof fromGlobal === 'function') {
      gcFunction = fromGlobal;
    } else {
      setFlagsFromString('--expose-gc');
      gcFunction = runInNewContext('gc') as () => void;
    }
  }
  gcFunction();
}

/** Heap and RSS after two full collections, in bytes. */
export async function settledMemory(): Promise<{ heapUsed: number; rss: number }> {
  for (let i = 0; i < 2; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}
