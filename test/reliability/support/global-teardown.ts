/**
 * Global teardown of the reliability suite: renders RELIABILITY.md from the cases the specs
 * recorded (results.jsonl, see results.ts) and what Jest counted (jest-summary.json, from
 * summary-reporter.js), with the machine, the command and the date.
 *
 * A run of every spec file writes <root>/docs/RELIABILITY.md; a partial run (a path pattern, a
 * single file) writes only into its results folder, so it never replaces the full figures.
 *
 * Self-contained (node: imports, and prettier to format the tables): Jest loads it outside its
 * module system.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Category = 'matrix' | 'faults' | 'bad-input' | 'load' | 'security';

interface CaseRecord {
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

interface MatrixAxes {
  bodies: string[];
  faults: string[];
  backends: string[];
}

interface JestSummary {
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

const CATEGORIES: { id: Category; title: string; about: string }[] = [
  {
    id: 'matrix',
    title: '1. The matrix',
    about:
      'Every body kind on every backend under every fault (test/reliability/matrix.spec.ts, ' +
      'with short deadlines and parts of 5 MiB: test/reliability/support/matrix.ts). A cell holds when the call settles, ' +
      'stored or with a typed error, within its deadline plus 2 s (for a server fault the deadline ' +
      'is the upload deadline plus one request deadline, in which a commit in flight is settled); ' +
      'twice the deadline later the ' +
      'key holds the previous object (after a failure) or the new one with the SHA-256 the ' +
      'caller was given (after a success); no spool file and no incomplete upload is left; and ' +
      'the same module instance stores the next project. A cell reads held/tried; "n/a" cells ' +
      'do not apply, for the reason listed under their table.',
  },
  {
    id: 'faults',
    title: '2. Faults',
    about:
      'Against the real S3 server (OpenStack Swift s3api) through a fault-injecting TCP proxy ' +
      '(test/reliability/support/fault-proxy.ts), by stopping and restarting the server, and ' +
      'against the loopback ECR endpoint. A case holds when the call ends with the right typed ' +
      'error within its deadline, no partial object is visible (HeadObject: 404 or the previous ' +
      'complete version, with its SHA-256), no multipart upload is left (ListMultipartUploads ' +
      'empty), the event loop still answers within 250 ms, and the first call after recovery ' +
      'succeeds on the same module instance. "Lost" counts partial objects, lost previous ' +
      'versions and parts left behind.',
  },
  {
    id: 'bad-input',
    title: '3. Bad input',
    about:
      'A corpus of names, bodies, bucket names and configuration values, and properties checked ' +
      'by fast-check on generated names and bodies. A case holds when it gets the typed error ' +
      '(`InvalidProjectError` with the right reason, `CredentialsConfigError` at startup; 400 or ' +
      '413 over HTTP) within its deadline, and nothing was written (the bucket, directory or ' +
      'double is checked afterwards). "Lost" counts anything written for a refused input.',
  },
  {
    id: 'load',
    title: '4. Load',
    about:
      'Concurrent and sequential round trips on the real S3 server, every download compared by ' +
      'SHA-256 with what was uploaded; downloads destroyed unread; memory after vs before; ' +
      'concurrent multipart uploads to one name. "Lost" counts round trips whose bytes differ ' +
      'and objects that mix uploads.',
  },
  {
    id: 'security',
    title: '5. Security',
    about:
      'The HTTP controller of the example app against missing, wrong and malformed bearer ' +
      'tokens and against downloads that try to leave the projects bucket; `npm audit ' +
      '--omit=dev`; the secret scan over everything the suite saw. "Lost" counts requests let ' +
      'through, bytes served from outside the bucket and secrets found.',
  },
];

const readJson = <T>(file: string): T | undefined =>
  existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;

function readRecords(dir: string): CaseRecord[] {
  const file = path.join(dir, 'results.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as CaseRecord);
}

/** Rows of the same case (group and backend) added up, in the order they first ran. */
function aggregate(records: CaseRecord[]): CaseRecord[] {
  const rows = new Map<string, CaseRecord>();
  for (const r of records) {
    const key = `${r.category}\u0000${r.group}\u0000${r.backend ?? ''}\u0000${r.body ?? ''}`;
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

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

function duration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

const lostText = (lost: string[]) =>
  lost.length === 0 ? 'nothing' : `${lost.length}: ${[...new Set(lost)].slice(0, 3).join('; ')}`;

const metricsText = (metrics: Record<string, string | number>) =>
  Object.entries(metrics)
    .map(([name, value]) => `${name}: ${value}`)
    .join('; ');

/**
 * The matrix as one table per backend: a row per fault, a column per body kind, each cell
 * held/tried, or "n/a" with a letter that points to its reason below the table.
 */
function matrixTables(rows: CaseRecord[], axes: MatrixAxes | undefined): string[] {
  if (!axes) return ['The matrix did not record its axes.', ''];
  const reasons: string[] = [];
  const letter = (reason: string) => {
    if (!reasons.includes(reason)) reasons.push(reason);
    return String.fromCharCode(97 + reasons.indexOf(reason));
  };
  const text = (r: CaseRecord | undefined) => {
    if (!r) return 'not run';
    if (r.notApplicable) return `n/a (${letter(r.notApplicable)})`;
    return r.held === r.tried ? `${r.held}/${r.tried}` : `**${r.held}/${r.tried}**`;
  };
  const out: string[] = [];
  for (const backend of axes.backends) {
    const mine = rows.filter((r) => r.backend === backend);
    out.push(
      `### ${backend}`,
      '',
      table(
        ['fault', ...axes.bodies],
        axes.faults.map((fault) => [
          fault,
          ...axes.bodies.map((body) =>
            text(mine.find((r) => r.group === fault && r.body === body)),
          ),
        ]),
      ),
      '',
    );
  }
  const tried = rows.filter((r) => !r.notApplicable);
  out.unshift(
    `${tried.filter((r) => r.held === r.tried).length} of ${tried.length} cells held; ` +
      `${rows.length - tried.length} do not apply.`,
    '',
  );
  out.push('Cells that do not apply:', '', ...reasons.map((r) => `- (${letter(r)}) ${r}`), '');
  return out;
}

function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const memory = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${os.availableParallelism()} CPUs (nproc), ${model}; ${memory} GiB memory; ${os.type()} ${os.release()} ${os.arch()}`;
}

function render(
  records: CaseRecord[],
  axes: MatrixAxes | undefined,
  summary: JestSummary | undefined,
  run: { startedAt: string; command: string },
  partial: boolean,
): string {
  const rows = aggregate(records);
  const tried = rows.reduce((n, r) => n + r.tried, 0);
  const held = rows.reduce((n, r) => n + r.held, 0);
  const lost = rows.reduce((n, r) => n + r.lost.length, 0);
  const jestFailed = summary
    ? summary.numFailedTests + summary.numRuntimeErrorTestSuites > 0
    : true;
  const pass = tried > 0 && held === tried && lost === 0 && !jestFailed;
  const elapsed = summary ? summary.endTime - summary.startTime : undefined;

  const out: string[] = [
    '# Reliability',
    '',
    'Figures of the reliability suite: the matrix, faults, bad input, load and ' +
      'security, measured ' +
      'on the machine below. Written by `npm run test:reliability` (the specs are in ' +
      '`test/reliability/`, this file is rendered by `test/reliability/support/global-teardown.ts`); ' +
      'do not edit it by hand.',
    '',
    table(
      ['', ''],
      [
        [
          'result',
          pass
            ? `**PASS**: ${held} of ${tried} cases held, nothing lost`
            : `**FAIL**: ${held} of ${tried} cases held, ${lost} lost`,
        ],
        ['date', run.startedAt],
        ['command', `\`${run.command}\``],
        ['machine', machine()],
        ['Node.js', process.version],
        ['run time', elapsed === undefined ? 'unknown' : duration(elapsed)],
        [
          'Jest',
          summary
            ? `${summary.numTotalTestSuites} files, ${summary.numTotalTests} tests: ` +
              `${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ` +
              `${summary.numPendingTests} skipped`
            : 'no summary (the reporter did not run)',
        ],
      ],
    ),
    '',
  ];
  if (partial) {
    out.push(
      '**Partial run**: not every spec file ran, so these figures do not replace RELIABILITY.md.',
      '',
    );
  }
  out.push(
    '## Summary',
    '',
    table(
      ['category', 'cases tried', 'cases held', 'lost', 'time'],
      CATEGORIES.map(({ id, title }) => {
        const mine = rows.filter((r) => r.category === id);
        return [
          title,
          String(mine.reduce((n, r) => n + r.tried, 0)),
          String(mine.reduce((n, r) => n + r.held, 0)),
          lostText(mine.flatMap((r) => r.lost)),
          // The matrix's cells overlap: its time is the wall time of its spec file.
          id === 'matrix'
            ? duration(summary?.files.find((f) => f.path.endsWith('matrix.spec.ts'))?.ms ?? 0)
            : duration(mine.reduce((n, r) => n + r.ms, 0)),
        ];
      }),
    ),
    '',
  );
  for (const { id, title, about } of CATEGORIES) {
    const mine = rows.filter((r) => r.category === id);
    out.push(`## ${title}`, '', about, '');
    if (mine.length === 0) {
      out.push('No case of this category ran.', '');
      continue;
    }
    if (id === 'matrix') {
      out.push(...matrixTables(mine, axes));
      continue;
    }
    out.push(
      table(
        ['case', 'backend', 'tried', 'held', 'lost', 'time', 'figures'],
        mine.map((r) => [
          r.group,
          r.backend ?? '',
          String(r.tried),
          String(r.held),
          lostText(r.lost),
          duration(r.ms),
          metricsText(r.metrics),
        ]),
      ),
      '',
    );
  }
  const failing = rows.filter((r) => r.held < r.tried || r.lost.length > 0);
  const jestFailures = (summary?.files ?? []).flatMap((file) => [
    ...(file.failureMessage ? [`${file.path}: ${file.failureMessage.split('\n')[0]}`] : []),
    ...file.failed.map((name) => `${file.path}: ${name}`),
  ]);
  out.push('## Cases that did not hold', '');
  if (failing.length === 0 && jestFailures.length === 0) {
    out.push('None.', '');
  } else {
    for (const r of failing) {
      out.push(
        `- **${r.category} / ${r.group}${r.body ? ` / ${r.body}` : ''}${r.backend ? ` (${r.backend})` : ''}**: ` +
          `${r.tried - r.held} of ${r.tried}`,
      );
      for (const failure of r.failures.slice(0, 10)) {
        out.push(`  - ${failure.replace(/\s*\n\s*/g, ' ').slice(0, 600)}`);
      }
    }
    if (jestFailures.length > 0) {
      out.push('', 'Failed Jest tests:', '');
      for (const failure of jestFailures) out.push(`- ${failure.slice(0, 300)}`);
    }
    out.push('');
  }
  return out.join('\n');
}

