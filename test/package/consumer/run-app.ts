import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CredentialsConfigError } from 'nest-credentials';

/**
 * Boots `appModule` as an application context, runs its `service`, and prints what it returned
 * (or the error, a `CredentialsConfigError` told apart) as one JSON line for the test to read.
 * No top-level await: the consumer is compiled as an ES module and as CommonJS (`require`).
 */
export async function runApp(
  appModule: Type,
  service: Type<{ run(): Promise<unknown> }>,
): Promise<void> {
  try {
    const app = await NestFactory.createApplicationContext(appModule, { logger: false });
    const result = await app.get(service).run();
    await app.close();
    console.log(JSON.stringify(result));
  } catch (err) {
    const kind = err instanceof CredentialsConfigError ? 'config-error' : 'error';
    console.log(JSON.stringify({ [kind]: err instanceof Error ? err.message : String(err) }));
  }
}
