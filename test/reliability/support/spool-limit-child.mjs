/**
 * The child process of the matrix's "file size limit" cells: started under `ulimit -f` (so the
 * limit binds this process only), it builds the module from the compiled library, uploads one
 * body that must be spooled, then stores a small project on the same instance, and prints one
 * JSON line with what happened. Plain JavaScript: it runs outside Jest, on a build of `src/`.
 *
 * argv[2]: JSON { dist, env, options, body, key, file } (`file` holds the body, written by the
 * parent, which has no limit)
 */
import { randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { NestFactory } from '@nestjs/core';
import { ConfigModule } from '@nestjs/config';

const { dist, env, options, body, key, file } = JSON.parse(process.argv[2]);
const lib = await import(pathToFileURL(path.join(dist, 'credentials', 'index.js')).href);

function zip(length) {
  const data = randomFillSync(Buffer.alloc(length));
  Buffer.from([0x50, 0x4b, 0x03, 0x04]).copy(data);
  return data;
}

class SpoolLimitChild {}
const app = await NestFactory.create(
  {
    module: SpoolLimitChild,
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: true,
        ignoreEnvVars: true,
        skipProcessEnv: true,
        load: [() => env],
      }),
      lib.CredentialsModule.forRoot({
        backends: { filesystem: lib.FilesystemCredentials },
        controller: { allowAnonymous: true },
        ...options,
      }),
    ],
  },
  { logger: false },
);
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address();
const credentials = app.get(lib.CREDENTIALS_PROVIDER);

async function direct(call) {
  try {
    return { ok: true, sha256: (await call).sha256 };
  } catch (err) {
    return {
      ok: false,
      error: `${err?.name}: ${err?.message}`,
      typed: err instanceof lib.CredentialsError,
    };
  }
}

function overHttp(method, data) {
  const boundary = 'spoollimit0123456789';
  const payload =
    method === 'PUT'
      ? data
      : Buffer.concat([
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="project_zip"; filename="p.zip"\r\n` +
              'Content-Type: application/zip\r\n\r\n',
          ),
          data,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
  return new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path: `/projects/${key}`,
      agent: false,
      headers: {
        'Content-Type':
          method === 'PUT' ? 'application/zip' : `multipart/form-data; boundary=${boundary}`,
        'Content-Length': payload.length,
      },
    });
    req.on('error', (err) =>
      resolve({ ok: false, error: `no answer: ${err.message}`, typed: false }),
    );
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        let json = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // untyped
        }
        resolve(
          res.statusCode < 300
            ? { ok: true, sha256: json.sha256 }
            : {
                ok: false,
                error: `${res.statusCode} ${json.code} ${json.message}`,
                typed: typeof json.code === 'string',
              },
        );
      });
    });
    req.end(payload);
  });
}

process.stdout.write('ready\n');
const started = performance.now();
let outcome;
if (body === 'HTTP PUT') outcome = await overHttp('PUT', await readFile(file));
else if (body === 'HTTP multipart POST') outcome = await overHttp('POST', await readFile(file));
else if (body === 'Readable') {
  outcome = await direct(credentials.uploadProject(key, Readable.from([await readFile(file)])));
} else {
  outcome = await direct(credentials.uploadProject(key, createReadStream(file)));
}
const ms = Math.round(performance.now() - started);
const again = await direct(credentials.uploadProject(`${key}.after`, zip(256 * 1024)));
process.stdout.write(`${JSON.stringify({ outcome, ms, worksAgain: again })}\n`);
await app.close();
process.exit(0);
