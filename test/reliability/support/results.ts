/**
 * Records what the reliability suite tried and what held, for RELIABILITY.md.
 *
 * Every spec runs its cases through `trial` (one case) or `corpus` (many small ones): each
 * appends a row to `results.jsonl` in the run's folder (`RELIABILITY_RESULTS_DIR`, made by
 * `global-setup.ts`), whether the case held or not, and then fails the test if it did not. A
 * case holds when it completes, within its deadline, with nothing lost: a "loss" (`t.lose()`)
 * is data the store lost or garbage it kept (a partial object, a previous version gone, parts
 * left behind, bytes that differ, something written for a refused input, bytes that left the
 * bucket). `global-teardown.ts` renders the rows.
 *
 * `evidence()` keeps the texts the suite saw (error messages, HTTP answers) for the secret scan
 * at the end of the run (`secret-scan.ts`).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';

export type Category = 'matrix' | 'faults' | 'bad-input' | 'load' | 'security';

export const RESULTS_ENV = 'RELIABILITY_RESULTS_DIR';

export interface CaseMeta {
  category: Category;
  /** The row of the table: what kind of case this is. */
  group: string;
  /** `aws`, `local`, `filesystem`, `in-memory`, `http`... */
  backend?: string;
  /** The body kind of a matrix cell (`group` is then its fault). */
  body?: string;
}

export interface CaseRecord extends CaseMeta {
  tried: number;
  held: number;
  lost: string[];
  ms: number;
  /** The cases that did not hold, with why (at most 20 per record). */
  failures: string[];
  metrics: Record<string, string | number>;
  /** Why a matrix cell does not apply (it is then recorded with nothing tried). */
  notApplicable?: string;
}

