/**
 * Shared by the benchmark's orchestrator (`run.ts`) and its child processes: where the bench
 * servers and files live, how to boot the module from an env object, statistics and units.
 */
import 'reflect-metadata';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Module, type INestApplicationContext, type Type } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import type { Credentials, CredentialsModuleOptions } from '../src/credentials/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The repository root (this file runs from bench/dist/bench/). */
export const ROOT = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
/** Everything the bench writes outside the repository: servers, data files, downloads. */
export const BENCH_BASE = process.env.BENCH_BASE || '/tmp/nest-credentials-bench';
export const DATA_DIR = path.join(BENCH_BASE, 'data');
export const SINK_DIR = path.join(BENCH_BASE, 'sink');
/** The module's spoolDir in the bench (the default is the OS temporary directory). */
export const SPOOL_DIR = path.join(BENCH_BASE, 'spool');

/** The bench's own Swift s3api server, on ports apart from the test suite's (BENCH_S3_PORT..+4). */
export const S3 = {
  port: Number(process.env.BENCH_S3_PORT || 28080),
  base: path.join(BENCH_BASE, 's3'),
  region: 'us-east-1',
  accessKey: 'test:tester',
  secretKey: 'testing',
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  },
};

export const BUCKET = 'bench-projects';
export const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

export type Backend = 'aws' | 'local';
export const BACKENDS: Backend[] = ['aws', 'local'];

/** The module's environment for `backend`, pointed at the bench server (as in test/support). */
export function moduleEnv(backend: Backend, ecrEndpoint?: string): Record<string, string> {
  const common = { CREDENTIALS: backend, BUCKET_NAME_PROJECTS: BUCKET };
  return backend === 'aws'
    ? {
        ...common,
        REGISTRY_HOST: ECR_HOST,
        AWS_REGION: S3.region,
        AWS_ACCESS_KEY_ID: S3.accessKey,
        AWS_SECRET_ACCESS_KEY: S3.secretKey,
        AWS_ENDPOINT_URL_S3: S3.endpoint,
        // Never reached unless a token is asked for: the registry bench passes its fake ECR.
        AWS_ENDPOINT_URL_ECR: ecrEndpoint ?? 'http://127.0.0.1:9',
      }
    : {
        ...common,
        REGISTRY_HOST: '127.0.0.1:5000',
        MINIO_ENDPOINT: S3.endpoint,
        MINIO_ACCESS_KEY: S3.accessKey,
        MINIO_SECRET_KEY: S3.secretKey,
        MINIO_REGION: S3.region,
      };
}

export interface BootedModule {
  app: INestApplicationContext;
  credentials: Credentials;
  close(): Promise<void>;
}

/** The app module of the bench: configuration from `env` only, and the credentials module. */
async function benchAppModule(
  env: Record<string, string>,
  options: CredentialsModuleOptions & { controller?: { allowAnonymous: true } },
): Promise<Type> {
  const { CredentialsModule } = await import('../src/credentials/index.js');
  @Module({
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: true,
        ignoreEnvVars: true,
        load: [() => env],
      }),
      CredentialsModule.forRoot(options),
    ],
  })
  class BenchAppModule {}
  return BenchAppModule;
}

/**
 * Boots a Nest application context with the module, as an app would, from `env` only (never
 * the process environment). The module is imported lazily so that a child measuring start-up
 * or loaded modules sees the whole cost.
 */
export async function bootModule(
  env: Record<string, string>,
  options: CredentialsModuleOptions = {},
): Promise<BootedModule> {
  const { CREDENTIALS_PROVIDER } = await import('../src/credentials/index.js');
  const app = await NestFactory.createApplicationContext(await benchAppModule(env, options), {
    logger: false,
  });
  return {
    app,
    credentials: app.get<Credentials>(CREDENTIALS_PROVIDER),
    close: () => app.close(),
  };
}

/** The module with its HTTP controller (no guard), listening on a free loopback port. */
export async function bootController(
  env: Record<string, string>,
  options: CredentialsModuleOptions = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const module = await benchAppModule(env, { ...options, controller: { allowAnonymous: true } });
  const app = await NestFactory.create(module, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { port, close: () => app.close() };
}

// ---------------------------------------------------------------------------------------------
// Data files

export const dataFile = (bytes: number): string =>
  path.join(DATA_DIR, `project-${bytes / MiB}MiB.zip`);

/**
 * A file of `bytes` random bytes that opens like a ZIP (local file header), written once and
 * reused by every contender (random, so no layer can compress or deduplicate it).
 */
export async function ensureDataFile(bytes: number): Promise<string> {
  await mkdir(DATA_DIR, { recursive: true });
  const file = dataFile(bytes);
  if (existsSync(file) && statSync(file).size === bytes) {
    const head = Buffer.alloc(4);
    const fd = openSync(file, 'r');
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    if (head.equals(Buffer.from('PK\x03\x04', 'latin1'))) return file;
  }
  const fd = openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(8 * MiB);
  try {
    for (let offset = 0; offset < bytes; offset += chunk.length) {
      randomFillSync(chunk);
      if (offset === 0) chunk.write('PK\x03\x04', 'latin1');
      writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - offset));
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

// ---------------------------------------------------------------------------------------------
// Figures

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const mibPerS = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

export const now = (): number => performance.now();

/** Peak RSS of this process since it started (the kernel's high-water mark), in MiB. */
export const maxRssMiB = (): number => process.resourceUsage().maxRSS / KiB;

export const fmt = (value: number | null | undefined, digits = 1): string =>
  value !== null && value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
