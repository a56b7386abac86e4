/**
 * Turns the measurements into results.json (every figure with its unit), the table printed on
 * stdout, and BENCHMARKS.md (every figure with its target and whether it is met).
 */
import type { TransferSettings } from '../src/credentials/config/transfer-settings.js';
import { type Backend, BACKENDS, fmt, median, MiB, mibPerS, q, type Quantity } from './common.js';
import type { Boto3Info } from './contenders.js';
import type { RegistryOutcome } from './registry.js';
import type { MemoryRow, ProfileRow, StartupRow } from './run.js';
import type { SweepPoint, TransferOutcome } from './transfer.js';

export interface RawOutcomes {
  sha256MiBps: number;
  plan: {
    sizes: number[];
    runs: Record<number, number>;
    registry: { calls: number; callers: number };
    startupRuns: number;
  };
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    os: string;
    node: string;
    packages: Record<string, string>;
    swift: string;
  };
  durationS: number;
  transfer: TransferOutcome;
  orphanedSegments: { objects: number; bytes: number; liveObjectsInBucket: number };
  sweep: SweepPoint[];
  sweepPlan: { bytes: number; reps: number; prototype: string };
  memory: MemoryRow[];
  profiles: ProfileRow[];
  registry: RegistryOutcome;
  startup: StartupRow[];
  defaults: TransferSettings;
  quick: boolean;
}

export interface Target {
  id: string;
  section: string;
  what: string;
  value: Quantity;
  target: string;
  met: boolean;
}

const sizeQ = (bytes: number) => q(bytes / MiB, 'MiB');
const sizeText = (bytes: number) => `${bytes / MiB} MiB`;
const MEMORY_LIMIT_MIB = 64;
/**
 * Part buffers (partSize x (concurrency + 1)) a setting may use: the memory target minus what
 * an upload holds besides them (the part read ahead to tell a small ZIP from a large one,
 * stream chunks, garbage not yet collected), about 28 MiB as measured with pooled parts.
 */
export const PART_BUFFER_BUDGET_MIB = 36;
const OVERHEAD_MIB = MEMORY_LIMIT_MIB - PART_BUFFER_BUDGET_MIB;
/** "Flat": the growth at the largest size stays within this of the growth at 64 MiB. */
const FLAT_TOLERANCE_MIB = 16;

const CONTENDERS = {
  module: (b: Backend) => `module-${b}`,
  raw: (b: Backend) => `raw-${b}`,
  variant: (b: Backend, id: string) => `module-${b}.${id}`,
  boto3: 'boto3',
};
const VARIANTS = ['prehash', 'prehash.pooled', 'all'];

/** Throughput of each sweep setting relative to each backend's best, averaged over backends. */
function scoreSettings(points: SweepPoint[], bytes: number) {
  const throughput = (p: SweepPoint) => mibPerS(bytes, median(p.ms));
  const best = new Map<Backend, number>();
  for (const p of points) best.set(p.backend, Math.max(best.get(p.backend) ?? 0, throughput(p)));
  const keys = [...new Set(points.map((p) => `${p.partSize}x${p.partConcurrency}`))];
  return keys.map((key) => {
    const mine = points.filter((p) => `${p.partSize}x${p.partConcurrency}` === key);
    const score =
      mine.reduce((sum, p) => sum + throughput(p) / (best.get(p.backend) as number), 0) /
      mine.length;
    const { partSize, partConcurrency } = mine[0];
    const buffers = (partSize * (partConcurrency + 1)) / MiB;
    return { partSize, partConcurrency, buffers, score, fits: buffers <= PART_BUFFER_BUDGET_MIB };
  });
}

/** The best-scoring setting whose part buffers fit the budget. */
export function recommendSetting(
  points: SweepPoint[],
): { partSize: number; partConcurrency: number } | undefined {
  if (points.length === 0) return undefined;
  // Every point of one sweep has the same size: the score is relative, any size will do.
  const best = scoreSettings(points, MiB)
    .filter((s) => s.fits)
    .sort((a, b) => b.score - a.score)[0];
  return best && { partSize: best.partSize, partConcurrency: best.partConcurrency };
}