async function formatted(markdown: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(markdown, { ...options, filepath: file });
  } catch (err) {
    process.stderr.write(`[reliability] prettier could not format the report: ${String(err)}\n`);
    return `${markdown}\n`;
  }
}

export default async function globalTeardown(globalConfig: { rootDir: string }): Promise<void> {
  const dir = process.env.RELIABILITY_RESULTS_DIR;
  if (!dir || !existsSync(dir)) return;
  const records = readRecords(dir);
  const summary = readJson<JestSummary>(path.join(dir, 'jest-summary.json'));
  const run = readJson<{ startedAt: string; command: string }>(path.join(dir, 'run.json')) ?? {
    startedAt: new Date().toISOString(),
    command: 'jest',
  };
  const specDir = path.join(globalConfig.rootDir, 'test', 'reliability');
  const specs = readdirSync(specDir).filter((name) => name.endsWith('.spec.ts'));
  const ran = new Set((summary?.files ?? []).map((file) => path.basename(file.path)));
  const partial = specs.some((name) => !ran.has(name));

  const target = path.join(globalConfig.rootDir, 'docs', 'RELIABILITY.md');
  const axes = readJson<MatrixAxes>(path.join(dir, 'matrix-axes.json'));
  const markdown = await formatted(render(records, axes, summary, run, partial), target);
  const inRun = path.join(dir, 'RELIABILITY.md');
  writeFileSync(inRun, markdown);
  if (partial) {
    process.stderr.write(`[reliability] partial run: figures written to ${inRun}\n`);
  } else {
    copyFileSync(inRun, target);
    process.stderr.write(`[reliability] figures written to ${target} (and ${inRun})\n`);
  }
}
