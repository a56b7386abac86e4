/**
 * The report of one run, from results.json: a summary of at most 12 lines (what is faster or
 * slower than what, by how much, and why), then tables, each built once (`table.ts`) and rendered
 * for the terminal and for docs/BENCHMARKS.md.
 */
import { BACKENDS, fmt } from './common.js';
import type { Results, TransferFigure, Verdict } from './results.js';
import {
  BODY_TEXT,
  type Body,
  type Direction,
  PUT_MAX_TIME_RATIO,
  PUT_OF,
  RATIO_RULES,
  ROWS,
  WHY,
} from './rows.js';
import { type Table, toMarkdown, toText } from './table.js';

const mark = (met: boolean | null) => (met === null ? '' : met ? ' ✓' : ' ✗');
const x2 = (v: number | null | undefined) => fmt(v, 2);
const range = (values: number[], digits: number) => {
  const [lo, hi] = [fmt(Math.min(...values), digits), fmt(Math.max(...values), digits)];
  return lo === hi ? lo : `${lo}-${hi}`;
};
const pathText = (direction: Direction, body: Body) =>
  direction === 'download'
    ? 'download'
    : PUT_OF[body]
      ? BODY_TEXT[body].replace(/^an? /, '')
      : `upload from ${BODY_TEXT[body]}`;
const VS_TEXT: Record<string, string> = {
  boto3: 'boto3',
  raw: 'the raw client',
  curl: 'curl',
  module: "the module's own upload",
};
const keyText = (key: string) => pathText(...(key.split('.') as [Direction, Body]));

/** The module's direction x body pairs that were measured, in the rules' order. */
function measuredPaths(r: Results): { direction: Direction; body: Body }[] {
  const keys = [...new Set(RATIO_RULES.map((rule) => `${rule.direction}.${rule.body}`))];
  return keys
    .map((key) => key.split('.') as [Direction, Body])
    .filter(([d, b]) =>
      r.transfer.some((f) => f.client === 'module' && f.direction === d && f.body === b),
    )
    .map(([direction, body]) => ({ direction, body }));
}

const sizesOf = (r: Results) =>
  [...new Set(r.transfer.map((f) => f.sizeMiB))].sort((a, b) => a - b);
const target = (r: Results, id: string) => r.targets.find((t) => t.id === id);
const ratioId = (b: string, d: Direction, size: number, body: Body, vs: string) =>
  `transfer.${b}.${d}.${size}MiB.${body}.vs-${vs}`;

