import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  type CanActivate,
  Controller,
  type DynamicModule,
  type ExecutionContext,
  Injectable,
  Module,
  Post,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { ApiTokenGuard } from '../../src/credentials/http/api-token.guard.js';
import {
  type Credentials,
  CREDENTIALS_MODULE_OPTIONS,
  CredentialsConfigError,
  CredentialsModule,
  IntegrityError,
  InvalidProjectError,
  type ProjectBody,
  type ProjectObject,
} from '../../src/credentials/index.js';
import { withProjectSize } from '../../src/credentials/project/project-stream.js';
import { InMemoryCredentials, overrideCredentials } from '../../src/credentials/testing/index.js';
import { configFromEnv, streamOf, zipLike } from '../support/backends.js';
import {
  API_TOKEN,
  createApp,
  listen,
  type Platform,
  PLATFORMS,
  type RunningApp,
} from './support/example-app.js';
import {
  jsonOf,
  multipartBody,
  rawRequest,
  type RawRequest,
  type RawResponse,
} from './support/http-client.js';

const KiB = 1024;
const bearer = { Authorization: `Bearer ${API_TOKEN}` };
const BASE_ENV = { BUCKET_NAME_PROJECTS: 'projects', REGISTRY_HOST: '127.0.0.1:5000' };

const running: RunningApp[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
});

/** The routes each running app registered, as "METHOD /path" (read on Fastify as they are added). */
const fastifyRoutes = new WeakMap<RunningApp, string[]>();

/** An app of just the credentials module (`credentials`) on `platform`, with `double` as the backend. */
async function startOn(
  platform: Platform,
  env: Record<string, string>,
  credentials: DynamicModule,
  double: Credentials = new InMemoryCredentials(),
): Promise<RunningApp> {
  const builder = Test.createTestingModule({ imports: [configFromEnv(env), credentials] });
  const moduleRef = await overrideCredentials(builder, double).compile();
  const nest = createApp(moduleRef, platform);
  const routes: string[] = [];
  if (platform === 'fastify') {
    const fastify = nest.getHttpAdapter().getInstance() as {
      addHook(
        name: 'onRoute',
        hook: (route: { method: string | string[]; url: string }) => void,
      ): void;
    };
    fastify.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        // Fastify adds a HEAD route for every GET; Express answers HEAD by its GET route too.
        if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
      }
    });
  }
  const app = await listen(nest, platform);
  fastifyRoutes.set(app, routes);
  running.push(app);
  return app;
}

async function configErrorOf(promise: Promise<unknown>): Promise<CredentialsConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialsConfigError);
  return err as CredentialsConfigError;
}

