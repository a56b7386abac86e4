// A separate application, as a new user writes it: only the names of the public contract,
// imported from the installed package. Run by test/package/packed-package.spec.ts.
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import * as root from 'nest-credentials';
import {
  Credentials,
  CredentialsError,
  CredentialsModule,
  InjectCredentials,
  InvalidProjectError,
  ProjectNotFoundError,
  type ProjectObject,
} from 'nest-credentials';
import {
  FilesystemObjectStore,
  type ObjectStore,
  readEnv,
  resolveTransferSettings,
  StoreBackedCredentials,
} from 'nest-credentials/backend';
import { InMemoryCredentials } from 'nest-credentials/testing';
import { runApp } from './run-app.js';

/** A custom backend built from `nest-credentials/backend`: projects in a local directory. */
@Injectable()
class DiskCredentials extends StoreBackedCredentials {
  protected readonly bucketName: string;
  protected readonly transfer = resolveTransferSettings();

  constructor(config: ConfigService) {
    super();
    const env = readEnv(config, 'disk', {
      BUCKET_NAME_PROJECTS: { required: true, kind: 'bucket' },
    });
    this.bucketName = env.BUCKET_NAME_PROJECTS as string;
    this.credentials.BUCKET_NAME_PROJECTS = this.bucketName;
  }

  async getRegistryToken(): Promise<string | null> {
    return null;
  }

  protected async createStore(): Promise<ObjectStore> {
    return new FilesystemObjectStore({
      root: join(process.cwd(), 'disk-projects'),
      implicitBuckets: [this.bucketName],
    });
  }
}

@Injectable()
class Deployer {
  constructor(
    @InjectCredentials() private readonly credentials: Credentials,
    @InjectCredentials('disk') private readonly disk: Credentials,
  ) {}

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
      custom: await (async () => {
        const kept = await this.disk.uploadProject('custom-project', zip);
        const read: Buffer[] = [];
        for await (const chunk of await this.disk.downloadProject(bucket, 'custom-project')) {
          read.push(chunk as Buffer);
        }
        return {
          backend: JSON.stringify(this.disk),
          size: kept.size,
          roundTrip: Buffer.concat(read).equals(zip),
        };
      })(),
      // Internals of the backend entry are not on the root export.
      internalsOnRoot: ['StoreBackedCredentials', 'FilesystemObjectStore', 'readEnv'].filter(
        (name) => name in root,
      ),
    };
  }
}

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    CredentialsModule.forRoot(),
    CredentialsModule.forRoot({
      name: 'disk',
      backend: 'disk',
      backends: { disk: DiskCredentials },
    }),
  ],
  providers: [Deployer],
})
class AppModule {}

void runApp(AppModule, Deployer);
