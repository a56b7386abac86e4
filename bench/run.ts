/**
 * `npm run bench`: the module against the raw clients, boto3 and curl on the bench's own Swift
 * s3api server, plus memory, registry tokens and start-up. Prints the report, writes
 * bench/results.json and docs/BENCHMARKS.md (a quick run: bench/quick/).
 *
 * Settings (environment): BENCH_QUICK=1 for a smoke run (1 and 16 MiB, one or two runs, fewer
 * memory figures, no target judged); BENCH_S3_PORT (default 28080; the next four ports too);
 * BENCH_BASE (default /tmp/nest-credentials-bench).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TRANSFER_SETTINGS } from '../src/credentials/config/transfer-settings.js';
import {
  BENCH_BASE,
  BUCKET,
  DATA_DIR,
  ensureDataFile,
  MiB,
  now,
  ROOT,
  S3,
  SINK_DIR,
  SPOOL_DIR,
} from './common.js';
import { adminS3Client, createBucket, hasCurl } from './contenders.js';
import { memoryBench } from './memory.js';
import { writeResults } from './outputs.js';
import { registryBench } from './registry.js';
import { renderText } from './report.js';
import { judge, type Leftovers, memoryFigures, transferFigures } from './results.js';
import { ROWS } from './rows.js';
import { startS3, stopS3, swiftContainerUsage } from './servers.js';
import { startupBench } from './startup.js';
import { transferBench } from './transfer.js';

// The SDK warns on Node < 22 at every client creation; it says nothing about this benchmark.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const QUICK = process.env.BENCH_QUICK === '1';
/**
 * Focus mode for working on one path: BENCH_ROWS=<regex of row ids> (BENCH_SIZES=<MiB,...>,
 * BENCH_RUNS=<n>) runs only those transfer rows, prints their medians and writes nothing.
 */
