/**
 * Global teardown of the reliability suite, and its report. Reads the cases the specs recorded
 * (results.jsonl, see results.ts) and what Jest counted (jest-summary.json, from
 * summary-reporter.js), turns them into one model and renders it to markdown (RELIABILITY.md: a
 * summary of at most 12 lines, then compact tables built from one table model, within a size
 * budget: see `renderReport`) and to JSON (reliability.json: every case with its figures, lost items
 * and failures).
 *
 * A run of every spec file writes both into <root>/docs/; a partial run (a path pattern, a single
 * file) writes only into its results folder, so it never replaces the full figures.
 *
 * Self-contained (node: imports, and prettier to format the outputs): Jest loads it outside its
 * module system, where it cannot import the suite's other modules. report.spec.ts renders a
 * recorded full run with it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Category = 'matrix' | 'faults' | 'bad-input' | 'load' | 'security';

export interface CaseRecord {
  category: Category;
  group: string;
  backend?: string;
  body?: string;
  tried: number;
  held: number;
  lost: string[];
  ms: number;
  failures: string[];
  metrics: Record<string, string | number>;
  notApplicable?: string;
}

export interface MatrixAxes {
  bodies: string[];
  faults: string[];
  backends: string[];
}

export interface JestSummary {
  startTime: number;
  endTime: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
  numRuntimeErrorTestSuites: number;
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  files: {
    path: string;
    failureMessage?: string;
    failed: string[];
    numTests: number;
    ms?: number;
  }[];
}

export interface RunInfo {
  startedAt: string;
  command: string;
}

export interface ReportInput {
  records: CaseRecord[];
  axes: MatrixAxes | undefined;
  summary: JestSummary | undefined;
  run: RunInfo;
  partial: boolean;
  /** The machine line; the renderer's own machine when absent. */
  machine?: string;
  node?: string;
}

/** The one table model: every table of the report is one, rendered by `markdownTable`. */
export interface Table {
  header: string[];
  rows: string[][];
}

export const SUMMARY_MAX_LINES = 12;
/** RELIABILITY.md, formatted, is at most this many bytes (15 KB), whatever the run's outcome. */
export const REPORT_MAX_BYTES = 15 * 1024;
export const JSON_NAME = 'reliability.json';

const CATEGORIES: { id: Category; title: string; holds: string; about: string }[] = [
  {
    id: 'matrix',
    title: 'The matrix',
    holds: 'cells held',
    about:
      'Every body kind on every backend under every fault (matrix.spec.ts, parts of 5 MiB, short ' +
      'deadlines). A cell holds when the call settles, stored or with a typed error, within its ' +
      'deadline plus 2 s (a server fault: the upload deadline plus one request deadline); twice ' +
      'the deadline later the key holds the previous object (after a failure) or the new one ' +
      'with the SHA-256 the caller was given; no spool file or incomplete upload is left; and the ' +
      'same instance stores the next project. A cell has a mark per backend: ✓ held, ✗ did not, ' +
      'a letter for a cell that does not apply, for the reason listed below the table.',
  },
  {
    id: 'faults',
    title: 'Faults',
    holds: 'held',
    about:
      'The real S3 server (OpenStack Swift s3api) behind a fault-injecting TCP proxy, stopped and ' +
      'restarted, and the loopback ECR endpoint. A case holds when the call ends with the right ' +
      'typed error within its deadline, no partial object is visible, no multipart upload is ' +
      'left, the event loop still answers within 250 ms and the first call after recovery ' +
      'succeeds on the same instance.',
  },
  {
    id: 'bad-input',
    title: 'Bad input',
    holds: 'held',
    about:
      'A corpus of names, bodies, bucket names and configuration values, and fast-check ' +
      'properties on generated names and bodies. A case holds when it gets the typed error (400 ' +
      'or 413 over HTTP) within its deadline and nothing was written.',
  },
  {
    id: 'load',
    title: 'Load',
    holds: 'held',
    about:
      'Concurrent and sequential round trips on the real S3 server, each download compared by ' +
      'SHA-256; downloads destroyed unread; memory after vs before; concurrent uploads to one ' +
      'name. Lost means differing bytes and objects that mix uploads.',
  },
  {
    id: 'security',
    title: 'Security',
    holds: 'held',
    about:
      'The example app’s controller against missing, wrong and malformed bearer tokens and ' +
      'downloads that try to leave the projects bucket; `npm audit --omit=dev`; the secret scan ' +
      'over everything the suite saw. Lost means requests let through, bytes from outside the bucket ' +
      'and secrets found.',
  },
];

