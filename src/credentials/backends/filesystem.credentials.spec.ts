import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  openSync,
  statSync,
} from 'node:fs';
import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { inspect } from 'node:util';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  AccessDeniedError,
  BucketNotFoundError,
  type Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsConfigError,
  CredentialsModule,
  type CredentialsModuleSyncOptions,
  IntegrityError,
  InvalidProjectError,
  ProjectNotFoundError,
  StorageUnavailableError,
} from '../index.js';
import { toFilesystemError } from '../store/filesystem-object-store.js';
import { DEFAULT_PROJECTS_DIR, FilesystemCredentials } from './filesystem.credentials.js';
import { configFromEnv } from '../../../test/support/backends.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = 'projects';
const EMPTY_ARCHIVE = Buffer.concat([Buffer.from('PK\x05\x06', 'latin1'), Buffer.alloc(18)]);

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A ZIP-looking body of `size` bytes: a local file header, then a pattern that `seed` varies. */
function zipOf(size: number, seed = 0): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + 3 + seed * 31) % 251;
  Buffer.from('PK\x03\x04', 'latin1').copy(data, 0, 0, Math.min(4, size));
  return data;
}

/** `data` as a byte stream of `chunkSize` chunks, yielding to the event loop between them. */
function streamOf(data: Buffer, chunkSize = 64 * KiB): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < data.length; i += chunkSize) {
        yield data.subarray(i, i + chunkSize);
        await tick();
      }
    })(),
    { objectMode: false },
  );
}

/** The first `failAfter` bytes of `data`, then `error`. */
function failingStream(data: Buffer, failAfter: number, error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < failAfter; i += 64 * KiB) {
        yield data.subarray(i, Math.min(i + 64 * KiB, failAfter));
        await tick();
      }
      throw error;
    })(),
    { objectMode: false },
  );
}

/** `data`, then silence: the source of an upload that never ends. */
function stallingStream(data: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) this.push(data);
      sent = true;
    },
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/** Every file under `dir`, hidden ones included, as sorted paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Flips one byte of a stored file in place (same inode), as a disk error or an intruder would. */
async function flipByte(file: string, position: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] ^= 0xff;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

const configOf = (env: Record<string, string>) =>
  ({ get: (name: string) => env[name] }) as unknown as ConfigService;

let root: string;
let refs: TestingModule[];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'nest-credentials-fs-'));
  refs = [];
});

afterEach(async () => {
  for (const ref of refs) await ref.close();
  await rm(root, { recursive: true, force: true });
});

const baseEnv = () => ({
  CREDENTIALS: 'filesystem',
  PROJECTS_DIR: root,
  BUCKET_NAME_PROJECTS: BUCKET,
  REGISTRY_HOST: '127.0.0.1:5000',
});

/** The app's way in: `CREDENTIALS=filesystem` and the class registered as a custom backend. */
async function start(
  env: Record<string, string> = {},
  options: CredentialsModuleSyncOptions = {},
): Promise<Credentials> {
  const ref = await Test.createTestingModule({
    imports: [
      configFromEnv({ ...baseEnv(), ...env }),
      CredentialsModule.forRoot({ backends: { filesystem: FilesystemCredentials }, ...options }),
    ],
  }).compile();
  refs.push(ref);
  await ref.init();
  return ref.get<Credentials>(CREDENTIALS_PROVIDER);
}

const bucketDir = () => path.join(root, BUCKET);
const storedPath = (name: string) => path.join(root, BUCKET, name);

