// A separate application, as a new user writes it: only the names of the public contract,
// imported from the installed package. Run by test/package/packed-package.spec.ts.
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import {
  Credentials,
  CredentialsConfigError,
  CredentialsError,
  CredentialsModule,
  InjectCredentials,
  InvalidProjectError,
  ProjectNotFoundError,
  type ProjectObject,
} from 'nest-credentials';
import { InMemoryCredentials } from 'nest-credentials/testing';

@Injectable()
class Deployer {
  constructor(@InjectCredentials() private readonly credentials: Credentials) {}

  async run() {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(3 * 1024 * 1024)]);
    const stored: ProjectObject = await this.credentials.uploadProject('consumer-project', zip);
    const chunks: Buffer[] = [];
    const bucket = process.env.BUCKET_NAME_PROJECTS as string;
    for await (const chunk of await this.credentials.downloadProject(bucket, 'consumer-project')) {
      chunks.push(chunk as Buffer);
    }
    const back = Buffer.concat(chunks);
    const errorOf = async (call: () => Promise<unknown>) =>
      call().then(
        () => 'no error',
        (err: unknown) =>
          err instanceof CredentialsError ? `${err.constructor.name}:${err.code}` : String(err),
      );
    return {
      backend: JSON.stringify(this.credentials),
      stored,
      sha256Matches: createHash('sha256').update(zip).digest('hex') === stored.sha256,
      roundTrip: back.equals(zip),
      token: await this.credentials.getRegistryToken(),
      credentialKeys: Object.keys(await this.credentials.getCredentials()).sort(),
      missing: await errorOf(() => this.credentials.downloadProject(bucket, 'missing-project')),
      refused: await errorOf(() => this.credentials.uploadProject('../escape', zip)),
      double: await (async () => {
        const double = new InMemoryCredentials({ registryToken: 'double-token' });
        await double.uploadProject('in-memory', zip);
        return {
          token: await double.getRegistryToken(),
          stored: double.callsTo('uploadProject').length,
        };
      })(),
      typed: [ProjectNotFoundError, InvalidProjectError].every(
        (type) => type.prototype instanceof CredentialsError,
      ),
    };
  }
}

@Module({
  imports: [ConfigModule.forRoot({ isGlobal: true }), CredentialsModule.forRoot()],
  providers: [Deployer],
})
class AppModule {}

// No top-level await: the same file is compiled as an ES module and as CommonJS (`require`).
async function main(): Promise<void> {
  try {
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    const result = await app.get(Deployer).run();
    await app.close();
    console.log(JSON.stringify(result));
  } catch (err) {
    const kind = err instanceof CredentialsConfigError ? 'config-error' : 'error';
    console.log(JSON.stringify({ [kind]: err instanceof Error ? err.message : String(err) }));
  }
}
void main();
