import { expect, it } from '@jest/globals';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_TOKEN, PLATFORMS } from '../e2e/support/example-app.js';
import { jsonOf, multipartBody, rawRequest } from '../e2e/support/http-client.js';
import { sha256Of, streamOf, zipLike } from '../support/backends.js';
import { CONTRACT_MAX_PROJECT_SIZE, describeContract } from './support/implementations.js';

const MiB = 1024 * 1024;
const bearer = { Authorization: `Bearer ${API_TOKEN}` };
const base64Sha256 = (data: Buffer) => Buffer.from(sha256Of(data), 'hex').toString('base64');
const otherThan = (data: Buffer) => Buffer.concat([data, Buffer.from('x')]);

/**
 * Sends the head of a request announcing `body` in full, then `sentBytes` of it, then goes away
 * (the connection is destroyed), as a client whose upload breaks off.
 */
async function goAwayAfter(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  sentBytes: number,
): Promise<void> {
  const req = http.request(url, {
    method: headers['Content-Type'] === 'application/zip' ? 'PUT' : 'POST',
    headers: { ...headers, 'Content-Length': String(body.length) },
    agent: false,
  });
  req.on('error', () => undefined);
  await new Promise<void>((resolve) => req.write(body.subarray(0, sentBytes), () => resolve()));
  // Let the server take the bytes in (and start the upload) before the connection breaks.
  await sleep(500);
  req.destroy();
}

/** Polls `condition` every 100 ms for up to `timeoutMs`; whether it held. */
async function eventually(condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > giveUpAt) return false;
    await sleep(100);
  }
}

/**
 * A digest the client supplies: RFC 9530 `Content-Digest` / `Repr-Digest` on PUT, a `sha256`
 * form field before the file on POST. The same answers on every implementation, on Express and
 * on Fastify.
 */
