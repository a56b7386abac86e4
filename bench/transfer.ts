/**
 * Transfer benchmark (throughput of uploads and downloads, side by side, alternating the
 * contenders, each in a process of its own) and the sweep of the module's part size and
 * concurrency (throughput and memory of each setting).
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DEFAULT_TRANSFER_SETTINGS } from '../src/credentials/config/transfer-settings.js';
import {
  type Backend,
  BACKENDS,
  BUCKET,
  dataFile,
  median,
  mibPerS,
  MiB,
  now,
  SINK_DIR,
} from './common.js';
import {
  boto3Contender,
  type Boto3Info,
  type Contender,
  deleteObject,
  type Timing,
} from './contenders.js';
import { runChild } from './child.js';
import type { GcCounts } from './gc.js';
import type { MemoryJob, MemoryResult } from './memory-child.js';
import { TransferWorker } from './worker-client.js';

export interface Samples {
  contender: string;
  label: string;
  direction: 'upload' | 'download';
  bytes: number;
  ms: number[];
  /** CPU time of the contender's process per transfer (ms). */
  cpuMs: number[];
}

export interface TransferOutcome {
  samples: Samples[];
  /**
   * The two steps of each streamed upload of a module contender: spool (source -> spool file,
   * hashed) and send (spool file -> multipart upload).
   */
  steps: {
    contender: string;
    bytes: number;
    spoolMs: number[];
    sendMs: number[];
    /** Garbage collections within each spool step (same order as spoolMs). */
    spoolGc: GcCounts[];
  }[];
  boto3: Boto3Info;
  runs: Record<number, number>;
}

const sinkOf = (id: string) => path.join(SINK_DIR, `${id}.download`);

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The object every contender downloads: written as a multipart upload in the module's part
 * size with its SHA-256 as metadata (x-amz-meta-sha256), the layout of a streamed project
 * uploaded by the module, so the module verifies what it reads.
 */
async function putReference(admin: S3Client, file: string, key: string): Promise<void> {
  const sha256 = await sha256OfFile(file);
  await new Upload({
    client: admin,
    partSize: DEFAULT_TRANSFER_SETTINGS.partSize,
    params: {
      Bucket: BUCKET,
      Key: key,
      Body: createReadStream(file),
      ContentType: 'application/zip',
      Metadata: { sha256 },
    },
  }).done();
}

export interface TransferPlan {
  sizes: number[];
  runs: Record<number, number>;
  log: (line: string) => void;
  /**
   * Run at the largest size once its transfer runs are done, on its reference object `ref`
   * (still there; deleted afterwards): the ranged-download probe.
   */
  atLargest?: (bytes: number, ref: string) => Promise<void>;
}

interface Entry {
  contender: Contender;
  backend?: Backend;
  module: boolean;
}

async function nodeContender(
  id: string,
  label: string,
  spec: { kind: 'module' | 'raw'; backend: Backend },
): Promise<Contender> {
  const worker = new TransferWorker(id);
  try {
    await worker.init([{ name: id, ...spec }]);
  } catch (err) {
    await worker.close();
    throw err;
  }
  return worker.contender(id, id, label);
}

