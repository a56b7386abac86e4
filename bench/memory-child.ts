/**
 * One memory figure in a fresh process, so that peaks of different runs never mix: sets up the
 * row's client, warms it up with a 1 MiB transfer, reads a Buffer body (so its growth is beyond
 * the buffer), takes the RSS as the baseline, then runs the transfer while sampling RSS every
 * 20 ms. growthMiB = peak - baseline, the peak being the highest sample, or the kernel's maxRSS
 * high-water mark when that rose during the transfer (a peak between two samples).
 *
 * argv: JSON MemoryJob. Prints one JSON line: MemoryResult.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dataFile, maxRssMiB, MiB } from './common.js';
import { nodeHost, prepareBody } from './contenders.js';
import { rowById } from './rows.js';

export interface MemoryJob {
  row: string;
  file: string;
  key: string;
  sink: string;
  /** A 1 MiB object a download row warms up on. */
  warmRef: string;
}

export interface MemoryResult {
  baselineMiB: number;
  growthMiB: number;
  ms: number;
}

const job = JSON.parse(process.argv[2]) as MemoryJob;
const row = rowById(job.row);
const host = nodeHost();
try {
  await mkdir(path.dirname(job.sink), { recursive: true });
  if (row.direction === 'upload')
    await host.run(row, { ...job, file: dataFile(MiB), key: `${job.key}.warm` });
  else await host.run(row, { ...job, key: job.warmRef });
  await rm(job.sink, { force: true });
  if (row.direction === 'upload') await prepareBody(row.body, job.file);
  await sleep(200);
  const baselineMiB = process.memoryUsage().rss / MiB;
  const maxBefore = maxRssMiB();
  let peak = baselineMiB;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / MiB)), 20);
  const { ms } = await host.run(row, job);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss / MiB);
  const maxRss = maxRssMiB();
  if (maxRss > maxBefore) peak = Math.max(peak, maxRss);
  await rm(job.sink, { force: true });
  const result: MemoryResult = { baselineMiB, growthMiB: peak - baselineMiB, ms };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await host.close();
}
