import 'reflect-metadata';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Test } from '@nestjs/testing';
import {
  type Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsModule,
  FilesystemCredentials,
} from '../../src/credentials/index.js';
import { configFromEnv, zipLike } from '../support/backends.js';
import { API_TOKEN, listen, type RunningApp } from './support/example-app.js';

const MiB = 1024 * 1024;
const BUCKET = 'projects';
const IDLE_MS = 1_000;
const CLIENTS = 10;

let dir: string;
let running: RunningApp;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-idle-'));
  const moduleRef = await Test.createTestingModule({
    imports: [
      configFromEnv({
        CREDENTIALS: 'filesystem',
        PROJECTS_DIR: dir,
        BUCKET_NAME_PROJECTS: BUCKET,
        REGISTRY_HOST: '127.0.0.1:5000',
        CREDENTIALS_API_TOKEN: API_TOKEN,
      }),
      CredentialsModule.forRoot({
        backends: { filesystem: FilesystemCredentials },
        controller: true,
        requestTimeoutMs: IDLE_MS,
      }),
    ],
  }).compile();
  running = await listen(moduleRef.createNestApplication({ logger: false }));
  const credentials = moduleRef.get<Credentials>(CREDENTIALS_PROVIDER);
  await credentials.uploadProject('big.zip', zipLike(32 * MiB));
});

afterAll(async () => {
  await running?.close();
  await rm(dir, { recursive: true, force: true });
});

/** File descriptors of this process that are open on `file`. */
function handlesOn(file: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** A raw client that sends the GET, reads the first bytes of the answer, then stops reading. */
function pausedClient(url: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.once('error', reject);
    socket.write(
      `GET /projects/big.zip HTTP/1.1\r\nHost: ${url.host}\r\n` +
        `Authorization: Bearer ${API_TOKEN}\r\n\r\n`,
    );
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.on('error', () => undefined);
      expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
      resolve(socket);
    });
  });
}

it('releases the file handle of a download whose client stops reading, after requestTimeoutMs', async () => {
  const file = path.join(dir, BUCKET, 'big.zip');
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => pausedClient(new URL(running.url))),
  );
  try {
    // Every paused download holds its file open...
    expect(handlesOn(file)).toBe(CLIENTS);
    const paused = Date.now();
    // ...until its idle deadline (generous margin for a loaded machine).
    while (handlesOn(file) > 0 && Date.now() - paused < 10 * IDLE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const released = Date.now() - paused;
    expect(handlesOn(file)).toBe(0);
    expect(released).toBeGreaterThanOrEqual(IDLE_MS * 0.9);
    // The server cut the connections too (a client that does not read cannot even see that).
    const connections = () =>
      new Promise<number>((resolve, reject) =>
        running.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      );
    const cutAt = Date.now();
    while ((await connections()) > 0 && Date.now() - cutAt < 5 * IDLE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await connections()).toBe(0);
    process.stdout.write(`idle downloads released after ${released} ms\n`);
  } finally {
    for (const socket of clients) socket.destroy();
  }
}, 30_000);
