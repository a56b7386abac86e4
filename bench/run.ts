/**
 * `npm run bench`: the benchmarks of issue 6, against the bench's own Swift s3api server and a
 * loopback fake ECR server. Prints a table, writes bench/results.json and BENCHMARKS.md.
 *
 * Settings (environment): BENCH_QUICK=1 for a smoke run (fewer runs, smaller sweep, no 512 MiB);
 * BENCH_S3_PORT (default 28080; uses the next four ports too); BENCH_BASE (default
 * /tmp/nest-credentials-bench).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TRANSFER_SETTINGS } from '../src/credentials/config/transfer-settings.js';
import type { CredentialsModuleOptions } from '../src/credentials/index.js';
import { FakeEcrServer } from '../test/support/fake-ecr-server.js';
import {
  type Backend,
  BACKENDS,
  BENCH_BASE,
  BUCKET,
  DATA_DIR,
  dataFile,
  ensureDataFile,
  median,
  MiB,
  now,
  ROOT,
  S3,
  SINK_DIR,
  SPOOL_DIR,
} from './common.js';
import { runChild } from './child.js';
import { adminS3Client, createBucket, deleteObject } from './contenders.js';
import type { MemoryJob, MemoryResult } from './memory-child.js';
import type { ProfileSummary } from './profile-child.js';
import type { RangedProbeJob, RangedProbeResult } from './ranged-probe.js';
import type { SpoolResult } from './spool-child.js';
import { registryBench, type RegistryOutcome } from './registry.js';
import {
  buildResults,
  type Leftovers,
  type RawOutcomes,
  recommendSetting,
  renderMarkdown,
  renderTable,
} from './report.js';
import { startS3, stopS3, swiftContainerUsage } from './servers.js';
import { overwriteCheck, sweepBench, transferBench } from './transfer.js';

// The SDK warns on Node < 22 at every client creation; it says nothing about this benchmark.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const QUICK = process.env.BENCH_QUICK === '1';
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Past these many seconds, later phases cut their repetitions to stay within 10 minutes. */
const LATE_S = { sweep: [270, 320], memory: [380, 430] };
const started = now();
const log = (line: string) =>
  process.stderr.write(`[bench ${((now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);

const SIZES = QUICK ? [1 * MiB, 64 * MiB] : [1 * MiB, 64 * MiB, 512 * MiB];
const PLAN = {
  sizes: SIZES,
  runs: QUICK ? { [MiB]: 3, [64 * MiB]: 2 } : { [MiB]: 41, [64 * MiB]: 7, [512 * MiB]: 5 },
  // The module as it is (the defaults it ships with are chosen for it), each run in a fresh
  // process, so memory is measured per setting too.
  sweep: {
    bytes: QUICK ? 64 * MiB : 128 * MiB,
    partSizes: (QUICK ? [5, 8] : [5, 8, 16]).map((m) => m * MiB),
    concurrencies: QUICK ? [2, 4] : [2, 3, 4],
    reps: QUICK ? 2 : 3,
  },
  /** Fresh processes per memory figure of a module upload at 64 MiB and above (median taken). */
  memoryReps: QUICK ? 1 : 3,
  registry: { calls: 10_000, callers: 100, cachedCalls: 10_000, uncachedCalls: 200 },
  startupRuns: QUICK ? 2 : 5,
  spoolRuns: QUICK ? 2 : 5,
  /** The ranged-download probe, at the largest size (boto3's download_file: 8 MiB ranges). */
  ranged: { rangeBytes: 8 * MiB, windows: [4, 8], rounds: 3 },
};

export interface MemoryRow {
  client: string;
  kind: 'module' | 'raw';
  backend: Backend;
  op: 'upload' | 'download';
  bytes: number;
  /** Not the module with its defaults: other part settings, or a raw client (no target). */
  extra: boolean;
  /** Part settings of a module row. */
  partSize?: number;
  partConcurrency?: number;
  /** One per fresh process (the figure is their median). */
  results: MemoryResult[];
}

interface MemoryPlanItem {
  client: string;
  kind: 'module' | 'raw';
  backend: Backend;
  bytes: number;
  ops: ('upload' | 'download')[];
  options?: CredentialsModuleOptions;
  extra: boolean;
}

type PartSetting = { partSize: number; partConcurrency: number };
const settingLabel = (s: PartSetting) => `${s.partSize / MiB} MiB x ${s.partConcurrency}`;

async function memoryBench(
  admin: ReturnType<typeof adminS3Client>,
  recommended: PartSetting | undefined,
  reps: number,
): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const t0 = now();
  const largest = SIZES[SIZES.length - 1];
  const defaults: PartSetting = DEFAULT_TRANSFER_SETTINGS;
  const same = (a: PartSetting | undefined, b: PartSetting) =>
    a !== undefined && a.partSize === b.partSize && a.partConcurrency === b.partConcurrency;
  const items: MemoryPlanItem[] = [];
  for (const backend of BACKENDS) {
    for (const bytes of SIZES) {
      items.push({
        client: 'module',
        kind: 'module',
        backend,
        bytes,
        ops: ['upload', 'download'],
        extra: false,
      });
    }
  }
  // For comparison (no target): the sweep's recommendation when it is not the default, the raw
  // clients.
  for (const backend of BACKENDS) {
    if (recommended && !same(recommended, defaults)) {
      items.push({
        client: `module, ${settingLabel(recommended)}`,
        kind: 'module',
        backend,
        bytes: largest,
        ops: ['upload'],
        options: {
          partSize: recommended.partSize,
          partConcurrency: recommended.partConcurrency,
        },
        extra: true,
      });
    }
    items.push({
      client: backend === 'aws' ? 'lib-storage / GetObject' : 'minio putObject / getObject',
      kind: 'raw',
      backend,
      bytes: largest,
      ops: ['upload', 'download'],
      extra: true,
    });
  }
  for (const [i, item] of items.entries()) {
    const key = `mem-${i}-${item.backend}-${item.bytes / MiB}MiB`;
    for (const op of item.ops) {
      // Upload peaks depend on when the garbage collector runs: a median of several processes.
      const runs = op === 'upload' && item.bytes >= 64 * MiB && item.kind === 'module' ? reps : 1;
      const row: MemoryRow = {
        client: item.client,
        kind: item.kind,
        backend: item.backend,
        op,
        bytes: item.bytes,
        extra: item.extra,
        partSize:
          item.kind === 'module' ? (item.options?.partSize ?? defaults.partSize) : undefined,
        partConcurrency:
          item.kind === 'module'
            ? (item.options?.partConcurrency ?? defaults.partConcurrency)
            : undefined,
        results: [],
      };
      for (let run = 0; run < runs; run++) {
        const job: MemoryJob = {
          kind: item.kind,
          backend: item.backend,
          options: item.options,
          op,
          key,
          sink: path.join(SINK_DIR, `${key}.download`),
          file: path.join(DATA_DIR, `project-${item.bytes / MiB}MiB.zip`),
        };
        const { result } = await runChild<MemoryResult>('memory-child.js', [JSON.stringify(job)]);
        row.results.push(result);
        // Never overwrite an object: on Swift an overwritten multipart object leaves its
        // segments behind (s3api), which the leftover check would count.
        await deleteObject(admin, `${key}.warm`);
        if (op === 'upload' && run < runs - 1) await deleteObject(admin, key);
      }
      rows.push(row);
    }
    await deleteObject(admin, key);
  }
  log(`memory: ${rows.length} figures in ${((now() - t0) / 1000).toFixed(1)} s`);
  return rows;
}

export interface StartupRow {
  backend: Backend;
  bootMs: number[];
  wallMs: number[];
  rssAfterMiB: number[];
  rssBeforeMiB: number[];
  loadedFiles: number;
  awsSdkFiles: number;
  minioFiles: number;
  nestFiles: number;
}

async function startupBench(): Promise<StartupRow[]> {
  const t0 = now();
  const rows = new Map<Backend, StartupRow>();
  for (const backend of BACKENDS) {
    rows.set(backend, {
      backend,
      bootMs: [],
      wallMs: [],
      rssAfterMiB: [],
      rssBeforeMiB: [],
      loadedFiles: 0,
      awsSdkFiles: 0,
      minioFiles: 0,
      nestFiles: 0,
    });
  }
  interface StartupResult {
    bootMs: number;
    rssBeforeMiB: number;
    rssAfterMiB: number;
    loaded?: string[];
  }
  for (let run = 0; run < PLAN.startupRuns; run++) {
    const order = run % 2 === 0 ? BACKENDS : [...BACKENDS].reverse();
    for (const backend of order) {
      const { result, wallMs } = await runChild<StartupResult>('startup-child.js', [backend]);
      const row = rows.get(backend) as StartupRow;
      row.bootMs.push(result.bootMs);
      row.wallMs.push(wallMs);
      row.rssAfterMiB.push(result.rssAfterMiB);
      row.rssBeforeMiB.push(result.rssBeforeMiB);
    }
  }
  // The proof: a separate run with the resolve hook (which slows loading, so it is not timed).
  const ecr = await FakeEcrServer.start();
  try {
    for (const backend of BACKENDS) {
      const logFile = path.join(BENCH_BASE, `loads-${backend}.log`);
      await rm(logFile, { force: true });
      const { result } = await runChild<StartupResult>('startup-child.js', [backend, '--proof'], {
        execArgv: ['--import', path.join(HERE, 'record-loads.js')],
        env: { LOADS_LOG: logFile, BENCH_ECR_ENDPOINT: ecr.url },
      });
      const loaded = result.loaded ?? [];
      const row = rows.get(backend) as StartupRow;
      row.loadedFiles = loaded.length;
      row.awsSdkFiles = loaded.filter((f) => f.includes('/node_modules/@aws-sdk/')).length;
      row.minioFiles = loaded.filter((f) => f.includes('/node_modules/minio/')).length;
      row.nestFiles = loaded.filter((f) => f.includes('/node_modules/@nestjs/')).length;
      await rm(logFile, { force: true });
      await deleteObject(adminS3Client(), `startup-proof-${backend}`);
    }
  } finally {
    await ecr.close();
  }
  log(
    `start-up: ${PLAN.startupRuns} runs per backend + proof in ${((now() - t0) / 1000).toFixed(1)} s`,
  );
  return [...rows.values()];
}

/** The spool step alone, without a server: src's, and reading and hashing only. */
async function spoolBench(): Promise<SpoolResult> {
  const t0 = now();
  const job = {
    file: dataFile(SIZES[SIZES.length - 1]),
    spoolDir: SPOOL_DIR,
    partSize: DEFAULT_TRANSFER_SETTINGS.partSize,
    runs: PLAN.spoolRuns,
  };
  const { result } = await runChild<SpoolResult>('spool-child.js', [JSON.stringify(job)]);
  log(`spool step: ${PLAN.spoolRuns} rounds in ${((now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

/**
 * One GetObject against parallel ranged GETs of the reference object at the largest size, in
 * a fresh process (`bench/ranged-probe.ts`), while the transfer phase still has the object.
 */
async function rangedProbe(ref: string, bytes: number): Promise<RangedProbeResult> {
  const t0 = now();
  const job: RangedProbeJob = {
    key: ref,
    sink: path.join(SINK_DIR, 'ranged-probe.download'),
    ...PLAN.ranged,
  };
  const { result } = await runChild<RangedProbeResult>('ranged-probe.js', [JSON.stringify(job)]);
  const single = median(result.ways[0]?.ms ?? []);
  log(
    `ranged-download probe ${bytes / MiB} MiB, ${job.rounds} rounds: ` +
      result.ways
        .map(
          (w) => `${w.way} ${median(w.ms).toFixed(0)} ms (${(single / median(w.ms)).toFixed(2)}x)`,
        )
        .join(', ') +
      ` in ${((now() - t0) / 1000).toFixed(1)} s`,
  );
  return result;
}

export interface ProfileRow {
  variant: string;
  summary: ProfileSummary;
}

/** CPU profiles of the module's upload of the largest file, one per backend. */
async function profileBench(admin: ReturnType<typeof adminS3Client>): Promise<ProfileRow[]> {
  const t0 = now();
  const rows: ProfileRow[] = [];
  const bytes = SIZES[SIZES.length - 1];
  for (const backend of BACKENDS) {
    const key = `profile-${backend}`;
    const job = { backend, file: path.join(DATA_DIR, `project-${bytes / MiB}MiB.zip`), key };
    const { result } = await runChild<ProfileSummary>('profile-child.js', [JSON.stringify(job)]);
    rows.push({ variant: 'module', summary: result });
    await deleteObject(admin, key);
    await deleteObject(admin, `${key}.warm`);
  }
  log(`profiles: ${rows.length} uploads in ${((now() - t0) / 1000).toFixed(1)} s`);
  return rows;
}

function machine() {
  const cpus = os.cpus();
  const pkg = (name: string) =>
    (
      JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    packages: {
      '@aws-sdk/client-s3': pkg('@aws-sdk/client-s3'),
      '@aws-sdk/lib-storage': pkg('@aws-sdk/lib-storage'),
      '@aws-sdk/client-ecr': pkg('@aws-sdk/client-ecr'),
      minio: pkg('minio'),
      '@nestjs/core': pkg('@nestjs/core'),
    },
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

/** Spool files the module left in the bench's spoolDir (each upload should remove its own). */
async function spoolFilesLeft(): Promise<number> {
  try {
    return (await readdir(SPOOL_DIR)).length;
  } catch {
    return 0;
  }
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
    await ensureDataFile(PLAN.sweep.bytes);
    await createBucket(admin, BUCKET);
    const segments = `${BUCKET}+segments`;
    log('data files and bucket ready');

    const startup = await startupBench();
    const registry: RegistryOutcome = await registryBench(PLAN.registry);
    log(`registry: ${registry.ecrApiCalls} ECR call(s) for ${registry.calls} calls`);
    const spool = await spoolBench();

    const before = await swiftContainerUsage(segments);
    const leftovers = async (): Promise<Leftovers> => {
      const usage = await swiftContainerUsage(segments);
      const bucket = await swiftContainerUsage(BUCKET);
      return {
        segmentObjects: usage.objects - before.objects,
        segmentBytes: usage.bytes - before.bytes,
        segmentNames: usage.names.filter((n) => !before.names.includes(n)).slice(0, 10),
        objectsInBucket: bucket.objects,
        objectNames: bucket.names.slice(0, 10),
        spoolFiles: await spoolFilesLeft(),
      };
    };
    let ranged: RangedProbeResult | undefined;
    const transfer = await transferBench(admin, {
      sizes: PLAN.sizes,
      runs: PLAN.runs,
      log,
      atLargest: async (bytes, ref) => {
        ranged = await rangedProbe(ref, bytes);
      },
    });
    const afterTransfer = await leftovers();
    log(
      `after the transfer phase: ${afterTransfer.segmentObjects} segment objects, ` +
        `${afterTransfer.spoolFiles} spool files left`,
    );
    const overwrite = await overwriteCheck(
      admin,
      64 * MiB,
      () => swiftContainerUsage(segments),
      log,
    );
    // What the overwrites left is known: the end-of-run check counts everything else.
    const overwritten = await swiftContainerUsage(segments);
    before.objects = overwritten.objects;
    before.bytes = overwritten.bytes;
    before.names = overwritten.names;
    // Keep within the 10-minute budget on a slow day: fewer repetitions when late.
    const elapsed = () => (now() - started) / 1000;
    if (elapsed() > LATE_S.sweep[0]) PLAN.sweep.reps = Math.min(PLAN.sweep.reps, 2);
    if (elapsed() > LATE_S.sweep[1]) PLAN.sweep.reps = 1;
    const sweep = await sweepBench(admin, { ...PLAN.sweep, log });
    const recommended = recommendSetting(sweep, DEFAULT_TRANSFER_SETTINGS);
    if (elapsed() > LATE_S.memory[0]) PLAN.memoryReps = Math.min(PLAN.memoryReps, 2);
    if (elapsed() > LATE_S.memory[1]) PLAN.memoryReps = 1;
    const memory = await memoryBench(admin, recommended, PLAN.memoryReps);
    const profiles = await profileBench(admin);
    const atEnd = await leftovers();

    const raw: RawOutcomes = {
      plan: PLAN,
      sha256MiBps: sha256Speed(),
      machine: { ...machine(), swift: await swiftVersion() },
      durationS: (now() - started) / 1000,
      transfer,
      spool,
      ranged,
      leftovers: { afterTransfer, atEnd },
      overwrite,
      sweep,
      sweepPlan: PLAN.sweep,
      memory,
      profiles,
      registry,
      startup,
      defaults: DEFAULT_TRANSFER_SETTINGS,
      quick: QUICK,
    };
    const results = buildResults(raw);
    process.stdout.write(renderTable(results));
    await writeFile(
      path.join(ROOT, 'bench', 'results.json'),
      JSON.stringify(results, null, 2) + '\n',
    );
    await writeFile(path.join(ROOT, 'BENCHMARKS.md'), renderMarkdown(results));
    await formatMarkdown(path.join(ROOT, 'BENCHMARKS.md'));
    log(`wrote bench/results.json and BENCHMARKS.md; total ${results.meta.duration.value} s`);
  } finally {
    admin.destroy();
    stopS3();
    await rm(path.join(S3.base, 'srv'), { recursive: true, force: true });
    await rm(DATA_DIR, { recursive: true, force: true });
    await rm(SINK_DIR, { recursive: true, force: true });
    await rm(SPOOL_DIR, { recursive: true, force: true });
  }
}

/** BENCHMARKS.md is checked by `prettier --check .` (npm test): write it formatted. */
function formatMarkdown(file: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', file], {
      stdio: 'ignore',
    });
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });
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
