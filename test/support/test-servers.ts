/**
 * The real servers the integration tests talk to, and helpers around them.
 *
 * They are started from Debian packages by `test/services/*.sh` (see `npm run setup`): Jest's
 * global setup starts whichever is not running yet and its global teardown stops them again;
 * `.ci/run` starts them once around the whole run (`TEST_SERVICES=external`).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type MultipartUpload,
} from '@aws-sdk/client-s3';

/**
 * Ports of the test servers: the defaults, or S3_PORT / TEST_REGISTRY_PORT /
 * TEST_OPEN_REGISTRY_PORT (with TEST_SERVICES_BASE) for a second set beside the first.
 */
const S3_PORT = process.env.S3_PORT || '18080';
const REGISTRY_PORT = process.env.TEST_REGISTRY_PORT || '15000';
const OPEN_REGISTRY_PORT = process.env.TEST_OPEN_REGISTRY_PORT || '15001';

/** OpenStack Swift with its s3api middleware (test/services/start-s3.sh). */
export const S3_SERVER = {
  endpoint: `http://127.0.0.1:${S3_PORT}`,
  region: 'us-east-1',
  accessKey: 'test:tester',
  secretKey: 'testing',
  /** A second, separate account: it sees none of the first account's buckets (NoSuchBucket). */
  otherAccount: { accessKey: 'test2:tester2', secretKey: 'testing2' },
  /** An account whose secret is distinctive, so that a scan for it cannot hit by chance. */
  scanAccount: { accessKey: 'scan:scanner', secretKey: 'Zq7-S3cret-Scan-4411' },
} as const;

/** Docker Distribution registry with htpasswd basic auth (test/services/start-registry.sh). */
export const AUTH_REGISTRY = {
  host: `127.0.0.1:${REGISTRY_PORT}`,
  username: 'estela',
  password: 'registry-secret',
} as const;

/** Docker Distribution registry without auth (REG_AUTH=0). */
export const OPEN_REGISTRY = { host: `127.0.0.1:${OPEN_REGISTRY_PORT}` } as const;

const SERVICES_DIR = fileURLToPath(new URL('../services/', import.meta.url));
const PROBE_TIMEOUT_MS = 2_000;

async function probe(url: string): Promise<number | Error> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function describeProbe(result: number | Error): string {
  return typeof result === 'number' ? `it answered HTTP ${result}` : `${result.message}`;
}

/** Throws, saying how to start it, unless the S3 test server answers GET /healthcheck with 200. */
export async function requireS3Server(): Promise<void> {
  const result = await probe(`${S3_SERVER.endpoint}/healthcheck`);
  if (result === 200) return;
  throw new Error(
    `S3 test server (OpenStack Swift s3api) is not reachable at ${S3_SERVER.endpoint} ` +
      `(${describeProbe(result)}). Install the packages with \`npm run setup\`, then start it with ` +
      '`bash test/services/start-s3.sh` (or run `npm test`, which starts it).',
  );
}

/** Throws, saying how to start it, unless the registry at `host` answers GET /v2/ (200 or 401). */
export async function requireRegistry(host: string): Promise<void> {
  const result = await probe(`http://${host}/v2/`);
  if (result === 200 || result === 401) return;
  const port = host.split(':').pop();
  const env = host === OPEN_REGISTRY.host ? `REG_PORT=${port} REG_AUTH=0 ` : `REG_PORT=${port} `;
  throw new Error(
    `Test registry (Docker Distribution) is not reachable at http://${host}/v2/ ` +
      `(${describeProbe(result)}). Install the packages with \`npm run setup\`, then start it with ` +
      `\`${env}bash test/services/start-registry.sh\` (or \`bash test/services/start-all.sh\`, ` +
      'or run `npm test`, which starts it).',
  );
}

function runScript(script: string, env: Record<string, string> = {}): void {
  const res = spawnSync('bash', [SERVICES_DIR + script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 90_000,
  });
  if (res.status !== 0) {
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim();
    throw new Error(
      `test/services/${script} failed (${res.error?.message ?? `exit code ${res.status}`})` +
        (output ? `:\n${output}` : ''),
    );
  }
}

/** Stops the S3 test server (synchronously). For tests of behaviour while it is down. */
export function stopS3Server(): void {
  runScript('stop-s3.sh');
}

/** (Re)starts the S3 test server synchronously, keeping the buckets it had (takes ~3 s). */
export function startS3Server(): void {
  runScript('start-s3.sh', { S3_KEEP_DATA: '1' });
}

/** Stops the registry with auth (synchronously). */
export function stopAuthRegistry(): void {
  runScript('stop-registry.sh', { REG_PORT: REGISTRY_PORT, REG_BASE: '' });
}

/** (Re)starts the registry with auth synchronously, keeping the images it had. */
export function startAuthRegistry(): void {
  runScript('start-registry.sh', {
    REG_PORT: REGISTRY_PORT,
    REG_AUTH: '1',
    REG_BASE: '',
    REG_USER: AUTH_REGISTRY.username,
    REG_PASSWORD: AUTH_REGISTRY.password,
    REG_KEEP_DATA: '1',
  });
}

/** An S3 client for the test server, set up the way Swift needs it. */
export function createTestS3Client(
  account: { accessKey: string; secretKey: string } = S3_SERVER,
): S3Client {
  return new S3Client({
    endpoint: S3_SERVER.endpoint,
    region: S3_SERVER.region,
    forcePathStyle: true,
    // Swift answers 501 to the aws-chunked bodies the SDK sends by default since 2025.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: account.accessKey, secretAccessKey: account.secretKey },
  });
}

let sharedClient: S3Client | undefined;
function client(): S3Client {
  sharedClient ??= createTestS3Client();
  return sharedClient;
}

/** A valid, unique S3 bucket name starting with `prefix` (lower-cased, max. 63 characters). */
export function uniqueBucketName(prefix = 'test'): string {
  const suffix = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  let head = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  head = head.slice(0, 63 - suffix.length - 1).replace(/-+$/, '');
  return `${head || 'test'}-${suffix}`;
}

/** Creates a uniquely named bucket in the first account and returns its name. */
export async function createTestBucket(prefix = 'test'): Promise<string> {
  const name = uniqueBucketName(prefix);
  await client().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** The multipart uploads started but neither completed nor aborted in `bucket`. */
export async function listIncompleteUploads(bucket: string): Promise<MultipartUpload[]> {
  const uploads: MultipartUpload[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await client().send(
      new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }),
    );
    uploads.push(...(page.Uploads ?? []));
    if (!page.IsTruncated) return uploads;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/**
 * Deletes `name` with everything in it: objects one by one (Swift's DeleteObjects needs a
 * Content-MD5 the SDK does not send), in-progress multipart uploads, then the bucket.
 * A bucket that does not exist is fine.
 */
export async function deleteTestBucket(name: string): Promise<void> {
  const s3 = client();
  try {
    for (const upload of await listIncompleteUploads(name)) {
      await s3.send(
        new AbortMultipartUploadCommand({
          Bucket: name,
          Key: upload.Key,
          UploadId: upload.UploadId,
        }),
      );
    }
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken }));
      for (const obj of page.Contents ?? []) {
        await s3.send(new DeleteObjectCommand({ Bucket: name, Key: obj.Key }));
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    // Container listings can lag a moment behind the deletes: retry BucketNotEmpty briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await s3.send(new DeleteBucketCommand({ Bucket: name }));
        return;
      } catch (err) {
        if (errorName(err) !== 'BucketNotEmpty' || attempt >= 10) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (err) {
    if (errorName(err) === 'NoSuchBucket') return;
    throw err;
  }
}
