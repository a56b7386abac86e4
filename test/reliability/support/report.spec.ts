/**
 * The reliability report (global-teardown.ts) rendered from a recorded full run (fixtures/full-run: 123
 * matrix cells that apply, about 25,900 cases): a summary of at most 12 lines first, the whole
 * document at most 15 KB, no line over 400 characters, no issue numbers; every case's figures
 * in the JSON. The same holds when many cases fail with long messages.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  formatted,
  readRun,
  renderJson,
  renderMarkdown,
  summaryLines,
  SUMMARY_MAX_LINES,
  type ReportInput,
} from './global-teardown.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'full-run');
const MAX_BYTES = 15 * 1024;
const MAX_LINE = 400;

const fullRun = (): ReportInput => ({
  ...readRun(FIXTURE, path.join(here, '..')),
  machine: '2 CPUs (nproc), AMD EPYC; 23.5 GiB memory; Linux 6.18 x64',
  node: 'v20.20.2',
});

/** The full run with one case in five failing, each with a long message and losses. */
function failingRun(): ReportInput {
  const input = fullRun();
  input.records = input.records.map((r, i) =>
    i % 5 === 0 && !r.notApplicable
      ? {
          ...r,
          held: 0,
          lost: ['a partial object stayed visible '.repeat(10)],
          failures: [`StorageUnavailableError: ${'the server went away mid-part; '.repeat(40)}`],
        }
      : r,
  );
  return input;
}

async function rendered(input: ReportInput): Promise<string> {
  return formatted(renderMarkdown(input), path.join(here, '..', '..', '..', 'docs', 'x.md'));
}

function expectReadable(markdown: string, input: ReportInput): void {
  const lines = markdown.split('\n');
  expect(lines[0]).toBe('# Reliability');
  expect(lines[1]).toBe('');
  // The summary comes first: the lines up to the first blank line, before any table or heading.
  const end = lines.indexOf('', 2);
  const summary = lines.slice(2, end);
  expect(summary.length).toBeGreaterThan(0);
  expect(summary.length).toBeLessThanOrEqual(SUMMARY_MAX_LINES);
  expect(summary).toEqual(summaryLines(input));
  const firstBlock = lines.slice(1).findIndex((l) => l.startsWith('|') || l.startsWith('#')) + 1;
  expect(firstBlock).toBeGreaterThan(end);

  expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(MAX_BYTES);
  const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
  expect(longest.length).toBeLessThanOrEqual(MAX_LINE);
  expect(markdown).not.toMatch(/\bissues?\s*#?\d|#\d+\b/i);
}

describe('reliability report', () => {
  it('renders a full run: summary first, at most 15 KB, short lines, no issue numbers', async () => {
    const input = fullRun();
    const tried = input.records.reduce((n, r) => n + r.tried, 0);
    expect(tried).toBeGreaterThan(25_000);
    expect(input.records.filter((r) => r.category === 'matrix' && !r.notApplicable)).toHaveLength(
      123,
    );
    const markdown = await rendered(input);
    expectReadable(markdown, input);
    expect(markdown.split('\n')[2]).toMatch(/^- \*\*PASS\*\*: 25894 of 25894 cases held/);
    // The matrix is one table of marks; its inapplicable reasons are listed once each.
    expect(markdown.match(/^\| fault/gm)).toHaveLength(1);
    expect(markdown).not.toContain('n/a');
    const reasons = markdown.split('\n').filter((l) => /^- [a-z]: /.test(l));
    expect(reasons).toHaveLength(3);
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  it('stays within its limits when many cases fail, and says which and why', async () => {
    const input = failingRun();
    const markdown = await rendered(input);
    expectReadable(markdown, input);
    expect(markdown.split('\n')[2]).toMatch(/^- \*\*FAIL\*\*/);
    expect(markdown).toContain('StorageUnavailableError: the server went away');
    expect(markdown).toContain('✗');
  });

  it('keeps every case with its figures in the JSON', () => {
    const input = fullRun();
    const json = JSON.parse(renderJson(input)) as {
      cases: { group: string; backend?: string; metrics: Record<string, unknown> }[];
      categories: { id: string; tried: number; held: number }[];
    };
    expect(json.categories.reduce((n, c) => n + c.tried, 0)).toBe(25_894);
    const slowCommit = json.cases.find(
      (c) => c.group === 'slow commit through uploadProject' && c.backend === 'aws',
    );
    expect(slowCommit?.metrics).toMatchObject({ outcome: 'stored' });
  });
});
