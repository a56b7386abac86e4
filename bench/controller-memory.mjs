// Peak memory of the example app's controller while it takes a 200 MiB upload (PUT, streamed)
// and serves it back (GET). The app runs as its own process (`node dist/main.js`), so the
// client's memory never counts; its RSS is read from /proc (Linux).
//
//   npm run build && node bench/controller-memory.mjs
//
// Backends: filesystem (a temp dir) always; local (MinIO API) when the S3 test server answers
// on 127.0.0.1:18080 (`bash test/services/start-s3.sh`). Settings: BENCH_SIZE_MIB (default 200).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 200) * MiB;
const TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const S3 = { endpoint: 'http://127.0.0.1:18080', accessKey: 'test:tester', secretKey: 'testing' };

/** A field of /proc/<pid>/status, in MiB (`VmRSS`, `VmHWM`). */
function procMiB(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** Resets the kernel's peak RSS (VmHWM) of `pid` to its current RSS; false where not allowed. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The ZIP-like body: a local file header, then a repeated random MiB, generated as sent. */
function body(size) {
  const block = randomBytes(MiB);
  Buffer.from('PK\x03\x04', 'latin1').copy(block);
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const chunk = block.subarray(0, Math.min(MiB, size - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

function send(url, method, { headers = {}, payload } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const hash = createHash('sha256');
      const text = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        hash.update(chunk);
        if (text.length < 4) text.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          size,
          sha256: hash.digest('hex'),
          text: Buffer.concat(text).toString(),
        }),
      );
      res.on('error', reject);
    });
    if (payload) payload.pipe(req);
    else req.end();
  });
}

/** Starts `node dist/main.js` with `env`; resolves once it prints its URL. */
function startApp(env) {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1', CREDENTIALS_API_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (data) => {
      output += data.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the app exited (${code}):\n${output}`)));
  });
}

async function stopApp(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
}

/** Samples VmRSS every 10 ms while `work` runs; returns its result and the sampled peak. */
async function sampled(pid, work) {
  let peak = procMiB(pid, 'VmRSS');
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procMiB(pid, 'VmRSS'));
    } catch {
      // the process is gone; the work will say why
    }
  }, 10);
  try {
    return { result: await work(), peak };
  } finally {
    clearInterval(timer);
  }
}

async function measure(label, env, cleanup) {
  const { child, url } = await startApp(env);
  const pid = child.pid;
  try {
    // Warm up: load the SDK, JIT the paths, fill the pools, as a running service would have.
    for (let i = 0; i < 3; i++) {
      const warm = body(2 * MiB);
      await send(`${url}/projects/warm-up.zip`, 'PUT', {
        headers: { 'Content-Type': 'application/zip' },
        payload: warm.stream,
      });
      await send(`${url}/projects/warm-up.zip`, 'GET');
    }
    await sleep(500);
    const baseline = procMiB(pid, 'VmRSS');
    const kernelPeak = resetPeak(pid);

    const upload = body(SIZE);
    const started = Date.now();
    const put = await sampled(pid, () =>
      send(`${url}/projects/bench.zip`, 'PUT', {
        headers: { 'Content-Type': 'application/zip', 'Content-Length': String(SIZE) },
        payload: upload.stream,
      }),
    );
    const putMs = Date.now() - started;
    if (put.result.status !== 201)
      throw new Error(`PUT answered ${put.result.status}: ${put.result.text}`);
    const uploadPeak = Math.max(put.peak, kernelPeak ? procMiB(pid, 'VmHWM') : 0);

    const afterUpload = procMiB(pid, 'VmRSS');
    resetPeak(pid);
    const get = await sampled(pid, () => send(`${url}/projects/bench.zip`, 'GET'));
    if (get.result.status !== 200 || get.result.sha256 !== upload.sha256()) {
      throw new Error(`GET answered ${get.result.status} with different bytes`);
    }
    const downloadPeak = Math.max(get.peak, kernelPeak ? procMiB(pid, 'VmHWM') : 0);
    return {
      backend: label,
      sizeMiB: SIZE / MiB,
      baselineMiB: +baseline.toFixed(1),
      uploadPeakMiB: +uploadPeak.toFixed(1),
      uploadGrowthMiB: +(uploadPeak - baseline).toFixed(1),
      uploadMiBps: +(SIZE / MiB / (putMs / 1000)).toFixed(1),
      downloadPeakMiB: +downloadPeak.toFixed(1),
      downloadGrowthMiB: +(downloadPeak - afterUpload).toFixed(1),
      peakFrom: kernelPeak
        ? 'VmHWM (reset before each transfer) and 10 ms samples'
        : '10 ms samples',
    };
  } finally {
    await stopApp(child);
    await cleanup();
  }
}

async function s3Reachable() {
  try {
    const res = await fetch(`${S3.endpoint}/healthcheck`, { signal: AbortSignal.timeout(1_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function main() {
  if (!existsSync(path.join(ROOT, 'dist/main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` first');
  }
  const results = [];

  const dir = await mkdtemp(path.join(tmpdir(), 'controller-memory-'));
  results.push(
    await measure(
      'filesystem',
      { CREDENTIALS: 'filesystem', PROJECTS_DIR: dir, BUCKET_NAME_PROJECTS: 'projects' },
      () => rm(dir, { recursive: true, force: true }),
    ),
  );

  if (await s3Reachable()) {
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const s3 = new S3Client({
      endpoint: S3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      credentials: { accessKeyId: S3.accessKey, secretAccessKey: S3.secretKey },
    });
    const bucket = `controller-memory-${Date.now().toString(36)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    results.push(
      await measure(
        'local',
        {
          CREDENTIALS: 'local',
          BUCKET_NAME_PROJECTS: bucket,
          MINIO_ENDPOINT: S3.endpoint,
          MINIO_ACCESS_KEY: S3.accessKey,
          MINIO_SECRET_KEY: S3.secretKey,
        },
        async () => {
          const { DeleteObjectCommand, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
          for (const key of ['warm-up.zip', 'bench.zip']) {
            await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
          }
          await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
        },
      ),
    );
  } else {
    process.stderr.write(`local skipped: no S3 test server at ${S3.endpoint}\n`);
  }

  console.table(results);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
