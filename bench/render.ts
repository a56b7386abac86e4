/**
 * Re-judges a results.json with the current rules and re-renders its report without running the
 * bench again: `tsc -p bench/tsconfig.json && node bench/dist/bench/render.js [results.json]`
 * (default bench/results.json; a quick run's file goes back to bench/quick/).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './common.js';
import { writeResults } from './outputs.js';
import { renderText } from './report.js';
import { judge, type Measurements } from './results.js';

const file = path.resolve(process.argv[2] ?? path.join(ROOT, 'bench/results.json'));
const results = judge(JSON.parse(readFileSync(file, 'utf8')) as Measurements);
writeResults(results, results.meta.quick);
process.stdout.write(renderText(results));
