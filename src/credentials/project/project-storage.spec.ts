import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DEFAULT_TRANSFER_SETTINGS } from '../config/transfer-settings.js';
import { StorageUnavailableError } from '../errors.js';
import type { ObjectStore, PartSource } from '../store/object-store.js';
import { ProjectStorage } from './project-storage.js';

const MiB = 1024 * 1024;

/** A store whose writes never end on their own: they settle only when `signal` aborts. */
function stalledStore(seen: { parts?: PartSource }): ObjectStore {
  const untilAborted = (signal: AbortSignal) =>
    new Promise<void>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new Error('request destroyed')), {
        once: true,
      }),
    );
  return {
    putObject: (_bucket, _key, _data, _sha256, signal) => untilAborted(signal),
    putParts: async (_bucket, _key, body, signal) => {
      seen.parts = body;
      await untilAborted(signal);
    },
    etagOf: async () => undefined,
    checkBucket: async () => undefined,
    getObject: async () => {
      throw new Error('not used');
    },
    close: async () => undefined,
  };
}

const zipOf = (size: number) => {
  const data = Buffer.alloc(size, 7);
  data.write('PK\x03\x04', 0, 'latin1');
  return data;
};

function storageWith(store: ObjectStore, spoolDir: string) {
  return new ProjectStorage(store, 'projects', {
    ...DEFAULT_TRANSFER_SETTINGS,
    partSize: 5 * MiB,
    maxProjectSize: 64 * MiB,
    spoolDir,
  });
}

describe('ProjectStorage: the caller aborts', () => {
  it('ends a single PUT that the store does not finish, at once, with a typed error', async () => {
    const storage = storageWith(stalledStore({}), tmpdir());
    const controller = new AbortController();
    const upload = storage.upload('single.zip', zipOf(1000), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await upload.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toMatch(/aborted by the caller/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('removes the spool file of a multipart upload aborted during its parts', async () => {
    const spoolDir = mkdtempSync(path.join(tmpdir(), 'project-storage-spec-'));
    const seen: { parts?: PartSource } = {};
    const storage = storageWith(stalledStore(seen), spoolDir);
    const controller = new AbortController();
    const upload = storage.upload('spooled.zip', Readable.from([zipOf(12 * MiB)]), {
      signal: controller.signal,
    });
    for (let i = 0; i < 100 && !seen.parts; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.parts).toBeDefined();
    expect(readdirSync(spoolDir)).toHaveLength(1);
    controller.abort();
    await expect(upload).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('refuses an upload whose signal is already aborted without calling the store', async () => {
    const seen: { parts?: PartSource } = {};
    const storage = storageWith(stalledStore(seen), tmpdir());
    const body = Readable.from([zipOf(12 * MiB)]);
    await expect(
      storage.upload('pre.zip', body, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(seen.parts).toBeUndefined();
    expect(body.destroyed).toBe(true);
  });
});