/** Rows of the same case (category, group, backend, body) added up, in the order they ran. */
export function aggregate(records: CaseRecord[]): CaseRecord[] {
  const rows = new Map<string, CaseRecord>();
  for (const r of records) {
    const key = [r.category, r.group, r.backend ?? '', r.body ?? ''].join('\u0000');
    const row = rows.get(key);
    if (!row) {
      rows.set(key, {
        ...r,
        lost: [...r.lost],
        failures: [...r.failures],
        metrics: { ...r.metrics },
      });
      continue;
    }
    row.tried += r.tried;
    row.held += r.held;
    row.ms += r.ms;
    row.lost.push(...r.lost);
    row.failures.push(...r.failures);
    Object.assign(row.metrics, r.metrics);
  }
  return [...rows.values()];
}

export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

/** One line of text, at most `max` characters; runs of spaces are one, as markdown shows them. */
const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
};

export function markdownTable({ header, rows }: Table): string {
  const cell = (text: string) => oneLine(text, 200).replace(/\|/g, '\\|');
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Prose broken into lines of at most `width` characters (markdown joins them again). */
export function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

const sum = (rows: CaseRecord[], pick: (r: CaseRecord) => number) =>
  rows.reduce((n, r) => n + pick(r), 0);

const failed = (r: CaseRecord) => r.held < r.tried || r.lost.length > 0;

const reasonOf = (r: CaseRecord) => r.failures[0] ?? r.lost[0] ?? 'no reason recorded';

const where = (r: CaseRecord) =>
  [r.group, r.body, r.backend].filter((part): part is string => Boolean(part)).join(' / ');

export function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const memory = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${os.availableParallelism()} CPUs (nproc), ${model}; ${memory} GiB memory; ${os.type()} ${os.release()} ${os.arch()}`;
}

interface CategoryFigures {
  id: Category;
  title: string;
  tried: number;
  held: number;
  lost: number;
  ms: number;
  failing: CaseRecord[];
  /** Matrix cells on its axes with no record: their spec did not get to them (it crashed). */
  notRun: number;
}

/** The matrix cell of a fault, body kind and backend, if it was recorded. */
function matrixCells(
  rows: CaseRecord[],
): (fault: string, body: string, backend: string) => CaseRecord | undefined {
  const cells = new Map<string, CaseRecord>();
  for (const r of rows) {
    if (r.category === 'matrix') cells.set([r.group, r.body, r.backend].join('\u0000'), r);
  }
  return (fault, body, backend) => cells.get([fault, body, backend].join('\u0000'));
}

/** Matrix cells on the axes with no record (`cell` from `matrixCells`). */
function cellsNotRun(cell: ReturnType<typeof matrixCells>, axes: MatrixAxes | undefined): number {
  if (!axes) return 0;
  return axes.faults.flatMap((fault) =>
    axes.bodies.flatMap((body) => axes.backends.filter((backend) => !cell(fault, body, backend))),
  ).length;
}

function categoryFigures(rows: CaseRecord[], input: ReportInput): CategoryFigures[] {
  const { summary } = input;
  return CATEGORIES.map(({ id, title }) => {
    const mine = rows.filter((r) => r.category === id);
    return {
      id,
      title,
      tried: sum(mine, (r) => r.tried),
      held: sum(mine, (r) => r.held),
      lost: sum(mine, (r) => r.lost.length),
      notRun: id === 'matrix' ? cellsNotRun(matrixCells(mine), input.axes) : 0,
      // The matrix's cells overlap: its time is the wall time of its spec file.
      ms:
        id === 'matrix'
          ? (summary?.files.find((f) => f.path.endsWith('matrix.spec.ts'))?.ms ?? 0)
          : sum(mine, (r) => r.ms),
      failing: mine.filter(failed),
    };
  });
}

function jestFailures(summary: JestSummary | undefined): string[] {
  return (summary?.files ?? []).flatMap((file) => [
    ...(file.failureMessage ? [`${file.path}: ${file.failureMessage.split('\n')[0]}`] : []),
    ...file.failed.map((name) => `${file.path}: ${name}`),
  ]);
}

/** At most SUMMARY_MAX_LINES lines: the verdict, one line per category, what did not hold. */
export function summaryLines(input: ReportInput): string[] {
  const rows = aggregate(input.records);
  const figures = categoryFigures(rows, input);
  const tried = sum(rows, (r) => r.tried);
  const held = sum(rows, (r) => r.held);
  const lost = sum(rows, (r) => r.lost.length);
  const jest = input.summary;
  const notRun = figures.reduce((n, f) => n + f.notRun, 0);
  const crashed = jest?.numRuntimeErrorTestSuites ?? 0;
  const jestFailed = jest ? jest.numFailedTests + crashed > 0 : true;
  const pass = tried > 0 && held === tried && lost === 0 && notRun === 0 && !jestFailed;
  const jestText = jest
    ? `${jest.numPassedTests} of ${jest.numTotalTests} Jest tests passed, ` +
      (crashed > 0 ? `${crashed} of ${jest.numTotalTestSuites} files crashed, ` : '') +
      duration(jest.endTime - jest.startTime)
    : 'no Jest summary (its reporter did not run)';
  const lines = [
    pass
      ? `- **PASS**: ${held} of ${tried} cases held and nothing was lost (${jestText}).`
      : `- **FAIL**: ${held} of ${tried} cases held, ${tried - held} did not, ${lost} lost` +
        (notRun > 0 ? `, ${notRun} matrix cells did not run` : '') +
        ` (${jestText}).`,
  ];
  for (const f of figures) {
    const matrix = f.id === 'matrix';
    const unit = matrix ? 'cells' : 'cases';
    const skipped = matrix ? rows.filter((r) => r.category === 'matrix' && r.notApplicable) : [];
    const scope = matrix ? ` (${skipped.length} cells do not apply)` : '';
    const notRun = f.notRun > 0 ? `, ${f.notRun} cells did not run` : '';
    if (f.tried === 0 && !skipped.length) {
      lines.push(`- ${f.title}: did not run.`);
      continue;
    }
    if (f.failing.length === 0) {
      const held = notRun ? `${f.held} of ${f.tried}` : `all ${f.held}`;
      lines.push(`- ${f.title}: ${held} ${unit} held${scope}${notRun}, in ${duration(f.ms)}.`);
      continue;
    }
    const first = f.failing[0];
    lines.push(
      `- ${f.title}: ${f.held} of ${f.tried} ${unit} held${scope}${notRun}, ` +
        `${f.tried - f.held} did not, ${f.lost} lost; first ${oneLine(where(first), 80)}: ` +
        `${oneLine(reasonOf(first), 80)}.`,
    );
  }
  const jestOnly = jestFailures(jest);
  if (jestOnly.length > 0) {
    lines.push(`- Jest: ${jestOnly.length} failed; first ${oneLine(jestOnly[0], 200)}.`);
  }
  if (input.partial) {
    lines.push('- Partial run: not every spec file ran; these figures do not replace the report.');
  }
  lines.push(`- Every case with its figures: \`docs/${JSON_NAME}\`.`);
  return lines.slice(0, SUMMARY_MAX_LINES);
}

