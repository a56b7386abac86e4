/**
 * The bench's own S3 server (Swift s3api from test/services), on its own ports and folder, so a
 * concurrent test run is never disturbed; stopped at the end, also on failure or Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, S3 } from './common.js';

function script(name: string, extra: Record<string, string> = {}): string {
  const res = spawnSync('bash', [path.join(ROOT, 'test', 'services', name)], {
    env: { ...process.env, S3_PORT: String(S3.port), S3_BASE: S3.base, ...extra },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (res.status !== 0) {
    throw new Error(
      `test/services/${name} failed (${res.error?.message ?? `exit code ${res.status}`}):\n` +
        `${res.stdout ?? ''}${res.stderr ?? ''}`.trim(),
    );
  }
  return `${res.stdout}`;
}

let running = false;

/** Starts a fresh Swift s3api server (data wiped) on S3.port..S3.port+4. */
export function startS3(): void {
  running = true;
  script('start-s3.sh', { S3_FRESH: '1' });
}

/** Stops it (by its PID files); idempotent. */
export function stopS3(): void {
  if (!running) return;
  running = false;
  try {
    script('stop-s3.sh');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
  }
}

/** Bytes Swift keeps in a container (through its own API, which sees s3api's +segments). */
export async function swiftContainerUsage(
  container: string,
): Promise<{ objects: number; bytes: number; names: string[] }> {
  const auth = await fetch(`${S3.endpoint}/auth/v1.0`, {
    headers: { 'X-Auth-User': S3.accessKey, 'X-Auth-Key': S3.secretKey },
  });
  const token = auth.headers.get('x-auth-token');
  const account = auth.headers.get('x-storage-url');
  if (!auth.ok || !token || !account) throw new Error(`Swift auth failed: HTTP ${auth.status}`);
  let objects = 0;
  let bytes = 0;
  const names: string[] = [];
  let marker = '';
  for (;;) {
    const url = `${account}/${encodeURIComponent(container)}?format=json&limit=10000&marker=${encodeURIComponent(marker)}`;
    const res = await fetch(url, { headers: { 'X-Auth-Token': token } });
    if (res.status === 404) return { objects, bytes, names };
    if (!res.ok) throw new Error(`Swift listing of ${container} failed: HTTP ${res.status}`);
    const page = (await res.json()) as { name: string; bytes: number }[];
    if (page.length === 0) return { objects, bytes, names };
    for (const entry of page) {
      objects++;
      bytes += entry.bytes;
      names.push(entry.name);
    }
    marker = page[page.length - 1].name;
  }
}

/**
 * CPU time (ms, user + system) the bench's Swift processes have used so far, from /proc (0 where
 * there is no /proc): the server's share of a transfer on the cores it shares with the client.
 */
export function serverCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(S3.base)) continue;
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}