export function resultsDir(): string {
  let dir = process.env[RESULTS_ENV];
  if (!dir) {
    dir = path.join(os.tmpdir(), 'nest-credentials-reliability', `adhoc-${process.pid}`);
    process.env[RESULTS_ENV] = dir;
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function record(row: CaseRecord): void {
  appendFileSync(path.join(resultsDir(), 'results.jsonl'), `${JSON.stringify(row)}\n`);
}

/** Records a matrix cell that does not apply, with the reason, so the report lists it. */
export function recordNotApplicable(meta: CaseMeta, reason: string): void {
  record({
    ...meta,
    tried: 0,
    held: 0,
    lost: [],
    ms: 0,
    failures: [],
    metrics: {},
    notApplicable: reason,
  });
}

/** The axes of the matrix in their order, for the report's tables (written once per run). */
export function recordMatrixAxes(axes: {
  bodies: readonly string[];
  faults: readonly string[];
  backends: readonly string[];
}): void {
  writeFileSync(path.join(resultsDir(), 'matrix-axes.json'), `${JSON.stringify(axes)}\n`);
}

/** Keeps `text` (an answer, an error message) for the secret scan over the whole run. */
export function evidence(source: string, text: string): void {
  appendFileSync(
    path.join(resultsDir(), 'evidence.jsonl'),
    `${JSON.stringify({ source, text: text.slice(0, 16_384) })}\n`,
  );
}

/** Everything `evidence()` kept during this run, oldest first. */
export function readEvidence(): { source: string; text: string }[] {
  const file = path.join(resultsDir(), 'evidence.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { source: string; text: string });
}

/** An error as the suite shows it (and scans it): class, code, message, cause, inspect. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-error ${inspect(err)}`;
  const code = (err as { code?: unknown }).code;
  return `${err.name}${code === undefined ? '' : ` [${String(code)}]`}: ${err.message}`;
}

/** Keeps everything an error shows to a caller (message, JSON, inspect) for the secret scan. */
export function errorEvidence(source: string, err: unknown): void {
  const json = (() => {
    try {
      return JSON.stringify(err);
    } catch {
      return '';
    }
  })();
  // Without the stack: it names files, not what a caller is shown.
  const shown =
    err instanceof Error
      ? inspect({ ...err, name: err.name, message: err.message, cause: err.cause }, { depth: 4 })
      : inspect(err, { depth: 4 });
  evidence(source, `${describeError(err)}\n${json}\n${shown}`);
}

/** What a case can report besides passing its assertions. */
export class Trial {
  readonly lost: string[] = [];
  readonly metrics: Record<string, string | number> = {};
  /** Shown with the failure when the case does not hold (the errors it met, for instance). */
  readonly notes: string[] = [];

  note(text: string): void {
    this.notes.push(text);
  }

  /** Records a loss: the case does not hold, and the loss is listed in RELIABILITY.md. */
  lose(what: string): void {
    this.lost.push(what);
  }

  /** Records a loss when `ok` is false. */
  expectKept(ok: boolean, what: string): void {
    if (!ok) this.lose(what);
  }

  metric(name: string, value: string | number): void {
    this.metrics[name] = value;
  }
}

export class DeadlineError extends Error {
  constructor(label: string, ms: number) {
    super(`${label} did not settle within ${ms} ms (a hang)`);
    this.name = 'DeadlineError';
  }
}

/** Settles like `promise`, or rejects with `DeadlineError` after `ms`: a hang becomes a failure. */
export function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(label, ms)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

const messageOf = (err: unknown) =>
  err instanceof Error ? err.message.split('\n').slice(0, 6).join(' ') : String(err);

/**
 * Runs one case and records it. It holds when `fn` completes within `timeoutMs` and nothing was
 * lost; otherwise the record says why and the returned promise rejects (failing the test).
 */
export async function trial(
  meta: CaseMeta,
  fn: (t: Trial) => Promise<void>,
  timeoutMs = 120_000,
): Promise<void> {
  const t = new Trial();
  const started = performance.now();
  let failure: unknown;
  try {
    await within(fn(t), timeoutMs, `${meta.group} (${meta.backend ?? 'n/a'})`);
  } catch (err) {
    failure = err;
  }
  const ms = Math.round(performance.now() - started);
  if (failure === undefined && t.lost.length > 0) {
    failure = new Error(`lost: ${t.lost.join('; ')}`);
  }
  record({
    ...meta,
    tried: 1,
    held: failure === undefined ? 1 : 0,
    lost: t.lost,
    ms,
    failures:
      failure === undefined
        ? []
        : [[messageOf(failure), ...t.notes.map((n) => `(${n})`)].join(' ')],
    metrics: t.metrics,
  });
  if (failure !== undefined) throw failure;
}

export interface CorpusCase<T> {
  name: string;
  input: T;
}

/**
 * Runs many small cases one after another, each within `caseTimeoutMs`, and records them as one
 * row. Returns the cases that did not hold (`name: why`), for the test to assert empty.
 */
export async function corpus<T>(
  meta: CaseMeta,
  cases: readonly CorpusCase<T>[],
  fn: (input: T, t: Trial, name: string) => Promise<void>,
  caseTimeoutMs = 10_000,
): Promise<string[]> {
  const started = performance.now();
  const failures: string[] = [];
  const lost: string[] = [];
  /** metric -> value -> how many cases reported it. */
  const tallies = new Map<string, Map<string | number, number>>();
  let held = 0;
  for (const { name, input } of cases) {
    const t = new Trial();
    try {
      await within(fn(input, t, name), caseTimeoutMs, name);
      if (t.lost.length === 0) held++;
      else failures.push(`${name}: lost ${t.lost.join('; ')}`);
    } catch (err) {
      failures.push([`${name}: ${messageOf(err)}`, ...t.notes.map((n) => `(${n})`)].join(' '));
    }
    lost.push(...t.lost.map((what) => `${name}: ${what}`));
    for (const [metric, value] of Object.entries(t.metrics)) {
      const tally = tallies.get(metric) ?? new Map<string | number, number>();
      tally.set(value, (tally.get(value) ?? 0) + 1);
      tallies.set(metric, tally);
    }
  }
  const metrics: Record<string, string> = {};
  for (const [metric, tally] of tallies) {
    metrics[metric] = [...tally]
      .sort((a, b) => b[1] - a[1])
      .map(([value, count]) => `${value} x${count}`)
      .join(', ');
  }
  record({
    ...meta,
    tried: cases.length,
    held,
    lost,
    ms: Math.round(performance.now() - started),
    failures: failures.slice(0, 20),
    metrics,
  });
  return failures;
}

/** Records a fast-check run: each generated input is a case. */
export function recordProperty(
  meta: CaseMeta,
  details: { failed: boolean; numRuns: number; counterexample: unknown; error?: unknown },
  ms: number,
  metrics: Record<string, string | number> = {},
): void {
  record({
    ...meta,
    tried: details.numRuns,
    held: details.failed ? Math.max(0, details.numRuns - 1) : details.numRuns,
    lost: [],
    ms: Math.round(ms),
    failures: details.failed
      ? [`counterexample ${inspect(details.counterexample, { depth: 3, breakLength: Infinity })}`]
      : [],
    metrics,
  });
}

/** A printable label for an input: control and non-ASCII characters as escapes, shortened. */
export function label(value: unknown): string {
  if (typeof value !== 'string') return inspect(value, { depth: 1, breakLength: Infinity });
  const escaped = JSON.stringify(value.length > 48 ? `${value.slice(0, 48)}...` : value).replace(
    /[\u0080-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return value.length > 48 ? `${escaped} (${value.length} chars)` : escaped;
}
