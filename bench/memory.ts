/** The memory phase: each module row's peak RSS growth per size, and the raw clients' for scale. */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { dataFile, MiB, now, SINK_DIR } from './common.js';
import { runChild } from './child.js';
import { deleteObject } from './contenders.js';
import type { MemoryJob, MemoryResult } from './memory-child.js';
import type { ContenderRow } from './rows.js';
import { putReference } from './transfer.js';

/** Fresh processes per row and size (their median is the figure). */
export interface MemorySamples {
  row: string;
  bytes: number;
  baselineMiB: number[];
  growthMiB: number[];
}

export interface MemoryPlan {
  /** Module rows: at each size; raw rows: at the largest only. */
  rows: ContenderRow[];
  sizes: number[];
  /** Fresh processes per module upload figure (upload peaks depend on when the GC runs). */
  reps: number;
  log: (line: string) => void;
}

export async function memoryBench(admin: S3Client, plan: MemoryPlan): Promise<MemorySamples[]> {
  const started = now();
  const largest = plan.sizes[plan.sizes.length - 1];
  const out: MemorySamples[] = [];
  await putReference(admin, dataFile(MiB), 'mem-warm-ref');
  for (const bytes of plan.sizes) {
    const ref = `mem-ref-${bytes / MiB}MiB`;
    await putReference(admin, dataFile(bytes), ref);
    for (const row of plan.rows.filter((r) => r.client === 'module' || bytes === largest)) {
      const entry: MemorySamples = { row: row.id, bytes, baselineMiB: [], growthMiB: [] };
      const reps = row.client === 'module' && row.direction === 'upload' ? plan.reps : 1;
      for (let rep = 0; rep < reps; rep++) {
        const upload = row.direction === 'upload';
        const key = upload ? `mem-${row.id}-${bytes / MiB}MiB-${rep}` : ref;
        const job: MemoryJob = {
          row: row.id,
          file: dataFile(bytes),
          key,
          sink: path.join(SINK_DIR, `${row.id}.download`),
          warmRef: 'mem-warm-ref',
        };
        const { result } = await runChild<MemoryResult>('memory-child.js', [JSON.stringify(job)]);
        entry.baselineMiB.push(result.baselineMiB);
        entry.growthMiB.push(result.growthMiB);
        // Never overwrite an object: on Swift an overwritten multipart object leaves segments.
        if (upload) {
          await deleteObject(admin, key);
          await deleteObject(admin, `${key}.warm`);
        }
      }
      out.push(entry);
    }
    await deleteObject(admin, ref);
  }
  await deleteObject(admin, 'mem-warm-ref');
  plan.log(`memory: ${out.length} figures in ${((now() - started) / 1000).toFixed(1)} s`);
  return out;
}
