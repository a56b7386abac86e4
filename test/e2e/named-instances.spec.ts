import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  Credentials,
  CredentialsModule,
  FilesystemCredentials,
  getCredentialsToken,
  InjectCredentials,
  LocalCredentials,
  type ProjectObject,
} from '../../src/credentials/index.js';
import { configFromEnv, readAll, sha256Of, storageEnv, zipLike } from '../support/backends.js';
import {
  createTestBucket,
  createTestS3Client,
  deleteTestBucket,
  requireS3Server,
} from '../support/test-servers.js';

/**
 * Two backends side by side in one app: the default instance on the embedded filesystem
 * backend, a second one named "archive" on `local` (the Swift s3api test server), and a service
 * that moves a project from the first to the second, streaming.
 */
@Injectable()
class ArchiveService {
  constructor(
    private readonly projects: Credentials,
    @InjectCredentials('archive') private readonly archive: Credentials,
  ) {}

  async archiveProject(bucket: string, name: string): Promise<ProjectObject> {
    return this.archive.uploadProject(name, await this.projects.downloadProject(bucket, name));
  }
}

let dir: string;
let bucket: string;
let app: INestApplicationContext;

beforeAll(async () => {
  await requireS3Server();
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-named-'));
  bucket = await createTestBucket('named-instances');
  const env = {
    ...storageEnv('local', bucket),
    CREDENTIALS: 'filesystem',
    PROJECTS_DIR: dir,
  };
  app = await Test.createTestingModule({
    imports: [
      configFromEnv(env),
      CredentialsModule.forRoot({ backends: { filesystem: FilesystemCredentials } }),
      CredentialsModule.forRoot({ name: 'archive', backend: 'local' }),
    ],
    providers: [ArchiveService],
  }).compile();
  await app.init();
});

afterAll(async () => {
  await app?.close();
  if (bucket) await deleteTestBucket(bucket);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two credentials instances in one app', () => {
  it('binds the default and the named instance to their own backends', () => {
    expect(app.get(Credentials)).toBeInstanceOf(FilesystemCredentials);
    expect(app.get(getCredentialsToken())).toBe(app.get(Credentials));
    expect(app.get(getCredentialsToken('archive'))).toBeInstanceOf(LocalCredentials);
  });

  it('moves a multipart-sized project from the filesystem to the S3 server, byte for byte', async () => {
    const zip = zipLike(12 * 1024 * 1024);
    const stored = await app.get(Credentials).uploadProject('moved.zip', zip);
    const archived = await app.get(ArchiveService).archiveProject(stored.bucket, 'moved.zip');
    expect(archived).toEqual({ bucket, key: 'moved.zip', size: zip.length, sha256: sha256Of(zip) });
    const object = await createTestS3Client().send(
      new GetObjectCommand({ Bucket: bucket, Key: 'moved.zip' }),
    );
    expect(object.Metadata?.sha256).toBe(sha256Of(zip));
    expect((await readAll(object.Body as never)).equals(zip)).toBe(true);
  });
});