export function buildResults(raw: RawOutcomes) {
  const { transfer } = raw;
  const sizes = raw.plan.sizes;
  const largest = sizes[sizes.length - 1];
  const sample = (contender: string, direction: string, bytes: number) =>
    transfer.samples.find(
      (s) => s.contender === contender && s.direction === direction && s.bytes === bytes,
    );
  const medianMs = (contender: string, direction: string, bytes: number) =>
    median(sample(contender, direction, bytes)?.ms ?? []);
  const ratio = (a: string, b: string, direction: string, bytes: number) =>
    medianMs(b, direction, bytes) / medianMs(a, direction, bytes);
  const bestMs = (contender: string, direction: string, bytes: number) =>
    Math.min(...(sample(contender, direction, bytes)?.ms ?? [Number.NaN]));
  const bestRatio = (a: string, b: string, direction: string, bytes: number) =>
    bestMs(b, direction, bytes) / bestMs(a, direction, bytes);

  const transferRows = transfer.samples.map((s) => ({
    contender: s.contender,
    label: s.label,
    direction: s.direction,
    size: sizeQ(s.bytes),
    runs: q(s.ms.length, 'runs'),
    median: q(median(s.ms), 'ms'),
    min: q(Math.min(...s.ms), 'ms'),
    max: q(Math.max(...s.ms), 'ms'),
    throughput: q(mibPerS(s.bytes, median(s.ms)), 'MiB/s'),
    cpuPerGiB: q((median(s.cpuMs) / 1000) * ((1024 * MiB) / s.bytes), 'CPU s/GiB'),
    cpuOfWall: q((median(s.cpuMs) / median(s.ms)) * 100, '% of one core'),
    samples: s.ms.map((ms) => q(ms, 'ms')),
  }));

  const ratios: {
    backend: Backend;
    size: Quantity;
    direction: string;
    moduleVsRaw: Quantity;
    moduleVsBoto3: Quantity;
    /** The same ratios from each contender's fastest run: where the median misses and this does not, the miss is within noise. */
    bestRunVsRaw: Quantity;
    bestRunVsBoto3: Quantity;
    /** The prototypes of recommended changes (uploads): throughput ratios against raw, boto3. */
    prototypes?: { variant: string; vsRaw: Quantity; vsBoto3: Quantity; vsModule: Quantity }[];
  }[] = [];
  const targets: Target[] = [];
  for (const bytes of sizes) {
    for (const direction of ['upload', 'download'] as const) {
      for (const backend of BACKENDS) {
        const m = CONTENDERS.module(backend);
        const row: (typeof ratios)[number] = {
          backend,
          size: sizeQ(bytes),
          direction,
          moduleVsRaw: q(ratio(m, CONTENDERS.raw(backend), direction, bytes), 'x'),
          moduleVsBoto3: q(ratio(m, CONTENDERS.boto3, direction, bytes), 'x'),
          bestRunVsRaw: q(bestRatio(m, CONTENDERS.raw(backend), direction, bytes), 'x'),
          bestRunVsBoto3: q(bestRatio(m, CONTENDERS.boto3, direction, bytes), 'x'),
        };
        if (direction === 'upload') {
          row.prototypes = VARIANTS.filter((v) =>
            sample(CONTENDERS.variant(backend, v), direction, bytes),
          ).map((v) => {
            const id = CONTENDERS.variant(backend, v);
            return {
              variant: v,
              vsRaw: q(ratio(id, CONTENDERS.raw(backend), direction, bytes), 'x'),
              vsBoto3: q(ratio(id, CONTENDERS.boto3, direction, bytes), 'x'),
              vsModule: q(ratio(id, m, direction, bytes), 'x'),
            };
          });
          if (row.prototypes.length === 0) delete row.prototypes;
        }
        ratios.push(row);
        const rawName =
          backend === 'aws' ? 'lib-storage / GetObject' : 'minio putObject / getObject';
        targets.push({
          id: `transfer.${backend}.${direction}.${bytes / MiB}MiB.vs-raw`,
          section: 'transfer',
          what: `${backend} ${direction} ${sizeText(bytes)}: module / ${rawName} throughput`,
          value: row.moduleVsRaw,
          target: '>= 1.00',
          met: row.moduleVsRaw.value >= 1,
        });
        targets.push({
          id: `transfer.${backend}.${direction}.${bytes / MiB}MiB.vs-boto3`,
          section: 'transfer',
          what: `${backend} ${direction} ${sizeText(bytes)}: module / boto3 throughput`,
          value: row.moduleVsBoto3,
          target: '>= 1.00',
          met: row.moduleVsBoto3.value >= 1,
        });
      }
    }
  }

  const recordStep = transfer.recordMs
    .filter((r) => r.ms.length > 0)
    .map((r) => {
      const upload = medianMs(CONTENDERS.module(r.backend), 'upload', r.bytes);
      return {
        backend: r.backend,
        size: sizeQ(r.bytes),
        median: q(median(r.ms), 'ms'),
        shareOfModuleUpload: q((median(r.ms) / upload) * 100, '%'),
        samples: r.ms.map((ms) => q(ms, 'ms')),
      };
    });
  const prehash = transfer.prehashMs.map((r) => ({
    backend: r.backend,
    size: sizeQ(r.bytes),
    median: q(median(r.ms), 'ms'),
    readAndHashRate: q(mibPerS(r.bytes, median(r.ms)), 'MiB/s'),
  }));
  const streamedModuleUploads = sizes
    .filter((b) => b > raw.defaults.partSize)
    .reduce((sum, b) => sum + b * raw.plan.runs[b] * BACKENDS.length, 0);
  const orphaned = {
    objects: q(raw.orphanedSegments.objects, 'objects'),
    bytes: q(raw.orphanedSegments.bytes / MiB, 'MiB'),
    streamedModuleUploads: q(streamedModuleUploads / MiB, 'MiB'),
    liveObjectsInBucket: q(raw.orphanedSegments.liveObjectsInBucket, 'objects'),
  };

  // Sweep: throughput of each setting; the recommendation maximises the mean (over backends)
  // of the throughput relative to each backend's best, among settings whose part buffers
  // (partSize x (concurrency + 1)) fit PART_BUFFER_BUDGET_MIB.
  const sweepBytes = raw.sweepPlan.bytes;
  const sweepPoints = raw.sweep.map((p) => ({
    backend: p.backend,
    partSize: q(p.partSize / MiB, 'MiB'),
    partConcurrency: q(p.partConcurrency, 'parts'),
    median: q(median(p.ms), 'ms'),
    throughput: q(mibPerS(sweepBytes, median(p.ms)), 'MiB/s'),
    partBuffers: q((p.partSize * (p.partConcurrency + 1)) / MiB, 'MiB'),
    samples: p.ms.map((ms) => q(ms, 'ms')),
  }));
  const scored = scoreSettings(raw.sweep, sweepBytes).map((s) => ({
    partSize: q(s.partSize / MiB, 'MiB'),
    partConcurrency: q(s.partConcurrency, 'parts'),
    partBuffers: q(s.buffers, 'MiB'),
    score: q(s.score * 100, '% of the best'),
    fits: s.fits,
  }));
  const recommended = scored.filter((s) => s.fits).sort((a, b) => b.score.value - a.score.value)[0];
  const current = scored.find(
    (s) =>
      s.partSize.value === raw.defaults.partSize / MiB &&
      s.partConcurrency.value === raw.defaults.partConcurrency,
  );

  const memoryRows = raw.memory.map((m) => ({
    client: m.client,
    extra: m.extra,
    kind: m.kind,
    backend: m.backend,
    op: m.op,
    size: sizeQ(m.bytes),
    baseline: q(m.result.baselineMiB, 'MiB'),
    sampledPeak: q(m.result.sampledPeakMiB, 'MiB'),
    maxRss: q(m.result.maxRssMiB, 'MiB'),
    growth: q(m.result.growthMiB, 'MiB'),
    duration: q(m.result.ms, 'ms'),
  }));
  const growthOf = (backend: Backend, op: string, bytes: number) =>
    memoryRows.find(
      (m) => !m.extra && m.backend === backend && m.op === op && m.size.value === bytes / MiB,
    )?.growth.value ?? Number.NaN;
  for (const backend of BACKENDS) {
    for (const op of ['upload', 'download']) {
      const top = growthOf(backend, op, largest);
      targets.push({
        id: `memory.${backend}.${op}.${largest / MiB}MiB`,
        section: 'memory',
        what: `${backend} ${op} ${sizeText(largest)}: peak RSS growth`,
        value: q(top, 'MiB'),
        target: `<= ${MEMORY_LIMIT_MIB} MiB`,
        met: top <= MEMORY_LIMIT_MIB,
      });
      if (sizes.includes(64 * MiB) && largest > 64 * MiB) {
        const step = top - growthOf(backend, op, 64 * MiB);
        targets.push({
          id: `memory.${backend}.${op}.flat`,
          section: 'memory',
          what: `${backend} ${op}: growth at ${sizeText(largest)} minus growth at 64 MiB (flat)`,
          value: q(step, 'MiB'),
          target: `<= ${FLAT_TOLERANCE_MIB} MiB`,
          met: step <= FLAT_TOLERANCE_MIB,
        });
      }
    }
  }

  const registry = {
    calls: q(raw.registry.calls, 'calls'),
    concurrentCallers: q(raw.registry.callers, 'callers'),
    ecrApiCalls: q(raw.registry.ecrApiCalls, 'API calls'),
    burstDuration: q(raw.registry.burstMs, 'ms'),
    distinctTokens: q(raw.registry.tokensDistinct, 'tokens'),
    cachedCalls: q(raw.registry.cachedCalls, 'calls'),
    cachedMedian: q(raw.registry.cachedMedianUs, 'µs'),
    cachedP99: q(raw.registry.cachedP99Us, 'µs'),
    uncachedCalls: q(raw.registry.uncachedCalls, 'calls'),
    uncachedMedian: q(raw.registry.uncachedMedianMs, 'ms'),
  };
  targets.push({
    id: 'registry.ecr-calls',
    section: 'registry',
    what: `ECR API calls for ${raw.registry.calls} getRegistryToken() from ${raw.registry.callers} concurrent callers`,
    value: registry.ecrApiCalls,
    target: '= 1',
    met: raw.registry.ecrApiCalls === 1,
  });

  const startup = raw.startup.map((s) => ({
    backend: s.backend,
    runs: q(s.bootMs.length, 'runs'),
    bootMedian: q(median(s.bootMs), 'ms'),
    processWallMedian: q(median(s.wallMs), 'ms'),
    rssAfterBoot: q(median(s.rssAfterMiB), 'MiB'),
    rssGrowthFromBoot: q(median(s.rssAfterMiB) - median(s.rssBeforeMiB), 'MiB'),
    loadedFiles: q(s.loadedFiles, 'files'),
    awsSdkFiles: q(s.awsSdkFiles, 'files'),
    minioFiles: q(s.minioFiles, 'files'),
    nestFiles: q(s.nestFiles, 'files'),
  }));
  for (const s of startup) {
    const foreign = s.backend === 'local' ? s.awsSdkFiles : s.minioFiles;
    const own = s.backend === 'local' ? s.minioFiles : s.awsSdkFiles;
    targets.push({
      id: `startup.${s.backend}.no-foreign-sdk`,
      section: 'startup',
      what: `${s.backend}: files of ${s.backend === 'local' ? '@aws-sdk/*' : 'minio'} loaded (its own SDK: ${own.value} files)`,
      value: foreign,
      target: '= 0',
      met: foreign.value === 0 && own.value > 0,
    });
  }

  const profiles = raw.profiles.map((p) => ({
    backend: p.summary.backend,
    variant: p.variant,
    size: sizeQ(largest),
    wall: q(p.summary.ms, 'ms'),
    cpu: q(p.summary.cpuMs, 'ms'),
    categories: Object.fromEntries(
      Object.entries(p.summary.categories)
        .sort((a, b) => b[1] - a[1])
        .map(([name, ms]) => [name, q(ms, 'ms')]),
    ),
    topFunctions: p.summary.top.map((t) => ({ name: t.name, self: q(t.ms, 'ms') })),
  }));

  return {
    meta: {
      generatedAt: new Date().toISOString(),
      command: 'npm run bench',
      quick: raw.quick,
      duration: q(raw.durationS, 's'),
      sha256Speed: q(raw.sha256MiBps, 'MiB/s'),
      machine: { ...raw.machine, memoryGiB: q(raw.machine.memoryGiB, 'GiB') },
      boto3: transfer.boto3 as Boto3Info,
      moduleDefaults: {
        partSize: q(raw.defaults.partSize / MiB, 'MiB'),
        partConcurrency: q(raw.defaults.partConcurrency, 'parts'),
      },
    },
    summary: {
      targets: q(targets.length, 'targets'),
      met: q(targets.filter((t) => t.met).length, 'targets'),
    },
    targets,
    transfer: {
      runs: Object.fromEntries(sizes.map((b) => [sizeText(b), q(raw.plan.runs[b], 'runs')])),
      results: transferRows,
      ratios,
      recordSha256Step: recordStep,
      prehash,
      swiftOrphanedSegments: orphaned,
    },
    sweep: {
      size: sizeQ(sweepBytes),
      reps: q(raw.sweepPlan.reps, 'runs'),
      prototype: raw.sweepPlan.prototype,
      points: sweepPoints,
      settings: scored,
      recommended,
      current,
    },
    memory: memoryRows,
    profiles,
    registry,
    startup,
  };
}

