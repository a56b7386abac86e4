import 'reflect-metadata';
import { afterAll, beforeAll, describe } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AccessDeniedError,
  type Credentials,
  CREDENTIALS_PROVIDER,
  ProjectNotFoundError,
} from '../../../src/credentials/index.js';
import { InMemoryCredentials } from '../../../src/credentials/testing/index.js';
import {
  API_TOKEN,
  type Platform,
  type RunningApp,
  startExampleApp,
} from '../../e2e/support/example-app.js';
import { objectExists, storageEnv } from '../../support/backends.js';
import { FakeEcrServer } from '../../support/fake-ecr-server.js';
import {
  AUTH_REGISTRY,
  createTestBucket,
  deleteTestBucket,
  listIncompleteUploads,
  requireRegistry,
  requireS3Server,
  S3_SERVER,
} from '../../support/test-servers.js';

const MiB = 1024 * 1024;

/**
 * The largest project the contract apps accept (`MAX_PROJECT_SIZE`): above one part (8 MiB),
 * so that a streamed upload near the limit takes the spooled, multipart path of S3 backends.
 */
export const CONTRACT_MAX_PROJECT_SIZE = 12 * MiB;

/** The name of one implementation of the contract, as the suite's titles show it. */
export type ImplementationName = 'memory' | 'filesystem' | 'local' | 'aws';

/** What a plain HTTP GET of a presigned URL gave. */
export interface UrlFetch {
  status: number;
  body: Buffer;
}

/**
 * One implementation of the contract, running behind the example app (its controller mounted,
 * `CREDENTIALS_API_TOKEN` = `API_TOKEN`), configured by `env` alone as an app configures it.
 */
export interface ContractSubject {
  name: ImplementationName;
  /** The backend the app got: `CREDENTIALS_PROVIDER` of the running app. */
  credentials: Credentials;
  running: RunningApp;
  /** The app's configuration. */
  env: Record<string, string>;
  /** `BUCKET_NAME_PROJECTS`: where uploads land. */
  bucket: string;
  /** `REGISTRY_HOST` as tools use it (no scheme, no path). */
  registryHost: string;
  /** What `getRegistryToken()` must give. */
  registryToken: string | null;
  /** Whether the registry token expires (ECR: 12 hours). */
  tokenExpires: boolean;
  /** Whether `getProjectDownloadUrl` signs URLs (else it is a `NotSupportedError`). */
  presignsUrls: boolean;
  /** A plain GET of a presigned URL (the double resolves its own `memory://` URLs). */
  fetchUrl(url: string): Promise<UrlFetch>;
  /** Whether `name` is stored in the upload bucket, looked up behind the backend's back. */
  isStored(name: string): Promise<boolean>;
  /** Fails when a refused upload left anything besides the object (parts, temporary files). */
  leftovers(): Promise<string[]>;
  /** Values that must never appear in an answer, a serialization or an error. */
  secrets: string[];
  close(): Promise<void>;
}

export interface Implementation {
  name: ImplementationName;
  /** Starts the example app on `platform` (Express unless told). */
  start(platform?: Platform): Promise<ContractSubject>;
}

const BASE_ENV = {
  CREDENTIALS_API_TOKEN: API_TOKEN,
  MAX_PROJECT_SIZE: String(CONTRACT_MAX_PROJECT_SIZE),
};

const basicToken = (username: string, password: string) =>
  Buffer.from(`${username}:${password}`).toString('base64');

async function plainFetch(url: string): Promise<UrlFetch> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

/** Every file under `dir`, as paths relative to it with "/" separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) =>
      path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    );
}

/** The in-memory test double, bound as the README shows, in an app configured like the others. */
const memory: Implementation = {
  name: 'memory',
  async start(platform) {
    // A bucket other than the double's default, and a host with scheme and path: the double
    // must follow the app's settings as the real backends do.
    const bucket = 'contract-memory-projects';
    const env = {
      ...BASE_ENV,
      BUCKET_NAME_PROJECTS: bucket,
      REGISTRY_HOST: 'https://registry.example.com:5000/v2/',
    };
    const registryToken = basicToken('builder', 'memory-registry-secret');
    const double = new InMemoryCredentials({
      registryToken,
      credentials: { API_KEY: 'memory-api-key-secret' },
    });
    const running = await startExampleApp(env, double, platform);
    return {
      name: 'memory',
      credentials: running.app.get<Credentials>(CREDENTIALS_PROVIDER),
      running,
      env,
      bucket,
      registryHost: 'registry.example.com:5000',
      registryToken,
      tokenExpires: false,
      presignsUrls: true,
      async fetchUrl(url) {
        try {
          return { status: 200, body: await double.readDownloadUrl(url) };
        } catch (err) {
          if (err instanceof ProjectNotFoundError) return { status: 404, body: Buffer.alloc(0) };
          if (err instanceof AccessDeniedError) return { status: 403, body: Buffer.alloc(0) };
          throw err;
        }
      },
      isStored: async (name) => double.storedProject(bucket, name) !== undefined,
      leftovers: async () => [],
      secrets: ['memory-registry-secret', 'memory-api-key-secret', API_TOKEN],
      close: () => running.close(),
    };
  },
};

