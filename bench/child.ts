/** Runs one of the bench's child scripts (compiled, next to this file) in a fresh process. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from './common.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Runs `script` with `args` and parses the JSON line it prints last. */
export function runChild<T>(
  script: string,
  args: string[],
  options: { execArgv?: string[]; env?: Record<string, string> } = {},
): Promise<{ result: T; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(
      process.execPath,
      [...(options.execArgv ?? []), path.join(HERE, script), ...args],
      { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = now() - t0;
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`${script} ${args.join(' ')} failed (exit ${code}):\n${stderr}${stdout}`));
        return;
      }
      resolve({ result: JSON.parse(line) as T, wallMs });
    });
  });
}
