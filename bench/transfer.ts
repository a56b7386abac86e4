/**
 * Transfer benchmark (throughput of uploads and downloads, side by side, alternating the
 * contenders, each in a process of its own) and the sweep of the module's part size and
 * concurrency.
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
import type { PrototypeSwitches } from './prototype.js';
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
  /** Time of the module's "record the SHA-256" step (CopyObject onto itself), per upload. */
  recordMs: { backend: Backend; bytes: number; ms: number[] }[];
  /** Time the pre-hash prototype spent reading and hashing the file first, per upload. */
  prehashMs: { backend: Backend; bytes: number; ms: number[] }[];
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
 * size with its SHA-256 as metadata (x-amz-meta-sha256), i.e. the layout a streamed project
 * has when its SHA-256 goes with CreateMultipartUpload, so the module verifies what it reads.
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

/** The prototypes of recommended src changes measured next to the module (uploads only). */
export const PROTOTYPE_VARIANTS: { id: string; label: string; switches: PrototypeSwitches }[] = [
  { id: 'prehash', label: 'pre-hash', switches: { prehash: true } },
  {
    id: 'prehash.pooled',
    label: 'pre-hash + pooled parts',
    switches: { prehash: true, pooledParts: true },
  },
  {
    id: 'all',
    label: 'pre-hash + pooled parts + unsigned payload',
    switches: { prehash: true, pooledParts: true, unsignedPayload: true },
  },
];

export interface TransferPlan {
  sizes: number[];
  runs: Record<number, number>;
  /** Sizes at which the pre-hash prototype is measured too (uploads only). */
  prototypeSizes: number[];
  log: (line: string) => void;
}

interface Entry {
  contender: Contender;
  backend?: Backend;
  module: boolean;
  uploadOnly: boolean;
}

async function nodeContender(
  id: string,
  label: string,
  spec: { kind: 'module' | 'raw'; backend: Backend; prototype?: PrototypeSwitches },
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
    await add({ backend: 'aws', module: true, uploadOnly: false }, () =>
      nodeContender('module-aws', 'module (aws)', { kind: 'module', backend: 'aws' }),
    );
    await add({ module: false, uploadOnly: false }, () =>
      nodeContender('raw-aws', 'lib-storage Upload / GetObject', { kind: 'raw', backend: 'aws' }),
    );
    await add({ backend: 'local', module: true, uploadOnly: false }, () =>
      nodeContender('module-local', 'module (local)', { kind: 'module', backend: 'local' }),
    );
    await add({ module: false, uploadOnly: false }, () =>
      nodeContender('raw-local', 'minio putObject / getObject', { kind: 'raw', backend: 'local' }),
    );
    await add({ module: false, uploadOnly: false }, async () => {
      const boto3 = await boto3Contender();
      boto3Info = boto3.info;
      return boto3;
    });
    for (const backend of BACKENDS) {
      for (const variant of PROTOTYPE_VARIANTS) {
        await add({ backend, module: true, uploadOnly: true }, () =>
          nodeContender(
            `module-${backend}.${variant.id}`,
            `module (${backend}) + ${variant.label}`,
            {
              kind: 'module',
              backend,
              prototype: variant.switches,
            },
          ),
        );
      }
    }

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
    const recordMs: TransferOutcome['recordMs'] = [];
    const prehashMs: TransferOutcome['prehashMs'] = [];

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
      const order = entries.filter((e) => !e.uploadOnly || plan.prototypeSizes.includes(bytes));
      const runs = plan.runs[bytes];
      const started = now();
      const steps = new Map<string, { record: number[]; prehash: number[] }>();
      for (let run = 0; run < runs; run++) {
        // Alternate: each run starts with the next contender. Uploads first, then downloads,
        // so that no download directly follows its own contender's upload (the module's
        // CopyObject leaves the server busier than a plain upload does).
        const rotated = order.map((_, i) => order[(i + run) % order.length]);
        for (const { contender: c } of rotated) {
          const key = `${c.id}-${bytes / MiB}MiB-${run}`;
          const timing = await c.upload(file, key);
          record(c, 'upload', bytes, timing);
          const step = steps.get(c.id) ?? { record: [], prehash: [] };
          step.record.push(...(timing.recordMs ?? []));
          step.prehash.push(...(timing.prehashMs ?? []));
          steps.set(c.id, step);
          await deleteObject(admin, key);
        }
        for (const { contender: c, uploadOnly } of rotated) {
          if (uploadOnly) continue; // the prototypes download through the same code path
          const sink = sinkOf(c.id);
          record(c, 'download', bytes, await c.download(ref, sink));
          const got = statSync(sink).size;
          if (got !== bytes) throw new Error(`${c.id} downloaded ${got} of ${bytes} bytes`);
          await rm(sink, { force: true });
        }
      }
      for (const backend of BACKENDS) {
        recordMs.push({ backend, bytes, ms: steps.get(`module-${backend}`)?.record ?? [] });
        if (plan.prototypeSizes.includes(bytes)) {
          prehashMs.push({
            backend,
            bytes,
            ms: steps.get(`module-${backend}.prehash`)?.prehash ?? [],
          });
        }
      }
      await deleteObject(admin, ref);
      plan.log(
        `transfer ${bytes / MiB} MiB: ${runs} runs x ${order.length} contenders in ` +
          `${((now() - started) / 1000).toFixed(1)} s`,
      );
    }
    return {
      samples: [...samples.values()],
      recordMs,
      prehashMs,
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
  ms: number[];
}

