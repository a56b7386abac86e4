/**
 * Reliability, category 2 (generated): property-based tests with fast-check. Generated names and
 * bodies go through `uploadProject` of the in-memory double, the filesystem backend and, for a
 * sample, `aws` and `local` on the real S3 server. Each must be judged exactly as the contract
 * says (support/generators.ts): a valid one is stored under exactly that key, inside its bucket,
 * byte for byte; an invalid one gets `InvalidProjectError` with a right reason and nothing is
 * written. Every generated input counts as a case in RELIABILITY.md; the seed is recorded so a
 * failure can be replayed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Credentials,
  FilesystemCredentials,
  InvalidProjectError,
} from '../../src/credentials/index.js';
import { InMemoryCredentials } from '../../src/credentials/testing/index.js';
import { readAll, type RunningBackend, startBackend, storageEnv } from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireS3Server,
} from '../support/test-servers.js';
import { zipBody } from './support/corpus.js';
import {
  bodyArbitrary,
  bodyOf,
  bodyVerdict,
  nameArbitrary,
  nameIsValid,
} from './support/generators.js';
import { type CaseMeta, errorEvidence, recordProperty } from './support/results.js';
import { headObject, s3 } from './support/storage.js';

const MAX = 4096;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Runs a property, records every generated input as a case, and fails on a counterexample. */
async function property<T>(
  meta: CaseMeta,
  arbitrary: fc.Arbitrary<T>,
  numRuns: number,
  check: (input: T) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  const details = await fc.check(fc.asyncProperty(arbitrary, check), { numRuns });
  recordProperty(meta, details, performance.now() - started, { seed: details.seed });
  if (details.failed) {
    throw new Error(
      `counterexample after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath}): ` +
        `${fc.stringify(details.counterexample)}: ${String(details.errorInstance)}`,
    );
  }
  expect(details.numRuns).toBe(numRuns);
}

/** Uploads `name`; valid names must be stored, invalid ones refused for their name. */
async function judgeName(
  credentials: Credentials,
  name: string,
  source: string,
): Promise<'stored' | 'refused'> {
  const data = zipBody(64);
  const outcome = await credentials.uploadProject(name, data).then(
    (stored) => stored,
    (err: unknown) => err as Error,
  );
  if (nameIsValid(name)) {
    if (outcome instanceof Error) throw new Error(`a valid name was refused: ${outcome.message}`);
    expect(outcome.key).toBe(name);
    return 'stored';
  }
  if (!(outcome instanceof Error)) throw new Error('an invalid name was stored');
  errorEvidence(source, outcome);
  expect(outcome).toBeInstanceOf(InvalidProjectError);
  expect((outcome as InvalidProjectError).reason).toBe('name');
  return 'refused';
}

describe('generated names and bodies on the in-memory double', () => {
  const meta = (group: string): CaseMeta => ({
    category: 'bad-input',
    group,
    backend: 'in-memory',
  });

  it('judges 5,000 generated names as the contract does, storing only the valid ones', async () => {
    const double = new InMemoryCredentials({ maxProjectSize: MAX });
    await property(meta('generated names (fast-check)'), nameArbitrary, 5_000, async (name) => {
      const before = [...double.storedProjects().keys()];
      const verdict = await judgeName(double, name, 'generated/in-memory');
      const after = [...double.storedProjects().keys()];
      const added = after.filter((key) => !before.includes(key));
      expect(added).toEqual(verdict === 'stored' && !before.includes(name) ? [name] : []);
    });
  });

  it('judges 2,000 generated bodies as the contract does, storing them byte for byte', async () => {
    const double = new InMemoryCredentials({ maxProjectSize: MAX });
    let n = 0;
    await property(
      meta('generated bodies (fast-check)'),
      bodyArbitrary(MAX),
      2_000,
      async (body) => {
        const name = `body-${n++}.zip`;
        const { valid, reasons } = bodyVerdict(body.bytes, MAX);
        const outcome = await double.uploadProject(name, bodyOf(body)).then(
          (stored) => stored,
          (err: unknown) => err as Error,
        );
        if (valid) {
          if (outcome instanceof Error)
            throw new Error(`a valid body was refused: ${outcome.message}`);
          expect(double.storedProject(double.bucket, name)?.equals(body.bytes)).toBe(true);
        } else {
          if (!(outcome instanceof Error)) throw new Error('an invalid body was stored');
          expect(outcome).toBeInstanceOf(InvalidProjectError);
          expect(reasons).toContain((outcome as InvalidProjectError).reason);
          expect(double.storedProject(double.bucket, name)).toBeUndefined();
        }
      },
    );
  });
});

