/**
 * Start-up of a Nest application context with the module, in fresh processes
 * (`startup-child.ts`), and the proof of which SDK each backend loads: a separate run with a
 * resolve hook that records every module file loaded (`record-loads.ts`; it slows loading, so it
 * is not timed).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeEcrServer } from '../test/support/fake-ecr-server.js';
import { type Backend, BACKENDS, BENCH_BASE, median } from './common.js';
import { runChild } from './child.js';
import { adminS3Client, deleteObject } from './contenders.js';

export interface StartupFigure {
  backend: Backend;
  runs: number;
  /** From the child's first line to a booted context (imports included), median (ms). */
  bootMs: number;
  /** Spawn to exit, seen from the parent, median (ms). */
  processMs: number;
  /** RSS after boot, median (MiB). */
  rssMiB: number;
  loadedFiles: number;
  awsSdkFiles: number;
  minioFiles: number;
  nestFiles: number;
}

interface StartupResult {
  bootMs: number;
  rssAfterMiB: number;
  loaded?: string[];
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

export async function startupBench(runs: number): Promise<StartupFigure[]> {
  const timings = new Map<Backend, { boot: number[]; wall: number[]; rss: number[] }>(
    BACKENDS.map((b) => [b, { boot: [], wall: [], rss: [] }]),
  );
  for (let run = 0; run < runs; run++) {
    for (const backend of run % 2 === 0 ? BACKENDS : [...BACKENDS].reverse()) {
      const { result, wallMs } = await runChild<StartupResult>('startup-child.js', [backend]);
      const t = timings.get(backend) as { boot: number[]; wall: number[]; rss: number[] };
      t.boot.push(result.bootMs);
      t.wall.push(wallMs);
      t.rss.push(result.rssAfterMiB);
    }
  }
  const figures: StartupFigure[] = [];
  const ecr = await FakeEcrServer.start();
  const admin = adminS3Client();
  try {
    for (const backend of BACKENDS) {
      const logFile = path.join(BENCH_BASE, `loads-${backend}.log`);
      await rm(logFile, { force: true });
      const { result } = await runChild<StartupResult>('startup-child.js', [backend, '--proof'], {
        execArgv: ['--import', path.join(HERE, 'record-loads.js')],
        env: { LOADS_LOG: logFile, BENCH_ECR_ENDPOINT: ecr.url },
      });
      await rm(logFile, { force: true });
      await deleteObject(admin, `startup-proof-${backend}`);
      const loaded = result.loaded ?? [];
      const count = (dir: string) =>
        loaded.filter((f) => f.includes(`/node_modules/${dir}/`)).length;
      const t = timings.get(backend) as { boot: number[]; wall: number[]; rss: number[] };
      figures.push({
        backend,
        runs,
        bootMs: median(t.boot),
        processMs: median(t.wall),
        rssMiB: median(t.rss),
        loadedFiles: loaded.length,
        awsSdkFiles: count('@aws-sdk'),
        minioFiles: count('minio'),
        nestFiles: count('@nestjs'),
      });
    }
  } finally {
    admin.destroy();
    await ecr.close();
  }
  return figures;
}
