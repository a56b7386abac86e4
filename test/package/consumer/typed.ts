// A separate application whose settings are all given in code (README, "Settings in code"):
// typed `forRoot` settings of the filesystem and local backends, run with no environment
// variable but PATH. The local backend's values come as a JSON argument (as a vault would hand
// them over). Run by test/package/packed-package.spec.ts, as an ES module and as CommonJS.
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import {
  Credentials,
  CredentialsModule,
  FilesystemCredentials,
  type FilesystemSettings,
  InjectCredentials,
  type LocalSettings,
} from 'nest-credentials';
import { FilesystemObjectStore, resolveTransferSettings } from 'nest-credentials/backend';
import { runApp } from './run-app.js';

const local = JSON.parse(process.argv[2] ?? '{}') as LocalSettings;
const filesystem: FilesystemSettings = {
  bucket: 'typed-projects',
  registryHost: '127.0.0.1:5999',
  projectsDir: join(process.cwd(), 'typed-projects'),
};

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

@Injectable()
class TypedDeployer {
  constructor(
    @InjectCredentials('disk') private readonly disk: Credentials,
    @InjectCredentials('s3') private readonly s3: Credentials,
  ) {}

  /** Upload, download, and the stored bytes read behind the backend's back. */
  private async roundTrip(credentials: Credentials, bucket: string, zip: Buffer) {
    const stored = await credentials.uploadProject('typed-project', zip);
    const back = await readAll(await credentials.downloadProject(bucket, 'typed-project'));
    return {
      backend: JSON.stringify(credentials),
      stored,
      sha256Matches: createHash('sha256').update(zip).digest('hex') === stored.sha256,
      roundTrip: back.equals(zip),
    };
  }

  async run() {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(2 * 1024 * 1024)]);
    const disk = await this.roundTrip(this.disk, filesystem.bucket as string, zip);
    // The file the typed settings put in `projectsDir`, read with `nest-credentials/backend`.
    const store = new FilesystemObjectStore({ root: filesystem.projectsDir as string });
    const onDisk = await readAll(
      (await store.getObject(filesystem.bucket as string, 'typed-project')).body,
    );
    await store.close();
    return {
      environment: Object.keys(process.env).filter((name) => name !== 'PATH'),
      disk: { ...disk, onDisk: onDisk.equals(zip) },
      s3: await this.roundTrip(this.s3, local.bucket as string, zip),
      partSize: resolveTransferSettings().partSize,
    };
  }
}

@Module({
  imports: [
    CredentialsModule.forRoot({
      name: 'disk',
      backend: 'filesystem',
      backends: { filesystem: FilesystemCredentials },
      filesystem,
    }),
    CredentialsModule.forRoot({ name: 's3', backend: 'local', local }),
  ],
  providers: [TypedDeployer],
})
class TypedAppModule {}

void runApp(TypedAppModule, TypedDeployer);