describe('FilesystemCredentials: configuration', () => {
  it('is chosen by CREDENTIALS=filesystem once registered through the backends option', async () => {
    const backend = await start();
    expect(backend).toBeInstanceOf(FilesystemCredentials);
    expect((backend as FilesystemCredentials).projectsDir).toBe(root);
  });

  it('is not a built-in backend', async () => {
    const ref = Test.createTestingModule({
      imports: [configFromEnv(baseEnv()), CredentialsModule.forRoot()],
    }).compile();
    const err = await rejection(ref);
    expect(err).toBeInstanceOf(CredentialsConfigError);
    expect((err as Error).message).toContain('CREDENTIALS is "filesystem"');
  });

  it('resolves PROJECTS_DIR, and its default, to absolute paths', () => {
    const env = { BUCKET_NAME_PROJECTS: BUCKET, REGISTRY_HOST: 'r.example.com' };
    const byDefault = new FilesystemCredentials(configOf(env));
    expect(byDefault.projectsDir).toBe(path.resolve(DEFAULT_PROJECTS_DIR));
    expect(path.isAbsolute(byDefault.projectsDir)).toBe(true);
    const relative = new FilesystemCredentials(configOf({ ...env, PROJECTS_DIR: 'var/p' }));
    expect(relative.projectsDir).toBe(path.join(process.cwd(), 'var', 'p'));
  });

  it('reports every missing or invalid variable at once', async () => {
    const err = await rejection(
      start({
        BUCKET_NAME_PROJECTS: '',
        REGISTRY_HOST: '',
        REGISTRY_USERNAME: 'builder',
      }),
    );
    expect(err).toBeInstanceOf(CredentialsConfigError);
    const { problems } = err as CredentialsConfigError;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toContain('BUCKET_NAME_PROJECTS is required by the "filesystem"');
    expect(problems.join('\n')).toContain('REGISTRY_HOST is required');
    expect(problems.join('\n')).toContain('REGISTRY_USERNAME and REGISTRY_PASSWORD');
  });

  it('creates nothing on disk at startup', async () => {
    const dir = path.join(root, 'not-yet');
    await start({ PROJECTS_DIR: dir });
    expect(existsSync(dir)).toBe(false);
  });

  it('has no registry token without REGISTRY_USERNAME / REGISTRY_PASSWORD', async () => {
    const backend = await start();
    expect(await backend.getRegistryToken()).toBeNull();
  });

  it('gives base64 of user:password as the token of a registry with basic auth', async () => {
    const backend = await start({ REGISTRY_USERNAME: 'builder', REGISTRY_PASSWORD: 's3cr3t:pw' });
    const token = await backend.getRegistryToken();
    expect(Buffer.from(token as string, 'base64').toString('utf8')).toBe('builder:s3cr3t:pw');
  });

  it('hands a build job its settings, and shows the password nowhere else', async () => {
    const password = 'registry-password-value';
    const backend = await start({ REGISTRY_USERNAME: 'builder', REGISTRY_PASSWORD: password });
    expect(await backend.getCredentials()).toEqual({
      PROJECTS_DIR: root,
      BUCKET_NAME_PROJECTS: BUCKET,
      REGISTRY_HOST: '127.0.0.1:5000',
      REGISTRY_USERNAME: 'builder',
      REGISTRY_PASSWORD: password,
    });
    expect(JSON.stringify(backend)).not.toContain(password);
    expect(inspect(backend, { depth: 10, showHidden: true })).not.toContain(password);
  });
});

