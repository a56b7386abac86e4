/**
 * Re-renders BENCHMARKS.md and the stdout table from bench/results.json without running the
 * benchmark again (after editing report.ts): `tsc -p bench/tsconfig.json && node
 * bench/dist/bench/render.js`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './common.js';
import { renderMarkdown, renderTable, type Results } from './report.js';

const results = JSON.parse(
  readFileSync(path.join(ROOT, 'bench', 'results.json'), 'utf8'),
) as Results;
const file = path.join(ROOT, 'BENCHMARKS.md');
writeFileSync(file, renderMarkdown(results));
spawnSync(path.join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', file], {
  stdio: 'ignore',
});
process.stdout.write(renderTable(results));
