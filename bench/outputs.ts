/**
 * Where a run's outputs go: a full run writes bench/results.json and docs/BENCHMARKS.md; a quick
 * run (BENCH_QUICK=1) writes bench/quick/, so that a smoke run never replaces the measured report.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './common.js';
import { renderMarkdown } from './report.js';
import type { Results } from './results.js';

export function outputPaths(quick: boolean): { json: string; markdown: string } {
  return quick
    ? {
        json: path.join(ROOT, 'bench/quick/results.json'),
        markdown: path.join(ROOT, 'bench/quick/BENCHMARKS.md'),
      }
    : {
        json: path.join(ROOT, 'bench/results.json'),
        markdown: path.join(ROOT, 'docs/BENCHMARKS.md'),
      };
}

/** Writes the Markdown report, formatted (it is checked by `prettier --check .`). */
export function writeMarkdown(results: Results, file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, renderMarkdown(results));
  spawnSync(path.join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', file], {
    stdio: 'ignore',
  });
}

export function writeResults(results: Results, quick: boolean): { json: string; markdown: string } {
  const out = outputPaths(quick);
  mkdirSync(path.dirname(out.json), { recursive: true });
  writeFileSync(out.json, JSON.stringify(results, null, 2) + '\n');
  writeMarkdown(results, out.markdown);
  return out;
}