describe('FilesystemCredentials: projects', () => {
  it.each([
    ['an empty archive', EMPTY_ARCHIVE, false],
    ['1 KiB', zipOf(KiB), false],
    ['20 MiB, streamed', zipOf(20 * MiB), true],
  ])('round-trips %s, stored at <root>/<bucket>/<name>', async (_label, data, streamed) => {
    const backend = await start();
    const stored = await backend.uploadProject('demo.zip', streamed ? streamOf(data) : data);

    expect(stored).toEqual({
      bucket: BUCKET,
      key: 'demo.zip',
      size: data.length,
      sha256: sha256(data),
    });
    expect((await readFile(storedPath('demo.zip'))).equals(data)).toBe(true);
    expect((await readAll(await backend.downloadProject(BUCKET, 'demo.zip'))).equals(data)).toBe(
      true,
    );
    // Only the object and its metadata remain: no temporary file.
    expect(await filesUnder(bucketDir())).toEqual(['.meta/demo.zip', 'demo.zip']);
  });

  it('creates the projects directory on the first upload, and downloads before it are not found', async () => {
    const dir = path.join(root, 'fresh', 'install');
    const backend = await start({ PROJECTS_DIR: dir });
    // The configured bucket exists from the start, even without its directory.
    await expect(backend.downloadProject(BUCKET, 'demo.zip')).rejects.toBeInstanceOf(
      ProjectNotFoundError,
    );
    await backend.uploadProject('demo.zip', zipOf(KiB));
    expect(existsSync(path.join(dir, BUCKET, 'demo.zip'))).toBe(true);
  });

  it('replaces a project uploaded again under the same name', async () => {
    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB, 1));
    const second = zipOf(2 * KiB, 2);
    const stored = await backend.uploadProject('demo', streamOf(second));
    expect(stored.sha256).toBe(sha256(second));
    expect((await readAll(await backend.downloadProject(BUCKET, 'demo'))).equals(second)).toBe(
      true,
    );
  });

  it.each([
    ['uploaded whole', zipOf(KiB), false],
    ['streamed', zipOf(12 * MiB), true],
  ])(
    'fails the download with IntegrityError when a file %s is changed on disk',
    async (_l, data, streamed) => {
      const backend = await start();
      await backend.uploadProject('demo', streamed ? streamOf(data) : data);
      await flipByte(storedPath('demo'), Math.floor(data.length / 2));
      const stream = await backend.downloadProject(BUCKET, 'demo');
      await expect(readAll(stream)).rejects.toBeInstanceOf(IntegrityError);
    },
  );

  it('fails the download with IntegrityError when a stored file is truncated', async () => {
    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB));
    await writeFile(storedPath('demo'), zipOf(KiB).subarray(0, 512));
    await expect(readAll(await backend.downloadProject(BUCKET, 'demo'))).rejects.toThrow(
      /Read 512 of 1024 bytes/,
    );
  });

  it('refuses a file replaced by another tool under the old record, and serves it once the record is removed', async () => {
    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB, 1));
    const replacement = zipOf(3 * KiB, 5);
    const temp = path.join(root, 'replacement');
    await writeFile(temp, replacement);
    const { rename, unlink } = await import('node:fs/promises');
    await rename(temp, storedPath('demo'));
    await expect(readAll(await backend.downloadProject(BUCKET, 'demo'))).rejects.toBeInstanceOf(
      IntegrityError,
    );
    await unlink(path.join(bucketDir(), '.meta', 'demo'));
    expect((await readAll(await backend.downloadProject(BUCKET, 'demo'))).equals(replacement)).toBe(
      true,
    );
  });

  it('serves files put into a bucket directory by hand', async () => {
    const backend = await start();
    await mkdir(path.join(root, 'archive'));
    await writeFile(path.join(root, 'archive', 'old.zip'), zipOf(100));
    const data = await readAll(await backend.downloadProject('archive', 'old.zip'));
    expect(data.equals(zipOf(100))).toBe(true);
  });

  it('refuses a missing project with ProjectNotFoundError', async () => {
    const backend = await start();
    await backend.uploadProject('present', zipOf(KiB));
    const err = await rejection(backend.downloadProject(BUCKET, 'absent'));
    expect(err).toBeInstanceOf(ProjectNotFoundError);
    expect(err).toMatchObject({ bucket: BUCKET, key: 'absent' });
  });

  it('refuses a missing bucket with BucketNotFoundError', async () => {
    const backend = await start();
    await backend.uploadProject('present', zipOf(KiB));
    const err = await rejection(backend.downloadProject('other-bucket', 'present'));
    expect(err).toBeInstanceOf(BucketNotFoundError);
    expect(err).toMatchObject({ bucket: 'other-bucket' });
  });

  it('never reads the metadata directory as a project', async () => {
    const backend = await start();
    await backend.uploadProject('present', zipOf(KiB));
    await expect(backend.downloadProject(BUCKET, '.meta')).rejects.toBeInstanceOf(
      InvalidProjectError,
    );
  });
});

