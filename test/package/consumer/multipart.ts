// A project larger than one part (partSize 5 MiB, the least allowed), uploaded as a stream to
// the backend named by CREDENTIALS: plain (spooled), with its `sha256` option (sent as it
// arrives), and with a wrong `sha256`; each read back and its SHA-256 compared. Reports what the
// package's SHA-256 worker thread hashed. Run by test/package/packed-package.spec.ts, as an ES
// module and as CommonJS.
import { hashWorker } from './hash-worker-probe.js'; // first: before the package is loaded
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import {
  Credentials,
  CredentialsError,
  CredentialsModule,
  InjectCredentials,
  type UploadOptions,
} from 'nest-credentials';
import { runApp } from './run-app.js';

const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;

const sha256Of = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** The bytes as a caller's stream delivers them: in 64 KiB chunks. */
const streamOf = (bytes: Buffer) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / (64 * 1024)) }, (_, i) =>
      bytes.subarray(i * 64 * 1024, (i + 1) * 64 * 1024),
    ),
  );

const errorOf = (err: unknown) =>
  err instanceof CredentialsError ? `${err.constructor.name}:${err.code}` : String(err);

@Injectable()
class MultipartDeployer {
  constructor(@InjectCredentials() private readonly credentials: Credentials) {}

  /** The SHA-256 of the object read back, or the error of the download. */
  private async downloadedSha256(bucket: string, key: string): Promise<string> {
    try {
      const hash = createHash('sha256');
      for await (const chunk of await this.credentials.downloadProject(bucket, key)) {
        hash.update(chunk as Buffer);
      }
      return hash.digest('hex');
    } catch (err) {
      return errorOf(err);
    }
  }

  /**
   * One upload of `zip` as a stream: its outcome, the progress reported (once per part the server
   * took), what is stored under `key` after it, and the bytes the worker thread hashed meanwhile.
   */
  private async upload(bucket: string, key: string, zip: Buffer, options: UploadOptions = {}) {
    const before = hashWorker.hashedBytes();
    const progress: number[] = [];
    const onProgress = (bytes: number) => void progress.push(bytes);
    const outcome = await this.credentials
      .uploadProject(key, streamOf(zip), { ...options, onProgress })
      .then(
        (stored) => ({ size: stored.size, sha256Matches: stored.sha256 === sha256Of(zip) }),
        (err: unknown) => ({ error: errorOf(err) }),
      );
    const downloaded = await this.downloadedSha256(bucket, key);
    return {
      outcome,
      progress: { reports: progress.length, last: progress.at(-1) },
      downloaded: downloaded === sha256Of(zip) ? 'same SHA-256' : downloaded,
      workerHashedBytes: hashWorker.hashedBytes() - before,
    };
  }

  async run() {
    const bucket = process.env.BUCKET_NAME_PROJECTS as string;
    const zip = Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(12 * MiB)]);
    return {
      size: zip.length,
      partSize: PART_SIZE,
      plain: await this.upload(bucket, 'multipart-plain', zip),
      withSha256: await this.upload(bucket, 'multipart-sha256', zip, { sha256: sha256Of(zip) }),
      wrongSha256: await this.upload(bucket, 'multipart-wrong', zip, {
        sha256: sha256Of('not the project'),
      }),
      workersStarted: hashWorker.started(),
      finishedAt: Date.now(),
    };
  }
}

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    CredentialsModule.forRoot({ partSize: PART_SIZE }),
  ],
  providers: [MultipartDeployer],
})
class MultipartAppModule {}

void runApp(MultipartAppModule, MultipartDeployer);