/** The missed targets, grouped by path and contender, each with the measured figures behind it. */
function notMetText(r: Results): string {
  if (r.meta.quick) return 'none judged (a quick run claims nothing)';
  const groups = new Map<string, Verdict[]>();
  for (const t of r.targets.filter((x) => x.met === false)) {
    const [kind, , direction, , body, vs] = t.id.split('.');
    const key = kind === 'transfer' ? `${direction}.${body}.${vs}` : t.id;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  if (groups.size === 0) return 'none';
  const texts = [...groups].map(([key, ts]) => {
    if (!key.includes('.vs-'))
      return `${key} ${fmt(ts[0].value, 0)} ${ts[0].unit} (${ts[0].wanted})`;
    const [direction, body, vs] = key.split('.') as [Direction, Body, string];
    const part = (i: number) => [...new Set(ts.map((t) => t.id.split('.')[i]))].join(', ');
    const where = `${part(1)} at ${part(3).replaceAll('MiB', '')} MiB`;
    const values = ts.map((t) => t.value ?? Number.NaN);
    // The measured cause: where the time goes at the largest missed size, module vs contender.
    const last = ts[ts.length - 1].id.split('.');
    const size = Number(last[3].replace('MiB', ''));
    const fig = (client: string, b: Body) =>
      r.transfer.find(
        (f) =>
          f.client === client &&
          f.sizeMiB === size &&
          f.direction === direction &&
          (client !== 'module' || f.body === b) &&
          (client === 'boto3' || client === 'curl' || f.backend === last[1]),
      );
    const mod = fig('module', body);
    const other = fig(vs === 'vs-module' ? 'module' : vs.slice(3), PUT_OF[body] ?? body);
    const cpu = (f?: TransferFigure) =>
      f
        ? `${fmt(f.mibps, 0)} MiB/s${f.cpuPct === null ? '' : ` at ${fmt(f.cpuPct, 0)}% of a core`}`
        : 'n/a';
    return (
      `${pathText(direction, body)} vs ${VS_TEXT[vs.slice(3)]} (${where}: ${range(values, 2)}x, want ${ts[0].wanted}; ` +
      `${last[1]}, ${size} MiB: the module ${cpu(mod)}, ${other?.label ?? VS_TEXT[vs.slice(3)]} ${cpu(other)})`
    );
  });
  return texts.join('; ');
}

export function summaryLines(r: Results): string[] {
  const m = r.meta;
  const largest = Math.max(...sizesOf(r));
  const lines = [
    `Measured on ${m.measuredAt.slice(0, 10)} (${m.quick ? 'quick smoke run, targets not judged' : 'full run'}, ${fmt(m.durationS, 0)} s, ${m.machine.cores}-core ${m.machine.cpu}, Swift s3api on the same cores): ${m.quick ? '' : `**${r.summary.met} of ${r.summary.targets} targets met**, `}${r.summary.passed} of ${r.summary.checks} checks passed. Ratios of median throughput, > 1: the module is faster.`,
  ];
  const hasCurl = r.transfer.some((f) => f.client === 'curl');
  const per = (direction: Direction, body: Body, vs: string) =>
    BACKENDS.map((b) => x2(target(r, ratioId(b, direction, largest, body, vs))?.value)).join(' / ');
  for (const { direction, body } of measuredPaths(r).filter((p) => !PUT_OF[p.body])) {
    const why = WHY[`${direction}.${body}`];
    lines.push(
      `**Module ${pathText(direction, body)}, ${largest} MiB** (aws / local): ${per(direction, body, 'boto3')}x boto3, ${per(direction, body, 'raw')}x the raw client${hasCurl ? `, ${per(direction, body, 'curl')}x curl` : ''}.${why ? ` Why: ${why}.` : ''}`,
    );
  }
  const puts = measuredPaths(r).filter((p) => PUT_OF[p.body]);
  if (puts.length) {
    lines.push(
      `**Controller PUT, ${largest} MiB** (aws / local), throughput against the module's own upload of the same stream: ${puts.map((p) => `${BODY_TEXT[p.body].replace(/^an? controller PUT ?/, '') || 'without a digest'} ${per(p.direction, p.body, 'module')}x`).join(', ')} (target: wall time <= ${PUT_MAX_TIME_RATIO}x, a ratio >= ${x2(1 / PUT_MAX_TIME_RATIO)}). Why: ${WHY['upload.put-digest']}.`,
    );
  }
  const curl = (d: Direction) =>
    r.transfer.find((f) => f.client === 'curl' && f.direction === d && f.sizeMiB === largest);
  if (hasCurl) {
    lines.push(
      `**The server's limit** (curl, presigned URLs, same object and run): PUT ${fmt(curl('upload')?.mibps, 0)} MiB/s, GET ${fmt(curl('download')?.mibps, 0)} MiB/s at ${largest} MiB, with the server on the same cores as the client.`,
    );
  }
  lines.push(`**Not met**: ${notMetText(r)}.`);
  const memLargest = Math.max(...r.memory.map((f) => f.sizeMiB));
  const growth = (d: Direction, bodies: Body[]) =>
    r.memory
      .filter((f) => f.client === 'module' && f.direction === d && bodies.includes(f.body))
      .filter((f) => f.sizeMiB === memLargest)
      .map((f) => f.growthMiB);
  const ups = growth('upload', ['fs-stream', 'stream', 'stream-digest']);
  const bufs = growth('upload', ['buffer']);
  const put = growth('upload', ['put-digest']);
  const raws = r.memory.filter((f) => f.client === 'raw' && f.direction === 'upload');
  if (ups.length) {
    lines.push(
      `**Memory** (peak RSS growth at ${memLargest} MiB): stream uploads ${range(ups, 0)} MiB${bufs.length ? `, Buffer uploads ${range(bufs, 0)} MiB beyond the buffer` : ''}${put.length ? `, controller PUT with its client ${range(put, 0)} MiB` : ''}, downloads ${range(growth('download', ['stream']), 0)} MiB; raw client uploads: ${raws.map((f) => `${f.label.split(',')[0]} ${fmt(f.growthMiB, 0)} MiB`).join(', ')}.`,
    );
  }
  const g = r.registry;
  const s = (b: string) => r.startup.find((x) => x.backend === b);
  lines.push(
    `**Registry token**: ${g.calls} calls from ${g.callers} concurrent callers made ${g.ecrApiCalls} ECR call(s); cached ${fmt(g.cachedMedianUs, 2)} µs, an ECR call ${fmt(g.uncachedMedianMs, 2)} ms (medians). **Start-up** of an app context: ${BACKENDS.map((b) => `${b} ${fmt(s(b)?.bootMs, 0)} ms`).join(', ')}; aws loads ${s('aws')?.minioFiles} minio files, local ${s('local')?.awsSdkFiles} @aws-sdk files.`,
  );
  const lo = r.leftovers;
  const missing = r.notMeasured.filter((k) => !k.startsWith('upload.put') || puts.length === 0);
  lines.push(
    `**Left behind**: ${lo.afterTransfer.segmentObjects} Swift segment objects and ${lo.afterTransfer.spoolFiles} spool files after ${fmt(lo.moduleUploadsMiB, 0)} MiB of module uploads, every object deleted again; ${lo.atEnd.segmentObjects} and ${lo.atEnd.spoolFiles} at the end of the run.${missing.length ? ` **Not measured** in this run: ${missing.map(keyText).join(', ')}.` : ''}`,
  );
  return lines.slice(0, 12);
}

function ratioTable(r: Results): Table {
  const cell = (t: Verdict | undefined) =>
    t
      ? `${x2(t.value)}${t.wanted === 'report' ? '' : ` (${t.wanted.replace('>=', '≥')})`}${mark(t.met)}`
      : '';
  const contenders = [
    'boto3',
    'raw',
    ...(r.transfer.some((f) => f.client === 'curl') ? ['curl'] : []),
    ...(r.targets.some((t) => t.id.endsWith('.vs-module')) ? ['module'] : []),
  ];
  const rows: string[][] = [];
  for (const { direction, body } of measuredPaths(r)) {
    for (const size of sizesOf(r)) {
      for (const b of BACKENDS) {
        const ids = contenders.map((vs) => ratioId(b, direction, size, body, vs));
        rows.push([
          `${b} ${pathText(direction, body)}, ${size} MiB`,
          ...ids.map((id) => cell(target(r, id))),
        ]);
      }
    }
  }
  return {
    title: 'Throughput ratios: module / contender',
    note: [
      'Ratios of median throughput in one run (> 1: the module is faster), the target in brackets (✓ met, ✗ missed).',
      "At 1 MiB the target of the paths measured on 2026-11-29 is no regression: 0.95 of that run's ratio.",
      "The raw client is the backend's own (lib-storage / GetObject, minio), given the same kind of body; curl is the server's limit; the controller's PUT is held against the module's own upload of a stream (with the digest, if it sends one).",
      'Ids in bench/results.json: `transfer.<backend>.<direction>.<size>.<body>.vs-<contender>`.',
    ],
    header: ['path', ...contenders.map((vs) => `vs ${VS_TEXT[vs]}`)],
    rows,
  };
}

function transferTable(r: Results): Table {
  const sizes = sizesOf(r);
  const largest = Math.max(...sizes);
  const spread = r.transfer
    .filter((f) => f.sizeMiB === largest && f.ms.length > 1)
    .map((f) => (Math.max(f.maxMs - f.medianMs, f.medianMs - f.minMs) / f.medianMs) * 100);
  const fig = (id: string, size: number): TransferFigure | undefined =>
    r.transfer.find((f) => f.row === id && f.sizeMiB === size);
  const runs = Object.entries(r.meta.runs).map(([s, n]) => `${s} MiB x ${n}`);
  return {
    title: 'Transfers: median MiB/s (CPU % of one core)',
    note: [
      `Runs per size: ${runs.join(', ')}, contenders alternated.`,
      ...(spread.length
        ? [
            `Single runs at ${largest} MiB stray from their median by up to ±${fmt(Math.max(...spread), 0)}%: ratios that close to 1.00 are not a clear result.`,
          ]
        : []),
    ],
    header: ['contender', 'direction', ...sizes.map((s) => `${s} MiB`)],
    align: ['l', 'l'],
    rows: ROWS.filter((row) => r.transfer.some((f) => f.row === row.id)).map((row) => [
      row.label,
      row.direction,
      ...sizes.map((s) => {
        const f = fig(row.id, s);
        return f ? `${fmt(f.mibps, 0)}${f.cpuPct === null ? '' : ` (${fmt(f.cpuPct, 0)}%)`}` : '';
      }),
    ]),
  };
}

function memoryTable(r: Results): Table {
  return {
    title: 'Memory: peak RSS growth (MiB)',
    note: [
      'Over the RSS after a warm-up (and, for a Buffer, after reading it), a fresh process per run.',
      'Sampled every 20 ms and by the kernel high-water mark; median of the runs.',
    ],
    header: ['contender', 'direction', 'size', 'growth', 'each run'],
    align: ['l', 'l'],
    rows: r.memory.map((f) => [
      f.label,
      f.direction,
      `${f.sizeMiB} MiB`,
      fmt(f.growthMiB, 0),
      f.samples.map((v) => fmt(v, 0)).join(', '),
    ]),
  };
}

function verdictTable(r: Results): Table {
  const rest = [...r.targets.filter((t) => !t.id.startsWith('transfer.')), ...r.checks];
  return {
    title: 'Other targets and checks',
    note: [
      'Memory at the largest size and its flatness against 64 MiB, the token cache, the SDKs each backend loads.',
      'Checks: what uploads must not leave behind on Swift and in the spool directory.',
    ],
    header: ['id', 'measured', 'wanted', 'met'],
    align: ['l', 'r', 'l', 'l'],
    rows: rest.map((t) => [
      t.id,
      `${fmt(t.value, t.unit === 'MiB' ? 1 : 0)} ${t.unit}`,
      t.wanted,
      t.met === null ? 'not judged' : t.met ? 'yes' : 'NO',
    ]),
  };
}

function startupTable(r: Results): Table {
  return {
    title: 'Start-up and loaded files',
    note: [
      `NestFactory.createApplicationContext with the module in a fresh process, median of ${r.startup[0]?.runs ?? 0} runs.`,
      'Files loaded, counted after boot and one upload, download, token and getCredentials().',
    ],
    header: [
      'backend',
      'boot ms',
      'process ms',
      'RSS MiB',
      'files',
      '@nestjs',
      '@aws-sdk',
      'minio',
    ],
    rows: r.startup.map((s) => [
      s.backend,
      ...[s.bootMs, s.processMs, s.rssMiB].map((v) => fmt(v, 0)),
      ...[s.loadedFiles, s.nestFiles, s.awsSdkFiles, s.minioFiles].map(String),
    ]),
  };
}

export const tables = (r: Results): Table[] => [
  ratioTable(r),
  transferTable(r),
  memoryTable(r),
  verdictTable(r),
  startupTable(r),
];

/** What the probes the bench no longer runs found (run of 2026-11-29; code in git history). */
const EARLIER_FINDINGS = [
  "Spool step (`bench/steps.ts`, `bench/spool-child.ts`): 39-43% of a streamed 512 MiB upload (aws 1360 ms, local 1031 ms); alone 629 ms, of which reading and hashing 530 ms. The send step alone was 2.07-2.09x the raw client's whole upload.",
  'Garbage collection (`bench/gc.ts`): 18 major GCs in the spool step alone, 24-30 inside the transfer runs; not the measured cause of the slower in-run spool step (the cores and disk shared with Swift are).',
  'CPU profile of a 512 MiB upload (`bench/profile-child.ts`): the main thread was idle (waiting for the server) 72-77% of the time, SHA-256 6-7%, garbage collection 2-3%.',
  'Part settings (sweep of 5/8/16 MiB x 2/3/4 at 128 MiB): runs spread by 8%; 8 MiB x 4 stays (16 MiB x 2 scored 95% against 89% but grew 65 MiB at 512 MiB on aws).',
  "Parallel ranged GETs (`bench/ranged-probe.ts`, 8 MiB ranges, 4 or 8 at once): 0.82x and 0.91x one GET's throughput, not faster on this machine.",
  'Controller (`bench/controller-memory.mjs`, 2026-11-30): the example app took a 200 MiB PUT with 31-33 MiB of RSS growth (filesystem, local) and served it back with 1-7 MiB.',
  "Overwrites: the same key uploaded twice, then deleted, leaves the first upload's segments on Swift s3api, whichever client (module 8, lib-storage 13 segment objects per 64 MiB).",
];

export function renderMarkdown(r: Results): string {
  const m = r.meta;
  const packages = Object.entries((m.machine.packages ?? {}) as Record<string, string>).map(
    ([k, v]) => `${k} ${v}`,
  );
  const tools = m.boto3 ? [`Python ${m.boto3.python}`, `boto3 ${m.boto3.boto3}`] : [];
  return [
    '# Benchmarks',
    '',
    `<!-- Generated by \`${m.command}\` (bench/run.ts) with the figures in ${m.quick ? 'bench/quick/results.json' : 'bench/results.json'}: do not edit by hand. -->`,
    '',
    '## Summary',
    '',
    ...summaryLines(r).map((l) => `- ${l}`),
    '',
    ...tables(r).flatMap((t) => [toMarkdown(t), '']),
    '## How it is measured',
    '',
    '- `npm run setup` once, then `npm run bench`; `BENCH_QUICK=1` makes it a 1-2 minute smoke run that judges nothing and writes `bench/quick/`.',
    '- `node bench/dist/bench/render.js` re-judges `bench/results.json` (every figure and sample) and re-renders this file.',
    `- Machine: ${m.machine.cpu}, ${m.machine.cores} cores, Node ${m.machine.node}, Swift ${m.machine.swift}, ${[...tools, ...packages].join(', ')}.`,
    `- Module defaults: ${m.moduleDefaults.partSizeMiB} MiB parts, ${m.moduleDefaults.partConcurrency} at once. SHA-256 on this machine: ${fmt(m.sha256MiBps, 0)} MiB/s.`,
    '- The bench starts its own Swift s3api (ports `BENCH_S3_PORT`..+4, default 28080) and a loopback fake ECR, and stops them at the end.',
    '- Every contender runs in a process of its own, its client created once and warmed up; only the transfer is timed.',
    '- Uploads read one random file behind a ZIP signature (in the page cache); a Buffer is read before the timer starts.',
    "- Downloads read one reference object in the module's layout (with `x-amz-meta-sha256`, which the module verifies) into a file.",
    "- The module: `uploadProject` with a Buffer, an fs read stream, another stream without or with its SHA-256 (`{ sha256 }`, computed before the timer); its controller, booted in the same process, given the file by PUT with Node's HTTP client, without and with `Content-Digest`; `downloadProject` piped into a file.",
    '- The raw clients with their defaults: lib-storage `Upload` / `GetObject`, minio `putObject` / `getObject`.',
    '- boto3 `upload_fileobj` / `download_file` with `TransferConfig()` defaults (8 MiB parts, 10 threads); curl with presigned URLs.',
    '',
    '## Earlier findings',
    '',
    'Probes the bench no longer runs; their code and figures are in the git history of bench/.',
    '',
    ...EARLIER_FINDINGS.map((l) => `- ${l}`),
    '',
  ].join('\n');
}

export function renderText(r: Results): string {
  const summary = summaryLines(r).map((l) => `- ${l.replaceAll('**', '')}`);
  return ['', ...summary, '', ...tables(r).flatMap((t) => [toText(t), '']), ''].join('\n');
}
