import { createServer, type Server, type Socket } from 'node:net';
import { StorageUnavailableError } from '../../src/credentials/index.js';
import {
  readAll,
  rejectionOf,
  type RunningBackend,
  startBackend,
  STORAGE_BACKENDS,
  storageEnv,
  zipLike,
} from '../support/backends.js';
import {
  createTestBucket,
  deleteTestBucket,
  requireS3Server,
  startS3Server,
  stopS3Server,
} from '../support/test-servers.js';

const DEADLINE_MS = 1_500;

/** A TCP server that accepts connections and never answers: a hung storage server. */
async function startSilentServer(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Time a rejected call took, and what it rejected with. */
async function timedRejection(call: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const started = Date.now();
  const err = await rejectionOf(call());
  return { err, ms: Date.now() - started };
}

describe.each(STORAGE_BACKENDS)('%s backend when storage fails', (backend) => {
  it('ends calls to a server that stops answering within the deadline', async () => {
    const silent = await startSilentServer();
    const running = await startBackend(
      storageEnv(backend, 'projects', undefined, silent.endpoint),
      {
        requestTimeoutMs: DEADLINE_MS,
        uploadTimeoutMs: 4 * DEADLINE_MS,
      },
    );
    try {
      for (const call of [
        () => running.credentials.uploadProject('hung.zip', zipLike(1024)),
        () => running.credentials.downloadProject('projects', 'hung.zip'),
      ]) {
        const { err, ms } = await timedRejection(call);
        expect(err).toBeInstanceOf(StorageUnavailableError);
        // The client's own retries fit inside the upload deadline.
        expect(ms).toBeLessThan(4 * DEADLINE_MS + 1_000);
      }
    } finally {
      await running.close();
      await silent.close();
    }
  });

  describe('while the real server is stopped and after it restarts', () => {
    let bucket: string;
    let running: RunningBackend;

    beforeAll(async () => {
      await requireS3Server();
      bucket = await createTestBucket(`outage-${backend}`);
      running = await startBackend(storageEnv(backend, bucket), { requestTimeoutMs: 5_000 });
      await running.credentials.uploadProject('before.zip', zipLike(2048));
    });

    afterAll(async () => {
      await running?.close();
      if (bucket) await deleteTestBucket(bucket);
    });

    it('fails fast with StorageUnavailableError, then works again without a restart', async () => {
      stopS3Server();
      try {
        for (const call of [
          () => running.credentials.uploadProject('during.zip', zipLike(2048)),
          () => running.credentials.downloadProject(bucket, 'before.zip'),
        ]) {
          const { err, ms } = await timedRejection(call);
          expect(err).toBeInstanceOf(StorageUnavailableError);
          expect(ms).toBeLessThan(5_000);
        }
      } finally {
        startS3Server();
      }
      const data = zipLike(4096);
      await running.credentials.uploadProject('after.zip', data);
      const back = await readAll(await running.credentials.downloadProject(bucket, 'after.zip'));
      expect(back.equals(data)).toBe(true);
    });
  });
});
