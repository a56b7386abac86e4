/**
 * Reliability, category 2 (HTTP): the bad-input corpus and generated names and bodies sent to the
 * example app's controller (filesystem backend, so that everything written is visible on disk).
 * Every refused request must get a 4xx JSON answer (400 `INVALID_PROJECT`, 413 for a body over the
 * maximum, 404 where no route matches), never a 2xx or a 5xx, and nothing may be written.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type RunningApp, startExampleApp } from '../e2e/support/example-app.js';
import type { RawResponse } from '../e2e/support/http-client.js';
import { badBodies, badNames, zipBody } from './support/corpus.js';
import { bodyArbitrary, bodyVerdict, nameArbitrary, nameIsValid } from './support/generators.js';
import {
  type CaseMeta,
  corpus,
  evidence,
  label,
  recordProperty,
  type Trial,
} from './support/results.js';
import { RELIABILITY_API_TOKEN } from './support/secret-scan.js';

const MAX = 64 * 1024;
const bearer = { Authorization: `Bearer ${RELIABILITY_API_TOKEN}` };

let work: string;
let app: RunningApp;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * One request on a fresh connection, with the path sent exactly as given (a URL string would be
 * normalised by the client first: "/projects/.." would leave as "/"). The answer is kept for the
 * secret scan.
 */
async function send(
  method: string,
  rawPath: string,
  body?: Buffer | Readable,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const { port } = new URL(app.url);
  const res = await new Promise<RawResponse>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: Number(port),
      path: rawPath,
      method,
      headers: {
        ...bearer,
        'Content-Type': 'application/zip',
        ...(Buffer.isBuffer(body) ? { 'Content-Length': String(body.length) } : {}),
        ...headers,
      },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          complete: response.complete,
        }),
      );
    });
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
  evidence(
    'bad-input/http',
    `${res.status} ${JSON.stringify(res.headers)} ${method === 'GET' && res.status === 200 ? '' : res.body.toString('utf8')}`,
  );
  return res;
}

