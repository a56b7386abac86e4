import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../../src/app.module.js';
import type { Credentials } from '../../../src/credentials/index.js';
import { overrideCredentials } from '../../../src/credentials/testing/index.js';

/** A token long enough for ApiTokenGuard, used by every e2e app. */
export const API_TOKEN = 'e2e-api-token-0123456789abcdef';

export interface RunningApp {
  app: INestApplication;
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** Starts `app` on a free port of 127.0.0.1. */
export async function listen(app: INestApplication): Promise<RunningApp> {
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  return { app, server, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * The example application, configured by `env` alone (never the process environment or
 * `.env`), with `double` in place of the backend when given.
 */
export async function startExampleApp(
  env: Record<string, string>,
  double?: Credentials,
): Promise<RunningApp> {
  const builder = Test.createTestingModule({ imports: [AppModule.forTest(env)] });
  const moduleRef = await (double ? overrideCredentials(builder, double) : builder).compile();
  // Errors of 5xx are logged by the controller; the tests assert them instead.
  return listen(moduleRef.createNestApplication({ logger: false }));
}
