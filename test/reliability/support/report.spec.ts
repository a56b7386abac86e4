/**
 * The reliability report (global-teardown.ts) rendered from a recorded full run (fixtures/full-run:
 * the results folder of the run docs/reliability.json holds, 188 matrix cells that apply, 148 that
 * do not, for 10 reasons, 26,025 cases): a summary of at most 12 lines first, the whole
 * document at most 15 KB, no line over 400 characters, no issue numbers; every case's figures
 * in the JSON. The same holds when many cases fail with long messages.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  readRun,
  renderJson,
  renderReport,
  summaryLines,
  SUMMARY_MAX_LINES,
  type CaseRecord,
  type ReportInput,
} from './global-teardown.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'full-run');
/** The limit the report is held to (15 KB), set here and not taken from the renderer. */
const MAX_BYTES = 15 * 1024;
const MAX_LINE = 400;

const fullRun = (): ReportInput => ({
  ...readRun(FIXTURE, path.join(here, '..')),
  machine: '2 CPUs (nproc), AMD EPYC; 23.5 GiB memory; Linux 6.18 x64',
  node: 'v20.20.2',
});

/** A reason for a case not to hold, shaped like the ones results.ts records from real runs. */
function reason(r: CaseRecord, n: number): string {
  const slug = [r.group, r.body]
    .filter(Boolean)
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-');
  const storage =
    `StorageUnavailableError: Storage did not finish upload of "${slug}.zip" in bucket ` +
    `"rel-${r.category}-${r.backend ?? 'none'}-mx2oczp9-feab70a4" within 3000 ms`;
  return r.tried === 1
    ? `expect(received).toBeLessThanOrEqual(expected)  Expected: <= 2000 Received:    2759 (${storage})`
    : `${r.group}, case ${n + 1}: ${storage}`;
}

interface FailingRun {
  input: ReportInput;
  /** Cases that did not hold, counted here from the records, not from the report. */
  notHeld: number;
  lost: number;
  /** Rows (a matrix cell, a case of a table) with a case that did not hold. */
  failingRows: number;
  failingCells: number;
}

/**
 * The full run with every `every`-th case, counted across the run, not holding: each with a
 * realistic message (up to 20 per row, as results.ts keeps them), every other failing row also
 * losing data, and Jest counting the failed tests.
 */
function failingRun(every: number): FailingRun {
  const input = fullRun();
  let index = 0;
  let notHeld = 0;
  let lost = 0;
  const failing: CaseRecord[] = [];
  input.records = input.records.map((r) => {
    const first = index;
    index += r.tried;
    const fail = Math.floor((index - 1) / every) - Math.floor((first - 1) / every);
    if (r.tried === 0 || fail === 0) return r;
    const row: CaseRecord = {
      ...r,
      held: r.tried - fail,
      lost:
        failing.length % 2 === 0
          ? [`reported failed, but the key holds the new object (${reason(r, 0)})`]
          : [],
      failures: Array.from({ length: Math.min(fail, 20) }, (_, n) => reason(r, n)),
    };
    failing.push(row);
    notHeld += fail;
    lost += row.lost.length;
    return row;
  });
  const summary = input.summary!;
  summary.files = summary.files.map((file) => ({
    ...file,
    failed: Array.from(
      { length: Math.ceil(file.numTests / every) },
      (_, n) => `${path.basename(file.path, '.spec.ts')} › case ${n + 1} holds`,
    ),
  }));
  summary.numFailedTests = summary.files.reduce((n, f) => n + f.failed.length, 0);
  summary.numPassedTests = summary.numTotalTests - summary.numFailedTests;
  return {
    input,
    notHeld,
    lost,
    failingRows: failing.length,
    failingCells: failing.filter((r) => r.category === 'matrix').length,
  };
}

