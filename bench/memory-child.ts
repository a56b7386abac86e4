/**
 * One memory measurement in a fresh process, so peaks of different runs never mix: boots the
 * module (or a raw client), warms it up with a small round trip, takes the RSS as the baseline,
 * then uploads a file (from a read stream) or downloads an object (into a file) while sampling
 * RSS every 20 ms. Prints one JSON line:
 *   { baselineMiB, sampledPeakMiB, maxRssMiB, growthMiB, ms, spoolMs?, sendMs? }
 * growthMiB = peak - baseline, where the peak is the highest sample, or the kernel's maxRSS
 * high-water mark when that rose during the transfer (a peak between two samples); a maxRSS
 * reached earlier (boot, warm-up) is not the transfer's. spoolMs / sendMs: the two steps of a
 * streamed module upload (bench/steps.ts).
 *
 * Also the sweep's child: one module upload with given part settings, timed and measured.
 *
 * argv: JSON MemoryJob { kind: 'module' | 'raw', options?, backend, op, file, key, sink }
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CredentialsModuleOptions } from '../src/credentials/index.js';
import { type Backend, dataFile, maxRssMiB, MiB, now } from './common.js';
import {
  type Contender,
  moduleContender,
  rawAwsContender,
  rawMinioContender,
} from './contenders.js';
import { instrumentSteps, resetStepTimes, stepTimes } from './steps.js';

export interface MemoryJob {
  kind: 'module' | 'raw';
  /** Module options (partSize, partConcurrency); default: none, the module's defaults. */
  options?: CredentialsModuleOptions;
  backend: Backend;
  op: 'upload' | 'download';
  file: string;
  key: string;
  sink: string;
}

export interface MemoryResult {
  baselineMiB: number;
  sampledPeakMiB: number;
  maxRssMiB: number;
  growthMiB: number;
  ms: number;
  spoolMs?: number;
  sendMs?: number;
  /** Highest RSS sample during the spool step / the send step, minus the baseline (MiB). */
  spoolPeakMiB?: number;
  sendPeakMiB?: number;
  /** Highest growth of Buffer memory (`process.memoryUsage().arrayBuffers`) over the baseline. */
  arrayBuffersPeakMiB: number;
}

const job = JSON.parse(process.argv[2]) as MemoryJob;
let contender: Contender | undefined;
try {
  await mkdir(path.dirname(job.sink), { recursive: true });
  instrumentSteps();
  contender =
    job.kind === 'module'
      ? await moduleContender(job.backend, job.options)
      : job.backend === 'aws'
        ? rawAwsContender()
        : rawMinioContender();
  // Warm-up: a small round trip loads the code paths and opens the connections.
  const warmKey = `${job.key}.warm`;
  await contender.upload(dataFile(MiB), warmKey);
  await contender.download(warmKey, job.sink);
  await rm(job.sink, { force: true });
  await sleep(200);
  resetStepTimes();
  const base = process.memoryUsage();
  const baselineMiB = base.rss / MiB;
  const maxBefore = maxRssMiB();
  const samples: { t: number; rss: number; arrayBuffers: number }[] = [];
  const started = now();
  const sample = () => {
    const { rss, arrayBuffers } = process.memoryUsage();
    samples.push({ t: now() - started, rss: rss / MiB, arrayBuffers: arrayBuffers / MiB });
  };
  const timer = setInterval(sample, 20);
  if (job.op === 'upload') await contender.upload(job.file, job.key);
  else await contender.download(job.key, job.sink);
  const ms = now() - started;
  clearInterval(timer);
  sample();
  const maxRss = maxRssMiB();
  await rm(job.sink, { force: true });
  const peakOf = (from: number, to: number) =>
    Math.max(...samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.rss)) - baselineMiB;
  const sampledPeakMiB = Math.max(...samples.map((s) => s.rss));
  const peak = maxRss > maxBefore ? Math.max(sampledPeakMiB, maxRss) : sampledPeakMiB;
  const spoolMs = stepTimes.spoolMs[0];
  const result: MemoryResult = {
    baselineMiB,
    sampledPeakMiB,
    maxRssMiB: maxRss,
    growthMiB: peak - baselineMiB,
    ms,
    spoolMs,
    sendMs: stepTimes.sendMs[0],
    spoolPeakMiB: spoolMs === undefined ? undefined : peakOf(0, spoolMs),
    sendPeakMiB: spoolMs === undefined ? undefined : peakOf(spoolMs, Infinity),
    arrayBuffersPeakMiB: Math.max(...samples.map((s) => s.arrayBuffers)) - base.arrayBuffers / MiB,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await contender?.close();
}
