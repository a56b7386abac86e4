import { expect, it } from '@jest/globals';
import request from 'supertest';
import { API_TOKEN, PLATFORMS } from '../e2e/support/example-app.js';
import { jsonOf, multipartBody, rawRequest, type RawResponse } from '../e2e/support/http-client.js';
import { sha256Of, streamOf, zipLike } from '../support/backends.js';
import { CONTRACT_MAX_PROJECT_SIZE, describeContract } from './support/implementations.js';

const MiB = 1024 * 1024;
const bearer = { Authorization: `Bearer ${API_TOKEN}` };

/**
 * The controller's routes and statuses, the same on every implementation behind it and on
 * both HTTP platforms (as nestjs/throttler runs one set of cases on each platform).
 */
describeContract(
  'HTTP controller',
  (subject) => {
    /** Every answer's status line, headers and (text) body, for the no-secret check. */
    const answers: string[] = [];
    const record = (res: { status: number; headers: object; text?: string; body?: unknown }) => {
      const body = typeof res.text === 'string' ? res.text : '';
      answers.push(`${res.status} ${JSON.stringify(res.headers)} ${body}`);
    };
    const recordRaw = (res: RawResponse, binary = false) => {
      answers.push(
        `${res.status} ${JSON.stringify(res.headers)} ${binary ? '' : res.body.toString('utf8')}`,
      );
      return res;
    };
    const download = async (name: string) =>
      recordRaw(
        await rawRequest(`${subject().running.url}/projects/${name}`, {
          method: 'GET',
          headers: bearer,
        }),
        true,
      );
    const put = (name: string, body: Buffer, type = 'application/zip') =>
      request(subject().running.server)
        .put(`/projects/${name}`)
        .set(bearer)
        .set('Content-Type', type)
        .send(body)
        .then((res) => (record(res), res));
    const post = (name: string, file: Buffer, field = 'project_zip') =>
      request(subject().running.server)
        .post(`/projects/${name}`)
        .set(bearer)
        .attach(field, file, { filename: 'project.zip', contentType: 'application/zip' })
        .then((res) => (record(res), res));

    describe('uploads and downloads', () => {
      it('PUT stores a 10 MiB raw body; GET returns it byte for byte as application/zip', async () => {
        const data = zipLike(10 * MiB);
        const res = await put('put-10mib.zip', data);
        expect(res.status).toBe(201);
        expect(res.body).toEqual({
          bucket: subject().bucket,
          key: 'put-10mib.zip',
          size: data.length,
          sha256: sha256Of(data),
        });
        const got = await download('put-10mib.zip');
        expect(got.status).toBe(200);
        expect(got.complete).toBe(true);
        expect(got.headers['content-type']).toBe('application/zip');
        expect(got.headers['content-length']).toBe(String(data.length));
        expect(got.body.length).toBe(data.length);
        expect(got.body.equals(data)).toBe(true);
      });

      it('POST stores a 10 MiB file of field project_zip; GET returns it byte for byte', async () => {
        const data = zipLike(10 * MiB);
        const res = await post('post-10mib.zip', data);
        expect(res.status).toBe(201);
        expect(res.body).toEqual({
          bucket: subject().bucket,
          key: 'post-10mib.zip',
          size: data.length,
          sha256: sha256Of(data),
        });
        const got = await download('post-10mib.zip');
        expect(got.status).toBe(200);
        expect(got.body.equals(data)).toBe(true);
      });

      it('POST ignores other fields and files around project_zip', async () => {
        const data = zipLike(300 * 1024);
        const res = await request(subject().running.server)
          .post('/projects/with-fields.zip')
          .set(bearer)
          .field('description', 'not the ZIP')
          .attach('readme', Buffer.from('not the ZIP either'), 'README.txt')
          .attach('project_zip', data, 'project.zip')
          .field('after', 'ignored too');
        expect(res.status).toBe(201);
        expect(res.body.sha256).toBe(sha256Of(data));
        expect((await download('with-fields.zip')).body.equals(data)).toBe(true);
      });

      it('PUT streams a chunked body of unknown length', async () => {
        const data = zipLike(10 * MiB);
        const res = recordRaw(
          await rawRequest(`${subject().running.url}/projects/chunked.zip`, {
            method: 'PUT',
            headers: { ...bearer, 'Content-Type': 'application/zip' },
            body: streamOf(data),
          }),
        );
        expect(res.status).toBe(201);
        expect(jsonOf(res)).toMatchObject({ size: data.length, sha256: sha256Of(data) });
        expect((await download('chunked.zip')).body.equals(data)).toBe(true);
      });

      it('accepts a project of exactly the maximum size', async () => {
        const data = zipLike(CONTRACT_MAX_PROJECT_SIZE);
        const res = await put('exactly-max.zip', data);
        expect(res.status).toBe(201);
        expect(res.body.size).toBe(CONTRACT_MAX_PROJECT_SIZE);
      });

      it('PUT replaces an existing project', async () => {
        const first = zipLike(4096);
        const second = zipLike(5000);
        expect((await put('replaced.zip', first)).status).toBe(201);
        expect((await put('replaced.zip', second)).status).toBe(201);
        expect((await download('replaced.zip')).body.equals(second)).toBe(true);
      });
    });

    describe('GET /registry/token', () => {
      it('answers the registry, its token and expiresAt, and forbids caching', async () => {
        const res = await request(subject().running.server).get('/registry/token').set(bearer);
        expect(res.status).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.body).toEqual({
          registry: subject().registryHost,
          token: subject().registryToken,
          expiresAt: subject().tokenExpires ? expect.any(String) : null,
        });
      });
    });

    describe('access', () => {
      it.each([
        ['no Authorization header', {}],
        ['a wrong token', { Authorization: 'Bearer wrong-token-0123456789abcdef' }],
        ['the token with another scheme', { Authorization: `Basic ${API_TOKEN}` }],
        ['the token with a suffix', { Authorization: `Bearer ${API_TOKEN}x` }],
      ])('answers 401 to %s, stores nothing and hands out no token', async (_label, headers) => {
        const upload = await request(subject().running.server)
          .put('/projects/unauthorized.zip')
          .set(headers)
          .set('Content-Type', 'application/zip')
          .send(zipLike(1000));
        record(upload);
        expect(upload.status).toBe(401);
        expect(upload.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(upload.body).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
        expect(await subject().isStored('unauthorized.zip')).toBe(false);
        for (const path of ['/registry/token', '/projects/put-10mib.zip']) {
          const res = await request(subject().running.server).get(path).set(headers);
          record(res);
          expect(res.status).toBe(401);
        }
      });
    });

    describe('refusals store nothing', () => {
      it.each([
        ['".." inside', 'a..b'],
        ['a leading dot', '.hidden'],
        ['an encoded "/"', 'dir%2Fproject.zip'],
        ['an encoded ".."', '%2e%2e'],
        ['a space', 'my%20project.zip'],
        ['256 characters', 'a'.repeat(256)],
        ['the Windows device name CON', 'CON'],
        ['the Windows device name nul.zip', 'nul.zip'],
        ['the Windows device name COM1.zip', 'COM1.zip'],
        ['a trailing dot', 'a.'],
      ])('400 for a name with %s', async (_label, name) => {
        const get = await request(subject().running.server).get(`/projects/${name}`).set(bearer);
        record(get);
        for (const res of [await put(name, zipLike(1000)), await post(name, zipLike(1000)), get]) {
          expect(res.status).toBe(400);
          expect(res.body).toMatchObject({ code: 'INVALID_PROJECT', reason: 'name' });
        }
        expect(await subject().isStored(decodeURIComponent(name))).toBe(false);
      });

      it('400 for a body that is not a ZIP, by PUT and by POST', async () => {
        const text = Buffer.from('this is a text file, not a ZIP archive');
        for (const res of [await put('not-zip.zip', text), await post('not-zip.zip', text)]) {
          expect(res.status).toBe(400);
          expect(res.body).toMatchObject({ code: 'INVALID_PROJECT', reason: 'not-zip' });
        }
        const large = Buffer.alloc(10 * MiB, 0x41);
        expect((await put('not-zip.zip', large)).body.reason).toBe('not-zip');
        expect(await subject().isStored('not-zip.zip')).toBe(false);
      });

      it('400 for an empty body', async () => {
        const res = await put('empty.zip', Buffer.alloc(0));
        expect(res.status).toBe(400);
        expect(res.body.reason).toBe('not-zip');
        expect(await subject().isStored('empty.zip')).toBe(false);
      });

      it('400 for a multipart form without field project_zip', async () => {
        const res = await post('no-field.zip', zipLike(1000), 'file');
        expect(res.status).toBe(400);
        expect(res.body.message).toContain('project_zip');
        expect(await subject().isStored('no-field.zip')).toBe(false);
      });

      it('400 for a multipart form cut off in the middle of the file', async () => {
        const { contentType, body } = multipartBody('project_zip', zipLike(2 * MiB));
        const res = recordRaw(
          await rawRequest(`${subject().running.url}/projects/cut-off.zip`, {
            method: 'POST',
            headers: { ...bearer, 'Content-Type': contentType },
            body: streamOf(body.subarray(0, MiB)),
          }),
        );
        expect(res.status).toBe(400);
        expect(await subject().isStored('cut-off.zip')).toBe(false);
      });

      it('413 for a Content-Length one byte over the maximum, by PUT and by POST', async () => {
        const data = zipLike(CONTRACT_MAX_PROJECT_SIZE + 1);
        const byPut = await put('too-large.zip', data);
        expect(byPut.status).toBe(413);
        expect(byPut.body).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
        const byPost = await post('too-large.zip', zipLike(CONTRACT_MAX_PROJECT_SIZE + 128 * 1024));
        expect(byPost.status).toBe(413);
        expect(await subject().isStored('too-large.zip')).toBe(false);
        expect(await subject().leftovers()).toEqual([]);
      });

      it('413 for a chunked body that grows past the maximum, by PUT and by POST', async () => {
        const data = zipLike(CONTRACT_MAX_PROJECT_SIZE + MiB);
        const byPut = recordRaw(
          await rawRequest(`${subject().running.url}/projects/grows-too-large.zip`, {
            method: 'PUT',
            headers: { ...bearer, 'Content-Type': 'application/zip' },
            body: streamOf(data),
          }),
        );
        expect(byPut.status).toBe(413);
        expect(jsonOf(byPut)).toMatchObject({ code: 'INVALID_PROJECT', reason: 'too-large' });
        const { contentType, body } = multipartBody('project_zip', data);
        const byPost = recordRaw(
          await rawRequest(`${subject().running.url}/projects/grows-too-large.zip`, {
            method: 'POST',
            headers: { ...bearer, 'Content-Type': contentType },
            body: streamOf(body),
          }),
        );
        expect(byPost.status).toBe(413);
        expect(jsonOf(byPost).reason).toBe('too-large');
        expect(await subject().isStored('grows-too-large.zip')).toBe(false);
        expect(await subject().leftovers()).toEqual([]);
      });

      it('413 for a huge Content-Length, answered before the body is sent', async () => {
        const res = recordRaw(
          await rawRequest(`${subject().running.url}/projects/huge.zip`, {
            method: 'PUT',
            headers: {
              ...bearer,
              'Content-Type': 'application/zip',
              'Content-Length': String(5 * 1024 * MiB),
            },
            partialBody: zipLike(1024),
          }),
        );
        expect(res.status).toBe(413);
        expect(res.headers.connection).toBe('close');
        expect(await subject().isStored('huge.zip')).toBe(false);
      });

      it('415 for a multipart PUT, a form-encoded PUT and a bare POST', async () => {
        const multipart = await request(subject().running.server)
          .put('/projects/wrong-type.zip')
          .set(bearer)
          .attach('project_zip', zipLike(1000), 'project.zip');
        record(multipart);
        const formEncoded = await put(
          'wrong-type.zip',
          zipLike(1000),
          'application/x-www-form-urlencoded',
        );
        const barePost = await request(subject().running.server)
          .post('/projects/wrong-type.zip')
          .set(bearer)
          .set('Content-Type', 'application/zip')
          .send(zipLike(1000));
        record(barePost);
        for (const res of [multipart, formEncoded, barePost]) {
          expect(res.status).toBe(415);
          expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        }
        expect(await subject().isStored('wrong-type.zip')).toBe(false);
      });

      it('404 for a project that does not exist', async () => {
        const res = recordRaw(await download('no-such-project.zip'));
        expect(res.status).toBe(404);
        expect(jsonOf(res)).toMatchObject({ statusCode: 404, code: 'PROJECT_NOT_FOUND' });
      });
    });

    it('never answers with the API token or a storage secret', () => {
      expect(answers.length).toBeGreaterThan(20);
      for (const secret of [API_TOKEN, ...subject().secrets]) {
        for (const answer of answers) expect(answer).not.toContain(secret);
      }
    });
  },
  { platforms: PLATFORMS },
);
