/**
 * Child process of the `ulimit -f` test: runs `uploadWithFailingSpool` on the spool directory
 * given as its first argument and prints the outcome as one line of JSON. Started with
 * `node --import ./test/support/ts-loader.mjs`.
 */
import { uploadWithFailingSpool } from './spool-fault.js';

const [spoolDir] = process.argv.slice(2);
const outcome = await uploadWithFailingSpool(spoolDir);
process.stdout.write(`${JSON.stringify(outcome)}\n`);
// The upload may still be stuck (the defect under test): do not wait for it.
process.exit(0);