export interface SweepPlan {
  bytes: number;
  partSizes: number[];
  concurrencies: number[];
  reps: number;
  /** Prototypes installed while sweeping (e.g. no CopyObject step, to isolate part settings). */
  prototype: PrototypeSwitches;
  log: (line: string) => void;
}

/**
 * Module uploads of one file for each part size x concurrency, alternating the settings. All
 * settings of one backend live in one worker process (the same conditions for each).
 */
export async function sweepBench(admin: S3Client, plan: SweepPlan): Promise<SweepPoint[]> {
  const file = dataFile(plan.bytes);
  const points: SweepPoint[] = [];
  const started = now();
  for (const backend of BACKENDS) {
    const worker = new TransferWorker(`sweep-${backend}`);
    try {
      const mine: SweepPoint[] = [];
      for (const partSize of plan.partSizes) {
        for (const partConcurrency of plan.concurrencies) {
          mine.push({ backend, partSize, partConcurrency, ms: [] });
        }
      }
      await worker.init(
        mine.map((p, i) => ({
          name: String(i),
          kind: 'module' as const,
          backend,
          options: { partSize: p.partSize, partConcurrency: p.partConcurrency },
          prototype: plan.prototype,
        })),
      );
      // Warm-up of every instance's connections with a small upload.
      for (let i = 0; i < mine.length; i++) {
        await worker.upload(String(i), dataFile(MiB), 'sweep-warm');
      }
      await deleteObject(admin, 'sweep-warm');
      for (let rep = 0; rep < plan.reps; rep++) {
        // Forward on even reps, backward on odd ones, so no setting always follows another.
        const order = rep % 2 === 0 ? [...mine.keys()] : [...mine.keys()].reverse();
        for (const i of order) {
          const key = `sweep-${backend}-${i}-${rep}`;
          mine[i].ms.push((await worker.upload(String(i), file, key)).ms);
          await deleteObject(admin, key);
        }
      }
      points.push(...mine);
    } finally {
      await worker.close();
    }
  }
  plan.log(
    `sweep ${plan.bytes / MiB} MiB: ${points.length} settings x ${plan.reps} in ` +
      `${((now() - started) / 1000).toFixed(1)} s`,
  );
  return points;
}

export const throughputOf = (bytes: number, ms: number[]): number => mibPerS(bytes, median(ms));
