/**
 * Keeps every line logged through Nest's `Logger` instances (the module's `RedactingLogger`
 * among them) as evidence, so the secret scan at the end of the run (security.spec.ts) covers
 * the log output too. Testing modules mute log and warn lines (TestingLogger); they are caught
 * here, before that. Patched on the prototype, not spied, so `jest.restoreAllMocks()` in a spec
 * does not undo it. Loaded by jest.reliability.config.js (`setupFilesAfterEnv`).
 */
import { Logger } from '@nestjs/common';
import { evidence } from './results.js';

type Level = 'log' | 'warn' | 'error' | 'debug' | 'verbose' | 'fatal';
const LEVELS: Level[] = ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'];
const PATCHED = Symbol.for('nest-credentials.reliability.log-evidence');

const proto = Logger.prototype as unknown as Record<Level, (...args: unknown[]) => void> & {
  [PATCHED]?: true;
};

if (!proto[PATCHED]) {
  proto[PATCHED] = true;
  for (const level of LEVELS) {
    const original = proto[level];
    proto[level] = function (this: Logger, ...args: unknown[]) {
      const context = (this as unknown as { context?: string }).context ?? '';
      evidence(`log/${level}/${context}`, args.map(String).join(' '));
      return original.apply(this, args);
    };
  }
}
