import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderMarkdown } from '../../bench/report.js';
import { judge, type Measurements } from '../../bench/results.js';

/**
 * The benchmark report a reader gets: rendered from the committed full run (bench/results.json),
 * it opens with a summary of at most 12 lines and stays within 15 KB, with no issue numbers.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const results = judge(
  JSON.parse(readFileSync(`${ROOT}bench/results.json`, 'utf8')) as Measurements,
);
const markdown = renderMarkdown(results);

describe('docs/BENCHMARKS.md', () => {
  it('opens with a summary of at most 12 lines', () => {
    const lines = markdown.split('\n');
    const first = lines.findIndex((line) => line.startsWith('## '));
    expect(lines[first]).toBe('## Summary');
    const next = lines.findIndex((line, i) => i > first && line.startsWith('## '));
    const summary = lines.slice(first + 1, next).filter((line) => line.trim() !== '');
    expect(summary.length).toBeGreaterThan(0);
    expect(summary.length).toBeLessThanOrEqual(12);
  });

  it('is at most 15 KB and carries no issue numbers', () => {
    expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(15 * 1024);
    expect(markdown).not.toMatch(/issue\s*#?\d|#\d{1,3}\b/i);
  });

  it('names every missed target in its table of causes', () => {
    const missed = results.targets.filter((t) => t.met === false && t.id.startsWith('transfer.'));
    expect(missed.length === 0 || markdown.includes('## Not met, and why')).toBe(true);
  });

  it('the committed docs/BENCHMARKS.md is within the same limits', () => {
    const committed = readFileSync(`${ROOT}docs/BENCHMARKS.md`, 'utf8');
    expect(Buffer.byteLength(committed)).toBeLessThanOrEqual(15 * 1024);
    expect(Math.max(...committed.split('\n').map((line) => line.length))).toBeLessThanOrEqual(400);
  });
});