export async function transferBench(admin: S3Client, plan: TransferPlan): Promise<TransferOutcome> {
  await mkdir(SINK_DIR, { recursive: true });
  const entries: Entry[] = [];
  let boto3Info: Boto3Info | undefined;
  try {
    const add = async (entry: Omit<Entry, 'contender'>, make: () => Promise<Contender>) =>
      entries.push({ ...entry, contender: await make() });
    await add({ backend: 'aws', module: true }, () =>
      nodeContender('module-aws', 'module (aws)', { kind: 'module', backend: 'aws' }),
    );
    await add({ module: false }, () =>
      nodeContender('raw-aws', 'lib-storage Upload / GetObject', { kind: 'raw', backend: 'aws' }),
    );
    await add({ backend: 'local', module: true }, () =>
      nodeContender('module-local', 'module (local)', { kind: 'module', backend: 'local' }),
    );
    await add({ module: false }, () =>
      nodeContender('raw-local', 'minio putObject / getObject', { kind: 'raw', backend: 'local' }),
    );
    await add({ module: false }, async () => {
      const boto3 = await boto3Contender();
      boto3Info = boto3.info;
      return boto3;
    });

    const samples = new Map<string, Samples>();
    const record = (c: Contender, direction: Samples['direction'], bytes: number, t: Timing) => {
      const id = `${c.id}|${direction}|${bytes}`;
      let entry = samples.get(id);
      if (!entry) {
        entry = { contender: c.id, label: c.label, direction, bytes, ms: [], cpuMs: [] };
        samples.set(id, entry);
      }
      entry.ms.push(t.ms);
      if (t.cpuMs !== undefined) entry.cpuMs.push(t.cpuMs);
    };
    const steps: TransferOutcome['steps'] = [];

    // Warm-up (untimed): connections, lazily loaded code, the boto3 worker's imports.
    const warm = dataFile(plan.sizes[0]);
    await putReference(admin, warm, 'warm-ref');
    for (const { contender: c } of entries) {
      await c.upload(warm, `warm-${c.id}`);
      await deleteObject(admin, `warm-${c.id}`);
      await c.download('warm-ref', sinkOf(c.id));
    }
    await deleteObject(admin, 'warm-ref');

    for (const bytes of plan.sizes) {
      const file = dataFile(bytes);
      const ref = `ref-${bytes / MiB}MiB`;
      await putReference(admin, file, ref);
      const runs = plan.runs[bytes];
      const started = now();
      const stepsOf = new Map<
        string,
        { spoolMs: number[]; sendMs: number[]; spoolGc: GcCounts[] }
      >();
      for (let run = 0; run < runs; run++) {
        // Alternate: each run starts with the next contender. Uploads first, then downloads,
        // so that no download directly follows its own contender's upload (a server still
        // busy with the writes of an upload would slow the download down).
        const rotated = entries.map((_, i) => entries[(i + run) % entries.length]);
        for (const { contender: c } of rotated) {
          const key = `${c.id}-${bytes / MiB}MiB-${run}`;
          const timing = await c.upload(file, key);
          record(c, 'upload', bytes, timing);
          if (timing.spoolMs?.length) {
            const step = stepsOf.get(c.id) ?? { spoolMs: [], sendMs: [], spoolGc: [] };
            step.spoolMs.push(...timing.spoolMs);
            step.sendMs.push(...(timing.sendMs ?? []));
            step.spoolGc.push(...(timing.spoolGc ?? []));
            stepsOf.set(c.id, step);
          }
          await deleteObject(admin, key);
        }
        for (const { contender: c } of rotated) {
          const sink = sinkOf(c.id);
          record(c, 'download', bytes, await c.download(ref, sink));
          const got = statSync(sink).size;
          if (got !== bytes) throw new Error(`${c.id} downloaded ${got} of ${bytes} bytes`);
          await rm(sink, { force: true });
        }
      }
      for (const [contender, step] of stepsOf) steps.push({ contender, bytes, ...step });
      plan.log(
        `transfer ${bytes / MiB} MiB: ${runs} runs x ${entries.length} contenders in ` +
          `${((now() - started) / 1000).toFixed(1)} s`,
      );
      if (bytes === plan.sizes[plan.sizes.length - 1]) await plan.atLargest?.(bytes, ref);
      await deleteObject(admin, ref);
    }
    return {
      samples: [...samples.values()],
      steps,
      boto3: boto3Info as Boto3Info,
      runs: plan.runs,
    };
  } finally {
    for (const { contender } of entries) await contender.close();
    await rm(SINK_DIR, { recursive: true, force: true });
  }
}

export interface SweepPoint {
  backend: Backend;
  partSize: number;
  partConcurrency: number;
  /** Whole upload (ms), per run. */
  ms: number[];
  /** Its send step, the multipart upload from the spool file (ms), per run. */
  sendMs: number[];
  /** Peak RSS growth of the upload (MiB), per run. */
  growthMiB: number[];
}

export interface SweepPlan {
  bytes: number;
  partSizes: number[];
  concurrencies: number[];
  reps: number;
  log: (line: string) => void;
}

