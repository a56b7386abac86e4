/**
 * The spool file's lifetime on the failure paths: a spool file that cannot be written (a file
 * size limit, a full disk) ends the upload at once with a typed error and no file left, and
 * `close()` returns; spool files left by a crashed process are swept at start-up.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
  lutimes,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FilesystemCredentials } from '../../src/credentials/index.js';
import { startBackend } from '../support/backends.js';
import {
  SPOOL_PREFIX,
  type SpoolFaultOutcome,
  uploadWithFailingSpool,
} from '../support/spool-fault.js';

const SUPPORT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support');

/** What a failed spool must give: a typed error naming the directory and errno, fast, clean. */
function expectCleanFailure(outcome: SpoolFaultOutcome, spoolDir: string, errno: string) {
  expect(outcome.error).toBeDefined(); // else: the upload had not settled after 5 s
  expect(outcome.error).toMatchObject({
    name: 'StorageUnavailableError',
    code: 'STORAGE_UNAVAILABLE',
  });
  expect(outcome.error?.message).toContain(spoolDir);
  expect(outcome.error?.message).toContain(errno);
  expect(outcome.settledAfterLastReadMs).toBeLessThan(1_000);
  expect(outcome.closeMs).toBeDefined(); // else: close() had not returned after 5 s
  expect(outcome.spoolFilesLeft).toEqual([]);
}

describe('a spool file that cannot be written', () => {
  it('under a file size limit (ulimit -f, in a child process): StorageUnavailableError naming EFBIG within 1 s, no spool file, close() returns', async () => {
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'spool-fsize-'));
    try {
      // 8 MiB (ulimit counts 1 KiB blocks). Node ignores SIGXFSZ, so a write past the limit
      // fails with EFBIG instead of killing the process; a child killed by the signal would
      // show here as `signal: 'SIGXFSZ'` and no outcome.
      const run = await new Promise<{
        stdout: string;
        stderr: string;
        code: number | null;
        signal: string | null;
      }>((resolve) => {
        const child = execFile(
          'bash',
          [
            '-c',
            'ulimit -f 8192 && exec "$@"',
            'bash',
            process.execPath,
            '--import',
            path.join(SUPPORT, 'ts-loader.mjs'),
            path.join(SUPPORT, 'spool-fault-child.ts'),
            spoolDir,
          ],
          { timeout: 45_000, env: { ...process.env, NODE_OPTIONS: '' } },
          (_err, stdout, stderr) =>
            resolve({ stdout, stderr, code: child.exitCode, signal: child.signalCode }),
        );
      });
      expect({ signal: run.signal, code: run.code, stderr: run.stderr }).toEqual({
        signal: null,
        code: 0,
        stderr: '',
      });
      const outcome = JSON.parse(run.stdout) as SpoolFaultOutcome;
      console.log(`ulimit -f: ${JSON.stringify(outcome)}`);
      expectCleanFailure(outcome, spoolDir, 'EFBIG');
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });

  // 4 MiB fills while the first part (held in memory) is written; 8 MiB fills later, while the
  // upload waits for the client's next bytes.
  describe.each([
    ['4m', 'while the first part is written'],
    ['8m', 'while the upload waits for the client'],
  ])('on a full disk (a %s tmpfs mounted by the test; needs root), %s', (size) => {
    let spoolDir: string;
    let mounted = false;

    beforeAll(async () => {
      spoolDir = await mkdtemp(path.join(tmpdir(), `spool-full-${size}-`));
      await new Promise<void>((resolve, reject) =>
        execFile(
          'mount',
          ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', spoolDir],
          (err, _out, stderr) =>
            err
              ? reject(
                  new Error(
                    `This test needs root: it mounts a ${size} tmpfs at ${spoolDir} as a full ` +
                      `disk (mount said: ${stderr.trim() || err.message})`,
                  ),
                )
              : resolve(),
        ),
      );
      mounted = true;
    });

    afterAll(async () => {
      if (mounted) await new Promise((resolve) => execFile('umount', [spoolDir], resolve));
      if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    });

    it('StorageUnavailableError naming ENOSPC within 1 s, no spool file, close() returns', async () => {
      const outcome = await uploadWithFailingSpool(spoolDir);
      console.log(`full disk (${size}): ${JSON.stringify(outcome)}`);
      expectCleanFailure(outcome, spoolDir, 'ENOSPC');
    });
  });
});

describe('spool files left by a crashed process', () => {
  const HOUR = 3_600_000;

  it('are removed at start-up (own prefix, regular files, older than uploadTimeoutMs only), and counted in the log', async () => {
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'spool-sweep-'));
    const projectsDir = await mkdtemp(path.join(tmpdir(), 'spool-sweep-projects-'));
    const outside = await mkdtemp(path.join(tmpdir(), 'spool-sweep-outside-'));
    const logged = jest.spyOn(Logger.prototype, 'log');
    try {
      const at = (name: string) => path.join(spoolDir, name);
      const past = new Date(Date.now() - HOUR);
      const plant = async (name: string, old: boolean) => {
        await writeFile(at(name), 'PK\x03\x04 left behind');
        if (old) await utimes(at(name), past, past);
      };
      await plant(`${SPOOL_PREFIX}old-1.zip`, true);
      await plant(`${SPOOL_PREFIX}old-2.zip`, true);
      await plant(`${SPOOL_PREFIX}recent.zip`, false);
      await plant('other-app-upload.zip', true);
      // An old link with the prefix, to an old file elsewhere: neither is touched.
      const target = path.join(outside, 'precious.zip');
      await writeFile(target, 'not ours');
      await utimes(target, past, past);
      await symlink(target, at(`${SPOOL_PREFIX}link.zip`));
      await lutimes(at(`${SPOOL_PREFIX}link.zip`), past, past);
      // An old directory with the prefix: not a regular file.
      await mkdir(at(`${SPOOL_PREFIX}dir`));
      await utimes(at(`${SPOOL_PREFIX}dir`), past, past);

      const running = await startBackend(
        {
          CREDENTIALS: 'filesystem',
          BUCKET_NAME_PROJECTS: 'projects',
          REGISTRY_HOST: '127.0.0.1:5000',
          PROJECTS_DIR: projectsDir,
        },
        { backends: { filesystem: FilesystemCredentials }, spoolDir, uploadTimeoutMs: 10 * 60_000 },
      );
      await running.close();

      expect((await readdir(spoolDir)).sort()).toEqual(
        [
          `${SPOOL_PREFIX}dir`,
          `${SPOOL_PREFIX}link.zip`,
          `${SPOOL_PREFIX}recent.zip`,
          'other-app-upload.zip',
        ].sort(),
      );
      expect((await lstat(at(`${SPOOL_PREFIX}link.zip`))).isSymbolicLink()).toBe(true);
      expect(await readlink(at(`${SPOOL_PREFIX}link.zip`))).toBe(target);
      expect((await lstat(target)).isFile()).toBe(true);

      const sweepLines = logged.mock.calls
        .map(([message], i) => ({ message: String(message), logger: logged.mock.contexts[i] }))
        .filter(({ message }) => message.includes(spoolDir));
      expect(sweepLines).toHaveLength(1);
      expect(sweepLines[0].message).toMatch(/\b2 stale spool files\b/);
      expect((sweepLines[0].logger as unknown as { context?: string }).context).toBe('Credentials');
    } finally {
      logged.mockRestore();
      for (const dir of [spoolDir, projectsDir, outside])
        await rm(dir, { recursive: true, force: true });
    }
  });
});
