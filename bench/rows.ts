/**
 * The contenders and targets of the transfer benchmark, as data. A contender row is one way of
 * moving a project: who moves it (the module, the raw client its backend wraps, boto3, curl), on
 * which backend, in which direction, from or into which kind of body. A new body kind is one row
 * here and one case in `contenders.ts`; its targets are rules below.
 *
 * Upload bodies of the module: a Buffer, an fs read stream, a stream without a digest (spooled)
 * and with the caller's digest (`uploadProject(name, body, { sha256 })`), and the controller's
 * PUT of the same file over HTTP without and with `Content-Digest` (`put`, `put-digest`), judged
 * against the module's own upload of a stream.
 */
import type { Backend } from './common.js';

export type Direction = 'upload' | 'download';
export type Client = 'module' | 'raw' | 'boto3' | 'curl';
/** What the bytes come from (upload) or go into (download). */
export type Body =
  'buffer' | 'fs-stream' | 'stream' | 'stream-digest' | 'put' | 'put-digest' | 'file';

/** Bodies that carry the file's SHA-256 (computed before the timer, as a caller would know it). */
export const WITH_DIGEST: readonly Body[] = ['stream-digest', 'put-digest'];
/** The controller's PUT rows, and the module upload each is judged against. */
export const PUT_OF: Partial<Record<Body, Body>> = { put: 'stream', 'put-digest': 'stream-digest' };

export interface ContenderRow {
  id: string;
  label: string;
  client: Client;
  backend?: Backend;
  direction: Direction;
  body: Body;
  /** Node rows with the same process run in one worker process (their own heap and sockets). */
  process?: string;
}

export const BODY_TEXT: Record<Body, string> = {
  buffer: 'a Buffer',
  'fs-stream': 'an fs stream',
  stream: 'a stream',
  'stream-digest': 'a stream with a digest',
  put: 'a controller PUT',
  'put-digest': 'a controller PUT with Content-Digest',
  file: 'a file',
};

const RAW_NAME: Record<Backend, string> = { aws: 'lib-storage', local: 'minio' };

function nodeRows(backend: Backend): ContenderRow[] {
  const module = (body: Body, process: string): ContenderRow => ({
    id: `module-${backend}-${body}`,
    label: `module ${backend}, ${BODY_TEXT[body].replace(/^an? /, '')}`,
    client: 'module',
    backend,
    direction: 'upload',
    body,
    process,
  });
  const raw = (body: Body, process: string): ContenderRow => ({
    id: `raw-${backend}-${body}`,
    label: `${RAW_NAME[backend]}, ${BODY_TEXT[body].replace(/^an? /, '')}`,
    client: 'raw',
    backend,
    direction: 'upload',
    body,
    process,
  });
  return [
    module('buffer', `module-${backend}-buffer`),
    module('fs-stream', `module-${backend}`),
    // Any stream that is not an fs stream of a whole file: spooled before it is sent.
    module('stream', `module-${backend}-stream`),
    module('stream-digest', `module-${backend}-stream`),
    // The controller booted in the worker on a loopback port, the file PUT with Node's client.
    module('put', `module-${backend}-put`),
    module('put-digest', `module-${backend}-put`),
    {
      ...module('stream', `module-${backend}`),
      id: `module-${backend}-download`,
      direction: 'download',
      label: `module ${backend}, download`,
    },
    raw('buffer', `raw-${backend}-buffer`),
    raw('fs-stream', `raw-${backend}`),
    {
      ...raw('stream', `raw-${backend}`),
      id: `raw-${backend}-download`,
      direction: 'download',
      label: `${RAW_NAME[backend]}, download`,
    },
  ];
}

export const ROWS: ContenderRow[] = [
  ...nodeRows('aws'),
  ...nodeRows('local'),
  {
    id: 'boto3-upload',
    label: 'boto3 upload_fileobj',
    client: 'boto3',
    direction: 'upload',
    body: 'file',
  },
  {
    id: 'boto3-download',
    label: 'boto3 download_file',
    client: 'boto3',
    direction: 'download',
    body: 'file',
  },
  // The limit: what the server takes and gives with next to no client work (presigned URLs).
  { id: 'curl-put', label: 'curl PUT (limit)', client: 'curl', direction: 'upload', body: 'file' },
  {
    id: 'curl-get',
    label: 'curl GET (limit)',
    client: 'curl',
    direction: 'download',
    body: 'file',
  },
];

export const rowById = (id: string): ContenderRow => {
  const row = ROWS.find((r) => r.id === id);
  if (!row) throw new Error(`no contender row ${id}`);
  return row;
};