describe('FilesystemCredentials: refused and failed uploads leave nothing behind', () => {
  // A small part size, so that a 6 MiB body is streamed through a temporary file.
  const streaming: CredentialsModuleSyncOptions = { partSize: 5 * MiB, maxProjectSize: 6 * MiB };

  /** Uploads `previous` as "demo", runs `attempt`, and returns its error. */
  async function afterAttempt(
    attempt: (backend: Credentials) => Promise<unknown>,
    options: CredentialsModuleSyncOptions = streaming,
  ): Promise<unknown> {
    const backend = await start({}, options);
    await backend.uploadProject('demo', previous);
    const err = await rejection(attempt(backend));
    // The earlier project is untouched, still verified, and no other file exists.
    expect(await filesUnder(bucketDir())).toEqual(['.meta/demo', 'demo']);
    expect((await readAll(await backend.downloadProject(BUCKET, 'demo'))).equals(previous)).toBe(
      true,
    );
    return err;
  }
  const previous = zipOf(KiB, 9);

  it.each(['../demo', '.demo', 'a/b', '', 'x'.repeat(256), '-demo'])(
    'refuses the name %j',
    async (name) => {
      const err = await afterAttempt((b) => b.uploadProject(name, zipOf(KiB)));
      expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
    },
  );

  it.each([
    ['in memory', () => Buffer.from('not a zip at all')],
    ['streamed', () => streamOf(Buffer.alloc(6 * MiB, 1))],
  ])('refuses a body that is not a ZIP (%s)', async (_label, body) => {
    const err = await afterAttempt((b) => b.uploadProject('demo', body()));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'not-zip' });
  });

  it('refuses a body over the maximum that is known up front', async () => {
    const err = await afterAttempt((b) => b.uploadProject('demo', zipOf(6 * MiB + 1)));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
  });

  it('refuses a stream that exceeds the maximum while being written', async () => {
    const err = await afterAttempt((b) => b.uploadProject('demo', streamOf(zipOf(7 * MiB))));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
  });

  it('removes the temporary file when the source stream fails midway', async () => {
    const source = failingStream(zipOf(6 * MiB), 5.5 * MiB, new Error('client went away'));
    const err = await afterAttempt((b) => b.uploadProject('demo', source));
    expect(err).toMatchObject({ code: 'INVALID_PROJECT', reason: 'unreadable' });
    expect(source.destroyed).toBe(true);
  });

  it('removes the temporary file when the upload deadline passes', async () => {
    const source = stallingStream(zipOf(5.5 * MiB));
    const err = await afterAttempt((b) => b.uploadProject('demo', source), {
      ...streaming,
      uploadTimeoutMs: 1_000,
    });
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain('within 1000 ms');
  });
});