const filesystem: Implementation = {
  name: 'filesystem',
  async start(platform) {
    const dir = await mkdtemp(path.join(tmpdir(), 'contract-filesystem-'));
    const bucket = 'contract-fs-projects';
    const env = {
      ...BASE_ENV,
      CREDENTIALS: 'filesystem',
      PROJECTS_DIR: dir,
      BUCKET_NAME_PROJECTS: bucket,
      REGISTRY_HOST: AUTH_REGISTRY.host,
      REGISTRY_USERNAME: AUTH_REGISTRY.username,
      REGISTRY_PASSWORD: AUTH_REGISTRY.password,
    };
    await requireRegistry(AUTH_REGISTRY.host);
    const running = await startExampleApp(env, undefined, platform);
    return {
      name: 'filesystem',
      credentials: running.app.get<Credentials>(CREDENTIALS_PROVIDER),
      running,
      env,
      bucket,
      registryHost: AUTH_REGISTRY.host,
      registryToken: basicToken(AUTH_REGISTRY.username, AUTH_REGISTRY.password),
      tokenExpires: false,
      presignsUrls: false,
      fetchUrl: plainFetch,
      // By listing, not by path: a refused name like ".." or "a/b" must not be resolved.
      isStored: async (name) => (await filesUnder(dir)).includes(`${bucket}/${name}`),
      leftovers: async () => (await filesUnder(dir)).filter((file) => file.includes('/.tmp/')),
      secrets: [AUTH_REGISTRY.password, API_TOKEN],
      close: async () => {
        await running.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

/** A backend on the Swift s3api test server, in a bucket of its own. */
async function onS3(
  name: 'local' | 'aws',
  platform: Platform | undefined,
  registry: (env: Record<string, string>) => Promise<{
    env: Record<string, string>;
    registryHost: string;
    registryToken: string;
    secrets: string[];
    close(): Promise<void>;
  }>,
): Promise<ContractSubject> {
  await requireS3Server();
  const bucket = await createTestBucket(`contract-${name}`);
  const withRegistry = await registry(storageEnv(name, bucket));
  const env = { ...BASE_ENV, ...withRegistry.env };
  let running: RunningApp;
  try {
    running = await startExampleApp(env, undefined, platform);
  } catch (err) {
    await withRegistry.close();
    await deleteTestBucket(bucket);
    throw err;
  }
  return {
    name,
    credentials: running.app.get<Credentials>(CREDENTIALS_PROVIDER),
    running,
    env,
    bucket,
    registryHost: withRegistry.registryHost,
    registryToken: withRegistry.registryToken,
    tokenExpires: name === 'aws',
    presignsUrls: true,
    fetchUrl: plainFetch,
    isStored: (key) => objectExists(bucket, key),
    leftovers: async () =>
      (await listIncompleteUploads(bucket)).map((upload) => `multipart upload of ${upload.Key}`),
    secrets: [S3_SERVER.secretKey, API_TOKEN, ...withRegistry.secrets],
    close: async () => {
      await running.close();
      await withRegistry.close();
      await deleteTestBucket(bucket);
    },
  };
}

const local: Implementation = {
  name: 'local',
  start: (platform) =>
    onS3('local', platform, async (env) => {
      await requireRegistry(AUTH_REGISTRY.host);
      return {
        env: {
          ...env,
          REGISTRY_USERNAME: AUTH_REGISTRY.username,
          REGISTRY_PASSWORD: AUTH_REGISTRY.password,
        },
        registryHost: AUTH_REGISTRY.host,
        registryToken: basicToken(AUTH_REGISTRY.username, AUTH_REGISTRY.password),
        secrets: [AUTH_REGISTRY.password],
        close: async () => undefined,
      };
    }),
};

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ECR_PASSWORD = 'contract-ecr-password-7731';

const aws: Implementation = {
  name: 'aws',
  start: (platform) =>
    onS3('aws', platform, async (env) => {
      // ECR is the one service mocked, at the HTTP level: the real SDK client talks to it.
      const ecr = await FakeEcrServer.start({ password: ECR_PASSWORD });
      return {
        env: { ...env, REGISTRY_HOST: ECR_HOST, AWS_ENDPOINT_URL_ECR: ecr.url },
        registryHost: ECR_HOST,
        registryToken: ecr.token,
        secrets: [ECR_PASSWORD],
        close: () => ecr.close(),
      };
    }),
};

/** Every implementation the contract suite runs against. */
export const IMPLEMENTATIONS: Implementation[] = [memory, filesystem, local, aws];

/**
 * Runs `cases` once per implementation, each on its own running app: one suite, every
 * implementation, so that a behaviour that differs between them fails on the one that differs.
 * With `platforms`, once per implementation and HTTP platform (the controller's cases: the same
 * routes and answers on Express and Fastify).
 * New rows of the contract (transfer options, for example) are new cases here, never a copy.
 */
export function describeContract(
  title: string,
  cases: (subject: () => ContractSubject) => void,
  options: { platforms?: readonly Platform[] } = {},
): void {
  const platforms = options.platforms ?? ['express'];
  const runs = IMPLEMENTATIONS.flatMap((implementation) =>
    platforms.map((platform) => {
      const label = options.platforms ? `${implementation.name}, ${platform}` : implementation.name;
      return [label, implementation, platform] as const;
    }),
  );
  describe.each(runs)(`${title} (%s)`, (_label, implementation, platform) => {
    let subject: ContractSubject | undefined;

    beforeAll(async () => {
      subject = await implementation.start(platform);
    });

    afterAll(async () => {
      await subject?.close();
    });

    cases(() => {
      if (!subject) throw new Error(`${implementation.name} did not start`);
      return subject;
    });
  });
}