/**
 * Module throughput / the contender's, at least `min` (no `min`: reported, not a target).
 * `module`: the controller's PUT against the module's own upload of a stream (`PUT_OF`).
 */
export interface RatioRule {
  direction: Direction;
  body: Body;
  vs: 'boto3' | 'raw' | 'curl' | 'module';
  min?: number;
  /** Judged at this size only (other sizes: reported). */
  atMiB?: number;
}

/** The controller's PUT may take at most 1.15x the wall time of the module's own upload. */
export const PUT_MAX_TIME_RATIO = 1.15;

const pair = (direction: Direction, body: Body, boto3?: number, raw?: number): RatioRule[] => [
  { direction, body, vs: 'boto3', min: boto3 },
  { direction, body, vs: 'raw', min: raw },
  { direction, body, vs: 'curl' },
];

export const RATIO_RULES: RatioRule[] = [
  ...pair('upload', 'stream-digest', 1.15, 1.0),
  ...pair('upload', 'buffer', 1.0, 1.0),
  ...pair('upload', 'fs-stream', 1.0, 1.0),
  ...pair('upload', 'stream', 0.9, 1.0),
  ...pair('download', 'stream', undefined, 0.95),
  {
    direction: 'upload',
    body: 'put-digest',
    vs: 'module',
    min: 1 / PUT_MAX_TIME_RATIO,
    atMiB: 512,
  },
  { direction: 'upload', body: 'put', vs: 'module' },
];

/**
 * At 1 MiB the target of the paths measured on 2026-11-29 is no regression: at least 0.95 of
 * that run's ratios, by `<backend>.<direction>.<body>.vs-<contender>`; other paths: the rule's.
 */
export const ONE_MIB_BASELINE: Record<string, number> = {
  'aws.upload.fs-stream.vs-raw': 1.1,
  'aws.upload.fs-stream.vs-boto3': 1.07,
  'local.upload.fs-stream.vs-raw': 3.01,
  'local.upload.fs-stream.vs-boto3': 0.94,
  'aws.download.stream.vs-raw': 0.85,
  'aws.download.stream.vs-boto3': 1.1,
  'local.download.stream.vs-raw': 0.87,
  'local.download.stream.vs-boto3': 1.33,
};
export const NO_REGRESSION_SHARE = 0.95;

/** Peak RSS growth at the largest size at most `maxMiB`; `flat`: within FLAT_MIB of 64 MiB's. */
export interface MemoryRule {
  direction: Direction;
  body: Body;
  maxMiB: number;
  flat: boolean;
}

export const FLAT_MIB = 16;
export const MEMORY_RULES: MemoryRule[] = [
  { direction: 'upload', body: 'stream-digest', maxMiB: 64, flat: true },
  // The Buffer is read before the baseline: its growth is beyond the buffer itself.
  { direction: 'upload', body: 'buffer', maxMiB: 16, flat: false },
  { direction: 'upload', body: 'fs-stream', maxMiB: 64, flat: true },
  { direction: 'upload', body: 'stream', maxMiB: 64, flat: true },
  { direction: 'download', body: 'stream', maxMiB: 64, flat: true },
  // The controller and its client in one process: what serving one PUT costs.
  { direction: 'upload', body: 'put-digest', maxMiB: 64, flat: false },
];

/**
 * Why the module's path is where it is against boto3, one line per path, for the summary: what
 * the path does today. Whoever changes a path in src changes its line.
 */
export const WHY: Partial<Record<`${Direction}.${Body}`, string>> = {
  'upload.buffer':
    'the Buffer is hashed, then sent in partConcurrency parallel parts that are views of it (one PutObject up to one part)',
  'upload.fs-stream':
    'the file is hashed with one sequential read before the first part goes out (the SHA-256 travels with CreateMultipartUpload), then its parts are read by position; boto3 sends 8 MiB parts in 10 threads from the start',
  'upload.stream':
    'the stream is spooled (read, hashed, written: ~1 s per 512 MiB) before the first part goes out, as its SHA-256 must go with CreateMultipartUpload',
  'upload.stream-digest':
    "parts go out as the stream delivers them, read one part ahead, hashed in a worker thread; client and Swift share 2 cores (signed parts cost Swift ~2x curl's PUT)",
  'upload.put': 'the request body is uploaded like a stream (spooled)',
  'upload.put-digest': 'the request body is uploaded like a stream with the digest of its header',
  'download.stream':
    'one GET, its SHA-256 and length verified on one JavaScript thread; boto3 reads 8 MiB ranges in 10 threads',
};