describe('FilesystemCredentials: concurrency and crashes', () => {
  /** Checks that "shared" holds one of `bodies` whole, with that body's SHA-256 recorded. */
  async function expectOneWinner(backend: Credentials, bodies: Buffer[]): Promise<void> {
    const onDisk = await readFile(storedPath('shared'));
    expect(bodies.map(sha256)).toContain(sha256(onDisk));
    expect((await readAll(await backend.downloadProject(BUCKET, 'shared'))).equals(onDisk)).toBe(
      true,
    );
    expect(await filesUnder(bucketDir())).toEqual(['.meta/shared', 'shared']);
    // The recorded SHA-256 is the winner's own: a changed byte is caught.
    await flipByte(storedPath('shared'), 10);
    await expect(readAll(await backend.downloadProject(BUCKET, 'shared'))).rejects.toBeInstanceOf(
      IntegrityError,
    );
  }

  it('leaves one complete upload, with its SHA-256, when streamed and whole uploads race', async () => {
    const backend = await start({}, { partSize: 5 * MiB });
    const bodies = [
      zipOf(6 * MiB, 1),
      zipOf(7 * MiB, 2),
      zipOf(KiB, 3),
      zipOf(6 * MiB + 3, 4),
      zipOf(2 * KiB, 5),
      zipOf(8 * MiB, 6),
    ];
    const results = await Promise.all(
      bodies.map((body, i) => backend.uploadProject('shared', i % 2 ? body : streamOf(body))),
    );
    expect(results.map((r) => r.sha256)).toEqual(bodies.map(sha256));
    await expectOneWinner(backend, bodies);
  });

  it('leaves one complete upload, with its SHA-256, when same-sized uploads commit at once', async () => {
    const backend = await start();
    // Uploads of equal size move in step, so their commits overlap as closely as they can.
    for (let round = 0; round < 10; round++) {
      const bodies = Array.from({ length: 8 }, (_, i) => zipOf(4 * KiB, round * 8 + i));
      await Promise.all(bodies.map((body) => backend.uploadProject('shared', body)));
      await expectOneWinner(backend, bodies);
    }
  });

  it('removes temporary files a crash left behind, and only old ones', async () => {
    const temps = path.join(bucketDir(), '.tmp');
    await mkdir(temps, { recursive: true });
    await writeFile(path.join(temps, 'crashed.part'), 'half an upload');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await utimes(path.join(temps, 'crashed.part'), twoDaysAgo, twoDaysAgo);
    await writeFile(path.join(temps, 'live.part'), 'an upload of another process');

    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB));
    expect(await filesUnder(bucketDir())).toEqual(['.meta/demo', '.tmp/live.part', 'demo']);
  });

  it('reports a disk error as StorageUnavailableError naming the directory', async () => {
    const backend = await start();
    // The bucket's path is taken by a file, so nothing can be created under it.
    await writeFile(bucketDir(), 'not a directory');
    const err = await rejection(backend.uploadProject('demo', zipOf(KiB)));
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain(root);
  });

  it('reports a directory it may not write as AccessDeniedError', async () => {
    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB));
    // Root ignores permission bits, but not the immutable attribute (EPERM); others get EACCES.
    const asRoot = process.getuid?.() === 0;
    const lock = asRoot
      ? () => execFileSync('chattr', ['+i', bucketDir()])
      : () => chmodSync(bucketDir(), 0o500);
    const unlock = asRoot
      ? () => execFileSync('chattr', ['-i', bucketDir()])
      : () => chmodSync(bucketDir(), 0o700);
    lock();
    try {
      await expect(backend.uploadProject('other', zipOf(KiB))).rejects.toBeInstanceOf(
        AccessDeniedError,
      );
    } finally {
      unlock();
    }
  });
});

describe('toFilesystemError', () => {
  const call = { operation: 'upload', bucket: BUCKET, key: 'demo' };
  const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code });

  it.each(['EACCES', 'EPERM', 'EROFS'])('maps %s to AccessDeniedError', (code) => {
    const err = toFilesystemError(errno(code), call, '/data/projects');
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('/data/projects');
  });

  it.each(['ENOSPC', 'EIO', 'EDQUOT', 'EMFILE'])('maps %s to StorageUnavailableError', (code) => {
    const err = toFilesystemError(errno(code), call, '/data/projects');
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(err.message).toContain(code);
  });

  it("keeps the contract's own errors as they are", () => {
    const refused = new InvalidProjectError('too big', 'too-large');
    expect(toFilesystemError(refused, call, '/data/projects')).toBe(refused);
  });
});

