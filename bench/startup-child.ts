/**
 * Start-up of a Nest application context with the module, in a fresh process. Prints one JSON
 * line: the time from the start of this script to a booted context (imports of Nest and of the
 * module included), RSS after boot, and, with `--proof`, every module file this process
 * loaded after boot and one round trip (upload, download, registry token, credentials), taken
 * from the resolve hook's log (LOADS_LOG, see record-loads.ts) and from `require.cache`.
 *
 * argv: <backend> [--proof]   env: BENCH_ECR_ENDPOINT (the aws backend's ECR, for --proof)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const started = performance.now();
const backend = process.argv[2] as 'aws' | 'local';
const proof = process.argv.includes('--proof');

const { bootModule, moduleEnv, dataFile, MiB, BUCKET, SINK_DIR } = await import('./common.js');
const booted = await bootModule(moduleEnv(backend, process.env.BENCH_ECR_ENDPOINT));
const bootMs = performance.now() - started;
const rssAfter = process.memoryUsage().rss;

let loaded: string[] | undefined;
if (proof) {
  const { createReadStream, createWriteStream } = await import('node:fs');
  const { mkdir, rm } = await import('node:fs/promises');
  const { pipeline } = await import('node:stream/promises');
  const path = await import('node:path');
  const { credentials } = booted;
  const key = `startup-proof-${backend}`;
  const sink = path.join(SINK_DIR, `${key}.download`);
  await mkdir(SINK_DIR, { recursive: true });
  await credentials.uploadProject(key, createReadStream(dataFile(MiB)));
  await pipeline(await credentials.downloadProject(BUCKET, key), createWriteStream(sink));
  await rm(sink, { force: true });
  await credentials.getRegistryToken();
  await credentials.getCredentials();
  const esm = process.env.LOADS_LOG
    ? readFileSync(process.env.LOADS_LOG, 'utf8').split('\n').filter(Boolean)
    : [];
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  loaded = [
    ...new Set([
      ...esm.filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url)),
      ...cjs,
    ]),
  ];
}
await booted.close();
process.stdout.write(
  JSON.stringify({
    bootMs,
    rssAfterMiB: rssAfter / 1024 / 1024,
    loaded,
  }) + '\n',
);