/**
 * The matrix as one table: a row per fault, a column per body kind; each cell holds one mark per
 * backend (in the order of the axes): ✓ held, ✗ did not, ? did not run, a letter for a cell that
 * does not apply, its reason listed once below the table.
 */
function matrixSection(rows: CaseRecord[], axes: MatrixAxes | undefined): string[] {
  if (!axes) return ['The matrix did not record its axes.', ''];
  const cell = matrixCells(rows);
  const notRun = cellsNotRun(cell, axes);
  const reasons = new Map<string, { letter: string; cells: number }>();
  const mark = (r: CaseRecord | undefined) => {
    if (!r) return '?';
    if (!r.notApplicable) return failed(r) ? '✗' : '✓';
    const reason = reasons.get(r.notApplicable) ?? {
      letter: String.fromCharCode(97 + reasons.size),
      cells: 0,
    };
    reason.cells++;
    reasons.set(r.notApplicable, reason);
    return reason.letter;
  };
  const table: Table = {
    header: [`fault (marks: ${axes.backends.join(', ')})`, ...axes.bodies],
    rows: axes.faults.map((fault) => [
      fault,
      ...axes.bodies.map((body) =>
        axes.backends.map((backend) => mark(cell(fault, body, backend))).join(' '),
      ),
    ]),
  };
  return [
    markdownTable(table),
    '',
    ...[...reasons].map(([reason, { letter, cells }]) => `- ${letter}: ${reason} (${cells} cells)`),
    ...(notRun > 0 ? [`- ?: did not run, its spec stopped before it (${notRun} cells)`] : []),
    '',
  ];
}

