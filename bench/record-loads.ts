/**
 * `node --import ./record-loads.js`: registers `resolve-hook.js` before anything else loads,
 * so that every module resolved by the ES module loader is recorded in LOADS_LOG.
 */
import { register } from 'node:module';

const logFile = process.env.LOADS_LOG;
if (logFile) register('./resolve-hook.js', import.meta.url, { data: { logFile } });