/** RELIABILITY.md as the suite's teardown writes it. */
async function rendered(input: ReportInput): Promise<string> {
  return renderReport(input, path.join(here, '..', '..', '..', 'docs', 'RELIABILITY.md'));
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
      188,
    );
    expect(input.records.filter((r) => r.category === 'matrix' && r.notApplicable)).toHaveLength(
      148,
    );
    const markdown = await rendered(input);
    expectReadable(markdown, input);
    expect(markdown.split('\n')[2]).toMatch(/^- \*\*PASS\*\*: 26025 of 26025 cases held/);
    // The matrix is one table of marks; its inapplicable reasons are listed once each.
    expect(markdown.match(/^\| fault/gm)).toHaveLength(1);
    expect(markdown).not.toContain('n/a');
    const reasons = markdown.split('\n').filter((l) => /^- [a-z]: /.test(l));
    expect(reasons).toHaveLength(10);
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  /** The failing run's report says how many did not hold, names some with why, points to the rest. */
  async function expectHonestFailure(run: FailingRun): Promise<{ named: number; more: number }> {
    const markdown = await rendered(run.input);
    expectReadable(markdown, run.input);
    const tried = run.input.records.reduce((n, r) => n + r.tried, 0);
    const lines = markdown.split('\n');
    expect(lines[2]).toContain(
      `- **FAIL**: ${tried - run.notHeld} of ${tried} cases held, ${run.notHeld} did not, ${run.lost} lost`,
    );
    expect(lines.filter((l) => /^\| [a-z]/.test(l) && l.includes('✗')).length).toBeGreaterThan(0);
    expect(markdown.match(/✗/g)?.length).toBeGreaterThanOrEqual(run.failingCells);
    // Each category's line counts its cases and names its first failure.
    const titles = {
      matrix: 'The matrix',
      faults: 'Faults',
      'bad-input': 'Bad input',
      load: 'Load',
      security: 'Security',
    };
    let categoriesFailing = 0;
    for (const [category, title] of Object.entries(titles)) {
      const mine = run.input.records.filter((r) => r.category === category);
      const tried = mine.reduce((n, r) => n + r.tried, 0);
      const held = mine.reduce((n, r) => n + r.held, 0);
      if (held === tried) continue;
      categoriesFailing++;
      const line = lines.slice(2, 14).find((l) => l.startsWith(`- ${title}: `));
      expect(line).toContain(`${held} of ${tried} `);
      expect(line).toContain(`, ${tried - held} did not, `);
      expect(line).toContain('; first ');
    }
    // The other failures: some named with their reason, the rest counted and pointed to.
    const start = lines.indexOf('## Other cases that did not hold');
    expect(start).toBeGreaterThan(0);
    const list = lines.slice(start);
    const named = list.filter((l) => /^- .*: \d+ of \d+/.test(l));
    expect(named.length).toBeGreaterThan(0);
    expect(named[0]).toMatch(/; (expect\(received\)|.*, case \d+: )/);
    expect(named[0]).toContain('StorageUnavailableError');
    const more = list.find((l) => l.startsWith('- and '));
    if (more !== undefined) expect(more).toMatch(/docs\/reliability\.json/);
    const moreCount = more === undefined ? 0 : Number(/^- and (\d+) more/.exec(more)?.[1]);
    const jestFailed = run.input.summary!.numFailedTests;
    const jestNamed = list.filter((l) => l.startsWith('- Jest: ')).length;
    const inSummary = categoriesFailing + (jestFailed > 0 ? 1 : 0);
    expect(inSummary + named.length + jestNamed + moreCount).toBe(run.failingRows + jestFailed);
    process.stderr.write(
      `[report.spec] ${run.notHeld} cases did not hold: ${Buffer.byteLength(markdown)} bytes, ` +
        `${named.length} named in the list, ${moreCount} more counted\n`,
    );
    return { named: named.length + jestNamed, more: moreCount };
  }

  it('stays within 15 KB when one case in five fails, and says how many, which and why', async () => {
    const run = failingRun(5);
    expect(run.notHeld).toBe(Math.ceil(26_025 / 5));
    expect(run.failingCells).toBeGreaterThan(30);
    expect((await expectHonestFailure(run)).more).toBeGreaterThan(100);
  });

  it('stays within 15 KB when every case fails', async () => {
    const run = failingRun(1);
    expect(run.notHeld).toBe(26_025);
    expect(run.failingCells).toBe(188);
    expect((await expectHonestFailure(run)).more).toBeGreaterThan(400);
  });

  it('names every case that did not hold when they fit', async () => {
    const run = failingRun(4_000);
    const summary = run.input.summary!;
    summary.files = summary.files.map((f) => ({ ...f, failed: [] }));
    summary.numFailedTests = 0;
    summary.numPassedTests = summary.numTotalTests;
    expect(run.notHeld).toBe(Math.ceil(26_025 / 4_000));
    const { named, more } = await expectHonestFailure(run);
    expect(more).toBe(0);
    expect(named).toBeGreaterThan(0);
  });

  it('says which matrix cells did not run when its suite crashed, within 15 KB', async () => {
    const input = fullRun();
    const axes = input.axes!;
    // The matrix spec crashed after its first 7 faults: the cells of the others have no record.
    const notRun = new Set(axes.faults.slice(7));
    input.records = input.records.filter((r) => r.category !== 'matrix' || !notRun.has(r.group));
    const missing = notRun.size * axes.bodies.length * axes.backends.length;
    const summary = input.summary!;
    const matrixFile = summary.files.find((f) => f.path.endsWith('matrix.spec.ts'))!;
    matrixFile.failureMessage =
      'Test suite failed to run\n\n    Error: spawn ENOMEM\n' +
      '      at ChildProcess.spawn\n'.repeat(50);
    summary.numRuntimeErrorTestSuites = 1;
    summary.numFailedTestSuites = 1;
    const markdown = await rendered(input);
    expectReadable(markdown, input);
    const lines = markdown.split('\n');
    expect(lines[2]).toMatch(/^- \*\*FAIL\*\*: /);
    expect(lines[2]).toContain(`, ${missing} matrix cells did not run (`);
    expect(lines[2]).toContain(', 1 of 11 files crashed, ');
    const matrixLine = lines.find((l) => l.startsWith('- The matrix: '));
    expect(matrixLine).toContain(`${missing} cells did not run`);
    expect(matrixLine).not.toMatch(/all \d+ cells held/);
    const table = lines.filter(
      (l) => l.startsWith('| ') && notRun.has(l.split(' | ')[0].slice(2).trim()),
    );
    expect(table).toHaveLength(notRun.size);
    expect(table.join('').match(/\?/g)).toHaveLength(missing);
    expect(markdown).toContain('matrix.spec.ts: Test suite failed to run');
  });

  it('keeps every case with its figures in the JSON', () => {
    const input = fullRun();
    const json = JSON.parse(renderJson(input)) as {
      cases: { group: string; backend?: string; metrics: Record<string, unknown> }[];
      categories: { id: string; tried: number; held: number }[];
    };
    expect(json.categories.reduce((n, c) => n + c.tried, 0)).toBe(26_025);
    const slowCommit = json.cases.find(
      (c) => c.group === 'slow commit through uploadProject' && c.backend === 'aws',
    );
    expect(slowCommit?.metrics).toMatchObject({ outcome: 'stored' });
  });
});