/**
 * A category other than the matrix: a row per case, its backends in one cell. What a case lost is
 * in the summary (per category), the list of cases that did not hold and reliability.json.
 */
function caseTable(rows: CaseRecord[]): Table {
  const byGroup = new Map<string, CaseRecord[]>();
  for (const r of rows) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  return {
    header: ['case', 'backends', 'held', 'time'],
    rows: [...byGroup].map(([group, mine]) => {
      const tried = sum(mine, (r) => r.tried);
      const held = sum(mine, (r) => r.held);
      return [
        group,
        [...new Set(mine.map((r) => r.backend ?? ''))].filter(Boolean).join(', '),
        `${mine.some(failed) ? '✗' : '✓'} ${held}/${tried}`,
        duration(sum(mine, (r) => r.ms)),
      ];
    }),
  };
}

/** The most cases that did not hold the report names; fewer when they do not fit its budget. */
const FAILURES_SHOWN = 10;

/**
 * The cases that did not hold and the failed Jest tests the summary does not name (it names the
 * first of each category and of Jest), one line each, in the order they ran.
 */
function failureLines(rows: CaseRecord[], input: ReportInput): string[] {
  const inSummary = new Set(categoryFigures(rows, input).map((f) => f.failing[0]));
  return [
    ...rows
      .filter((r) => failed(r) && !inSummary.has(r))
      .map(
        (r) =>
          `- ${where(r)}: ${r.tried - r.held} of ${r.tried}` +
          (r.lost.length > 0 ? `, ${r.lost.length} lost` : '') +
          `; ${oneLine(reasonOf(r), 120)}`,
      ),
    ...jestFailures(input.summary)
      .slice(1)
      .map((f) => `- Jest: ${oneLine(f, 160)}`),
  ];
}

/**
 * The report. The summary counts every case that did not hold and names the first of each
 * category with why; the list at the end names at most `shown` others, then says how many more
 * there are, all in reliability.json. `renderReport` picks `shown` so that the report fits its
 * budget.
 */
