/**
 * One memory measurement in a fresh process, so peaks of different sizes never mix:
 * boots the module (or a raw client), warms it up with a small round trip, takes the RSS as
 * the baseline, then uploads a file (from a read stream) or downloads an object (into a file)
 * while sampling RSS every 20 ms. Prints one JSON line:
 *   { baselineMiB, sampledPeakMiB, maxRssMiB, growthMiB, ms }
 * growthMiB = max(sampled peak, the kernel's maxRSS high-water mark) - baseline; maxRSS covers
 * the whole process life, boot included, so the figure errs on the high side.
 *
 * argv: JSON MemoryJob { kind: 'module' | 'raw', options?, backend, op, file, key, sink }
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CredentialsModuleOptions } from '../src/credentials/index.js';
import { type Backend, dataFile, maxRssMiB, MiB, now, rssMiB, rssSampler } from './common.js';
import {
  type Contender,
  moduleContender,
  rawAwsContender,
  rawMinioContender,
} from './contenders.js';
import { type PrototypeSwitches, setPrototype } from './prototype.js';

export interface MemoryJob {
  kind: 'module' | 'raw';
  /** Module options (partSize, partConcurrency); default: none, the module's defaults. */
  options?: CredentialsModuleOptions;
  /** Prototypes of recommended src changes to install (module only). */
  prototype?: PrototypeSwitches;
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
}

const job = JSON.parse(process.argv[2]) as MemoryJob;
let contender: Contender | undefined;
try {
  await mkdir(path.dirname(job.sink), { recursive: true });
  setPrototype(job.prototype);
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
  const baselineMiB = rssMiB();
  const sampler = rssSampler(20);
  const started = now();
  if (job.op === 'upload') await contender.upload(job.file, job.key);
  else await contender.download(job.key, job.sink);
  const ms = now() - started;
  const sampledPeakMiB = sampler.stop();
  const maxRss = maxRssMiB();
  await rm(job.sink, { force: true });
  const result: MemoryResult = {
    baselineMiB,
    sampledPeakMiB,
    maxRssMiB: maxRss,
    growthMiB: Math.max(sampledPeakMiB, maxRss) - baselineMiB,
    ms,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await contender?.close();
}