describeContract(
  'HTTP controller: a supplied digest',
  (subject) => {
    const put = (name: string, data: Buffer, headers: Record<string, string>) =>
      rawRequest(`${subject().running.url}/projects/${name}`, {
        method: 'PUT',
        headers: { ...bearer, 'Content-Type': 'application/zip', ...headers },
        // Chunked: the controller cannot tell the size beforehand, as with a real upload tool.
        body: streamOf(data),
      });
    const post = (name: string, data: Buffer, fields: Record<string, string>) => {
      const form = multipartBody('project_zip', data, fields);
      return rawRequest(`${subject().running.url}/projects/${name}`, {
        method: 'POST',
        headers: { ...bearer, 'Content-Type': form.contentType },
        body: form.body,
      });
    };

    it.each([
      ['Content-Digest', 'content-digest'],
      ['Repr-Digest', 'repr-digest'],
    ])('PUT with a matching %s header stores 10 MiB', async (_label, header) => {
      const data = zipLike(10 * MiB);
      const res = await put(`digest-put-${header}.zip`, data, {
        [header]: `sha-512=:${Buffer.alloc(64).toString('base64')}:, sha-256=:${base64Sha256(data)}:`,
      });
      expect(res.status).toBe(201);
      expect(jsonOf(res)).toMatchObject({ size: data.length, sha256: sha256Of(data) });
      expect(await subject().isStored(`digest-put-${header}.zip`)).toBe(true);
    });

    it('PUT whose Content-Digest does not match: 400 (not 502), nothing stored', async () => {
      const data = zipLike(10 * MiB);
      const res = await put('digest-put-wrong.zip', data, {
        'Content-Digest': `sha-256=:${base64Sha256(otherThan(data))}:`,
      });
      expect(res.status).toBe(400);
      expect(jsonOf(res).message).toMatch(/do not match the SHA-256 supplied/);
      expect(await subject().isStored('digest-put-wrong.zip')).toBe(false);
      expect(await subject().leftovers()).toEqual([]);
    });

    it.each([
      ['hex in place of :base64:', `sha-256=${sha256Of(Buffer.from('x'))}`],
      ['a short digest', 'sha-256=:AAAA:'],
      ['a broken field', 'sha-256=:'],
    ])('PUT with a malformed Content-Digest (%s): 400, nothing stored', async (_label, value) => {
      const key = `digest-put-malformed-${_label.replace(/\W+/g, '-')}.zip`;
      const res = await put(key, zipLike(64 * 1024), { 'Content-Digest': value });
      expect(res.status).toBe(400);
      expect(jsonOf(res).message).toMatch(/Content-Digest|content-digest/i);
      expect(await subject().isStored(key)).toBe(false);
    });

    it('POST with a matching sha256 field before the file stores it', async () => {
      const data = zipLike(10 * MiB);
      const res = await post('digest-post.zip', data, { sha256: sha256Of(data) });
      expect(res.status).toBe(201);
      expect(jsonOf(res)).toMatchObject({ size: data.length, sha256: sha256Of(data) });
    });

    it.each([
      ['does not match', (data: Buffer) => sha256Of(otherThan(data)), /do not match/],
      ['is malformed', () => 'not-a-digest', /sha256/],
    ])('POST whose sha256 field %s: 400, nothing stored', async (label, digest, message) => {
      const data = zipLike(10 * MiB);
      const key = `digest-post-${label.replace(/\W+/g, '-')}.zip`;
      const res = await post(key, data, { sha256: digest(data) });
      expect(res.status).toBe(400);
      expect(jsonOf(res).message).toMatch(message);
      expect(await subject().isStored(key)).toBe(false);
      expect(await subject().leftovers()).toEqual([]);
    });

    it('POST whose sha256 field comes after the file: the field is not used, the file is stored as sent', async () => {
      // README: the field must come before the file (the upload checks it as the file streams).
      const data = zipLike(2 * MiB);
      const form = multipartBody('project_zip', data, {}, { sha256: sha256Of(otherThan(data)) });
      const res = await rawRequest(`${subject().running.url}/projects/digest-post-after.zip`, {
        method: 'POST',
        headers: { ...bearer, 'Content-Type': form.contentType },
        body: form.body,
      });
      expect(res.status).toBe(201);
      expect(jsonOf(res)).toMatchObject({ size: data.length, sha256: sha256Of(data) });
      expect(await subject().isStored('digest-post-after.zip')).toBe(true);
    });

    it('PUT with the Content-Digest of the whole, whose body ends halfway: 400, nothing stored', async () => {
      const data = zipLike(CONTRACT_MAX_PROJECT_SIZE);
      const res = await put('digest-put-half.zip', data.subarray(0, data.length / 2), {
        'Content-Digest': `sha-256=:${base64Sha256(data)}:`,
      });
      expect(res.status).toBe(400);
      expect(jsonOf(res).message).toMatch(/do not match the SHA-256 supplied/);
      expect(await subject().isStored('digest-put-half.zip')).toBe(false);
      expect(await subject().leftovers()).toEqual([]);
    });

    it.each([
      ['PUT with a Content-Digest', 'put'],
      ['POST with a sha256 field', 'post'],
    ])(
      '%s, cut off by the client after 9 of 12 MiB: nothing stored, nothing left',
      async (_label, method) => {
        const data = zipLike(CONTRACT_MAX_PROJECT_SIZE);
        const key = `digest-${method}-gone.zip`;
        const url = `${subject().running.url}/projects/${key}`;
        if (method === 'put') {
          const headers = {
            ...bearer,
            'Content-Type': 'application/zip',
            'Content-Digest': `sha-256=:${base64Sha256(data)}:`,
          };
          await goAwayAfter(url, headers, data, 9 * MiB);
        } else {
          const form = multipartBody('project_zip', data, { sha256: sha256Of(data) });
          const headers = { ...bearer, 'Content-Type': form.contentType };
          await goAwayAfter(url, headers, form.body, 9 * MiB);
        }
        // The upload the controller started ends (its parts removed) once it sees the client gone.
        expect(await eventually(async () => (await subject().leftovers()).length === 0)).toBe(true);
        expect(await subject().isStored(key)).toBe(false);
        // The same name takes a whole upload afterwards.
        const again = await put(key, data, { 'Content-Digest': `sha-256=:${base64Sha256(data)}:` });
        expect(again.status).toBe(201);
      },
    );
  },
  { platforms: PLATFORMS },
);