export function renderMarkdown(input: ReportInput, shown = FAILURES_SHOWN): string {
  const rows = aggregate(input.records);
  const jest = input.summary;
  const out: string[] = ['# Reliability', '', ...summaryLines(input), ''];
  out.push(
    wrap(
      `Measured on ${input.machine ?? machine()}, Node.js ${input.node ?? process.version}, ` +
        `started ${input.run.startedAt} by \`${input.run.command}\`` +
        (jest
          ? ` (${jest.numTotalTestSuites} files, ${jest.numTotalTests} tests: ${jest.numPassedTests} passed, ` +
            `${jest.numFailedTests} failed, ${jest.numPendingTests} skipped).`
          : '.') +
        ' Written by the suite (test/reliability/support/global-teardown.ts); do not edit by hand.',
    ),
    '',
  );
  for (const { id, title, about } of CATEGORIES) {
    const mine = rows.filter((r) => r.category === id);
    out.push(`## ${title}`, '', wrap(about), '');
    if (mine.length === 0) out.push('No case of this category ran.', '');
    else if (id === 'matrix') out.push(...matrixSection(mine, input.axes));
    else out.push(markdownTable(caseTable(mine)), '');
  }
  const failures = failureLines(rows, input);
  if (failures.length > 0) {
    const more = failures.length - shown;
    out.push('## Other cases that did not hold', '', ...failures.slice(0, shown));
    if (more > 0) {
      out.push(
        `- ${shown > 0 ? `and ${more} more` : `${more}, not named here`}, every one in \`docs/${JSON_NAME}\``,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * RELIABILITY.md as it is written: formatted, and at most `maxBytes` whatever the run's outcome.
 * The one place of the report's budget: everything but the list of cases that did not hold is
 * always there (the summary counts every one of them); the list names as many as fit (at most
 * FAILURES_SHOWN) and counts the rest, which reliability.json holds.
 */
export async function renderReport(
  input: ReportInput,
  file: string,
  maxBytes = REPORT_MAX_BYTES,
): Promise<string> {
  const render = (shown: number) => formatted(renderMarkdown(input, shown), file);
  const fits = (text: string) => Buffer.byteLength(text) <= maxBytes;
  // Each case named makes the report longer: search for the most that fit.
  let least = 0;
  let most = Math.min(FAILURES_SHOWN, failureLines(aggregate(input.records), input).length);
  let best: string | undefined;
  while (least <= most) {
    const shown = Math.floor((least + most) / 2);
    const text = await render(shown);
    if (fits(text)) {
      best = text;
      least = shown + 1;
    } else {
      most = shown - 1;
    }
  }
  if (best !== undefined) return best;
  const text = await render(0);
  process.stderr.write(
    `[reliability] ${path.basename(file)} is ${Buffer.byteLength(text)} bytes, over its ` +
      `${maxBytes} even without naming a case that did not hold\n`,
  );
  return text;
}

/** Every figure of the run, for docs/reliability.json. */
export function renderJson(input: ReportInput): string {
  const rows = aggregate(input.records);
  return `${JSON.stringify(
    {
      run: {
        ...input.run,
        machine: input.machine ?? machine(),
        node: input.node ?? process.version,
        partial: input.partial,
      },
      summary: summaryLines(input),
      jest: input.summary ?? null,
      categories: categoryFigures(rows, input).map(({ failing, ...f }) => ({
        ...f,
        notHeld: failing.length,
      })),
      matrixAxes: input.axes ?? null,
      cases: rows,
    },
    null,
    2,
  )}\n`;
}

/** `text` as prettier formats a file of that name (unchanged when prettier cannot). */
export async function formatted(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, filepath: file });
  } catch (err) {
    process.stderr.write(`[reliability] prettier could not format ${file}: ${String(err)}\n`);
    return text.endsWith('\n') ? text : `${text}\n`;
  }
}

const readJson = <T>(file: string): T | undefined =>
  existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;

/** The recorded run in `dir`, as the report reads it. */
export function readRun(dir: string, specDir: string): ReportInput {
  const file = path.join(dir, 'results.jsonl');
  const records = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as CaseRecord)
    : [];
  const summary = readJson<JestSummary>(path.join(dir, 'jest-summary.json'));
  const run = readJson<RunInfo>(path.join(dir, 'run.json')) ?? {
    startedAt: new Date().toISOString(),
    command: 'jest',
  };
  const specs = readdirSync(specDir).filter((name) => name.endsWith('.spec.ts'));
  const ran = new Set((summary?.files ?? []).map((f) => path.basename(f.path)));
  return {
    records,
    axes: readJson<MatrixAxes>(path.join(dir, 'matrix-axes.json')),
    summary,
    run: { startedAt: run.startedAt, command: run.command },
    partial: specs.some((name) => !ran.has(name)),
  };
}

export default async function globalTeardown(globalConfig: { rootDir: string }): Promise<void> {
  const dir = process.env.RELIABILITY_RESULTS_DIR;
  if (!dir || !existsSync(dir)) return;
  const input = readRun(dir, path.join(globalConfig.rootDir, 'test', 'reliability'));
  const docs = path.join(globalConfig.rootDir, 'docs');
  const outputs = [
    { name: 'RELIABILITY.md', text: await renderReport(input, path.join(docs, 'RELIABILITY.md')) },
    { name: JSON_NAME, text: await formatted(renderJson(input), path.join(docs, JSON_NAME)) },
  ];
  for (const { name, text } of outputs) {
    writeFileSync(path.join(dir, name), text);
    if (!input.partial) writeFileSync(path.join(docs, name), text);
  }
  process.stderr.write(
    input.partial
      ? `[reliability] partial run: report written to ${dir}\n`
      : `[reliability] report written to ${docs}/RELIABILITY.md and ${JSON_NAME} (and ${dir})\n`,
  );
}