export type Results = ReturnType<typeof buildResults>;

// ---------------------------------------------------------------------------------------------
// Rendering

function table(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (cell: string, i: number) =>
    (align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l'
      ? cell.padEnd(widths[i])
      : cell.padStart(widths[i]);
  const line = (cells: string[]) => cells.map(pad).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const sep = header.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? '---' : '--:'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const CONTENDER_ORDER = [
  'module-aws',
  'raw-aws',
  'module-local',
  'raw-local',
  'boto3',
  ...BACKENDS.flatMap((b) => VARIANTS.map((v) => CONTENDERS.variant(b, v))),
];

const VARIANT_LABELS: Record<string, string> = {
  prehash: '+ pre-hash',
  'prehash.pooled': '+ pre-hash + pooled parts',
  all: '+ pre-hash + pooled parts + unsigned payload',
};

function transferMatrix(results: Results): { header: string[]; rows: string[][] } {
  const sizes = Object.keys(results.transfer.runs);
  const header = ['contender', ...sizes.flatMap((s) => [`${s} up`, `${s} down`])];
  const rows = CONTENDER_ORDER.filter((id) =>
    results.transfer.results.some((r) => r.contender === id),
  ).map((id) => {
    const label = results.transfer.results.find((r) => r.contender === id)?.label ?? id;
    return [
      label,
      ...sizes.flatMap((size) =>
        (['upload', 'download'] as const).map((direction) => {
          const r = results.transfer.results.find(
            (x) =>
              x.contender === id && x.direction === direction && `${x.size.value} MiB` === size,
          );
          return r ? fmt(r.throughput.value, 0) : '';
        }),
      ),
    ];
  });
  return { header, rows };
}

function prototypeRows(results: Results): string[][] {
  return results.transfer.ratios
    .filter((r) => r.prototypes)
    .flatMap((r) =>
      (r.prototypes ?? []).map((p) => [
        r.backend,
        `${r.size.value} MiB`,
        VARIANT_LABELS[p.variant] ?? p.variant,
        fmt(p.vsModule.value, 2),
        fmt(p.vsRaw.value, 2),
        fmt(p.vsBoto3.value, 2),
      ]),
    );
}

const mark = (met: boolean) => (met ? 'yes' : 'NO');

export function renderTable(results: Results): string {
  const out: string[] = [];
  const m = transferMatrix(results);
  const rec = results.sweep.recommended;
  out.push(
    '',
    `TRANSFER: median throughput in MiB/s (runs: ${Object.entries(results.transfer.runs)
      .map(([s, r]) => `${s} x ${r.value}`)
      .join(', ')})`,
    table(m.header, m.rows),
    '',
    'RATIOS: module throughput / other throughput (>= 1.00: the module is as fast or faster)',
    table(
      [
        'backend',
        'size',
        'direction',
        'module / raw',
        'module / boto3',
        'best runs: / raw',
        '/ boto3',
      ],
      results.transfer.ratios.map((r) => [
        r.backend,
        `${r.size.value} MiB`,
        r.direction,
        fmt(r.moduleVsRaw.value, 2),
        fmt(r.moduleVsBoto3.value, 2),
        fmt(r.bestRunVsRaw.value, 2),
        fmt(r.bestRunVsBoto3.value, 2),
      ]),
    ),
    '',
    'PROTOTYPES of the recommended src changes (uploads): throughput ratios',
    table(['backend', 'size', 'variant', '/ module', '/ raw', '/ boto3'], prototypeRows(results)),
    '',
    'SHA-256 RECORD STEP (CopyObject onto itself) inside module uploads',
    table(
      ['backend', 'size', 'median ms', '% of upload'],
      results.transfer.recordSha256Step.map((r) => [
        r.backend,
        `${r.size.value} MiB`,
        fmt(r.median.value, 0),
        fmt(r.shareOfModuleUpload.value, 0),
      ]),
    ),
    `Swift segments orphaned by those copies: ${results.transfer.swiftOrphanedSegments.objects.value} objects, ` +
      `${fmt(results.transfer.swiftOrphanedSegments.bytes.value, 0)} MiB ` +
      `(module streamed uploads: ${fmt(results.transfer.swiftOrphanedSegments.streamedModuleUploads.value, 0)} MiB)`,
    '',
    `SWEEP: module upload of ${results.sweep.size.value} MiB (+ ${results.sweep.prototype}), MiB/s, median of ${results.sweep.reps.value}`,
    table(
      ['backend', 'partSize', 'concurrency', 'MiB/s', 'part buffers MiB'],
      results.sweep.points.map((p) => [
        p.backend,
        `${p.partSize.value} MiB`,
        String(p.partConcurrency.value),
        fmt(p.throughput.value, 0),
        fmt(p.partBuffers.value, 0),
      ]),
    ),
    `recommended (part buffers <= ${PART_BUFFER_BUDGET_MIB} MiB): ${rec?.partSize.value} MiB x ${rec?.partConcurrency.value} ` +
      `(${fmt(rec?.score.value ?? NaN, 0)}% of each backend's best); current default ` +
      `${results.meta.moduleDefaults.partSize.value} MiB x ${results.meta.moduleDefaults.partConcurrency.value} ` +
      `(${fmt(results.sweep.current?.score.value ?? NaN, 0)}%)`,
    '',
    'MEMORY: peak RSS growth over the baseline, fresh process per figure',
    table(
      ['client', 'backend', 'op', 'size', 'baseline MiB', 'growth MiB'],
      results.memory.map((r) => [
        r.client,
        r.backend,
        r.op,
        `${r.size.value} MiB`,
        fmt(r.baseline.value, 0),
        fmt(r.growth.value, 1),
      ]),
    ),
    '',
    'REGISTRY TOKEN',
    `  ${results.registry.calls.value} calls from ${results.registry.concurrentCallers.value} callers -> ` +
      `${results.registry.ecrApiCalls.value} ECR API call(s) in ${fmt(results.registry.burstDuration.value, 0)} ms; ` +
      `cached call median ${fmt(results.registry.cachedMedian.value, 2)} µs (p99 ${fmt(results.registry.cachedP99.value, 1)} µs); ` +
      `uncached ECR call median ${fmt(results.registry.uncachedMedian.value, 2)} ms`,
    '',
    'START-UP (Nest application context with the module)',
    table(
      ['backend', 'boot ms', 'process ms', 'RSS MiB', '@aws-sdk files', 'minio files', 'all files'],
      results.startup.map((s) => [
        s.backend,
        fmt(s.bootMedian.value, 0),
        fmt(s.processWallMedian.value, 0),
        fmt(s.rssAfterBoot.value, 0),
        String(s.awsSdkFiles.value),
        String(s.minioFiles.value),
        String(s.loadedFiles.value),
      ]),
    ),
    '',
    `TARGETS: ${results.summary.met.value} of ${results.summary.targets.value} met`,
    table(
      ['target', 'value', 'wanted', 'met'],
      results.targets.map((t) => [
        t.what,
        `${fmt(t.value.value, 2)} ${t.value.unit}`,
        t.target,
        mark(t.met),
      ]),
      ['l', 'r', 'l', 'l'],
    ),
    '',
    `total ${fmt(results.meta.duration.value, 0)} s`,
    '',
  );
  return out.join('\n');
}

export function renderMarkdown(results: Results): string {
  const r = results;
  const mach = r.meta.machine;
  const largest = Math.max(...r.transfer.results.map((x) => x.size.value));
  const get = (id: string, direction: string, size: number) =>
    r.transfer.results.find(
      (x) => x.contender === id && x.direction === direction && x.size.value === size,
    );
  const tp = (id: string, direction: string, size: number) =>
    fmt(get(id, direction, size)?.throughput.value ?? NaN, 0);
  const cpu = (id: string, direction: string, size: number) =>
    fmt(get(id, direction, size)?.cpuOfWall.value ?? NaN, 0);
  const cpuGiB = (id: string, direction: string, size: number) =>
    fmt(get(id, direction, size)?.cpuPerGiB.value ?? NaN, 2);
  const ratioRow = (backend: string, size: number, direction: string) =>
    r.transfer.ratios.find(
      (x) => x.backend === backend && x.size.value === size && x.direction === direction,
    );
  const proto = (backend: string, size: number, variant: string) =>
    ratioRow(backend, size, 'upload')?.prototypes?.find((p) => p.variant === variant);
  const record = (backend: string, size: number) =>
    r.transfer.recordSha256Step.find((x) => x.backend === backend && x.size.value === size);
  const memOf = (client: string, backend: string, op: string, size: number) =>
    r.memory.find(
      (x) => x.client === client && x.backend === backend && x.op === op && x.size.value === size,
    );
  const missed = r.targets.filter((t) => !t.met);
  const m = transferMatrix(r);
  const rec = r.sweep.recommended;
  const defaults = r.meta.moduleDefaults;
  const out: string[] = [];

  out.push(
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts): do not edit by hand, re-run it. -->',
    '',
    `Issue 6: transfers against the raw clients and boto3, memory, registry tokens and start-up of the module, measured side by side in one run. **${r.summary.met.value} of ${r.summary.targets.value} targets met** on ${r.meta.generatedAt.slice(0, 10)}${r.meta.quick ? ' (BENCH_QUICK smoke run: fewer runs, no 512 MiB)' : ''}; the findings and the src changes they call for are at the end.`,
    '',
    '## How to reproduce',
    '',
    '```sh',
    'npm run setup   # once: the test servers (Swift s3api, ...) and npm ci',
    'npm run bench   # compiles bench/ with tsc into bench/dist, then node bench/dist/bench/run.js',
    '```',
    '',
    `- Took **${fmt(r.meta.duration.value, 0)} s** on: ${mach.cpu}, ${mach.cores} cores, ${fmt(mach.memoryGiB.value, 0)} GiB RAM, ${mach.os}, Node ${mach.node}, Python ${r.meta.boto3.python}, OpenStack Swift ${mach.swift} (s3api), boto3 ${r.meta.boto3.boto3} / botocore ${r.meta.boto3.botocore}, ${Object.entries(
      mach.packages,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '- The bench starts its own Swift s3api server (`test/services/start-s3.sh` with `S3_PORT=28080`, `S3_BASE=/tmp/nest-credentials-bench/s3`; ports 28080-28084) and a loopback fake ECR server on a free port, so it never disturbs a concurrent `npm test`; it stops them and deletes its data at the end, also on failure or Ctrl-C. `BENCH_QUICK=1 npm run bench` is a one-minute smoke run.',
    '- Absolute speeds of this machine vary from run to run (other work on the 2 cores, the disk): compare the **ratios**, measured side by side in one run, rather than MiB/s across runs. Single runs of one contender spread by up to ±20% here (see the min-max column), so with 3 runs at 512 MiB a ratio within about 0.9-1.1 is not a clear result either way.',
    '- Outputs: this file, `bench/results.json` (every figure as `{ value, unit }`) and the same tables on stdout.',
    '',
    '## Targets',
    '',
    markdownTable(
      ['target', 'measured', 'wanted', 'met'],
      r.targets.map((t) => [
        t.what,
        `${fmt(t.value.value, 2)} ${t.value.unit}`,
        t.target,
        t.met ? 'yes' : '**no**',
      ]),
      ['l', 'r', 'l', 'l'],
    ),
    '',
    '## 1. Transfer',
    '',
    'Median throughput in MiB/s (MiB / median seconds). Runs: ' +
      Object.entries(r.transfer.runs)
        .map(([s, n]) => `${s}: ${n.value}`)
        .join(', ') +
      '. Each run goes through all contenders in turn, each run starting with the next one.',
    '',
    markdownTable(m.header, m.rows),
    '',
    "- **Contenders.** `module (aws)` / `module (local)`: `uploadProject(name, fs.createReadStream(file))` and `downloadProject()` piped into a file, with the module's defaults " +
      `(${defaults.partSize.value} MiB parts, ${defaults.partConcurrency.value} at once), booted as an app would (Nest application context, \`ConfigModule\`). ` +
      '`lib-storage`: `new Upload({ client, params: { Body: fs.createReadStream(file) } })` and `GetObject` piped into a file, SDK defaults (5 MiB parts, 4 at once). `minio`: `putObject(bucket, key, fs.createReadStream(file))` (a stream of unknown size: 64 MiB parts) and `getObject` piped into a file. `boto3`: `upload_fileobj(open(file, "rb"))` and `download_file()`, `TransferConfig()` defaults (8 MiB parts, 10 threads); ' +
      `config: ${r.meta.boto3.config}. The clients get only what Swift needs (path-style addressing; the JS SDK \`requestChecksumCalculation\`/\`responseChecksumValidation: WHEN_REQUIRED\`, as the module sets for a custom endpoint; boto3 ${r.meta.boto3.botocore} sends no checksum trailers, botocore >= 1.36 would get \`request_checksum_calculation="when_required"\` from \`bench/boto3_worker.py\`).`,
    "- **Fairness.** Every contender reads the same file (random bytes behind a ZIP signature, in the page cache) and writes downloads into a file in the same folder (boto3 writes files, so all do). Every contender runs in a process of its own (Node contenders in forked workers, boto3 in one Python worker) with a client created once, warmed up, and timed around the transfer only. Every contender downloads the **same object**: a multipart upload in the module's part size carrying `x-amz-meta-sha256`, so the module verifies it as it reads (the verification is part of its time).",
    '- **Prototypes** (uploads at the largest size only, to keep within 10 minutes; not targets): the module with the src changes recommended below, installed by monkey-patching (`bench/prototype.ts`), so they are measured before they are made. `pre-hash`: the SHA-256 of a file source is computed first and sent with CreateMultipartUpload, no CopyObject. `pooled parts`: parts are cut inside a fixed pool of partConcurrency + 1 buffers instead of a new Buffer each. `unsigned payload`: part bodies are signed as `UNSIGNED-PAYLOAD` instead of being hashed again for SigV4.',
    '',
    'Ratios (throughput / throughput; >= 1.00: as fast or faster):',
    '',
    markdownTable(
      [
        'backend',
        'size',
        'direction',
        'module / raw',
        'module / boto3',
        'fastest runs: module / raw',
        'fastest runs: module / boto3',
      ],
      r.transfer.ratios.map((x) => [
        x.backend,
        `${x.size.value} MiB`,
        x.direction,
        fmt(x.moduleVsRaw.value, 2),
        fmt(x.moduleVsBoto3.value, 2),
        fmt(x.bestRunVsRaw.value, 2),
        fmt(x.bestRunVsBoto3.value, 2),
      ]),
    ),
    '',
    'The targets use the medians. The ratios of the fastest runs are a check on noise: where a median ratio misses 1.00 and the fastest-run ratio does not, the miss is within the run-to-run spread of this machine (see min-max below).',
    '',
    'The prototypes, uploads:',
    '',
    markdownTable(
      ['backend', 'size', 'module', 'prototype / module', 'prototype / raw', 'prototype / boto3'],
      prototypeRows(r),
      ['l', 'r', 'l', 'r', 'r', 'r'],
    ),
    '',
    "Median wall time, spread and CPU of each contender's process (CPU of all its threads; 100% = one core):",
    '',
    markdownTable(
      [
        'contender',
        'size',
        'direction',
        'median ms',
        'min-max ms',
        'CPU % of wall',
        'CPU s per GiB',
      ],
      CONTENDER_ORDER.flatMap((id) =>
        r.transfer.results
          .filter((x) => x.contender === id)
          .map((x) => [
            x.label,
            `${x.size.value} MiB`,
            x.direction,
            fmt(x.median.value, 0),
            `${fmt(x.min.value, 0)}-${fmt(x.max.value, 0)}`,
            fmt(x.cpuOfWall.value, 0),
            fmt(x.cpuPerGiB.value, 2),
          ]),
      ),
    ),
    '',
    '### The SHA-256 record step (CopyObject onto itself)',
    '',
    "A ZIP streamed in more than one part gets its SHA-256 only at its end, so the module records it afterwards with a CopyObject of the object onto itself (on Swift after a HEAD, as Swift refuses `If-Match` on multipart objects). Its time inside the module's uploads above:",
    '',
    markdownTable(
      ['backend', 'size', 'median ms', '% of the module upload'],
      r.transfer.recordSha256Step.map((x) => [
        x.backend,
        `${x.size.value} MiB`,
        fmt(x.median.value, 0),
        fmt(x.shareOfModuleUpload.value, 0),
      ]),
    ),
    '',
    `On Swift the copy is not a metadata update: s3api turns it into a PUT with \`X-Copy-From\`, which reads the whole multipart (SLO) object and writes it again as a plain object, so it costs about as much as the upload itself. It also **leaks the segments**: the new plain object no longer references the multipart segments, which stay in the \`<bucket>+segments\` container. After the transfer phase (every object deleted again through S3), Swift still held **${r.transfer.swiftOrphanedSegments.objects.value} segment objects, ${fmt(r.transfer.swiftOrphanedSegments.bytes.value, 0)} MiB**, for ${fmt(r.transfer.swiftOrphanedSegments.streamedModuleUploads.value, 0)} MiB of streamed uploads through the module (the other contenders' multipart objects, deleted the same way, left nothing).`,
    '',
  );

  // Sweep
  const sweep = r.sweep;
  const concs = [...new Set(sweep.points.map((p) => p.partConcurrency.value))].sort(
    (a, b) => a - b,
  );
  const parts = [...new Set(sweep.points.map((p) => p.partSize.value))].sort((a, b) => a - b);
  out.push(
    '### Sweep of `partSize` x `partConcurrency`',
    '',
    `Module uploads of ${sweep.size.value} MiB, median MiB/s of ${sweep.reps.value} runs per setting (settings alternated, forward then backward), measured with the prototypes (${sweep.prototype}) so that the CopyObject step, which does not depend on the part settings, does not drown the differences, and so that memory is the pool's. "buffers" is partSize x (concurrency + 1) in MiB, the pool an upload holds; settings over ${PART_BUFFER_BUDGET_MIB} MiB are marked *: an upload holds about ${OVERHEAD_MIB} MiB besides the pool (measured, see Memory), so they would pass the 64 MiB target.`,
    '',
  );
  for (const backend of BACKENDS) {
    out.push(
      `${backend}:`,
      '',
      markdownTable(
        ['partSize', ...concs.map((c) => `${c} at once`)],
        parts.map((p) => [
          `${p} MiB`,
          ...concs.map((c) => {
            const point = sweep.points.find(
              (x) =>
                x.backend === backend && x.partSize.value === p && x.partConcurrency.value === c,
            );
            if (!point) return '';
            const over = point.partBuffers.value > PART_BUFFER_BUDGET_MIB ? '*' : '';
            return `${fmt(point.throughput.value, 0)}${over}`;
          }),
        ]),
      ),
      '',
    );
  }
  out.push(
    `Score (mean over both backends of the throughput relative to that backend's best): recommended **${rec?.partSize.value} MiB x ${rec?.partConcurrency.value}** (${fmt(rec?.score.value ?? NaN, 0)}%), the best among settings with at most ${PART_BUFFER_BUDGET_MIB} MiB of buffers; the current default ${defaults.partSize.value} MiB x ${defaults.partConcurrency.value} scores ${fmt(sweep.current?.score.value ?? NaN, 0)}%. With ${sweep.reps.value} runs per setting, differences under about 10% are within this machine's noise.`,
    '',
  );

  // Memory
  out.push(
    '## 2. Memory',
    '',
    "Peak RSS growth over the baseline, each figure in a fresh process (`bench/memory-child.ts`): boot, a 1 MiB warm-up round trip, baseline RSS, then one upload from a read stream or one download into a file while RSS is sampled every 20 ms; the peak is the larger of the samples and the kernel's `maxRSS` (which also covers boot, so the figure errs high). Rows other than `module` are for comparison (no target): the module with the recommended changes, and the raw clients.",
    '',
    markdownTable(
      ['client', 'backend', 'operation', 'size', 'baseline MiB', 'peak growth MiB', 'time ms'],
      r.memory.map((x) => [
        x.client,
        x.backend,
        x.op,
        `${x.size.value} MiB`,
        fmt(x.baseline.value, 0),
        fmt(x.growth.value, 1),
        fmt(x.duration.value, 0),
      ]),
      ['l', 'l', 'l'],
    ),
    '',
    'The HTTP controller is not part of this run: `bench/controller-memory.mjs` measures the example app (`node dist/main.js`) taking a streamed upload and serving it back, in a process of its own (`npm run build && node bench/controller-memory.mjs`).',
    '',
  );

  // Registry
  const reg = r.registry;
  out.push(
    '## 3. Registry token',
    '',
    markdownTable(
      ['figure', 'value', 'target'],
      [
        [
          `ECR API calls for ${reg.calls.value} \`getRegistryToken()\` calls from ${reg.concurrentCallers.value} concurrent callers`,
          `${reg.ecrApiCalls.value}`,
          '1',
        ],
        ['time for those calls', `${fmt(reg.burstDuration.value, 0)} ms`, ''],
        ['distinct tokens handed out', `${reg.distinctTokens.value}`, ''],
        [
          `median latency of a cached call (${reg.cachedCalls.value} calls, one at a time)`,
          `${fmt(reg.cachedMedian.value, 2)} µs`,
          '',
        ],
        ['p99 latency of a cached call', `${fmt(reg.cachedP99.value, 1)} µs`, ''],
        [
          `for comparison: median latency of a direct \`GetAuthorizationToken\` (naive code, ${reg.uncachedCalls.value} calls)`,
          `${fmt(reg.uncachedMedian.value, 2)} ms`,
          '',
        ],
      ],
      ['l', 'r', 'r'],
    ),
    '',
    'Against the loopback fake ECR server (`test/support/fake-ecr-server.ts`) through the real `@aws-sdk/client-ecr`. Naive code (estela calls ECR on every deploy) would make one API call per call, 10,000 here, and be throttled by ECR beyond about 20 calls/s.',
    '',
  );

  // Startup
  out.push(
    '## 4. Start-up',
    '',
    `\`NestFactory.createApplicationContext\` of an app module with \`ConfigModule\` and \`CredentialsModule.forRoot()\` in a fresh process (\`bench/startup-child.ts\`), median of ${r.startup[0]?.runs.value} runs per backend, alternated. "Boot" is measured inside the process from the first line of the script (imports of Nest and of the module included) to the booted context; "process" is spawn to exit, seen from the parent; RSS is after boot. No target; for reference.`,
    '',
    markdownTable(
      ['backend', 'boot ms', 'process ms', 'RSS after boot MiB', 'RSS growth during boot MiB'],
      r.startup.map((s) => [
        s.backend,
        fmt(s.bootMedian.value, 0),
        fmt(s.processWallMedian.value, 0),
        fmt(s.rssAfterBoot.value, 0),
        fmt(s.rssGrowthFromBoot.value, 0),
      ]),
    ),
    '',
    'Proof of what each backend loads: a separate run with `--import bench/dist/bench/record-loads.js`, which registers a `module.register()` resolve hook that records every URL the ES module loader resolves, plus `require.cache` for CommonJS files required by CommonJS (the AWS SDK is CommonJS). Counted after boot **and** one upload, one download, `getRegistryToken()` and `getCredentials()`:',
    '',
    markdownTable(
      ['backend', 'files loaded', '@nestjs/*', '@aws-sdk/*', 'minio'],
      r.startup.map((s) => [
        s.backend,
        String(s.loadedFiles.value),
        String(s.nestFiles.value),
        String(s.awsSdkFiles.value),
        String(s.minioFiles.value),
      ]),
    ),
    '',
  );

  // Findings
  out.push(
    '## Findings and recommended changes to src',
    '',
    'In short, for `src/` (each measured below as a prototype, by monkey-patching, in `bench/prototype.ts`):',
    '',
    '1. **No CopyObject for file sources** (pre-hash): removes about half of every streamed upload on Swift and the leak of its segments.',
    '2. **Pooled part buffers** for both stores: bounded memory (the 64 MiB target), less garbage collection.',
    '3. **`UNSIGNED-PAYLOAD` part bodies**: one SHA-256 pass less on the client and one on the server.',
    `4. **Defaults** from the sweep, with the pool: ${rec?.partSize.value} MiB x ${rec?.partConcurrency.value}.`,
    '5. Downloads: no change (the integrity check is the difference); parallel ranged GETs need a real prototype first.',
    '',
    'Even with 1-3, uploads stay behind boto3 (its 10 threads read the file and hash in parallel; Node does it on one thread): see 2.',
    '',
  );
  out.push(
    missed.length === 0
      ? 'Every target is met in this run.'
      : `Missed in this run: ${missed.map((t) => `${t.what} (${fmt(t.value.value, 2)} ${t.value.unit})`).join('; ')}.`,
    '',
  );
  const prof = (backend: string, variant: string) =>
    r.profiles.find((p) => p.backend === backend && p.variant === variant);
  const profLine = (backend: string, variant: string) => {
    const p = prof(backend, variant);
    if (!p) return 'n/a';
    const total = Object.values(p.categories).reduce((s, c) => s + c.value, 0);
    return Object.entries(p.categories)
      .slice(0, 6)
      .map(([name, c]) => `${name} ${fmt((c.value / total) * 100, 0)}%`)
      .join(', ');
  };
  const allLabel = VARIANT_LABELS.all;
  const bothBackends = (fn: (b: Backend) => string) => BACKENDS.map(fn).join('; ');

  out.push(
    '### 1. The CopyObject that records the SHA-256 (uploads vs the raw clients)',
    '',
    bothBackends((b) => {
      const rec1 = record(b, largest);
      const ph = proto(b, largest, 'prehash');
      return `${b}: at ${largest} MiB the copy takes ${fmt(rec1?.median.value ?? NaN, 0)} ms, ${fmt(rec1?.shareOfModuleUpload.value ?? NaN, 0)}% of the module's upload; without it (pre-hash prototype) the upload is ${fmt(ph?.vsModule.value ?? NaN, 2)}x as fast and ${fmt(ph?.vsRaw.value ?? NaN, 2)}x the raw client (module as it is: ${fmt(ratioRow(b, largest, 'upload')?.moduleVsRaw.value ?? NaN, 2)}x)`;
    }) + '.',
    '',
    '**Recommended** (`ProjectStorage.upload`, `ObjectStore.putStream`): when the body is an `fs.ReadStream` over a whole file (a `path`, no `start`/`end`, nothing read yet), hash the file first (a sequential read from the page cache: ' +
      r.transfer.prehash
        .map((p) => `${fmt(p.median.value, 0)} ms for ${p.size.value} MiB on ${p.backend}`)
        .join(', ') +
      ') and pass the SHA-256 to `putStream`, which sends it with `CreateMultipartUpload` as `x-amz-meta-sha256` (lib-storage: `params.Metadata`; MinIO: the headers of `initiateNewMultipartUpload`). Keep hashing while streaming and compare at the end: if the file changed in between, fall back to the CopyObject as today. This removes the copy for the common case (a file on disk, as here), and on Swift it stops the segment leak. For other streams (an HTTP request body) the copy stays: document that on Swift each such upload leaves its segments behind (or spool such bodies to a temporary file first).',
    '',
    '### 2. Uploads against boto3: CPU on a 2-core machine',
    '',
    `boto3 uploads ${largest} MiB at ${tp('boto3', 'upload', largest)} MiB/s using ${cpu('boto3', 'upload', largest)}% of a core (${cpuGiB('boto3', 'upload', largest)} CPU s per GiB, over its 10 threads); ` +
      bothBackends(
        (b) =>
          `the ${b} module ${tp(`module-${b}`, 'upload', largest)} MiB/s at ${cpu(`module-${b}`, 'upload', largest)}% (${cpuGiB(`module-${b}`, 'upload', largest)} CPU s/GiB), its raw client ${tp(`raw-${b}`, 'upload', largest)} MiB/s at ${cpu(`raw-${b}`, 'upload', largest)}% (${cpuGiB(`raw-${b}`, 'upload', largest)} CPU s/GiB)`,
      ) +
      ". Swift's proxy and object server need most of the 2 cores, so every CPU second the client spends is taken from the server. " +
      `A CPU profile of one ${largest} MiB module upload (\`bench/profile-child.ts\`: the V8 profiler, as \`node --cpu-prof\`, around the upload only), share of the main thread's time: ` +
      bothBackends(
        (b) =>
          `${b} as it is: ${profLine(b, 'module')}; ${b} ${allLabel}: ${profLine(b, `module + ${PROTOTYPE_LABEL_ALL}`)}`,
      ) +
      '. Causes: (a) every byte is hashed twice on the one JavaScript thread, once by the module (its SHA-256) and once by the SDK to sign each part (`x-amz-content-sha256`: the AWS SDK hashes every Buffer body, even over HTTPS; minio-js does over HTTP), and the server verifies that hash again; (b) a new Buffer per part (`Buffer.concat` in lib-storage and in the MinIO store) on top of the 64 KiB chunks of the read stream keeps the garbage collector busy and lets malloc keep freed parts, which also costs memory (section 2). boto3 reads 8 MiB parts straight from the file in 10 threads and hashes them with the GIL released.',
    '',
    `**Recommended:** (1) **pooled parts**: cut the stream into a fixed pool of partConcurrency + 1 buffers, allocated once per upload and reused, driving the multipart upload as \`MinioObjectStore.putStream\` already does (for S3 too, instead of lib-storage's chunker); (2) **unsigned payload**: sign part bodies as \`UNSIGNED-PAYLOAD\` (AWS SDK: a \`build\`-step middleware setting \`x-amz-content-sha256: UNSIGNED-PAYLOAD\` on UploadPart/PutObject; minio-js: \`enableSHA256 = false\`), since the module's own SHA-256, signed in the create request and checked on every download, already covers the bytes end to end (over plain HTTP a man in the middle could then alter a body unnoticed until the download check, which fails it). Measured at ${largest} MiB with pre-hash: ` +
      bothBackends(
        (b) =>
          `${b} + pooled parts ${fmt(proto(b, largest, 'prehash.pooled')?.vsModule.value ?? NaN, 2)}x the module, + unsigned payload ${fmt(proto(b, largest, 'all')?.vsModule.value ?? NaN, 2)}x the module = ${fmt(proto(b, largest, 'all')?.vsRaw.value ?? NaN, 2)}x the raw client and ${fmt(proto(b, largest, 'all')?.vsBoto3.value ?? NaN, 2)}x boto3`,
      ) +
      '. Further (not prototyped): for a file source, read each part straight from the file at its offset into the pooled buffer (no 64 KiB chunks at all), as boto3 does.',
    '',
    '### 3. Memory',
    '',
    bothBackends((b) => {
      const up = memOf('module', b, 'upload', largest);
      const all = r.memory.find(
        (x) =>
          x.backend === b && x.op === 'upload' && x.client === `module + ${PROTOTYPE_LABEL_ALL}`,
      );
      const raw = r.memory.find((x) => x.backend === b && x.op === 'upload' && x.kind === 'raw');
      return `${b}: the module's upload of ${largest} MiB grows RSS by ${fmt(up?.growth.value ?? NaN, 0)} MiB with ${defaults.partSize.value} MiB x ${defaults.partConcurrency.value} parts (about ${defaults.partSize.value * (defaults.partConcurrency.value + 1)} MiB of live parts), ${fmt(all?.growth.value ?? NaN, 0)} MiB with pooled parts; its raw client ${fmt(raw?.growth.value ?? NaN, 0)} MiB`;
    }) +
      `. Without a pool every part is a new ${defaults.partSize.value} MiB Buffer and the freed ones are returned to the system late (garbage collection driven by external-memory pressure, malloc keeping freed blocks), so RSS grows well beyond the parts in flight. With the pool the growth is the pool plus about ${OVERHEAD_MIB} MiB (the part read ahead to tell a small ZIP from a large one, stream chunks, the pre-hash read, garbage not yet collected).`,
    '',
  );
  const recMem = r.memory.filter((x) =>
    x.client.endsWith(`${rec?.partSize.value} MiB x ${rec?.partConcurrency.value}`),
  );
  out.push(
    `### 4. Defaults`,
    '',
    `The sweep recommends **${rec?.partSize.value} MiB x ${rec?.partConcurrency.value}** (score ${fmt(rec?.score.value ?? NaN, 0)}%) against the current ${defaults.partSize.value} MiB x ${defaults.partConcurrency.value} (${fmt(sweep.current?.score.value ?? NaN, 0)}%)` +
      (recMem.length > 0
        ? `; with it and the prototypes the ${largest} MiB upload grows RSS by ${recMem.map((x) => `${fmt(x.growth.value, 0)} MiB (${x.backend})`).join(' and ')}`
        : '') +
      `. Change \`DEFAULT_TRANSFER_SETTINGS\` (\`src/credentials/config/transfer-settings.ts\`) and the README table only together with pooled parts (without the pool, memory is several times the part buffers, see above), and only if a re-run confirms a gap larger than the noise.`,
    '',
  );
  const small = Math.min(...r.transfer.results.map((x) => x.size.value));
  const hashMs = (1000 * small) / r.meta.sha256Speed.value;
  out.push(
    '### 5. Downloads',
    '',
    bothBackends((b) => {
      const mod = get(`module-${b}`, 'download', small);
      const raw = get(`raw-${b}`, 'download', small);
      const big = ratioRow(b, largest, 'download');
      return `${b}: at ${small} MiB the module takes ${fmt(mod?.median.value ?? NaN, 1)} ms against ${fmt(raw?.median.value ?? NaN, 1)} ms for the raw client; at ${largest} MiB module / raw is ${fmt(big?.moduleVsRaw.value ?? NaN, 2)} on the medians and ${fmt(big?.bestRunVsRaw.value ?? NaN, 2)} on the fastest runs, module / boto3 ${fmt(big?.moduleVsBoto3.value ?? NaN, 2)} and ${fmt(big?.bestRunVsBoto3.value ?? NaN, 2)}; the module's process uses ${cpu(`module-${b}`, 'download', largest)}% of a core against ${cpu(`raw-${b}`, 'download', largest)}% for the raw client`;
    }) +
      `. The module does strictly more than \`GetObject\`: it verifies the SHA-256 and the length through one more stream. This machine hashes ${fmt(r.meta.sha256Speed.value, 0)} MiB/s, so the check costs ${fmt(hashMs, 2)} ms per ${small} MiB of CPU on the one JavaScript thread, about the gap measured in a single process during development (30 downloads of 1 MiB each: module 125, GetObject 134 MiB/s); the rest of the gap above is spread between worker processes. For large objects the extra CPU (see the CPU column) is taken from the CPU-bound server on this 2-core machine, which is what the ratios show; with the server on its own cores it should shrink (not measured). **Recommended:** keep the verification (it is the contract); the download targets against a client that does not verify cannot be met with margin here. boto3 downloads with 10 threads of 8 MiB ranged GETs; a quick Node prototype of 4 to 8 parallel ranged GETs written into the file at their offsets did not reproduce its speed during development (112-201 MiB/s against 126-149 for one stream and 229-253 for boto3, in the same minutes), so parallel ranged downloads (reassembled in order, with a bounded window to keep memory flat) need a proper prototype before they can be recommended.`,
    '',
    '## Method notes',
    '',
    "- Uploads of each contender go to their own key and are deleted (untimed) after each run; downloads read the shared reference object. The bucket is on a fresh single-replica Swift on this machine's disk.",
    '- The module is compiled from `src/` into `bench/dist/src` at the start of the run (`tsc -p bench/tsconfig.json`), so the bench measures the working tree as it is.',
    '- Medians, not means: a single slow run (a disk flush, other work on the machine) does not move them.',
    '',
  );
  return out.join('\n');
}

const PROTOTYPE_LABEL_ALL = 'pre-hash + pooled parts + unsigned payload';
