/**
 * Registry token benchmark: the aws backend against the loopback fake ECR server
 * (test/support/fake-ecr-server.ts, spoken to by the real @aws-sdk/client-ecr).
 */
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { FakeEcrServer } from '../test/support/fake-ecr-server.js';
import { bootModule, median, moduleEnv, now, percentile, S3 } from './common.js';

export interface RegistryOutcome {
  calls: number;
  callers: number;
  ecrApiCalls: number;
  burstMs: number;
  tokensDistinct: number;
  cachedCalls: number;
  cachedMedianUs: number;
  cachedP99Us: number;
  uncachedCalls: number;
  uncachedMedianMs: number;
}

export async function registryBench(plan: {
  calls: number;
  callers: number;
  cachedCalls: number;
  uncachedCalls: number;
}): Promise<RegistryOutcome> {
  const ecr = await FakeEcrServer.start();
  const booted = await bootModule(moduleEnv('aws', ecr.url));
  try {
    const { credentials } = booted;
    // The burst: `callers` concurrent callers, each asking for a token until `calls` are done.
    const perCaller = Math.ceil(plan.calls / plan.callers);
    const tokens = new Set<string | null>();
    const burstStarted = now();
    await Promise.all(
      Array.from({ length: plan.callers }, async () => {
        for (let i = 0; i < perCaller; i++) tokens.add(await credentials.getRegistryToken());
      }),
    );
    const burstMs = now() - burstStarted;
    const ecrApiCalls = ecr.calls;

    // Latency of a cached call, one at a time.
    const cached: number[] = [];
    for (let i = 0; i < plan.cachedCalls; i++) {
      const started = process.hrtime.bigint();
      await credentials.getRegistryToken();
      cached.push(Number(process.hrtime.bigint() - started) / 1000);
    }

    // For comparison: what naive code pays per call, asking ECR every time.
    const client = new ECRClient({
      region: S3.region,
      endpoint: ecr.url,
      credentials: { accessKeyId: S3.accessKey, secretAccessKey: S3.secretKey },
    });
    const uncached: number[] = [];
    try {
      await client.send(new GetAuthorizationTokenCommand({})); // warm-up
      for (let i = 0; i < plan.uncachedCalls; i++) {
        const started = now();
        await client.send(new GetAuthorizationTokenCommand({}));
        uncached.push(now() - started);
      }
    } finally {
      client.destroy();
    }
    return {
      calls: perCaller * plan.callers,
      callers: plan.callers,
      ecrApiCalls,
      burstMs,
      tokensDistinct: tokens.size,
      cachedCalls: plan.cachedCalls,
      cachedMedianUs: median(cached),
      cachedP99Us: percentile(cached, 99),
      uncachedCalls: plan.uncachedCalls,
      uncachedMedianMs: median(uncached),
    };
  } finally {
    await booted.close();
    await ecr.close();
  }
}
