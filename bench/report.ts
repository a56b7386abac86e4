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
  module: 'uploadProject',
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

/** The missed transfer targets, grouped by path and contender, each with the measured cause. */
function notMetRows(r: Results): string[][] {
  const groups = new Map<string, Verdict[]>();
  for (const t of r.targets.filter((x) => x.met === false && x.id.startsWith('transfer.'))) {
    const [, , direction, , body, vs] = t.id.split('.');
    const key = `${direction}.${body}.${vs}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return [...groups].map(([key, ts]) => {
    const [direction, body, vs] = key.split('.') as [Direction, Body, string];
    const part = (i: number) => [...new Set(ts.map((t) => t.id.split('.')[i]))].join(', ');
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
      f ? `${fmt(f.mibps, 0)}${f.cpuPct === null ? '' : ` (${fmt(f.cpuPct, 0)}%)`}` : 'n/a';
    return [
      `${pathText(direction, body).replace(/^upload from /, '')} vs ${VS_TEXT[vs.slice(3)]}`,
      `${part(1)}, ${part(3).replaceAll('MiB', '')} MiB`,
      `${range(
        ts.map((t) => t.value ?? Number.NaN),
        2,
      )} (${ts[0].wanted.replace('>=', '≥')})`,
      `${last[1]} ${size} MiB: ${cpu(mod)} vs ${cpu(other)}`,
    ];
  });
}

/** One summary line on the missed targets: how many, and the widest gap. */
function notMetText(r: Results): string {
  if (r.meta.quick) return 'none judged (a quick run claims nothing)';
  const missed = r.targets.filter((t) => t.met === false);
  if (missed.length === 0) return 'none';
  const gap = (t: Verdict) => (t.value ?? 0) / Number(t.wanted.replace(/[^0-9.]/g, '') || 1);
  const worst = missed
    .filter((t) => t.id.startsWith('transfer.'))
    .sort((a, b) => gap(a) - gap(b))[0];
  const [, b, d, size, body, vs] = (worst?.id ?? '').split('.');
  return (
    `${missed.length} of ${r.summary.targets} targets, in ${notMetRows(r).length} groups (table "Not met, and why")` +
    (worst
      ? `; the widest gap: ${b} ${pathText(d as Direction, body as Body)} vs ${VS_TEXT[vs.slice(3)]} at ${size.replace('MiB', ' MiB')}, ${x2(worst.value)}x against ${worst.wanted.replace('>=', '≥')}`
      : '')
  );
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
      `**The server's limit** (curl, presigned URLs, same object and run): PUT ${fmt(curl('upload')?.mibps, 0)} MiB/s, GET ${fmt(curl('download')?.mibps, 0)} MiB/s at ${largest} MiB, with the server on the same cores as the client. Swift's CPU per upload: ${serverCpu(r, largest)}.`,
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

/** Ratios of the module's paths (`controller`: the controller's PUTs, against the module). */
function ratioTable(r: Results, controller = false): Table {
  const cell = (t: Verdict | undefined) =>
    t
      ? `${x2(t.value)}${t.wanted === 'report' ? '' : ` (${t.wanted.replace('>=', '≥')})`}${mark(t.met)}`
      : '';
  const contenders = controller ? ['module'] : ['boto3', 'raw'];
  const rows: string[][] = [];
  for (const { direction, body } of measuredPaths(r)) {
    if (Boolean(PUT_OF[body]) !== controller) continue;
    for (const size of sizesOf(r)) {
      const cells = contenders.map((vs) => {
        const ts = BACKENDS.map((b) => target(r, ratioId(b, direction, size, body, vs)));
        if (ts.every((t) => t === undefined)) return '';
        const wanted = new Set(ts.map((t) => t?.wanted));
        if (wanted.size > 1) return ts.map(cell).join(' / ');
        const values = ts.map((t) => (t ? `${x2(t.value)}${mark(t.met)}` : '')).join(' / ');
        const w = ts[0]?.wanted ?? 'report';
        return w === 'report' ? values : `${values} (${w.replace('>=', '≥')})`;
      });
      rows.push([`${pathText(direction, body)}, ${size} MiB`, ...cells]);
    }
  }
  return controller
    ? {
        title: "Controller PUT: throughput / the module's own upload",
        note: [
          `The controller's PUT of a file against \`uploadProject\` of the same stream (with the digest, if the PUT sends one), aws / local; target at the largest size: wall time <= ${PUT_MAX_TIME_RATIO}x.`,
        ],
        header: ['path (aws / local)', "vs the module's own upload"],
        rows,
      }
    : {
        title: 'Throughput ratios: module / contender',
        note: [
          'Ratios of median throughput in one run (> 1: the module is faster), aws / local, the target in brackets (✓ met, ✗ missed).',
          "At 1 MiB the target of the paths measured on 2026-11-29 is no regression: 0.95 of that run's ratio.",
          "The raw client is the backend's own (lib-storage / GetObject, minio), given the same kind of body. Ids in bench/results.json: `transfer.<backend>.<direction>.<size>.<body>.vs-<contender>` (also `vs-curl`, the server's limit).",
        ],
        header: ['path (aws / local)', 'vs boto3', 'vs the raw client'],
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
  const sizes = [...new Set(r.memory.map((f) => f.sizeMiB))].sort((a, b) => a - b);
  const rows = [...new Set(r.memory.map((f) => f.row))].map((row) => {
    const of = r.memory.filter((f) => f.row === row);
    const { backend, direction, body, label } = of[0];
    const marks = r.targets
      .filter((t) => t.id.startsWith(`memory.${backend}.${direction}.`))
      .filter((t) => t.id.endsWith(`.${body}`) || t.id.endsWith(`.${body}.flat`))
      .map((t) => `${t.id.endsWith('.flat') ? 'flat' : t.wanted}${mark(t.met)}`);
    return [
      label,
      direction,
      ...sizes.map((size) => fmt(of.find((f) => f.sizeMiB === size)?.growthMiB, 0)),
      marks.join(', '),
    ];
  });
  return {
    title: 'Memory: peak RSS growth (MiB)',
    note: [
      'Over the RSS after a warm-up (and, for a Buffer, after reading it), a fresh process per run; median of the runs (each run in bench/results.json).',
      `Targets at the largest size, and flat: growth at the largest size minus growth at 64 MiB <= ${16} MiB.`,
    ],
    header: ['contender', 'direction', ...sizes.map((s) => `${s} MiB`), 'targets'],
    align: ['l', 'l', 'r', 'r', 'l'],
    rows,
  };
}