/**
 * Module uploads of one file for each part size x concurrency, each in a fresh process
 * (`memory-child.js`: boot, warm-up, then the upload, timed, its steps timed and its RSS
 * sampled), so that each setting's memory is its own. Settings alternate: each run starts
 * elsewhere in the list and goes the other way round, the two backends taking turns.
 */
export async function sweepBench(admin: S3Client, plan: SweepPlan): Promise<SweepPoint[]> {
  const file = dataFile(plan.bytes);
  const points: SweepPoint[] = [];
  for (const partSize of plan.partSizes) {
    for (const partConcurrency of plan.concurrencies) {
      for (const backend of BACKENDS) {
        points.push({ backend, partSize, partConcurrency, ms: [], sendMs: [], growthMiB: [] });
      }
    }
  }
  const started = now();
  for (let rep = 0; rep < plan.reps; rep++) {
    // Each run starts a third of the way further and runs the other way round, so that a slow
    // spell of the machine does not always fall on the same settings.
    const start = Math.floor((rep * points.length) / Math.max(plan.reps, 2));
    const rotated = points.map((_, i) => (start + i) % points.length);
    const order = rep % 2 === 0 ? rotated : rotated.reverse();
    for (const i of order) {
      const point = points[i];
      const key = `sweep-${i}-${rep}`;
      const job: MemoryJob = {
        kind: 'module',
        backend: point.backend,
        options: { partSize: point.partSize, partConcurrency: point.partConcurrency },
        op: 'upload',
        key,
        sink: path.join(SINK_DIR, `${key}.download`),
        file,
      };
      const { result } = await runChild<MemoryResult>('memory-child.js', [JSON.stringify(job)]);
      point.ms.push(result.ms);
      point.sendMs.push(result.sendMs ?? Number.NaN);
      point.growthMiB.push(result.growthMiB);
      await deleteObject(admin, key);
      await deleteObject(admin, `${key}.warm`);
    }
  }
  plan.log(
    `sweep ${plan.bytes / MiB} MiB: ${points.length / BACKENDS.length} settings x ` +
      `${BACKENDS.length} backends x ${plan.reps} in ${((now() - started) / 1000).toFixed(1)} s`,
  );
  return points;
}

export const throughputOf = (bytes: number, ms: number[]): number => mibPerS(bytes, median(ms));

export interface OverwriteOutcome {
  contender: string;
  label: string;
  segmentObjects: number;
  segmentBytes: number;
}

/**
 * What a re-upload under the same name leaves on Swift: each contender uploads `bytes` twice to
 * one key, then the key is deleted, and the segments left in `<bucket>+segments` are counted.
 */
export async function overwriteCheck(
  admin: S3Client,
  bytes: number,
  segments: () => Promise<{ objects: number; bytes: number }>,
  log: (line: string) => void,
): Promise<OverwriteOutcome[]> {
  const started = now();
  const worker = new TransferWorker('overwrite');
  const specs = [
    { id: 'module-aws', label: 'module (aws)', kind: 'module' as const, backend: 'aws' as const },
    {
      id: 'module-local',
      label: 'module (local)',
      kind: 'module' as const,
      backend: 'local' as const,
    },
    {
      id: 'raw-aws',
      label: 'lib-storage Upload',
      kind: 'raw' as const,
      backend: 'aws' as const,
    },
  ];
  const outcomes: OverwriteOutcome[] = [];
  try {
    await worker.init(specs.map((s) => ({ name: s.id, kind: s.kind, backend: s.backend })));
    for (const spec of specs) {
      const before = await segments();
      const key = `overwrite-${spec.id}`;
      await worker.upload(spec.id, dataFile(bytes), key);
      await worker.upload(spec.id, dataFile(bytes), key);
      await deleteObject(admin, key);
      const after = await segments();
      outcomes.push({
        contender: spec.id,
        label: spec.label,
        segmentObjects: after.objects - before.objects,
        segmentBytes: after.bytes - before.bytes,
      });
    }
  } finally {
    await worker.close();
  }
  log(`overwrite check in ${((now() - started) / 1000).toFixed(1)} s`);
  return outcomes;
}