describe('generated names and bodies on the filesystem backend', () => {
  let work: string;
  let running: RunningBackend;
  const meta = (group: string): CaseMeta => ({
    category: 'bad-input',
    group,
    backend: 'filesystem',
  });

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nest-credentials-rel-generated-'));
    running = await startBackend(
      {
        CREDENTIALS: 'filesystem',
        PROJECTS_DIR: path.join(work, 'root'),
        BUCKET_NAME_PROJECTS: 'projects',
        REGISTRY_HOST: '127.0.0.1:5000',
      },
      {
        backends: { filesystem: FilesystemCredentials },
        maxProjectSize: MAX,
        spoolDir: path.join(work, 'spool'),
      },
    );
  });

  afterAll(async () => {
    await running?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('judges 1,500 generated names, writing only inside the bucket, only for valid names', async () => {
    const bucketDir = path.join(work, 'root', 'projects');
    await property(meta('generated names (fast-check)'), nameArbitrary, 1_500, async (name) => {
      const before = await filesUnder(work);
      const verdict = await judgeName(running.credentials, name, 'generated/filesystem');
      const after = await filesUnder(work);
      const added = after.filter((file) => !before.includes(file));
      if (verdict === 'refused') {
        expect(added).toEqual([]);
        return;
      }
      // Stored as <root>/projects/<name> exactly, with at most its metadata beside it.
      const file = path.resolve(bucketDir, name);
      expect(path.dirname(file)).toBe(bucketDir);
      expect(after).toContain(path.join('root', 'projects', name));
      for (const entry of added) {
        expect([
          path.join('root', 'projects', name),
          path.join('root', 'projects', '.meta', name),
        ]).toContain(entry);
      }
      const back = await readAll(await running.credentials.downloadProject('projects', name));
      expect(back.equals(zipBody(64))).toBe(true);
    });
  });

  it('judges 1,000 generated bodies, writing nothing for the refused ones', async () => {
    let n = 0;
    await property(
      meta('generated bodies (fast-check)'),
      bodyArbitrary(MAX),
      1_000,
      async (body) => {
        const name = `body-${n++}.zip`;
        const { valid, reasons } = bodyVerdict(body.bytes, MAX);
        const before = await filesUnder(work);
        const outcome = await running.credentials.uploadProject(name, bodyOf(body)).then(
          (stored) => stored,
          (err: unknown) => err as Error,
        );
        const added = (await filesUnder(work)).filter((file) => !before.includes(file));
        if (valid) {
          if (outcome instanceof Error)
            throw new Error(`a valid body was refused: ${outcome.message}`);
          const back = await readAll(await running.credentials.downloadProject('projects', name));
          expect(back.equals(body.bytes)).toBe(true);
        } else {
          if (!(outcome instanceof Error)) throw new Error('an invalid body was stored');
          expect(outcome).toBeInstanceOf(InvalidProjectError);
          expect(reasons).toContain((outcome as InvalidProjectError).reason);
          expect(added).toEqual([]);
        }
      },
    );
  });
});

describe.each(['aws', 'local'] as const)(
  'generated names on the %s backend (real S3 server)',
  (backend) => {
    let bucket: string;
    let running: RunningBackend;

    beforeAll(async () => {
      await requireS3Server();
      bucket = await createTestBucket(`rel-generated-${backend}`);
      running = await startBackend(storageEnv(backend, bucket), { maxProjectSize: MAX });
    });

    afterAll(async () => {
      await running?.close();
      if (bucket) await deleteTestBucket(bucket);
    });

    it('judges 250 generated names, storing exactly the valid ones under their own key', async () => {
      await property(
        { category: 'bad-input', group: 'generated names (fast-check)', backend },
        nameArbitrary,
        250,
        async (name) => {
          const verdict = await judgeName(running.credentials, name, `generated/${backend}`);
          if (verdict === 'stored') {
            expect((await headObject(bucket, name))?.size).toBe(64);
          }
        },
      );
      // Nothing but valid names was written, and no multipart upload is left.
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => o.Key ?? '');
      expect(keys.filter((key) => !nameIsValid(key))).toEqual([]);
      expect(await listIncompleteUploads(bucket)).toEqual([]);
    });
  },
);
