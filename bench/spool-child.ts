/**
 * The spool step on its own, in a fresh process and without a server: a stream of `file` (64
 * KiB chunks of a file in the page cache, as the transfer contenders read it) spooled to a
 * temporary file in `spoolDir`, two ways, alternated over `runs` rounds:
 *
 * - `src`: src's `prepareProjectBody` (project/project-body.ts), then `discard()`;
 * - `hash`: reading and hashing the stream without writing it (the floor of any design that
 *   must know the SHA-256 before the upload starts).
 *
 * Also counts the garbage collections, by kind, that start within each timed run
 * (`bench/gc.ts`), to compare with the spool step inside the transfer workers (`bench/steps.ts`).
 *
 * Prints one JSON line: { bytes, src: ms[], hash: ms[], removeMs: ms[], gc: { src, hash } }.
 * argv: JSON { file, spoolDir, partSize, runs }
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { prepareProjectBody } from '../src/credentials/project/project-body.js';
import { now } from './common.js';
import { type GcCounts, gcIn, recordGc, settleGc } from './gc.js';

export interface SpoolResult {
  bytes: number;
  src: number[];
  hash: number[];
  /** Removing src's spool file (`discard()`), per run. */
  removeMs: number[];
  /** Garbage collections within each run of each way (same order as src / hash). */
  gc?: { src: GcCounts[]; hash: GcCounts[] };
}

const job = JSON.parse(process.argv[2]) as {
  file: string;
  spoolDir: string;
  partSize: number;
  runs: number;
};
const limits = {
  maxProjectSize: 5 * 1024 ** 3,
  wholeBodyLimit: job.partSize,
  spoolDir: job.spoolDir,
};
const result: SpoolResult = {
  bytes: statSync(job.file).size,
  src: [],
  hash: [],
  removeMs: [],
};

/** Each timed run's window, for the GC counts at the end. */
const windows: Record<'src' | 'hash', [number, number][]> = { src: [], hash: [] };
const ways: Record<'src' | 'hash', () => Promise<void>> = {
  async src() {
    const t0 = now();
    const body = await prepareProjectBody(createReadStream(job.file), limits);
    const t1 = now();
    result.src.push(t1 - t0);
    windows.src.push([t0, t1]);
    if (body.kind !== 'spooled') throw new Error('expected a spooled body');
    const t2 = now();
    await body.discard();
    result.removeMs.push(now() - t2);
  },
  async hash() {
    const t0 = now();
    const hash = createHash('sha256');
    // As the spool reads: chunk by chunk from the stream's iterator, hashed on the way.
    for await (const chunk of createReadStream(job.file)) hash.update(chunk as Buffer);
    hash.digest('hex');
    const t1 = now();
    result.hash.push(t1 - t0);
    windows.hash.push([t0, t1]);
  },
};

const order = ['src', 'hash'] as const;
recordGc();
await ways.hash(); // warm-up: the file into the page cache, the code paths loaded
result.hash.length = 0;
windows.hash.length = 0;
for (let run = 0; run < job.runs; run++) {
  // Each round starts with the next way.
  for (let i = 0; i < order.length; i++) await ways[order[(i + run) % order.length]]();
}
await settleGc();
result.gc = {
  src: windows.src.map(([from, to]) => gcIn(from, to)),
  hash: windows.hash.map(([from, to]) => gcIn(from, to)),
};
process.stdout.write(JSON.stringify(result) + '\n');