const FOCUS = process.env.BENCH_ROWS ? new RegExp(process.env.BENCH_ROWS) : undefined;
const started = now();
const log = (line: string) =>
  process.stderr.write(`[bench ${((now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);

const SIZES = (
  process.env.BENCH_SIZES?.split(',').map(Number) ?? (QUICK ? [1, 16] : [1, 64, 512])
).map((m) => m * MiB);
const RUNS = QUICK ? { [MiB]: 2, [16 * MiB]: 1 } : { [MiB]: 41, [64 * MiB]: 7, [512 * MiB]: 5 };
const PLAN = {
  runs: process.env.BENCH_RUNS
    ? Object.fromEntries(SIZES.map((b) => [b, Number(process.env.BENCH_RUNS)]))
    : RUNS,
  memorySizes: SIZES.filter((b) => b > MiB),
  memoryReps: QUICK ? 1 : 3,
  registry: { calls: 10_000, callers: 100, cachedCalls: 10_000, uncachedCalls: 200 },
  startupRuns: QUICK ? 1 : 5,
};

function machine() {
  const pkg = (name: string) =>
    (
      JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  const names = ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'minio', '@nestjs/core'];
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    packages: Object.fromEntries(names.map((n) => [n, pkg(n)])),
  };
}

/** SHA-256 speed of this machine (what the module's hashing and integrity check cost). */
function sha256Speed(): number {
  const data = Buffer.alloc(64 * MiB, 7);
  const t0 = now();
  for (let i = 0; i < 4; i++) createHash('sha256').update(data).digest();
  return (4 * 64) / ((now() - t0) / 1000);
}

function swiftVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/python3', ['-c', 'import swift; print(swift.__version__)']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.trim() || 'unknown'));
    child.on('error', () => resolve('unknown'));
  });
}

/** What is left in Swift and the spool directory, beyond the segments there were `before`. */
async function leftovers(before: { objects: number; bytes: number }): Promise<Leftovers> {
  const segments = await swiftContainerUsage(`${BUCKET}+segments`);
  const bucket = await swiftContainerUsage(BUCKET);
  const spool = await readdir(SPOOL_DIR).catch(() => []);
  return {
    segmentObjects: segments.objects - before.objects,
    segmentMiB: (segments.bytes - before.bytes) / MiB,
    segmentNames: segments.names.slice(0, 10),
    objectsInBucket: bucket.objects,
    spoolFiles: spool.length,
  };
}

async function main(): Promise<void> {
  log(`starting Swift s3api on ${S3.endpoint} (${S3.base})`);
  startS3();
  const admin = adminS3Client();
  try {
    await mkdir(BENCH_BASE, { recursive: true });
    await rm(SPOOL_DIR, { recursive: true, force: true });
    await mkdir(SPOOL_DIR, { recursive: true });
    for (const bytes of SIZES) await ensureDataFile(bytes);
    await createBucket(admin, BUCKET);
    const curl = await hasCurl();
    const rows = ROWS.filter((r) => (curl || r.client !== 'curl') && (FOCUS?.test(r.id) ?? true));
    log(`data files and bucket ready${curl ? '' : '; curl is missing: no limit rows'}`);
    if (FOCUS) {
      const { samples } = await transferBench(admin, { rows, sizes: SIZES, runs: PLAN.runs, log });
      for (const f of transferFigures(samples)) {
        const cpu = `, CPU ${f.cpuPct?.toFixed(0) ?? '?'}% + server ${f.serverCpuPct.toFixed(0)}%`;
        const runs = f.ms.map((ms) => ms.toFixed(0)).join(' ');
        log(`${f.row} ${f.sizeMiB} MiB: ${f.mibps.toFixed(1)} MiB/s${cpu} (ms: ${runs})`);
      }
      return;
    }

    const startup = await startupBench(PLAN.startupRuns);
    log(`start-up: ${PLAN.startupRuns} runs per backend and the loaded-files proof`);
    const registry = await registryBench(PLAN.registry);
    log(`registry: ${registry.ecrApiCalls} ECR call(s) for ${registry.calls} calls`);

    const before = await swiftContainerUsage(`${BUCKET}+segments`);
    const transfer = await transferBench(admin, { rows, sizes: SIZES, runs: PLAN.runs, log });
    const afterTransfer = await leftovers(before);
    // Quick: one memory figure per kind of child (each module row of one backend, a raw client).
    // The controller's PUT is measured with its digest only (the path with a memory target).
    const memoryRows = rows.filter((r) =>
      r.body === 'put'
        ? false
        : QUICK
          ? (r.client === 'module' && r.backend === 'aws') || r.id === 'raw-local-fs-stream'
          : r.client === 'module' || (r.client === 'raw' && r.body !== 'buffer'),
    );
    const memory = await memoryBench(admin, {
      rows: memoryRows,
      sizes: PLAN.memorySizes,
      reps: PLAN.memoryReps,
      log,
    });
    const atEnd = await leftovers(before);

    const figures = transferFigures(transfer.samples);
    const moduleUploads = transfer.samples.filter(
      (s) => s.row.startsWith('module-') && !s.row.endsWith('download'),
    );
    const results = judge({
      meta: {
        measuredAt: new Date().toISOString(),
        command: QUICK ? 'BENCH_QUICK=1 npm run bench' : 'npm run bench',
        quick: QUICK,
        durationS: (now() - started) / 1000,
        machine: { ...machine(), swift: await swiftVersion() },
        boto3: transfer.boto3,
        moduleDefaults: {
          partSizeMiB: DEFAULT_TRANSFER_SETTINGS.partSize / MiB,
          partConcurrency: DEFAULT_TRANSFER_SETTINGS.partConcurrency,
        },
        sha256MiBps: sha256Speed(),
        runs: Object.fromEntries(SIZES.map((b) => [String(b / MiB), PLAN.runs[b]])),
      },
      transfer: figures,
      memory: memoryFigures(memory),
      registry,
      startup,
      leftovers: {
        afterTransfer,
        atEnd,
        moduleUploadsMiB: moduleUploads.reduce((sum, s) => sum + (s.bytes / MiB) * s.ms.length, 0),
      },
    });
    process.stdout.write(renderText(results));
    const out = writeResults(results, QUICK);
    log(`wrote ${path.relative(ROOT, out.json)} and ${path.relative(ROOT, out.markdown)}`);
  } finally {
    admin.destroy();
    stopS3();
    for (const dir of [path.join(S3.base, 'srv'), DATA_DIR, SINK_DIR, SPOOL_DIR]) {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the bench servers`);
    stopS3();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
