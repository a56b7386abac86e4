import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { startupBanner } from './app.banner.js';
import { AppModule } from './app.module.js';
import { DEFAULT_TRANSFER_SETTINGS } from './credentials/config/transfer-settings.js';

const API_TOKEN_ENV = 'CREDENTIALS_API_TOKEN';

export interface StartedApp {
  app: INestApplication;
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** The startup message for the console (URL, token, curl lines). */
  banner: string;
}

function portOf(value: unknown): number {
  const port = Number(value ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535 (got "${String(value)}")`);
  }
  return port;
}

/**
 * Starts the example app as `npm start` does: settings from the environment and `.env`, an API
 * token generated when none is configured, `HOST` (default 127.0.0.1) and `PORT` (0: any).
 * `options` go to `NestFactory.create` (tests pass `{ logger: false }`).
 */
export async function startExampleApp(options: NestApplicationOptions = {}): Promise<StartedApp> {
  // Used only when neither the environment nor .env sets a token: a dev app must still not
  // hand out registry tokens and projects to anyone who can reach the port.
  const fallbackToken = randomBytes(32).toString('base64url');
  const app = await NestFactory.create(
    AppModule.fromEnvironment({ [API_TOKEN_ENV]: fallbackToken }),
    // Report a bad configuration to the caller, rather than abort() with a core dump.
    { abortOnError: false, ...options },
  );
  try {
    // SIGTERM / SIGINT close the app: the server stops listening, the backend closes its clients.
    app.enableShutdownHooks();
    const config = app.get(ConfigService);
    const host = String(config.get<unknown>('HOST') ?? '127.0.0.1');
    const server = app.getHttpServer() as Server;
    // Node ends a request still arriving after 5 minutes; a large upload on a slow link may
    // rightly take as long as the module's upload deadline.
    server.requestTimeout = DEFAULT_TRANSFER_SETTINGS.uploadTimeoutMs;
    await app.listen(portOf(config.get<unknown>('PORT')), host);

    const { port } = server.address() as AddressInfo;
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    const generated = config.get<unknown>(API_TOKEN_ENV) === fallbackToken;
    const banner = startupBanner({
      url,
      backend: String(config.get<unknown>('CREDENTIALS') ?? ''),
      generatedToken: generated ? fallbackToken : undefined,
    });
    return { app, url, banner };
  } catch (err) {
    await app.close();
    throw err;
  }
}
