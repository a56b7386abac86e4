import { expect } from '@jest/globals';

export interface Latency {
  /** Milliseconds. */
  median: number;
  max: number;
}

/**
 * Calls `call` `count` times, one after the other, checking each answer, and returns the median
 * and the slowest latency. A call slower than `maxMs` fails at once (not after `count` of them).
 */
export async function latencies<T>(
  count: number,
  maxMs: number,
  call: () => Promise<T>,
  check: (value: T) => void = () => undefined,
): Promise<Latency> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const value = await call();
    const ms = performance.now() - started;
    check(value);
    expect(ms).toBeLessThan(maxMs);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(count / 2)], max: times[count - 1] };
}

/** `median 0.05 ms, max 1.2 ms` */
export const describeLatency = ({ median, max }: Latency): string =>
  `median ${median.toFixed(3)} ms, max ${max.toFixed(1)} ms`;
