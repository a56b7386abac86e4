/**
 * The server side of one memory figure, in a process of its own so that only the app's memory
 * is counted: the example app (controller mounted) on the platform named in argv[2], configured
 * by the JSON env in argv[3]. It prints `{"port":N}`, then answers lines on stdin:
 * `baseline` (after a full GC: the RSS to grow from; sampling starts, every 20 ms) and `report`
 * (prints `PutMemoryReport` and exits). The peak is the highest sample, or the kernel's maxRSS
 * high-water mark when that rose meanwhile (a peak between two samples), as bench/memory-child.ts.
 *
 * With BUFFER_BODIES=1 the app buffers `application/zip` bodies in a body parser first (the
 * control: the measurement must see a buffered body).
 *
 * Run with `node --expose-gc --import ./test/support/ts-loader.mjs`.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppModule } from '../../../src/app.module.js';

export interface PutMemoryReport {
  baselineMiB: number;
  peakMiB: number;
  growthMiB: number;
  heapUsedMiB: number;
  arrayBuffersMiB: number;
}

const MiB = 1024 * 1024;
const platform = process.argv[2];
const env = JSON.parse(process.argv[3]) as Record<string, string>;
const buffered = process.env.BUFFER_BODIES === '1';
const rssMiB = () => process.memoryUsage().rss / MiB;
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

let app: INestApplication;
if (platform === 'fastify') {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const fastify = await NestFactory.create<
    import('@nestjs/platform-fastify').NestFastifyApplication
  >(AppModule.forTest(env), new FastifyAdapter({ routerOptions: { maxParamLength: 1024 } }), {
    logger: false,
  });
  if (buffered) fastify.useBodyParser('application/zip', { bodyLimit: 1024 * MiB });
  app = fastify;
} else {
  const express = await NestFactory.create<
    import('@nestjs/platform-express').NestExpressApplication
  >(AppModule.forTest(env), { logger: false });
  if (buffered) express.useBodyParser('raw', { type: 'application/zip', limit: 1024 * MiB });
  app = express;
}
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ port })}\n`);

let baselineMiB = 0;
let peakMiB = 0;
let maxBefore = 0;
let timer: NodeJS.Timeout | undefined;
/** The most the heap and the Buffers held at any sample (a buffered body shows there). */
let atPeak = { heapUsedMiB: 0, arrayBuffersMiB: 0 };
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'baseline') {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(200);
    baselineMiB = peakMiB = rssMiB();
    maxBefore = maxRssMiB();
    timer = setInterval(() => {
      const usage = process.memoryUsage();
      peakMiB = Math.max(peakMiB, usage.rss / MiB);
      atPeak = {
        heapUsedMiB: Math.max(atPeak.heapUsedMiB, usage.heapUsed / MiB),
        arrayBuffersMiB: Math.max(atPeak.arrayBuffersMiB, usage.arrayBuffers / MiB),
      };
    }, 20);
    process.stdout.write('{"baseline":true}\n');
  } else if (line === 'report') {
    clearInterval(timer);
    peakMiB = Math.max(peakMiB, rssMiB());
    const maxRss = maxRssMiB();
    if (maxRss > maxBefore) peakMiB = Math.max(peakMiB, maxRss);
    const report: PutMemoryReport = {
      baselineMiB,
      peakMiB,
      growthMiB: peakMiB - baselineMiB,
      ...atPeak,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    break;
  }
}
await app.close();