function jsonOf(res: RawResponse): Record<string, unknown> {
  try {
    return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The answer is one of `statuses`; a 400 or 413 from the controller is typed JSON. */
function expectRefused(res: RawResponse, statuses: number[], t: Trial): void {
  t.note(`${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
  t.metric('answers', res.status);
  expect(statuses).toContain(res.status);
  if (res.status === 400 || res.status === 413) {
    expect(jsonOf(res)).toMatchObject({ statusCode: res.status, code: expect.any(String) });
  }
}

/** Nothing under the work folder changed; anything new or gone is a loss. */
async function expectNothingWritten(before: string[], t: Trial): Promise<void> {
  const after = await filesUnder(work);
  const added = after.filter((file) => !before.includes(file));
  if (added.length > 0) t.lose(`written: ${added.join(', ')}`);
  const removed = before.filter((file) => !after.includes(file));
  if (removed.length > 0) t.lose(`removed: ${removed.join(', ')}`);
}

const canEncode = (name: string) => {
  try {
    encodeURIComponent(name);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'nest-credentials-rel-http-'));
  const root = path.join(work, 'root');
  app = await startExampleApp({
    CREDENTIALS: 'filesystem',
    PROJECTS_DIR: root,
    BUCKET_NAME_PROJECTS: 'projects',
    REGISTRY_HOST: '127.0.0.1:5000',
    CREDENTIALS_API_TOKEN: RELIABILITY_API_TOKEN,
    MAX_PROJECT_SIZE: String(MAX),
  });
  // A project inside the bucket, and bait outside it that a traversal would reach.
  const res = await send('PUT', '/projects/present.zip', zipBody(100));
  expect(res.status).toBe(201);
  await mkdir(path.join(root, 'other'), { recursive: true });
  await writeFile(
    path.join(root, 'other', 'secret.zip'),
    Buffer.from('PK\x03\x04 OUTSIDE-THE-BUCKET'),
  );
  await writeFile(path.join(work, 'secret.zip'), Buffer.from('PK\x03\x04 OUTSIDE-THE-BUCKET'));
});

afterAll(async () => {
  await app?.close();
  await rm(work, { recursive: true, force: true });
});

const meta = (group: string): CaseMeta => ({ category: 'bad-input', group, backend: 'http' });

describe('bad input over HTTP (example app, filesystem backend)', () => {
  it('answers every bad project name with 400 on PUT and GET, writing and serving nothing', async () => {
    const cases = badNames()
      .filter((c): c is { name: string; input: string } => typeof c.input === 'string')
      .filter((c) => canEncode(c.input));
    const failures = await corpus(
      meta('project names (URL-encoded) on PUT and GET'),
      cases,
      async (name, t) => {
        const before = await filesUnder(work);
        const expected = name === '' ? [404] : name.length > 8_000 ? [400, 414, 431] : [400];
        const put = await send('PUT', `/projects/${encodeURIComponent(name)}`, zipBody(1024));
        expectRefused(put, expected, t);
        if (put.status === 400)
          expect(jsonOf(put)).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
        const get = await send('GET', `/projects/${encodeURIComponent(name)}`);
        t.expectKept(get.status !== 200, `GET served ${get.body.length} bytes for ${label(name)}`);
        expectRefused(get, expected, t);
        await expectNothingWritten(before, t);
      },
    );
    expect(failures).toEqual([]);
  });

  it('refuses raw traversal paths: never 2xx or 5xx, never the bytes outside the bucket', async () => {
    const paths = [
      '/projects/..',
      '/projects/.',
      '/projects/../secret.zip',
      '/projects/../../secret.zip',
      '/projects/..%2fsecret.zip',
      '/projects/..%2Fother%2Fsecret.zip',
      '/projects/%2e%2e%2fsecret.zip',
      '/projects/%2e%2e/secret.zip',
      '/projects/%2E%2E%2F%2E%2E%2Fsecret.zip',
      '/projects/%252e%252e%252fsecret.zip',
      '/projects/..%5csecret.zip',
      '/projects/..%5Cother%5Csecret.zip',
      '/projects/..\\secret.zip',
      '/projects/%c0%ae%c0%ae%c0%afsecret.zip',
      '/projects/%e0%80%ae%e0%80%ae/secret.zip',
      '/projects/%ff',
      '/projects/%',
      '/projects/%zz',
      '/projects/a%00b.zip',
      '/projects/%00',
      '/projects/%E2%80%A4%E2%80%A4%2Fsecret.zip',
      '/projects/%EF%BC%8E%EF%BC%8E%2Fsecret.zip',
      '/projects/..%E2%88%95secret.zip',
      '/projects/.meta',
      '/projects/.meta%2Fpresent.zip',
      '/projects/.tmp',
      '/projects/present.zip%2F..%2F..%2Fsecret.zip',
      '/projects/other%2Fsecret.zip',
      '/projects//secret.zip',
      '/projects/./present.zip/../../secret.zip',
      '//projects/..%2fsecret.zip',
      '/projects/%2e%2e;/secret.zip',
      '/projects/..;/secret.zip',
      '/projects/present.zip/..',
      '/PROJECTS/..%2fsecret.zip',
    ];
    const failures = await corpus(
      meta('raw traversal paths on PUT and GET'),
      paths.map((p) => ({ name: p, input: p })),
      async (rawPath, t) => {
        const before = await filesUnder(work);
        for (const method of ['GET', 'PUT'] as const) {
          const res = await send(method, rawPath, method === 'PUT' ? zipBody(1024) : undefined);
          t.note(`${method} ${res.status}`);
          t.metric(`${method} answers`, res.status);
          t.expectKept(
            !res.body.includes('OUTSIDE-THE-BUCKET'),
            `${method} served the bytes of a file outside the bucket`,
          );
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        }
        await expectNothingWritten(before, t);
      },
    );
    expect(failures).toEqual([]);
  });

  it('answers every bad body with 400 (413 over the maximum), writing nothing', async () => {
    const cases = badBodies(MAX, 5 * 1024 * 1024).filter(
      (c) =>
        c.name.endsWith('(Buffer)') ||
        c.name.includes('over the maximum') ||
        c.name.includes('twice'),
    );
    let n = 0;
    const failures = await corpus(meta('bodies on PUT'), cases, async ({ body, reasons }, t) => {
      const before = await filesUnder(work);
      const value = body();
      const res = await send('PUT', `/projects/body-${n++}.zip`, value as Buffer | Readable);
      expectRefused(res, reasons.includes('too-large') ? [413] : [400], t);
      expect(jsonOf(res)).toMatchObject({ code: 'INVALID_PROJECT' });
      expect(reasons).toContain(jsonOf(res).reason);
      await expectNothingWritten(before, t);
    });
    expect(failures).toEqual([]);
  });

  it('judges 500 generated names over HTTP as the contract does', async () => {
    const arbitrary = nameArbitrary.filter((name) => name.length > 0 && canEncode(name));
    const before = await filesUnder(work);
    const started = performance.now();
    const stored = new Set<string>();
    const details = await fc.check(
      fc.asyncProperty(arbitrary, async (name) => {
        const res = await send('PUT', `/projects/${encodeURIComponent(name)}`, zipBody(64));
        if (nameIsValid(name)) {
          expect(res.status).toBe(201);
          stored.add(name);
        } else {
          expect(res.status).toBe(400);
          expect(jsonOf(res)).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
        }
      }),
      { numRuns: 500 },
    );
    recordProperty(
      meta('generated names (fast-check) on PUT'),
      details,
      performance.now() - started,
      {
        seed: details.seed,
        'valid among them': stored.size,
      },
    );
    expect(details.failed ? fc.stringify(details.counterexample) : undefined).toBeUndefined();
    // Only the valid names were written: each as <root>/projects/<name>, with its metadata.
    const added = (await filesUnder(work)).filter((file) => !before.includes(file));
    const expected = [...stored].flatMap((name) => [
      path.join('root', 'projects', name),
      path.join('root', 'projects', '.meta', name),
    ]);
    expect(added.filter((file) => !expected.includes(file))).toEqual([]);
  });

  it('judges 250 generated bodies over HTTP as the contract does', async () => {
    let n = 0;
    const started = performance.now();
    const details = await fc.check(
      fc.asyncProperty(bodyArbitrary(MAX), async ({ bytes, chunks }) => {
        const name = `generated-${n++}.zip`;
        const { valid, reasons } = bodyVerdict(bytes, MAX);
        const before = await filesUnder(work);
        // Sent with its length, or chunked when the generator cut it in pieces.
        const body = chunks.length === 0 ? bytes : Readable.from([bytes], { objectMode: false });
        const res = await send('PUT', `/projects/${name}`, body);
        if (valid) {
          expect(res.status).toBe(201);
          const back = await send('GET', `/projects/${name}`);
          expect(back.body.equals(bytes)).toBe(true);
        } else {
          expect(res.status).toBe(
            reasons.includes('too-large') && reasons.length === 1 ? 413 : res.status,
          );
          expect([400, 413]).toContain(res.status);
          expect(reasons).toContain(jsonOf(res).reason);
          const added = (await filesUnder(work)).filter((file) => !before.includes(file));
          expect(added).toEqual([]);
        }
      }),
      { numRuns: 250 },
    );
    recordProperty(
      meta('generated bodies (fast-check) on PUT'),
      details,
      performance.now() - started,
      {
        seed: details.seed,
      },
    );
    expect(
      details.failed
        ? `${fc.stringify(details.counterexample)}: ${String(details.errorInstance)}`
        : undefined,
    ).toBeUndefined();
  });
});
