/**
 * The transfer phase: every contender row uploads and downloads each size, side by side in one
 * run, the rows alternated (each run starts with the next one), each Node row in a worker process
 * of its own, boto3 in its Python process, curl as a process per transfer.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DEFAULT_TRANSFER_SETTINGS } from '../src/credentials/config/transfer-settings.js';
import { BUCKET, dataFile, MiB, now, SINK_DIR } from './common.js';
import { boto3Host, type Boto3Info, curlHost, deleteObject, type Host } from './contenders.js';
import type { ContenderRow } from './rows.js';
import { serverCpuMs } from './servers.js';
import { WorkerHost } from './worker-client.js';

/** Every run of one row at one size. */
export interface TransferSamples {
  row: string;
  bytes: number;
  ms: number[];
  /** CPU time of the row's process per transfer (not measured for curl). */
  cpuMs: number[];
  /** CPU time of the Swift server's processes per transfer. */
  serverCpuMs: number[];
}

export interface TransferPlan {
  rows: ContenderRow[];
  sizes: number[];
  runs: Record<number, number>;
  log: (line: string) => void;
}

const sinkOf = (id: string) => path.join(SINK_DIR, `${id}.download`);

/**
 * The object every row downloads: a multipart upload in the module's part size with its SHA-256
 * as metadata (x-amz-meta-sha256), the layout of a project uploaded by the module, which it
 * verifies as it reads.
 */
export async function putReference(admin: S3Client, file: string, key: string): Promise<void> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  await new Upload({
    client: admin,
    partSize: DEFAULT_TRANSFER_SETTINGS.partSize,
    params: {
      Bucket: BUCKET,
      Key: key,
      Body: createReadStream(file),
      ContentType: 'application/zip',
      Metadata: { sha256: hash.digest('hex') },
    },
  }).done();
}

/** One host per Node process group, one for boto3, one for curl. */
async function startHosts(
  rows: ContenderRow[],
): Promise<{ hostOf: Map<string, Host>; boto3?: Boto3Info }> {
  const hostOf = new Map<string, Host>();
  const byKey = new Map<string, Host>();
  let boto3: Boto3Info | undefined;
  for (const row of rows) {
    const key = row.process ?? row.client;
    if (!byKey.has(key)) {
      if (row.client === 'boto3') {
        const host = await boto3Host();
        boto3 = host.info;
        byKey.set(key, host);
      } else if (row.client === 'curl') byKey.set(key, curlHost());
      else byKey.set(key, new WorkerHost(key));
    }
    hostOf.set(row.id, byKey.get(key) as Host);
  }
  return { hostOf, boto3 };
}

export async function transferBench(
  admin: S3Client,
  plan: TransferPlan,
): Promise<{ samples: TransferSamples[]; boto3?: Boto3Info }> {
  await mkdir(SINK_DIR, { recursive: true });
  const { hostOf, boto3 } = await startHosts(plan.rows);
  const samples = new Map<string, TransferSamples>();
  const record = (
    row: ContenderRow,
    bytes: number,
    t: { ms: number; cpuMs?: number; serverCpuMs: number },
  ) => {
    const id = `${row.id}|${bytes}`;
    const entry = samples.get(id) ?? { row: row.id, bytes, ms: [], cpuMs: [], serverCpuMs: [] };
    samples.set(id, entry);
    entry.ms.push(t.ms);
    entry.serverCpuMs.push(t.serverCpuMs);
    if (t.cpuMs !== undefined) entry.cpuMs.push(t.cpuMs);
  };
  const uploads = plan.rows.filter((r) => r.direction === 'upload');
  const downloads = plan.rows.filter((r) => r.direction === 'download');
  const run = async (row: ContenderRow, file: string, key: string) => {
    const server = serverCpuMs();
    const timed = await (hostOf.get(row.id) as Host).run(row, { file, key, sink: sinkOf(row.id) });
    return { ...timed, serverCpuMs: serverCpuMs() - server };
  };
  try {
    // Warm-up (untimed): connections, lazily loaded code, the Buffer rows' first read.
    const warm = dataFile(plan.sizes[0]);
    await putReference(admin, warm, 'warm-ref');
    for (const row of uploads) {
      await run(row, warm, `warm-${row.id}`);
      await deleteObject(admin, `warm-${row.id}`);
    }
    for (const row of downloads) await run(row, warm, 'warm-ref');
    await deleteObject(admin, 'warm-ref');

    for (const bytes of plan.sizes) {
      const file = dataFile(bytes);
      const ref = `ref-${bytes / MiB}MiB`;
      await putReference(admin, file, ref);
      const started = now();
      for (let i = 0; i < plan.runs[bytes]; i++) {
        // Uploads first, then downloads, so that no download directly follows an upload of its
        // own process (a server still busy with the writes would slow it down).
        for (const row of uploads.map((_, j) => uploads[(i + j) % uploads.length])) {
          const key = `${row.id}-${bytes / MiB}MiB-${i}`;
          record(row, bytes, await run(row, file, key));
          await deleteObject(admin, key);
        }
        for (const row of downloads.map((_, j) => downloads[(i + j) % downloads.length])) {
          record(row, bytes, await run(row, file, ref));
          const got = statSync(sinkOf(row.id)).size;
          if (got !== bytes) throw new Error(`${row.id} downloaded ${got} of ${bytes} bytes`);
          await rm(sinkOf(row.id), { force: true });
        }
      }
      plan.log(
        `transfer ${bytes / MiB} MiB: ${plan.runs[bytes]} runs x ${plan.rows.length} rows in ` +
          `${((now() - started) / 1000).toFixed(1)} s`,
      );
      await deleteObject(admin, ref);
    }
    return { samples: [...samples.values()], boto3 };
  } finally {
    for (const host of new Set(hostOf.values())) await host.close();
    await rm(SINK_DIR, { recursive: true, force: true });
  }
}