/** The routes the app serves, as "METHOD /path". */
function routesOf(app: RunningApp): string[] {
  if (app.platform === 'fastify') return [...(fastifyRoutes.get(app) ?? [])].sort();
  const express = app.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack
    .flatMap((layer) =>
      layer.route
        ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`)
        : [],
    )
    .sort();
}

@Injectable()
class TeamGuard implements CanActivate {
  constructor(private readonly config: ConfigService) {}
  canActivate(context: ExecutionContext): boolean {
    const team = context.switchToHttp().getRequest<IncomingMessage>().headers['x-team'];
    return team === this.config.get<string>('TEAM');
  }
}

const denyAll: CanActivate = { canActivate: () => false };

/** A route of the app itself, next to the controller's. */
@Controller('echo')
class AppOwnController {
  @Post()
  accept(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [AppOwnController] })
class AppOwnModule {}

describe.each(PLATFORMS)('on %s', (platform) => {
  const startApp = (
    env: Record<string, string>,
    credentials: DynamicModule,
    double?: Credentials,
  ) => startOn(platform, env, credentials, double);

  describe('mounting the controller', () => {
    it('mounts no route by default', async () => {
      const app = await startApp(BASE_ENV, CredentialsModule.forRoot());
      expect(routesOf(app)).toEqual([]);
      const res = await request(app.server).get('/registry/token').set(bearer);
      expect(res.status).toBe(404);
    });

    it('mounts exactly the upload, download and token routes: getCredentials() has none', async () => {
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
      );
      expect(routesOf(app)).toEqual([
        'GET /projects/:projectName',
        'GET /registry/token',
        'POST /projects/:projectName',
        'PUT /projects/:projectName',
      ]);
    });

    it("leaves the app's own routes to the platform's rules (Fastify: 415 for a ZIP there)", async () => {
      const env = { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN };
      const post = (app: RunningApp) =>
        rawRequest(`${app.url}/echo`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/zip' },
          body: zipLike(KiB),
        });
      const withController = await startApp(env, {
        module: AppOwnModule,
        imports: [CredentialsModule.forRoot({ controller: true })],
      });
      const without = await startApp(env, {
        module: AppOwnModule,
        imports: [CredentialsModule.forRoot()],
      });
      const [own, alone] = [await post(withController), await post(without)];
      expect({ status: own.status, body: own.body.toString() }).toEqual({
        status: alone.status,
        body: alone.body.toString(),
      });
      // Express parses no ZIP and lets it through; Fastify refuses a type it cannot parse.
      expect(own.status).toBe(platform === 'fastify' ? 415 : 201);
      const ours = await rawRequest(`${withController.url}/projects/p.zip`, {
        method: 'PUT',
        headers: { ...bearer, 'Content-Type': 'application/zip' },
        body: zipLike(KiB),
      });
      expect(ours.status).toBe(201);
    });

    it('keeps the controller option out of the module options the backends get', async () => {
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true, maxProjectSize: 2048 }),
      );
      expect(app.app.get(CREDENTIALS_MODULE_OPTIONS)).toEqual({ maxProjectSize: 2048 });
    });

    it('mounts it with forRootAsync too', async () => {
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            maxProjectSize: Number(config.get('LIMIT') ?? 1024),
          }),
          controller: true,
        }),
      );
      const res = await request(app.server)
        .put('/projects/a.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1025));
      expect(res.status).toBe(413);
    });

    describe('refuses to start', () => {
      it.each([
        ['forRoot', CredentialsModule.forRoot({ controller: true })],
        [
          'forRootAsync',
          CredentialsModule.forRootAsync({ useFactory: () => ({}), controller: {} }),
        ],
      ])('%s: without CREDENTIALS_API_TOKEN, guards or allowAnonymous', async (_label, module) => {
        const err = await configErrorOf(startApp(BASE_ENV, module));
        expect(err.message).toContain('CREDENTIALS_API_TOKEN is not set');
        expect(err.message).toContain('allowAnonymous');
      });

      it('with a token shorter than 16 characters, without showing it', async () => {
        const err = await configErrorOf(
          startApp(
            { ...BASE_ENV, CREDENTIALS_API_TOKEN: 'short-secret' },
            CredentialsModule.forRoot({ controller: true }),
          ),
        );
        expect(err.message).toContain('at least 16 characters');
        expect(err.message).not.toContain('short-secret');
      });

      it('with guards that are not guards, as soon as the module is built', () => {
        const guards = ['admin'] as unknown as CanActivate[];
        expect(() => CredentialsModule.forRoot({ controller: { guards } })).toThrow(
          /option controller.guards must be a list of guard classes or instances/,
        );
      });

      it('with an invalid BUCKET_NAME_PROJECTS', async () => {
        const err = await configErrorOf(
          startApp(
            { ...BASE_ENV, BUCKET_NAME_PROJECTS: 'Not_A_Bucket', CREDENTIALS_API_TOKEN: API_TOKEN },
            CredentialsModule.forRoot({ controller: true }),
          ),
        );
        expect(err.message).toContain(
          'BUCKET_NAME_PROJECTS (environment) must be a valid bucket name',
        );
      });
    });
  });

  describe('access', () => {
    it('allowAnonymous without a token lets every request through', async () => {
      const app = await startApp(
        BASE_ENV,
        CredentialsModule.forRoot({ controller: { allowAnonymous: true } }),
      );
      expect((await request(app.server).get('/registry/token')).status).toBe(200);
    });

    it('allowAnonymous does not switch off a configured token', async () => {
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: { allowAnonymous: true } }),
      );
      expect((await request(app.server).get('/registry/token')).status).toBe(401);
      expect((await request(app.server).get('/registry/token').set(bearer)).status).toBe(200);
    });

    it('guards replace the token: a guard class built with ConfigService decides', async () => {
      const app = await startApp(
        { ...BASE_ENV, TEAM: 'builders' },
        CredentialsModule.forRoot({ controller: { guards: [TeamGuard] } }),
      );
      const allowed = await request(app.server).get('/registry/token').set('x-team', 'builders');
      expect(allowed.status).toBe(200);
      const denied = await request(app.server).get('/registry/token').set('x-team', 'others');
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    });

    it('ApiTokenGuard can be listed among the guards to keep the token', async () => {
      const app = await startApp(
        { ...BASE_ENV, TEAM: 'builders', CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: { guards: [ApiTokenGuard, TeamGuard] } }),
      );
      const team = { 'x-team': 'builders' };
      expect((await request(app.server).get('/registry/token').set(team)).status).toBe(401);
      const both = await request(app.server).get('/registry/token').set(team).set(bearer);
      expect(both.status).toBe(200);
    });

    it('keeps the guards of one app off another (each mount has its own controller)', async () => {
      const denying = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: { guards: [denyAll] } }),
      );
      const open = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
      );
      expect((await request(denying.server).get('/registry/token').set(bearer)).status).toBe(403);
      expect((await request(open.server).get('/registry/token').set(bearer)).status).toBe(200);
    });
  });

  describe('downloads', () => {
    /** The double, with the next download's stream scripted by the test. */
    class ScriptedDownloads extends InMemoryCredentials {
      next?: () => Readable;
      override async downloadProject(bucketName: string, projectName: string): Promise<Readable> {
        const next = this.next;
        this.next = undefined;
        return next ? next() : super.downloadProject(bucketName, projectName);
      }
    }

    const chunks = [zipLike(64 * KiB), zipLike(64 * KiB), zipLike(64 * KiB), zipLike(10 * KiB)];
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);

    /** `parts`, then `error` (if any), as a download stream announcing `size`. */
    function scripted(parts: Buffer[], error?: Error, size?: number): Readable {
      const stream = Readable.from(
        (async function* () {
          for (const part of parts) yield part;
          if (error) throw error;
        })(),
        { objectMode: false },
      );
      return withProjectSize(stream, size);
    }

    async function startScripted(env: Record<string, string> = BASE_ENV) {
      const double = new ScriptedDownloads();
      const app = await startApp(
        { ...env, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
        double,
      );
      const get = (method = 'GET') =>
        rawRequest(`${app.url}/projects/p.zip`, { method, headers: bearer });
      return { double, app, get };
    }

    it('sends the announced size as Content-Length, and the bytes', async () => {
      const { double, get } = await startScripted();
      double.next = () => scripted(chunks, undefined, total);
      const res = await get();
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(total));
      expect(res.headers['content-disposition']).toBe('attachment; filename="p.zip"');
      expect(res.complete).toBe(true);
      expect(res.body.equals(Buffer.concat(chunks))).toBe(true);
    });

    it('answers HEAD with the headers only, and releases the stream', async () => {
      const { double, get } = await startScripted();
      let stream: Readable | undefined;
      double.next = () => (stream = scripted(chunks, undefined, total));
      const res = await get('HEAD');
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(total));
      expect(res.body.length).toBe(0);
      expect(stream?.destroyed).toBe(true);
    });

    it.each([
      ['announced', total],
      ['unknown', undefined],
    ])(
      'cuts the connection when the stream fails after its last byte (size %s): never a complete 200',
      async (_label, size) => {
        const { double, get } = await startScripted();
        // As the integrity check does: every byte passes, then the SHA-256 does not match.
        double.next = () => scripted(chunks, new IntegrityError('SHA-256 mismatch'), size);
        const res = await get();
        expect(res.status).toBe(200);
        expect(res.complete).toBe(false);
        expect(res.body.length).toBeLessThan(total);
      },
    );

    it('cuts the connection when the stream fails mid-way', async () => {
      const { double, get } = await startScripted();
      double.next = () => scripted(chunks.slice(0, 2), new IntegrityError('short read'), total);
      const res = await get();
      expect(res.status).toBe(200);
      expect(res.complete).toBe(false);
      expect(res.body.length).toBeLessThanOrEqual(chunks[0].length);
    });

    it('answers a failure before the first byte as JSON, without download headers', async () => {
      const { double, get } = await startScripted();
      double.next = () => scripted([], new IntegrityError('size mismatch'), total);
      const res = await get();
      expect(res.status).toBe(502);
      expect(res.headers['content-disposition']).toBeUndefined();
      expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'INTEGRITY' });
    });

    it('destroys the backend stream when the client goes away', async () => {
      const { double, app } = await startScripted();
      let stream: Readable | undefined;
      const chunk = zipLike(16 * KiB);
      double.next = () => {
        // An endless project, read only as fast as the client takes it.
        stream = new Readable({
          read() {
            this.push(chunk);
          },
        });
        return stream;
      };
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${app.url}/projects/p.zip`, { headers: bearer, agent: false });
        req.on('response', (res) => res.once('data', () => (req.destroy(), resolve())));
        req.on('error', () => undefined);
        setTimeout(() => reject(new Error('no data')), 5_000).unref();
      });
      for (let i = 0; i < 50 && !stream?.destroyed; i++) await sleep(20);
      expect(stream?.destroyed).toBe(true);
    });

    it('reads from BUCKET_NAME_PROJECTS when configured, never asking the backend', async () => {
      const { double, get } = await startScripted({
        ...BASE_ENV,
        BUCKET_NAME_PROJECTS: 'from-env',
      });
      double.seedProject('from-env', 'p.zip', zipLike(100));
      expect((await get()).status).toBe(200);
      expect(double.callsTo('downloadProject')).toEqual([['from-env', 'p.zip']]);
      expect(double.callsTo('getCredentials')).toEqual([]);
    });

    it("without BUCKET_NAME_PROJECTS, reads from the backend's bucket, recording no call of its own", async () => {
      const double = new InMemoryCredentials({ bucket: 'double-bucket' });
      double.seedProject('double-bucket', 'p.zip', zipLike(100));
      const app = await startApp(
        { CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
        double,
      );
      for (let i = 0; i < 2; i++) {
        expect((await request(app.server).get('/projects/p.zip').set(bearer)).status).toBe(200);
      }
      // The controller passes the client's signal (a client that leaves ends the download).
      const withSignal = { signal: expect.any(AbortSignal) };
      expect(double.callsTo('downloadProject')).toEqual([
        ['double-bucket', 'p.zip', withSignal],
        ['double-bucket', 'p.zip', withSignal],
      ]);
      // The bucket is read from the backend's record, not by a getCredentials() call: the double
      // shows only the calls made for the application.
      expect(double.calls.map((call) => call.method)).toEqual([
        'downloadProject',
        'downloadProject',
      ]);
    });
  });

  describe('uploads', () => {
    /** The double, noting how its last upload ended. */
    class WatchedUploads extends InMemoryCredentials {
      settled?: Promise<unknown>;
      override uploadProject(projectName: string, project: ProjectBody): Promise<ProjectObject> {
        const upload = super.uploadProject(projectName, project);
        this.settled = upload.then(
          () => 'stored',
          (err: unknown) => err,
        );
        return upload;
      }
    }

    it('hands the backend a stream, not a buffered body', async () => {
      const double = new InMemoryCredentials();
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
        double,
      );
      await request(app.server)
        .put('/projects/a.zip')
        .set(bearer)
        .set('Content-Type', 'application/zip')
        .send(zipLike(1000));
      await request(app.server)
        .post('/projects/b.zip')
        .set(bearer)
        .attach('project_zip', zipLike(1000), 'b.zip');
      const bodies = double.callsTo('uploadProject').map(([, body]) => body);
      expect(bodies).toHaveLength(2);
      for (const body of bodies) expect(body).toBeInstanceOf(Readable);
    });

    it.each([
      ['PUT', 'application/zip'],
      ['POST', 'multipart/form-data'],
    ])(
      'fails the backend input when the client hangs up mid-upload (%s), and stores nothing',
      async (method) => {
        const double = new WatchedUploads();
        const app = await startApp(
          { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
          CredentialsModule.forRoot({ controller: true }),
          double,
        );
        const form = multipartBody('project_zip', zipLike(10 * 1024 * KiB));
        const { contentType, body } =
          method === 'PUT'
            ? { contentType: 'application/zip', body: zipLike(10 * 1024 * KiB) }
            : form;
        const req = http.request(`${app.url}/projects/hung-up.zip`, {
          method,
          agent: false,
          headers: { ...bearer, 'Content-Type': contentType, 'Content-Length': body.length },
        });
        req.on('error', () => undefined);
        req.write(body.subarray(0, 2 * 1024 * KiB));
        for (let i = 0; i < 100 && !double.settled; i++) await sleep(10);
        req.destroy();
        const outcome = await Promise.race([double.settled, sleep(5_000, 'still waiting')]);
        expect(outcome).toBeInstanceOf(InvalidProjectError);
        expect((outcome as InvalidProjectError).reason).toBe('unreadable');
        expect(double.storedProject(double.bucket, 'hung-up.zip')).toBeUndefined();
      },
    );

    it('streams bodies larger than the platform default limit (1 MiB on Fastify) by PUT and POST', async () => {
      const double = new InMemoryCredentials();
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
        double,
      );
      const data = zipLike(3 * 1024 * KiB);
      const form = multipartBody('project_zip', data);
      const uploads: [string, RawRequest][] = [
        [
          'by-length.zip',
          { method: 'PUT', headers: { 'Content-Type': 'application/zip' }, body: data },
        ],
        [
          'chunked.zip',
          { method: 'PUT', headers: { 'Content-Type': 'application/zip' }, body: streamOf(data) },
        ],
        // curl -T project.zip sends no Content-Type.
        [
          'untyped.zip',
          { method: 'PUT', headers: { 'Content-Length': data.length }, body: streamOf(data) },
        ],
        [
          'octet-stream.zip',
          { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: data },
        ],
        [
          'form.zip',
          { method: 'POST', headers: { 'Content-Type': form.contentType }, body: form.body },
        ],
      ];
      for (const [name, upload] of uploads) {
        const res = await rawRequest(`${app.url}/projects/${name}`, {
          ...upload,
          headers: { ...bearer, ...upload.headers },
        });
        expect({ name, status: res.status }).toEqual({ name, status: 201 });
        expect(jsonOf(res)).toMatchObject({ key: name, size: data.length });
        expect(double.storedProject(double.bucket, name)?.equals(data)).toBe(true);
      }
    });

    it('stores and serves a project whose name has the longest length allowed (255)', async () => {
      const double = new InMemoryCredentials();
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true }),
        double,
      );
      const name = `${'n'.repeat(251)}.zip`;
      const data = zipLike(KiB);
      const put = await rawRequest(`${app.url}/projects/${name}`, {
        method: 'PUT',
        headers: { ...bearer, 'Content-Type': 'application/zip' },
        body: data,
      });
      expect(put.status).toBe(201);
      const get = await rawRequest(`${app.url}/projects/${name}`, {
        method: 'GET',
        headers: bearer,
      });
      expect(get.status).toBe(200);
      expect(get.body.equals(data)).toBe(true);
    });

    it('answers 408 when a form sends no file part within requestTimeoutMs', async () => {
      const timeoutMs = 500;
      const double = new WatchedUploads();
      const app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true, requestTimeoutMs: timeoutMs }),
        double,
      );
      const { contentType, body } = multipartBody('project_zip', zipLike(KiB), {
        description: 'the file part never comes',
      });
      const started = performance.now();
      const res = await rawRequest(`${app.url}/projects/silent.zip`, {
        method: 'POST',
        headers: { ...bearer, 'Content-Type': contentType, 'Content-Length': body.length },
        // The text field, then silence.
        partialBody: body.subarray(0, body.indexOf('name="project_zip"') - 60),
      });
      const ms = performance.now() - started;
      expect(res.status).toBe(408);
      expect(jsonOf(res)).toEqual({
        statusCode: 408,
        error: 'Request Timeout',
        code: 'REQUEST_TIMEOUT',
        message: `The multipart form sent no file part "project_zip" within ${timeoutMs} ms`,
      });
      expect(res.headers.connection).toBe('close');
      expect(ms).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(ms).toBeLessThan(timeoutMs + 5_000);
      expect(double.callsTo('uploadProject')).toEqual([]);
    });
  });

  describe('answers', () => {
    let app: RunningApp;
    const put = (name: string, headers: OutgoingHttpHeaders, body?: Buffer) =>
      rawRequest(`${app.url}/projects/${name}`, { method: 'PUT', headers, body });

    beforeEach(async () => {
      app = await startApp(
        { ...BASE_ENV, CREDENTIALS_API_TOKEN: API_TOKEN },
        CredentialsModule.forRoot({ controller: true, maxProjectSize: 64 * KiB }),
      );
    });

    it('401 without the token: WWW-Authenticate and the JSON body, on every route', async () => {
      for (const res of [
        await put('a.zip', { 'Content-Type': 'application/zip' }, zipLike(KiB)),
        await rawRequest(`${app.url}/projects/a.zip`, { method: 'GET' }),
        await rawRequest(`${app.url}/registry/token`, { method: 'GET' }),
      ]) {
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="nest-credentials"');
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(jsonOf(res)).toEqual({
          statusCode: 401,
          error: 'Unauthorized',
          code: 'UNAUTHORIZED',
          message: 'Send the API token as "Authorization: Bearer <token>"',
        });
      }
    });

    it('the same status and JSON body for each refusal', async () => {
      const form = multipartBody('project_zip', zipLike(KiB));
      const cases: [RawResponse, number, Record<string, unknown>][] = [
        [
          await put('a..b', { ...bearer, 'Content-Type': 'application/zip' }, zipLike(KiB)),
          400,
          { code: 'INVALID_PROJECT', reason: 'name', error: 'Bad Request' },
        ],
        [
          await put(
            'text.zip',
            { ...bearer, 'Content-Type': 'application/zip' },
            Buffer.from('plain text'),
          ),
          400,
          { code: 'INVALID_PROJECT', reason: 'not-zip' },
        ],
        [
          await put(
            'big.zip',
            { ...bearer, 'Content-Type': 'application/zip' },
            zipLike(64 * KiB + 1),
          ),
          413,
          { code: 'INVALID_PROJECT', reason: 'too-large', error: 'Payload Too Large' },
        ],
        [
          await put('form.zip', { ...bearer, 'Content-Type': form.contentType }, form.body),
          415,
          { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported Media Type' },
        ],
        [
          await rawRequest(`${app.url}/projects/bare.zip`, {
            method: 'POST',
            headers: { ...bearer, 'Content-Type': 'application/zip' },
            body: zipLike(KiB),
          }),
          415,
          { code: 'UNSUPPORTED_MEDIA_TYPE' },
        ],
        [
          await rawRequest(`${app.url}/projects/none.zip`, { method: 'GET', headers: bearer }),
          404,
          { code: 'PROJECT_NOT_FOUND', error: 'Not Found' },
        ],
      ];
      for (const [res, status, body] of cases) {
        expect(res.status).toBe(status);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(jsonOf(res)).toMatchObject({ statusCode: status, ...body });
        expect(typeof jsonOf(res).message).toBe('string');
      }
    });
  });
});
