import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../../src/app.module.js';
import type { Credentials } from '../../../src/credentials/index.js';
import { overrideCredentials } from '../../../src/credentials/testing/index.js';

/** A token long enough for ApiTokenGuard, used by every e2e app. */
export const API_TOKEN = 'e2e-api-token-0123456789abcdef';

/** The HTTP platforms the controller is served on: Nest's default (Express) and Fastify. */
export type Platform = 'express' | 'fastify';
export const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

export interface RunningApp {
  app: INestApplication;
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  platform: Platform;
  close(): Promise<void>;
}

/**
 * The Fastify adapter as the README tells users to create it: Fastify's router refuses path
 * parameters over 100 characters (414), and project names may have 255.
 */
export function fastifyAdapter(): FastifyAdapter {
  return new FastifyAdapter({ routerOptions: { maxParamLength: 1024 } });
}

/**
 * The Nest application of `moduleRef` on `platform`, as a user builds it:
 * `NestFactory.create(AppModule)` or `NestFactory.create(AppModule, fastifyAdapter())`.
 */
export function createApp(moduleRef: TestingModule, platform: Platform = 'express') {
  return platform === 'fastify'
    ? moduleRef.createNestApplication(fastifyAdapter(), { logger: false })
    : moduleRef.createNestApplication({ logger: false });
}

/** Starts `app` on a free port of 127.0.0.1. */
export async function listen(
  app: INestApplication,
  platform: Platform = 'express',
): Promise<RunningApp> {
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  return { app, server, url: `http://127.0.0.1:${port}`, platform, close: () => app.close() };
}

/**
 * The example application on `platform`, configured by `env` alone (never the process
 * environment or `.env`), with `double` in place of the backend when given.
 */
export async function startExampleApp(
  env: Record<string, string>,
  double?: Credentials,
  platform: Platform = 'express',
): Promise<RunningApp> {
  const builder = Test.createTestingModule({ imports: [AppModule.forTest(env)] });
  const moduleRef = await (double ? overrideCredentials(builder, double) : builder).compile();
  // Errors of 5xx are logged by the controller; the tests assert them instead.
  return listen(createApp(moduleRef, platform), platform);
}