function notMetTable(r: Results): Table {
  return {
    title: 'Not met, and why',
    note: [
      'Missed throughput targets by path and contender; measured at the largest missed size: the module vs the contender, MiB/s (CPU % of one core).',
    ],
    header: ['upload from / path, vs', 'where', 'ratio (want)', 'measured'],
    align: ['l', 'l', 'l', 'l'],
    rows: notMetRows(r),
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
  ratioTable(r, true),
  ...(r.meta.quick || notMetRows(r).length === 0 ? [] : [notMetTable(r)]),
  transferTable(r),
  memoryTable(r),
  startupTable(r),
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
    `Machine: ${m.machine.cpu}, ${m.machine.cores} cores, Node ${m.machine.node}, Swift ${m.machine.swift}, ${[...tools, ...packages].join(', ')}. Module defaults: ${m.moduleDefaults.partSizeMiB} MiB parts, ${m.moduleDefaults.partConcurrency} at once; SHA-256 here: ${fmt(m.sha256MiBps, 0)} MiB/s. The method, the contenders and what earlier probes found: [bench/METHOD.md](../bench/METHOD.md).`,
    '',
  ].join('\n');
}

export function renderText(r: Results): string {
  const summary = summaryLines(r).map((l) => `- ${l.replaceAll('**', '')}`);
  return ['', ...summary, '', ...tables(r).flatMap((t) => [toText(t), '']), ''].join('\n');
}

/** Swift's CPU time per upload of `sizeMiB` for curl, boto3 and the module's stream rows. */
function serverCpu(r: Results, sizeMiB: number): string {
  const seconds = (row: string) => {
    const f = r.transfer.find((t) => t.row === row && t.sizeMiB === sizeMiB);
    return f?.serverCpuPct === undefined ? '?' : fmt((f.serverCpuPct * f.medianMs) / 100_000, 1);
  };
  return [
    ['curl PUT', 'curl-put'],
    ['boto3', 'boto3-upload'],
    ['module stream with a digest (aws)', 'module-aws-stream-digest'],
    ['module fs stream (aws)', 'module-aws-fs-stream'],
  ]
    .map(([label, row]) => `${label} ${seconds(row)} s`)
    .join(', ');
}
