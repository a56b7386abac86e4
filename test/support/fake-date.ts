import { jest } from '@jest/globals';

/**
 * Fakes `Date` only: sockets, deadlines and every timer keep running in real time, so a test
 * can move the wall clock (a token's half-life, its expiry) while real servers answer.
 * Undo with `jest.useRealTimers()`.
 */
export function fakeDateOnly(now: number = Date.now()): void {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
    now,
  });
}
