/**
 * Re-renders the report from a results.json without running the bench again:
 * `tsc -p bench/tsconfig.json && node bench/dist/bench/render.js [bench/quick/results.json]`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './common.js';
import { outputPaths, writeMarkdown } from './outputs.js';
import { renderText } from './report.js';
import type { Results } from './results.js';

const file = path.resolve(process.argv[2] ?? path.join(ROOT, 'bench/results.json'));
const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
writeMarkdown(results, outputPaths(results.meta.quick).markdown);
process.stdout.write(renderText(results));