describe('FilesystemCredentials: trusts nothing on disk', () => {
  /** A directory outside the store, with a file an intruder would like to reach. */
  let outside: string;

  beforeEach(async () => {
    outside = await mkdtemp(path.join(tmpdir(), 'nest-credentials-outside-'));
  });

  afterEach(async () => {
    await rm(outside, { recursive: true, force: true });
  });

  /** The permission bits of `file`, as an octal string ("600"). */
  const modeOf = (file: string) => (statSync(file).mode & 0o777).toString(8);

  it('refuses a symbolic link planted as a project, and logs it', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const backend = await start();
      await backend.uploadProject('demo', zipOf(KiB));
      const secret = path.join(outside, 'secret.zip');
      await writeFile(secret, zipOf(KiB, 3));
      await symlink(secret, storedPath('evil.zip'));

      const err = await rejection(backend.downloadProject(BUCKET, 'evil.zip'));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect((err as Error).message).toContain('not a regular file');
      const lines = warn.mock.calls.map((call) => String(call[0]));
      expect(lines.some((line) => line.includes('evil.zip'))).toBe(true);
      expect(
        warn.mock.contexts.map((logger) => (logger as { context?: string }).context),
      ).toContain('Credentials');
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses FIFOs planted as projects at once, and other file calls keep going', async () => {
    const backend = await start();
    await backend.uploadProject('demo', zipOf(KiB));
    const fifos = ['p1', 'p2', 'p3', 'p4', 'p5'].map(storedPath);
    for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    try {
      const blocked = new Promise((resolve) => setTimeout(resolve, 3_000, 'blocked')).then(
        (value) => value,
      );
      const outcomes = await Promise.all(
        ['p1', 'p2', 'p3', 'p4', 'p5'].map((name) =>
          Promise.race([rejection(backend.downloadProject(BUCKET, name)), blocked]),
        ),
      );
      for (const outcome of outcomes) expect(outcome).toBeInstanceOf(AccessDeniedError);
      // The thread pool is free: an unrelated read answers at once.
      const read = await Promise.race([readFile(storedPath('demo')), blocked]);
      expect(Buffer.isBuffer(read)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      // Releases any open() still waiting for a writer (on the code before the fix).
      for (const fifo of fifos) {
        try {
          closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
        } catch {
          // no reader waiting
        }
      }
    }
  });

  it('refuses to write through a ".meta" that is a symbolic link', async () => {
    const backend = await start();
    await mkdir(bucketDir(), { recursive: true });
    await writeFile(path.join(outside, 'demo'), 'precious');
    await symlink(outside, path.join(bucketDir(), '.meta'));

    const err = await rejection(backend.uploadProject('demo', zipOf(KiB)));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as Error).message).toContain('.meta');
    expect(await readFile(path.join(outside, 'demo'), 'utf8')).toBe('precious');
    expect(existsSync(storedPath('demo'))).toBe(false);
  });

  it('never sweeps through a ".tmp" that is a symbolic link', async () => {
    const backend = await start();
    await mkdir(bucketDir(), { recursive: true });
    const old = path.join(outside, 'old-backup.part');
    await writeFile(old, 'two days old');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    await symlink(outside, path.join(bucketDir(), '.tmp'));

    const err = await rejection(backend.uploadProject('demo', zipOf(KiB)));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as Error).message).toContain('.tmp');
    expect(existsSync(old)).toBe(true);
  });

  it('accepts a PROJECTS_DIR that is itself a link (the operator chose it)', async () => {
    const real = path.join(outside, 'volume');
    await mkdir(real);
    const link = path.join(root, 'projects-link');
    await symlink(real, link);
    const backend = await start({ PROJECTS_DIR: link });
    await backend.uploadProject('demo', zipOf(KiB));
    expect((await readAll(await backend.downloadProject(BUCKET, 'demo'))).equals(zipOf(KiB))).toBe(
      true,
    );
    expect(existsSync(path.join(real, BUCKET, 'demo'))).toBe(true);
  });

  it('creates directories 0700 and files 0600 by default', async () => {
    const dir = path.join(root, 'fresh');
    const backend = await start({ PROJECTS_DIR: dir });
    await backend.uploadProject('demo', streamOf(zipOf(7 * MiB)));
    await backend.uploadProject('small', zipOf(KiB));
    const bucket = path.join(dir, BUCKET);
    for (const d of [dir, bucket, path.join(bucket, '.meta'), path.join(bucket, '.tmp')]) {
      expect([d, modeOf(d)]).toEqual([d, '700']);
    }
    for (const f of ['demo', 'small', '.meta/demo', '.meta/small'].map((n) =>
      path.join(bucket, n),
    )) {
      expect([f, modeOf(f)]).toEqual([f, '600']);
    }
  });

  it.each([
    ['read', '750', '640'],
    ['write', '770', '660'],
  ])('with PROJECTS_GROUP_ACCESS=%s shares with the group', async (access, dirMode, fileMode) => {
    const dir = path.join(root, 'shared');
    const backend = await start({ PROJECTS_DIR: dir, PROJECTS_GROUP_ACCESS: access });
    await backend.uploadProject('demo', zipOf(KiB));
    expect(modeOf(dir)).toBe(dirMode);
    expect(modeOf(path.join(dir, BUCKET))).toBe(dirMode);
    expect(modeOf(path.join(dir, BUCKET, '.meta'))).toBe(dirMode);
    expect(modeOf(path.join(dir, BUCKET, 'demo'))).toBe(fileMode);
    expect(modeOf(path.join(dir, BUCKET, '.meta', 'demo'))).toBe(fileMode);
  });

  it('refuses an unknown PROJECTS_GROUP_ACCESS at startup', async () => {
    const err = await rejection(start({ PROJECTS_GROUP_ACCESS: 'everyone' }));
    expect(err).toBeInstanceOf(CredentialsConfigError);
    expect((err as Error).message).toContain('PROJECTS_GROUP_ACCESS');
  });

  it('still checks the SHA-256 after the store is copied (cp -a): a changed byte fails', async () => {
    const backend = await start();
    const data = zipOf(64 * KiB);
    await backend.uploadProject('demo', data);
    const copy = path.join(root, 'restored');
    execFileSync('cp', ['-a', bucketDir(), copy]);
    await flipByte(path.join(copy, 'demo'), 1000);

    const restored = await start({ PROJECTS_DIR: root, BUCKET_NAME_PROJECTS: 'restored' });
    await expect(
      readAll(await restored.downloadProject('restored', 'demo')),
    ).rejects.toBeInstanceOf(IntegrityError);
  });

  it('serves an intact copy (cp -a) and renews its record, so the check stays on', async () => {
    const backend = await start();
    const data = zipOf(64 * KiB);
    await backend.uploadProject('demo', data);
    const copy = path.join(root, 'restored');
    execFileSync('cp', ['-a', bucketDir(), copy]);

    const restored = await start({ PROJECTS_DIR: root, BUCKET_NAME_PROJECTS: 'restored' });
    expect((await readAll(await restored.downloadProject('restored', 'demo'))).equals(data)).toBe(
      true,
    );
    const record = JSON.parse(await readFile(path.join(copy, '.meta', 'demo'), 'utf8')) as {
      ino: string;
    };
    expect(record.ino).toBe(String(statSync(path.join(copy, 'demo'), { bigint: true }).ino));
    // Changed in place with its times put back: the renewed record still catches it.
    const { atime, mtime } = statSync(path.join(copy, 'demo'));
    await flipByte(path.join(copy, 'demo'), 1000);
    await utimes(path.join(copy, 'demo'), atime, mtime);
    await expect(
      readAll(await restored.downloadProject('restored', 'demo')),
    ).rejects.toBeInstanceOf(IntegrityError);
  });
});
