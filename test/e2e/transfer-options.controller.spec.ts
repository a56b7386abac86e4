import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransferOptions, UploadOptions } from '../../src/credentials/index.js';
import { InMemoryCredentials } from '../../src/credentials/testing/index.js';
import { sha256Of, zipLike } from '../support/backends.js';
import { API_TOKEN, PLATFORMS, type RunningApp, startExampleApp } from './support/example-app.js';
import { multipartBody, rawRequest } from './support/http-client.js';

const MiB = 1024 * 1024;
const bearer = { Authorization: `Bearer ${API_TOKEN}` };
const ENV = {
  CREDENTIALS_API_TOKEN: API_TOKEN,
  MAX_PROJECT_SIZE: String(64 * MiB),
  REGISTRY_HOST: 'https://registry.example.com:5000/',
};

/** Waits (up to 5 s) until `check` holds. */
async function eventually(check: () => boolean): Promise<boolean> {
  const until = Date.now() + 5_000;
  while (!check() && Date.now() < until) await sleep(20);
  return check();
}

/**
 * What the controller hands a backend besides the body: the client's signal and the digest it
 * announced. The double stands for any backend (a custom one gets the same arguments). The same
 * on Express and on Fastify.
 */
describe.each(PLATFORMS)('controller on %s: transfer options reach the backend', (platform) => {
  let double: InMemoryCredentials;
  let running: RunningApp;

  beforeAll(async () => {
    double = new InMemoryCredentials();
    running = await startExampleApp(ENV, double, platform);
  });

  afterAll(async () => {
    await running?.close();
  });

  const lastUploadOptions = () =>
    double.callsTo('uploadProject').at(-1)?.[2] as UploadOptions | undefined;

  it('PUT passes the Content-Digest as sha256 (hex) and a live signal', async () => {
    const data = zipLike(MiB);
    const digest = Buffer.from(sha256Of(data), 'hex').toString('base64');
    const res = await rawRequest(`${running.url}/projects/with-digest.zip`, {
      method: 'PUT',
      headers: {
        ...bearer,
        'Content-Type': 'application/zip',
        'Content-Digest': `sha-256=:${digest}:`,
      },
      body: data,
    });
    expect(res.status).toBe(201);
    const options = lastUploadOptions();
    expect(options?.sha256).toBe(sha256Of(data));
    expect(options?.signal).toBeInstanceOf(AbortSignal);
    expect(options?.signal?.aborted).toBe(false);
  });

  it('PUT without a digest passes a signal and no sha256', async () => {
    const res = await rawRequest(`${running.url}/projects/without-digest.zip`, {
      method: 'PUT',
      headers: { ...bearer, 'Content-Type': 'application/zip' },
      body: zipLike(1000),
    });
    expect(res.status).toBe(201);
    expect(lastUploadOptions()).toEqual({ signal: expect.any(AbortSignal) });
  });

  it('POST passes the sha256 form field sent before the file', async () => {
    const data = zipLike(MiB);
    const form = multipartBody('project_zip', data, { sha256: sha256Of(data) });
    const res = await rawRequest(`${running.url}/projects/form-digest.zip`, {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': form.contentType },
      body: form.body,
    });
    expect(res.status).toBe(201);
    expect(lastUploadOptions()?.sha256).toBe(sha256Of(data));
  });

  it('POST passes no sha256 for a field sent after the file', async () => {
    const data = zipLike(MiB);
    const form = multipartBody('project_zip', data, {}, { sha256: sha256Of(data) });
    const res = await rawRequest(`${running.url}/projects/form-digest-after.zip`, {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': form.contentType },
      body: form.body,
    });
    expect(res.status).toBe(201);
    expect(lastUploadOptions()).toEqual({ signal: expect.any(AbortSignal) });
  });

  it('aborts the upload signal when the client goes away mid-body', async () => {
    const before = double.callsTo('uploadProject').length;
    const req = http.request(`${running.url}/projects/client-gone.zip`, {
      method: 'PUT',
      headers: { ...bearer, 'Content-Type': 'application/zip', 'Content-Length': String(8 * MiB) },
      agent: false,
    });
    req.on('error', () => undefined);
    req.write(zipLike(256 * 1024));
    expect(await eventually(() => double.callsTo('uploadProject').length > before)).toBe(true);
    const signal = lastUploadOptions()?.signal;
    const wasLive = signal?.aborted === false;
    req.destroy();
    expect(wasLive).toBe(true);
    expect(await eventually(() => signal?.aborted === true)).toBe(true);
    expect(double.storedProject(double.bucket, 'client-gone.zip')).toBeUndefined();
  });

  it('aborts the download signal when the client goes away mid-download', async () => {
    await double.uploadProject('big-download.zip', zipLike(32 * MiB));
    const gotFirstBytes = new Promise<http.ClientRequest>((resolve) => {
      const req = http.get(
        `${running.url}/projects/big-download.zip`,
        { headers: bearer, agent: false },
        (res) => {
          res.once('data', () => {
            res.pause();
            resolve(req);
          });
        },
      );
      req.on('error', () => undefined);
    });
    const req = await gotFirstBytes;
    const options = double.callsTo('downloadProject').at(-1)?.[2] as TransferOptions | undefined;
    const wasLive = options?.signal?.aborted === false;
    req.destroy();
    expect(wasLive).toBe(true);
    expect(await eventually(() => options?.signal?.aborted === true)).toBe(true);
  });
});
