/**
 * Turns the measurements into results.json (every figure with its unit), the table printed on
 * stdout, and BENCHMARKS.md (every figure with its target and whether it is met).
 */
import type { TransferSettings } from '../src/credentials/config/transfer-settings.js';
import { type Backend, BACKENDS, fmt, median, MiB, mibPerS, q, type Quantity } from './common.js';
import type { Boto3Info } from './contenders.js';
import type { GcCounts } from './gc.js';
import type { RangedProbeResult } from './ranged-probe.js';
import type { RegistryOutcome } from './registry.js';
import type { SpoolResult } from './spool-child.js';
import type { MemoryRow, ProfileRow, StartupRow } from './run.js';
import type { OverwriteOutcome, SweepPoint, TransferOutcome } from './transfer.js';

/** What the bench's uploads left behind once every object was deleted again through S3. */
export interface Leftovers {
  /** Objects / bytes in Swift's `<bucket>+segments` container (multipart segments). */
  segmentObjects: number;
  segmentBytes: number;
  /** The first few of them, by name (`<key>/<upload id>/<part>`), to tell whose they are. */
  segmentNames: string[];
  objectsInBucket: number;
  objectNames: string[];
  /** Files in the module's spoolDir. */
  spoolFiles: number;
}

export interface RawOutcomes {
  sha256MiBps: number;
  plan: {
    sizes: number[];
    runs: Record<number, number>;
    registry: { calls: number; callers: number };
    startupRuns: number;
    memoryReps: number;
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
  spool: SpoolResult;
  /** The ranged-download probe at the largest size (absent when it did not run). */
  ranged?: RangedProbeResult;
  leftovers: { afterTransfer: Leftovers; atEnd: Leftovers };
  overwrite: OverwriteOutcome[];
  sweep: SweepPoint[];
  sweepPlan: { bytes: number; reps: number };
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
export const MEMORY_LIMIT_MIB = 64;
/** "Flat": the growth at the largest size stays within this of the growth at 64 MiB. */
const FLAT_TOLERANCE_MIB = 16;
/**
 * A setting "loses no throughput" when its sweep score is at least this share of the current
 * default's: with 2 runs per setting, closer differences are within this machine's noise.
 */
export const NO_LOSS_SHARE = 0.95;

/**
 * Parallel ranged GETs count as faster than one GET when their throughput is above this
 * multiple of its throughput (closer is within this machine's noise).
 */
export const RANGED_GAIN = 1.05;
/**
 * "Many more" major GCs in the in-run spool step than in the spool step alone: at least this
 * many more, and at least twice as many.
 */
export const GC_MANY_MORE = 5;

/** Medians over runs of the garbage collections in one step (undefined: none recorded). */
function gcFigures(runs: GcCounts[] | undefined) {
  if (!runs || runs.length === 0) return undefined;
  return {
    major: q(median(runs.map((g) => g.major)), 'GCs'),
    minor: q(median(runs.map((g) => g.minor)), 'GCs'),
    incremental: q(median(runs.map((g) => g.incremental)), 'GCs'),
    /** Total duration of all kinds. */
    ms: q(median(runs.map((g) => g.ms)), 'ms'),
    majorSamples: runs.map((g) => q(g.major, 'GCs')),
    msSamples: runs.map((g) => q(g.ms, 'ms')),
  };
}

/** The ranged-download probe: each way's median, throughput and ratio to one GET. */
function rangedFigures(probe: RangedProbeResult | undefined) {
  if (!probe) return undefined;
  const single = median(probe.ways.find((w) => w.window === 1)?.ms ?? []);
  return {
    size: sizeQ(probe.bytes),
    rangeSize: sizeQ(probe.rangeBytes),
    rounds: q(probe.rounds, 'rounds'),
    sha256: probe.sha256,
    /** Every way wrote the same bytes (checked in the probe, which fails otherwise). */
    sameSha256: true,
    matchesMetadata: probe.matchesMetadata,
    ways: probe.ways.map((w) => ({
      way: w.way,
      window: q(w.window, 'ranges'),
      requests: q(w.requests, 'requests'),
      median: q(median(w.ms), 'ms'),
      throughput: q(mibPerS(probe.bytes, median(w.ms)), 'MiB/s'),
      /** Throughput relative to one GetObject (> 1: faster). */
      vsSingle: q(single / median(w.ms), 'x'),
      cpuOfWall: q((median(w.cpuMs) / median(w.ms)) * 100, '% of one core'),
      samples: w.ms.map((ms) => q(ms, 'ms')),
    })),
  };
}

export const CONTENDERS = {
  module: (b: Backend) => `module-${b}`,
  raw: (b: Backend) => `raw-${b}`,
  boto3: 'boto3',
};

/**
 * The part buffers a streamed upload holds, whatever the project's size: src's `uploadInParts`
 * (store/multipart-upload.ts) reads each part from the spool file by position into one of
 * partConcurrency buffers of partSize, allocated once per upload and reused. POOL_FORMULA
 * names it in the prose; change both together if src changes the count.
 */
export const poolMiB = (partSize: number, partConcurrency: number): number =>
  (partSize * partConcurrency) / MiB;
const POOL_BUFFERS = 'partConcurrency';
const POOL_FORMULA = `partSize x ${POOL_BUFFERS}`;

interface SettingScore {
  partSize: number;
  partConcurrency: number;
  /** Mean over backends of the send step's throughput relative to that backend's best. */
  score: number;
  /** The larger of the backends' median peak RSS growth (MiB). */
  growthMiB: number;
}

/** Each sweep setting's throughput score and memory. */
function scoreSettings(points: SweepPoint[]): SettingScore[] {
  const throughput = (p: SweepPoint) => 1 / median(p.sendMs);
  const best = new Map<Backend, number>();
  for (const p of points) best.set(p.backend, Math.max(best.get(p.backend) ?? 0, throughput(p)));
  const keys = [...new Set(points.map((p) => `${p.partSize}x${p.partConcurrency}`))];
  return keys.map((key) => {
    const mine = points.filter((p) => `${p.partSize}x${p.partConcurrency}` === key);
    return {
      partSize: mine[0].partSize,
      partConcurrency: mine[0].partConcurrency,
      score:
        mine.reduce((sum, p) => sum + throughput(p) / (best.get(p.backend) as number), 0) /
        mine.length,
      growthMiB: Math.max(...mine.map((p) => median(p.growthMiB))),
    };
  });
}

export type RecommendationReason =
  | 'meets memory without a loss of throughput'
  | 'faster without more memory'
  | 'keep: no setting meets memory without a loss of throughput, none is clearly better';

/**
 * The defaults the sweep recommends. "No loss": a score of at least NO_LOSS_SHARE of the
 * current default's. Among those, the fastest that meets the memory target on both backends;
 * when none does, the fastest that is clearly faster (a score above the default's by more than
 * the noise, and on each backend a median below the default's fastest run) without more
 * memory; otherwise the current default stays.
 */
export function recommendSetting(
  points: SweepPoint[],
  defaults: { partSize: number; partConcurrency: number },
): { partSize: number; partConcurrency: number; reason: RecommendationReason } | undefined {
  if (points.length === 0) return undefined;
  const scored = scoreSettings(points).sort((a, b) => b.score - a.score);
  const current = scored.find(
    (s) => s.partSize === defaults.partSize && s.partConcurrency === defaults.partConcurrency,
  );
  if (!current) return undefined;
  const noLoss = scored.filter((s) => s.score >= current.score * NO_LOSS_SHARE);
  const fitting = noLoss.find((s) => s.growthMiB <= MEMORY_LIMIT_MIB);
  if (fitting) return { ...fitting, reason: 'meets memory without a loss of throughput' };
  // Clearly faster: by more than the noise on the score, and on each backend faster than the
  // default's fastest run.
  const fastest = (p: SweepPoint) => Math.min(...p.sendMs);
  const clearlyFaster = (s: SettingScore) =>
    s.score * NO_LOSS_SHARE > current.score &&
    BACKENDS.every((b) => {
      const mine = points.find(
        (p) =>
          p.backend === b && p.partSize === s.partSize && p.partConcurrency === s.partConcurrency,
      );
      const theirs = points.find(
        (p) =>
          p.backend === b &&
          p.partSize === current.partSize &&
          p.partConcurrency === current.partConcurrency,
      );
      return mine && theirs && median(mine.sendMs) < fastest(theirs);
    });
  const better = scored.find((s) => clearlyFaster(s) && s.growthMiB <= current.growthMiB);
  if (better) return { ...better, reason: 'faster without more memory' };
  return {
    ...current,
    reason: 'keep: no setting meets memory without a loss of throughput, none is clearly better',
  };
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

  // The two steps of the streamed uploads: spool (source -> temporary file, hashed) and send.
  const steps = transfer.steps
    .filter((st) => st.spoolMs.length > 0)
    .map((st) => {
      const backend = st.contender.startsWith('module-aws') ? 'aws' : 'local';
      const upload = medianMs(st.contender, 'upload', st.bytes);
      const uploads = sample(st.contender, 'upload', st.bytes)?.ms ?? [];
      const rawMs = medianMs(CONTENDERS.raw(backend), 'upload', st.bytes);
      const spool = median(st.spoolMs);
      const send = median(st.sendMs);
      // Per run (the runs are in the same order in both lists), then the median.
      const perRun = (f: (i: number) => number) =>
        median(uploads.length === st.spoolMs.length ? uploads.map((_, i) => f(i)) : []);
      return {
        contender: st.contender,
        label: sample(st.contender, 'upload', st.bytes)?.label ?? st.contender,
        backend: backend as Backend,
        size: sizeQ(st.bytes),
        spool: q(spool, 'ms'),
        spoolRate: q(mibPerS(st.bytes, spool), 'MiB/s'),
        send: q(send, 'ms'),
        upload: q(upload, 'ms'),
        /** Removing the spool file, and whatever else is neither step (median over runs). */
        rest: q(
          perRun((i) => uploads[i] - st.spoolMs[i] - st.sendMs[i]),
          'ms',
        ),
        spoolShare: q(
          perRun((i) => (st.spoolMs[i] / uploads[i]) * 100),
          '% of the upload',
        ),
        /** Raw client upload time / send step time: >= 1 means the send step alone is as fast. */
        sendVsRaw: q(rawMs / send, 'x'),
        spoolSamples: st.spoolMs.map((ms) => q(ms, 'ms')),
        sendSamples: st.sendMs.map((ms) => q(ms, 'ms')),
        /** Garbage collections within the spool step (bench/gc.ts), medians over runs. */
        spoolGc: gcFigures(st.spoolGc),
      };
    });

  const leftover = (l: Leftovers) => ({
    segmentObjects: q(l.segmentObjects, 'objects'),
    segmentBytes: q(l.segmentBytes / MiB, 'MiB'),
    segmentNames: l.segmentNames,
    objectsInBucket: q(l.objectsInBucket, 'objects'),
    objectNames: l.objectNames,
    spoolFiles: q(l.spoolFiles, 'files'),
  });
  const streamedModuleUploads = transfer.samples
    .filter((s) => s.contender.startsWith('module-') && s.direction === 'upload')
    .filter((s) => s.bytes > raw.defaults.partSize)
    .reduce((sum, s) => sum + s.bytes * s.ms.length, 0);
  const leftovers = {
    afterTransfer: leftover(raw.leftovers.afterTransfer),
    atEnd: leftover(raw.leftovers.atEnd),
    transferModuleStreamedUploads: q(streamedModuleUploads / MiB, 'MiB'),
    /** For reference (not a check): the same key uploaded twice, then deleted. */
    overwrite: raw.overwrite.map((o) => ({
      contender: o.contender,
      label: o.label,
      segmentObjects: q(o.segmentObjects, 'objects'),
      segmentBytes: q(o.segmentBytes / MiB, 'MiB'),
    })),
  };
  const checks: Target[] = [
    {
      id: 'checks.segments.transfer',
      section: 'checks',
      what: `Swift multipart segments left after the transfer phase (${fmt(streamedModuleUploads / MiB, 0)} MiB of streamed module uploads, every object deleted again)`,
      value: leftovers.afterTransfer.segmentObjects,
      target: '= 0',
      met: raw.leftovers.afterTransfer.segmentObjects === 0,
    },
    {
      id: 'checks.segments.end',
      section: 'checks',
      what: 'Swift multipart segments left at the end of the run (all phases but the overwrite test)',
      value: leftovers.atEnd.segmentObjects,
      target: '= 0',
      met: raw.leftovers.atEnd.segmentObjects === 0,
    },
    {
      id: 'checks.spool.transfer',
      section: 'checks',
      what: 'spool files left in spoolDir after the transfer phase',
      value: leftovers.afterTransfer.spoolFiles,
      target: '= 0',
      met: raw.leftovers.afterTransfer.spoolFiles === 0,
    },
    {
      id: 'checks.spool.end',
      section: 'checks',
      what: 'spool files left in spoolDir at the end of the run',
      value: leftovers.atEnd.spoolFiles,
      target: '= 0',
      met: raw.leftovers.atEnd.spoolFiles === 0,
    },
  ];

  // Sweep: throughput (of the send step, which the settings govern) and memory per setting.
  const sweepBytes = raw.sweepPlan.bytes;
  const sweepPoints = raw.sweep.map((p) => ({
    backend: p.backend,
    partSize: q(p.partSize / MiB, 'MiB'),
    partConcurrency: q(p.partConcurrency, 'parts'),
    median: q(median(p.ms), 'ms'),
    throughput: q(mibPerS(sweepBytes, median(p.ms)), 'MiB/s'),
    sendMedian: q(median(p.sendMs), 'ms'),
    sendThroughput: q(mibPerS(sweepBytes, median(p.sendMs)), 'MiB/s'),
    growth: q(median(p.growthMiB), 'MiB'),
    samples: p.ms.map((ms) => q(ms, 'ms')),
    sendSamples: p.sendMs.map((ms) => q(ms, 'ms')),
    growthSamples: p.growthMiB.map((g) => q(g, 'MiB')),
  }));
  const currentScore = scoreSettings(raw.sweep).find(
    (s) =>
      s.partSize === raw.defaults.partSize && s.partConcurrency === raw.defaults.partConcurrency,
  )?.score;
  const settings = scoreSettings(raw.sweep).map((s) => ({
    partSize: q(s.partSize / MiB, 'MiB'),
    partConcurrency: q(s.partConcurrency, 'parts'),
    score: q(s.score * 100, '% of the best'),
    growth: q(s.growthMiB, 'MiB'),
    meetsMemory: s.growthMiB <= MEMORY_LIMIT_MIB,
    noThroughputLoss: s.score >= (currentScore ?? 0) * NO_LOSS_SHARE,
    /** The part buffers an upload holds at this setting (`poolMiB`). */
    pool: q(poolMiB(s.partSize, s.partConcurrency), 'MiB'),
  }));
  const findSetting = (setting: { partSize: number; partConcurrency: number } | undefined) =>
    setting &&
    settings.find(
      (s) =>
        s.partSize.value === setting.partSize / MiB &&
        s.partConcurrency.value === setting.partConcurrency,
    );
  const recommendation = recommendSetting(raw.sweep, raw.defaults);
  const recommended = findSetting(recommendation);
  const current = settings.find(
    (s) =>
      s.partSize.value === raw.defaults.partSize / MiB &&
      s.partConcurrency.value === raw.defaults.partConcurrency,
  );

  const medianOf = (rows: number[]) => q(median(rows), 'MiB');
  const memoryRows = raw.memory.map((m) => ({
    client: m.client,
    extra: m.extra,
    kind: m.kind,
    backend: m.backend,
    op: m.op,
    size: sizeQ(m.bytes),
    partSize: m.partSize === undefined ? undefined : q(m.partSize / MiB, 'MiB'),
    partConcurrency: m.partConcurrency === undefined ? undefined : q(m.partConcurrency, 'parts'),
    /** The part buffers of a module upload (`poolMiB`); streamed uploads only hold them. */
    pool:
      m.kind === 'module' && m.partSize !== undefined && m.partConcurrency !== undefined
        ? q(poolMiB(m.partSize, m.partConcurrency), 'MiB')
        : undefined,
    runs: q(m.results.length, 'runs'),
    baseline: medianOf(m.results.map((x) => x.baselineMiB)),
    growth: medianOf(m.results.map((x) => x.growthMiB)),
    growthSamples: m.results.map((x) => q(x.growthMiB, 'MiB')),
    spoolPeak: medianOf(m.results.map((x) => x.spoolPeakMiB ?? Number.NaN)),
    sendPeak: medianOf(m.results.map((x) => x.sendPeakMiB ?? Number.NaN)),
    arrayBuffersPeak: medianOf(m.results.map((x) => x.arrayBuffersPeakMiB)),
    spool: q(median(m.results.map((x) => x.spoolMs ?? Number.NaN)), 'ms'),
    send: q(median(m.results.map((x) => x.sendMs ?? Number.NaN)), 'ms'),
    duration: q(median(m.results.map((x) => x.ms)), 'ms'),
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
      checks: q(checks.length, 'checks'),
      checksPassed: q(checks.filter((c) => c.met).length, 'checks'),
    },
    targets,
    checks,
    transfer: {
      runs: Object.fromEntries(sizes.map((b) => [sizeText(b), q(raw.plan.runs[b], 'runs')])),
      results: transferRows,
      ratios,
      steps,
      leftovers,
    },
    sweep: {
      size: sizeQ(sweepBytes),
      reps: q(raw.sweepPlan.reps, 'runs'),
      points: sweepPoints,
      settings,
      recommended,
      recommendationReason: recommendation?.reason,
      current,
    },
    spool: {
      size: sizeQ(raw.spool.bytes),
      runs: q(raw.spool.src.length, 'runs'),
      src: q(median(raw.spool.src), 'ms'),
      hashOnly: q(median(raw.spool.hash), 'ms'),
      remove: q(median(raw.spool.removeMs), 'ms'),
      srcRate: q(mibPerS(raw.spool.bytes, median(raw.spool.src)), 'MiB/s'),
      hashOnlyRate: q(mibPerS(raw.spool.bytes, median(raw.spool.hash)), 'MiB/s'),
      srcSamples: raw.spool.src.map((ms) => q(ms, 'ms')),
      hashOnlySamples: raw.spool.hash.map((ms) => q(ms, 'ms')),
      /** Garbage collections within each way's runs (bench/gc.ts), medians over runs. */
      srcGc: gcFigures(raw.spool.gc?.src),
      hashOnlyGc: gcFigures(raw.spool.gc?.hash),
    },
    rangedProbe: rangedFigures(raw.ranged),
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

const CONTENDER_ORDER = ['module-aws', 'raw-aws', 'module-local', 'raw-local', 'boto3'];

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

/** A count of GCs (a median of an even number of runs can end in .5). */
const gcCount = (v: number | undefined): string =>
  v !== undefined && Number.isInteger(v) ? String(v) : fmt(v ?? NaN, 1);
const majorGcs = (v: number | undefined): string => `${gcCount(v)} major GC${v === 1 ? '' : 's'}`;

function stepRows(results: Results): string[][] {
  return results.transfer.steps.map((st) => [
    st.label,
    `${st.size.value} MiB`,
    fmt(st.spool.value, 0),
    fmt(st.spoolRate.value, 0),
    gcCount(st.spoolGc?.major.value),
    fmt(st.spoolGc?.ms.value ?? NaN, 0),
    fmt(st.send.value, 0),
    fmt(st.rest.value, 0),
    fmt(st.upload.value, 0),
    fmt(st.spoolShare.value, 0),
    fmt(st.sendVsRaw.value, 2),
  ]);
}
const STEP_HEADER = [
  'contender',
  'size',
  'spool ms',
  'spool MiB/s',
  'spool major GCs',
  'spool GC ms',
  'send ms',
  'rest ms',
  'upload ms',
  'spool % of upload',
  'raw upload / send step',
];

/** The ranged-download probe on stdout (nothing when it did not run). */
function rangedTable(results: Results): string[] {
  const rp = results.rangedProbe;
  if (!rp) return [];
  return [
    '',
    `RANGED DOWNLOAD PROBE: ${rp.size.value} MiB reference object into a file, hashed, ${rp.rangeSize.value} MiB ranges, median of ${rp.rounds.value} rounds`,
    table(
      ['way', 'requests', 'median ms', 'MiB/s', '/ single', 'CPU %'],
      rp.ways.map((w) => [
        w.way,
        String(w.requests.value),
        fmt(w.median.value, 0),
        fmt(w.throughput.value, 0),
        fmt(w.vsSingle.value, 2),
        fmt(w.cpuOfWall.value, 0),
      ]),
    ),
    '',
  ];
}

const settingText = (s: { partSize?: Quantity; partConcurrency?: Quantity } | undefined): string =>
  s?.partSize && s.partConcurrency ? `${s.partSize.value} MiB x ${s.partConcurrency.value}` : 'n/a';

const mark = (met: boolean) => (met ? 'yes' : 'NO');

export function renderTable(results: Results): string {
  const out: string[] = [];
  const m = transferMatrix(results);
  const rec = results.sweep.recommended;
  const lo = results.transfer.leftovers;
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
    'STEPS of streamed module uploads (medians): spool = source -> temporary file, hashed; send = multipart upload from it',
    table(STEP_HEADER, stepRows(results)),
    `spool step alone (fresh process, no server, ${results.spool.size.value} MiB, medians of ${results.spool.runs.value}): ` +
      `src ${fmt(results.spool.src.value, 0)} ms, ${gcCount(results.spool.srcGc?.major.value)} major GCs, ` +
      `${fmt(results.spool.srcGc?.ms.value ?? NaN, 0)} GC ms; reading and hashing only ${fmt(results.spool.hashOnly.value, 0)} ms, ` +
      `${gcCount(results.spool.hashOnlyGc?.major.value)} major GCs, ${fmt(results.spool.hashOnlyGc?.ms.value ?? NaN, 0)} GC ms`,
    ...rangedTable(results),
    `left behind after the transfer phase: ${lo.afterTransfer.segmentObjects.value} Swift segment objects ` +
      `(${fmt(lo.afterTransfer.segmentBytes.value, 0)} MiB) for ${fmt(lo.transferModuleStreamedUploads.value, 0)} MiB ` +
      `of streamed module uploads, ${lo.afterTransfer.spoolFiles.value} spool files; at the end: ` +
      `${lo.atEnd.segmentObjects.value} segment objects, ${lo.atEnd.spoolFiles.value} spool files`,
    `same key uploaded twice then deleted (Swift s3api keeps the first upload's segments): ${lo.overwrite
      .map((o) => `${o.label} ${o.segmentObjects.value} segments`)
      .join(', ')}`,
    '',
    `SWEEP: module upload of ${results.sweep.size.value} MiB, fresh process per run, median of ${results.sweep.reps.value}: send-step MiB/s, peak RSS growth MiB`,
    table(
      ['backend', 'partSize', 'concurrency', 'upload MiB/s', 'send MiB/s', 'growth MiB'],
      results.sweep.points.map((p) => [
        p.backend,
        `${p.partSize.value} MiB`,
        String(p.partConcurrency.value),
        fmt(p.throughput.value, 0),
        fmt(p.sendThroughput.value, 0),
        fmt(p.growth.value, 0),
      ]),
    ),
    `recommended: ${settingText(rec)} (score ${fmt(rec?.score.value ?? NaN, 0)}%, ` +
      `growth ${fmt(rec?.growth.value ?? NaN, 0)} MiB${rec?.meetsMemory ? '' : ', over the memory target'}); current default ` +
      `${settingText(results.sweep.current)} (${fmt(results.sweep.current?.score.value ?? NaN, 0)}%, ` +
      `${fmt(results.sweep.current?.growth.value ?? NaN, 0)} MiB)`,
    '',
    'MEMORY: peak RSS growth over the baseline, fresh process per run (median)',
    table(
      ['client', 'backend', 'op', 'size', 'runs', 'baseline MiB', 'growth MiB'],
      results.memory.map((r) => [
        r.client,
        r.backend,
        r.op,
        `${r.size.value} MiB`,
        String(r.runs.value),
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
    `CHECKS: ${results.summary.checksPassed.value} of ${results.summary.checks.value} passed`,
    table(
      ['check', 'value', 'wanted', 'passed'],
      results.checks.map((t) => [
        t.what,
        `${t.value.value} ${t.value.unit}`,
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

/** The group of the "Missed targets" table a missed target belongs to (its cause and fix). */
function missedGroup(t: Target, partSizeMiB: number): string | undefined {
  const [section, backend, direction, sizeId, against] = t.id.split('.');
  const size = Number.parseInt(sizeId ?? '', 10);
  if (section === 'transfer' && direction === 'upload') {
    if (size <= partSizeMiB) return 'uploads of one part';
    return against === 'vs-raw'
      ? 'streamed uploads against the raw client'
      : 'streamed uploads against boto3';
  }
  if (section === 'transfer' && direction === 'download') {
    return against === 'vs-raw' ? 'downloads against the raw client' : 'downloads against boto3';
  }
  if (section === 'memory' && backend !== undefined) return `memory of ${direction}s`;
  return undefined;
}

export function renderMarkdown(results: Results): string {
  const r = results;
  const mach = r.meta.machine;
  const largest = Math.max(...r.transfer.results.map((x) => x.size.value));
  const small = Math.min(...r.transfer.results.map((x) => x.size.value));
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
  const stepOf = (contender: string, size: number) =>
    r.transfer.steps.find((x) => x.contender === contender && x.size.value === size);
  const memModule = (backend: string, op: string, size: number) =>
    r.memory.find((x) => !x.extra && x.backend === backend && x.op === op && x.size.value === size);
  const memExtra = (backend: string, setting: string) =>
    r.memory.find(
      (x) => x.extra && x.kind === 'module' && x.backend === backend && settingText(x) === setting,
    );
  const memRaw = (backend: string, op: string) =>
    r.memory.find((x) => x.kind === 'raw' && x.backend === backend && x.op === op);
  const missed = r.targets.filter((t) => !t.met);
  const m = transferMatrix(r);
  const rec = r.sweep.recommended;
  const cur = r.sweep.current;
  const defaults = r.meta.moduleDefaults;
  const defaultText = `${defaults.partSize.value} MiB x ${defaults.partConcurrency.value}`;
  const bothBackends = (fn: (b: Backend) => string) => BACKENDS.map(fn).join('; ');
  // The sweep runs at one size; a recommended change is adopted only if its check at the
  // largest size (memory table) meets the memory target on both backends as well.
  const recChanges = !!rec && settingText(rec) !== defaultText;
  const recAtLargest = BACKENDS.map((b) => ({
    backend: b,
    growth: rec ? memExtra(b, settingText(rec))?.growth.value : undefined,
  }));
  const recFailsAtLargest = recAtLargest.filter(
    (x) => x.growth === undefined || x.growth > MEMORY_LIMIT_MIB,
  );
  const adoptRec = recChanges && recFailsAtLargest.length === 0;
  const x2 = (v: number | undefined) => fmt(v ?? NaN, 2);
  const mib = (v: number | undefined) => fmt(v ?? NaN, 0);
  const cores = mach.cores;
  // How far single runs at the largest size stray from their median (the noise on the ratios).
  const spreads = r.transfer.results
    .filter((x) => x.size.value === largest && x.runs.value >= 2)
    .map(
      (x) =>
        (Math.max(x.max.value - x.median.value, x.median.value - x.min.value) / x.median.value) *
        100,
    );
  const spread = spreads.length > 0 ? fmt(Math.max(...spreads), 0) : 'n/a';
  const out: string[] = [];

  out.push(
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts): do not edit by hand, re-run it. -->',
    '',
    `Issue 6: transfers against the raw clients and boto3, memory, registry tokens and start-up of the module, measured side by side in one run. **${r.summary.met.value} of ${r.summary.targets.value} targets met**, ${r.summary.checksPassed.value} of ${r.summary.checks.value} checks passed, on ${r.meta.generatedAt.slice(0, 10)}${r.meta.quick ? ' (BENCH_QUICK smoke run: fewer runs, no 512 MiB)' : ''}. The module measured is the working tree: a streamed project larger than one part is spooled to a temporary file while hashed, then its parts are read from that file by position into ${POOL_BUFFERS} buffers of partSize and sent as \`UNSIGNED-PAYLOAD\`, its SHA-256 set at CreateMultipartUpload (no CopyObject afterwards). Each missed target, its measured cause and its fix are in [Missed targets](#missed-targets-cause-and-fix).`,
    '',
    '## How to reproduce',
    '',
    '```sh',
    'npm run setup   # once: the test servers (Swift s3api, ...) and npm ci',
    'npm run bench   # compiles bench/ with tsc into bench/dist, then node bench/dist/bench/run.js',
    'node bench/dist/bench/render.js   # re-renders this file from bench/results.json',
    '```',
    '',
    `- Took **${fmt(r.meta.duration.value, 0)} s** on: ${mach.cpu}, ${mach.cores} cores, ${fmt(mach.memoryGiB.value, 0)} GiB RAM, ${mach.os}, Node ${mach.node}, Python ${r.meta.boto3.python}, OpenStack Swift ${mach.swift} (s3api), boto3 ${r.meta.boto3.boto3} / botocore ${r.meta.boto3.botocore}, ${Object.entries(
      mach.packages,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '- The bench starts its own Swift s3api server (`test/services/start-s3.sh` with `S3_PORT=28080`, `S3_BASE=/tmp/nest-credentials-bench/s3`; ports 28080-28084) and a loopback fake ECR server on a free port, so it never disturbs a concurrent `npm test` (port 18080); it stops them and deletes its data at the end, also on failure or Ctrl-C. The module spools into `/tmp/nest-credentials-bench/spool` (its `spoolDir` option; the default is the OS temporary directory, the same disk here), so that spool files left behind can be counted. `BENCH_QUICK=1 npm run bench` is a one-minute smoke run.',
    `- Absolute speeds of this machine vary from run to run (other work on the ${cores} cores, such as a concurrent test run, the disk): compare the **ratios**, measured side by side in one run with the contenders alternated, rather than MiB/s across runs. Single runs of one contender at ${largest} MiB stray from their median by up to ±${spread}% here (see the min-max column), so a ratio that close to 1.00 is not a clear result either way.`,
    '- Outputs: this file, `bench/results.json` (every figure as `{ value, unit }`) and the same tables on stdout.',
    '',
    '## Targets',
    '',
    markdownTable(
      ['target', 'measured', 'wanted', 'met', 'if missed: cause and fix'],
      r.targets.map((t) => [
        t.what,
        `${fmt(t.value.value, 2)} ${t.value.unit}`,
        t.target,
        t.met ? 'yes' : '**no**',
        t.met
          ? ''
          : `[${missedGroup(t, defaults.partSize.value) ?? 'see its section'}](#missed-targets-cause-and-fix)`,
      ]),
      ['l', 'r', 'l', 'l', 'l'],
    ),
    '',
    'Checks (not targets of the issue; what the spooling design must guarantee):',
    '',
    markdownTable(
      ['check', 'measured', 'wanted', 'passed'],
      r.checks.map((t) => [
        t.what,
        `${t.value.value} ${t.value.unit}`,
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
    `- **Fairness.** Every contender reads the same file (random bytes behind a ZIP signature, in the page cache) and writes downloads into a file in the same folder (boto3 writes files, so all do). Every contender runs in a process of its own (Node contenders in forked workers, boto3 in one Python worker) with a client created once, warmed up, and timed around the transfer only. The module's time includes everything \`uploadProject\` does: the ZIP check, spooling the source to a temporary file while hashing it (its SHA-256 must be known before CreateMultipartUpload, which carries it), the multipart upload from that file, and removing it. The module reads each part from the spool file by position into one of ${POOL_BUFFERS} buffers of partSize, allocated once per upload and reused, and sends it as \`UNSIGNED-PAYLOAD\` (option \`signParts\`: off): its own SHA-256, signed in CreateMultipartUpload, covers the bytes end to end and is checked on every download. The raw clients and boto3 sign each part with its own SHA-256 (their defaults over plain HTTP). Every contender downloads the **same object**: a multipart upload in the module's part size carrying \`x-amz-meta-sha256\`, so the module verifies it as it reads (the verification is part of its time).`,
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
        x2(x.moduleVsRaw.value),
        x2(x.moduleVsBoto3.value),
        x2(x.bestRunVsRaw.value),
        x2(x.bestRunVsBoto3.value),
      ]),
    ),
    '',
    'The targets use the medians. The ratios of the fastest runs are a check on noise: where a median ratio misses 1.00 and the fastest-run ratio does not, the miss is within the run-to-run spread of this machine (see min-max below).',
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
  );

  // The spool step and what it leaves behind
  const lo = r.transfer.leftovers;
  out.push(
    '### The spool step',
    '',
    'A streamed project larger than one part is read once into a temporary file while it is hashed, counted and held to the size limit (**spool**), then uploaded from that file in parts with its SHA-256 set at CreateMultipartUpload (**send**), and the file is removed (**rest**). Times inside the uploads above, medians, measured around src\'s own `ProjectStorage.upload` and `ObjectStore.putParts` (`bench/steps.ts`); "spool major GCs": full (mark-compact) garbage collections that started within the spool step, "spool GC ms": the time of all collections in it (minor, incremental marking, major), counted with a `PerformanceObserver` of `gc` entries (`bench/gc.ts`). The last column compares the send step alone with the raw client\'s whole upload (>= 1.00: the module\'s multipart upload is as fast as the raw client\'s, the gap is the spool step):',
    '',
    markdownTable(STEP_HEADER, stepRows(r)),
    '',
    `**No orphaned segments.** The previous design recorded the SHA-256 with a CopyObject of the object onto itself, which on Swift rewrote the whole multipart (SLO) object as a plain one and left its segments behind in \`<bucket>+segments\`. With the SHA-256 set at CreateMultipartUpload there is no copy: after the transfer phase (${fmt(lo.transferModuleStreamedUploads.value, 0)} MiB of streamed module uploads, every object deleted again through S3) Swift holds **${lo.afterTransfer.segmentObjects.value} segment objects (${fmt(lo.afterTransfer.segmentBytes.value, 0)} MiB)**, and ${lo.atEnd.segmentObjects.value} at the end of the run, after the sweep, memory and profile uploads too (${lo.atEnd.objectsInBucket.value} objects left in the bucket). Spool files left in \`spoolDir\`: ${lo.afterTransfer.spoolFiles.value} after the transfer phase, ${lo.atEnd.spoolFiles.value} at the end.`,
    '',
    `**Overwrites still leave segments on Swift, whichever client uploads.** The same key uploaded twice (64 MiB each) and then deleted leaves: ${lo.overwrite.map((o) => `${o.label} ${o.segmentObjects.value} segment objects (${fmt(o.segmentBytes.value, 0)} MiB)`).join(', ')}: the first upload's segments, which this s3api (Swift ${mach.swift}) does not delete when a multipart object is replaced (S3 itself keeps no separate segments). A re-deployed project on Swift leaks its previous version's segments; the module cannot free them through the S3 API once the object is replaced (deleting the old object first would lose it when the new upload fails). Not counted in the checks above (the overwrite test runs apart), for reference only.`,
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
    `Module uploads of ${sweep.size.value} MiB, the module as it is, each run in a fresh process (\`bench/memory-child.ts\`: boot, warm-up, then the upload, timed, with its RSS sampled), ${sweep.reps.value} runs per setting, settings alternated (each run starts elsewhere in the list and goes the other way round, the backends taking turns). Each cell: throughput of the **send step** (the multipart upload from the spool file, which the settings govern; the spool step does not depend on them) in MiB/s / median peak RSS growth in MiB.`,
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
            return point
              ? `${fmt(point.sendThroughput.value, 0)} / ${fmt(point.growth.value, 0)}`
              : '';
          }),
        ]),
      ),
      '',
    );
  }
  out.push(
    `Per setting: the score is the mean over both backends of the send step's throughput relative to that backend's best; memory is the larger of the two backends' median growth. "No loss" means a score of at least ${fmt(NO_LOSS_SHARE * 100, 0)}% of the current default's (closer differences are within the noise of ${sweep.reps.value} runs).`,
    '',
    markdownTable(
      [
        'setting',
        'score %',
        'growth MiB',
        `<= ${MEMORY_LIMIT_MIB} MiB`,
        'no loss vs default',
        `part buffers MiB (${POOL_FORMULA})`,
      ],
      [...sweep.settings]
        .sort((a, b) => b.score.value - a.score.value)
        .map((s) => {
          const same = (o: typeof s | undefined) =>
            o !== undefined && settingText(o) === settingText(s);
          const notes = [same(cur) ? 'default' : '', same(rec) ? '**recommended**' : ''].filter(
            Boolean,
          );
          return [
            `${settingText(s)}${notes.length ? ` (${notes.join(', ')})` : ''}`,
            fmt(s.score.value, 0),
            fmt(s.growth.value, 0),
            s.meetsMemory ? 'yes' : 'no',
            s.noThroughputLoss ? 'yes' : 'no',
            fmt(s.pool.value, 0),
          ];
        }),
      ['l', 'r', 'r', 'l', 'l', 'r'],
    ),
    '',
    `The rule (\`recommendSetting\` in \`bench/report.ts\`): among the settings with no loss, the fastest that meets the memory target on both backends; when none does, one that is clearly faster than the default (a score above ${fmt(100 / NO_LOSS_SHARE, 0)}% of the default's, and on each backend a median below the default's fastest run) without more memory; otherwise the default stays. Here: **${settingText(rec)}** (${r.sweep.recommendationReason ?? 'n/a'}). Every streamed upload holds its part buffers (last column) plus what the spool step leaves (see Memory). See [Defaults](#4-defaults).`,
    '',
  );

  // Memory
  const peakSpreads = r.memory
    .filter((x) => x.runs.value > 1)
    .map((x) => {
      const g = x.growthSamples.map((y) => y.value);
      return Math.max(...g) - Math.min(...g);
    });
  const peakSpread =
    peakSpreads.length > 0
      ? `: by up to ${mib(Math.max(...peakSpreads))} MiB between runs here`
      : '';
  out.push(
    '## 2. Memory',
    '',
    `Peak RSS growth over the baseline, each run in a fresh process (\`bench/memory-child.ts\`): boot, a 1 MiB warm-up round trip, baseline RSS, then one upload from a read stream or one download into a file while RSS is sampled every 20 ms; the peak is the highest sample, or the kernel's \`maxRSS\` when that rose during the transfer. Uploads of the module at 64 MiB and more: the median of ${r.memory.find((x) => !x.extra && x.op === 'upload' && x.size.value === largest)?.runs.value ?? 1} process(es) (when the garbage collector runs moves single peaks${peakSpread}); other rows one process. "Spool step" and "send step": the highest RSS sample during each step of a streamed module upload; "Buffers": the highest growth of \`process.memoryUsage().arrayBuffers\` (Buffer memory outside the JS heap). Rows other than \`module\` are for comparison (no target): the sweep's recommended setting when it is not the default, and the raw clients. "Part buffers": ${POOL_FORMULA}, what a streamed module upload holds whatever the size.`,
    '',
    markdownTable(
      [
        'client',
        'backend',
        'operation',
        'size',
        'runs',
        'baseline MiB',
        'peak growth MiB',
        'each run MiB',
        'spool step MiB',
        'send step MiB',
        'part buffers MiB',
        'Buffers MiB',
        'spool ms',
        'time ms',
      ],
      r.memory.map((x) => [
        x.client,
        x.backend,
        x.op,
        `${x.size.value} MiB`,
        String(x.runs.value),
        fmt(x.baseline.value, 0),
        fmt(x.growth.value, 1),
        x.growthSamples.map((g) => fmt(g.value, 0)).join(', '),
        Number.isFinite(x.spoolPeak.value) ? fmt(x.spoolPeak.value, 0) : '',
        Number.isFinite(x.sendPeak.value) ? fmt(x.sendPeak.value, 0) : '',
        x.pool && Number.isFinite(x.sendPeak.value) ? fmt(x.pool.value, 0) : '',
        fmt(x.arrayBuffersPeak.value, 0),
        Number.isFinite(x.spool.value) ? fmt(x.spool.value, 0) : '',
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

  // ---------------------------------------------------------------------------------------
  // Findings
  const profShare = (backend: string) => {
    const p = r.profiles.find((x) => x.backend === backend);
    if (!p) return [] as [string, number][];
    const total = Object.values(p.categories).reduce((sum, c) => sum + c.value, 0);
    return Object.entries(p.categories).map(([name, c]) => [name, (c.value / total) * 100]) as [
      string,
      number,
    ][];
  };
  const share = (backend: string, category: string) =>
    fmt(profShare(backend).find(([name]) => name === category)?.[1] ?? 0, 0);
  const profLine = (backend: string) =>
    profShare(backend)
      .slice(0, 6)
      .map(([name, pct]) => `${name} ${fmt(pct, 0)}%`)
      .join(', ') || 'n/a';
  const hashMs = (1000 * small) / r.meta.sha256Speed.value;
  const sp = r.spool;
  // GC in the spool step: in the transfer runs at the largest size against the step alone.
  const inRunSpool = (b: Backend) => stepOf(CONTENDERS.module(b), largest)?.spool.value ?? NaN;
  const inRunGc = (b: Backend) => stepOf(CONTENDERS.module(b), largest)?.spoolGc;
  const aloneMajor = sp.srcGc?.major.value ?? NaN;
  /** Slower than alone, with many more major GCs (GC_MANY_MORE) than alone. */
  const gcSlower = (b: Backend) => {
    const major = inRunGc(b)?.major.value ?? NaN;
    return (
      inRunSpool(b) > sp.src.value && major >= aloneMajor + GC_MANY_MORE && major >= 2 * aloneMajor
    );
  };
  const gcBackends = BACKENDS.filter(gcSlower);
  const gcAloneText = `${majorGcs(aloneMajor)} (${mib(sp.srcGc?.ms.value)} ms of GC) alone`;
  /** The in-run spool steps at the largest size, in order: ms and major GCs. */
  const gcRuns = (b: Backend) => {
    const st = stepOf(CONTENDERS.module(b), largest);
    const majors = st?.spoolGc?.majorSamples ?? [];
    const ms = st?.spoolSamples ?? [];
    return majors.length === ms.length
      ? ms.map((x, i) => ({ ms: x.value, major: majors[i].value }))
      : [];
  };
  const gcRunsText = (b: Backend) =>
    gcRuns(b)
      .map((x) => `${mib(x.ms)} ms with ${gcCount(x.major)}`)
      .join(', ');
  /**
   * Within one backend's runs: some with many more major GCs (GC_MANY_MORE) than the fewest,
   * and every one of them slower than every other run.
   */
  const manyGcRunsSlower = (b: Backend) => {
    const runs = gcRuns(b);
    const fewest = Math.min(...runs.map((x) => x.major));
    const many = runs.filter((x) => x.major >= fewest + GC_MANY_MORE && x.major >= 2 * fewest);
    const few = runs.filter((x) => !many.includes(x));
    return (
      many.length > 0 &&
      few.length > 0 &&
      Math.min(...many.map((x) => x.ms)) > Math.max(...few.map((x) => x.ms))
    );
  };
  const gcRunsSentenceOf = (backends: Backend[]) =>
    backends.length === 0
      ? ''
      : `the spool steps with many more major GCs are the slower ones (per run in order, spool ms with major GCs: ${backends.map((b) => `${b}: ${gcRunsText(b)}`).join('; ')})`;
  const gcRunsSentence = gcRunsSentenceOf(BACKENDS.filter(manyGcRunsSlower));
  /** The same, for the backends whose runs section 1 does not list already. */
  const gcRunsSentenceRest = gcRunsSentenceOf(
    BACKENDS.filter((b) => manyGcRunsSlower(b) && !gcSlower(b)),
  );
  const gcInRunText = (b: Backend) => {
    const gc = inRunGc(b);
    return `${b}: ${majorGcs(gc?.major.value)} in the step (runs in order: ${gcRunsText(b)}), ${mib(gc?.ms.value)} ms of GC in all, ${mib(inRunSpool(b) - sp.src.value)} ms slower than alone`;
  };
  // The ranged-download probe: parallel ranged GETs against one GET.
  const rp = r.rangedProbe;
  const rangedWays = rp?.ways.filter((w) => w.window.value > 1) ?? [];
  const rangedText = rangedWays
    .map((w) => `x${w.window.value} ${x2(w.vsSingle.value)}x`)
    .join(', ');
  const gainPct = fmt((RANGED_GAIN - 1) * 100, 0);
  const fasterWays = rangedWays.filter((w) => w.vsSingle.value > RANGED_GAIN);
  const rangedFaster = fasterWays.length > 0;
  const fasterText = `faster by more than ${gainPct}% at ${fasterWays.map((w) => `x${w.window.value}`).join(' and ')}`;
  const rangedVerdict = !rp
    ? 'parallel ranged GETs were not measured in this run'
    : rangedFaster
      ? `parallel ranged GETs measured: ${rangedText} of one GET here, ${fasterText}`
      : `parallel ranged GETs measured: ${rangedText} of one GET here, so not the fix on this machine`;
  const streamed = r.transfer.steps
    .filter((x) => x.contender === CONTENDERS.module('aws'))
    .map((x) => x.size.value);
  const sendSlower = r.transfer.steps.filter(
    (x) => BACKENDS.some((b) => x.contender === CONTENDERS.module(b)) && x.sendVsRaw.value < 1,
  );
  const perBackend = (fn: (b: Backend) => string) =>
    BACKENDS.map((b) => `${b}: ${fn(b)}`).join('; ');
  const stepLine = (b: Backend) =>
    streamed
      .map((size) => {
        const st = stepOf(CONTENDERS.module(b), size);
        return `at ${size} MiB spool ${mib(st?.spool.value)} ms = ${mib(st?.spoolShare.value)}% of the upload, send step alone ${x2(st?.sendVsRaw.value)}x the raw client's upload`;
      })
      .join(', ');
  const idParts = (t: Target) => {
    const [section, backend, direction, sizeId, against] = t.id.split('.');
    return { section, backend, direction, size: Number.parseInt(sizeId ?? '', 10), against };
  };
  /** The target's ratio from the contenders' fastest runs. */
  const bestRunOf = (t: Target) => {
    const { backend, direction, size, against } = idParts(t);
    const row = ratioRow(backend, size, direction);
    return (against === 'vs-raw' ? row?.bestRunVsRaw.value : row?.bestRunVsBoto3.value) ?? NaN;
  };
  const fastestRuns = (ts: Target[]) => ts.map((t) => x2(bestRunOf(t))).join(', ');
  const upMem = (b: Backend, size = largest) => memModule(b, 'upload', size);
  /** Peak growth of the module's upload at the largest size beyond its part buffers. */
  const beyondPool = (b: Backend) =>
    (upMem(b)?.growth.value ?? NaN) - (upMem(b)?.pool?.value ?? NaN);
  // The spool step's own peak is the reference for what is left beyond the part buffers.
  const beyondWithinSpool = BACKENDS.every(
    (b) => beyondPool(b) <= (upMem(b)?.spoolPeak.value ?? NaN) + FLAT_TOLERANCE_MIB / 2,
  );
  const beyondText =
    `beyond its part buffers the upload grows by ${perBackend((b) => `${mib(beyondPool(b))} MiB (the spool step had reached ${mib(upMem(b)?.spoolPeak.value)} MiB)`)}: ` +
    (beyondWithinSpool
      ? "no more than the spool step had left, the garbage of the source's chunks"
      : 'more than the spool step had left, so the send step adds memory of its own beyond the part buffers (not broken down further here)');
  const sweepBeyond = sweep.settings.map((x) => x.growth.value - x.pool.value);
  const sweepBeyondText = `${mib(Math.min(...sweepBeyond))}-${mib(Math.max(...sweepBeyond))} MiB`;
  const fitting = sweep.settings.filter((x) => x.meetsMemory);
  const fittingText = fitting
    .map((x) => `${settingText(x)} (score ${fmt(x.score.value, 0)}%)`)
    .join(', ');

  interface Group {
    name: string;
    cause: (ts: Target[]) => string;
    fix: (ts: Target[]) => string;
  }
  const noise = (ts: Target[]) => ts.every((t) => bestRunOf(t) >= 1);
  const groups: Group[] = [
    {
      name: 'uploads of one part',
      cause: (ts) =>
        `one PutObject, no spool step; median per ${small} MiB upload: ${perBackend((b) => `module ${fmt(get(CONTENDERS.module(b), 'upload', small)?.median.value ?? NaN, 1)} ms, raw ${fmt(get(CONTENDERS.raw(b), 'upload', small)?.median.value ?? NaN, 1)} ms`)}; boto3: ${fmt(get(CONTENDERS.boto3, 'upload', small)?.median.value ?? NaN, 1)} ms; the fastest runs give ${fastestRuns(ts)}` +
        (noise(ts)
          ? `: within the spread of a ${mib(get(CONTENDERS.module('aws'), 'upload', small)?.median.value)} ms request on a loaded machine`
          : `: ${ts.filter((t) => bestRunOf(t) < 1).length} of ${ts.length} below 1.00 as well, so not only noise (not broken down further by this bench)`),
      fix: (ts) =>
        noise(ts)
          ? 'nothing structural: per-request latency within noise, not throughput'
          : 'not known from this run: needs a profile of small uploads',
    },
    {
      name: 'streamed uploads against the raw client',
      cause: () =>
        `the spool step, which the raw client does not have: the SHA-256 must be known before CreateMultipartUpload, so the whole source is spooled before the first part is sent: ${perBackend(stepLine)}. Alone, without a server, spooling ${sp.size.value} MiB takes ${mib(sp.src.value)} ms, of which reading and hashing ${mib(sp.hashOnly.value)} ms (section 1). ` +
        (sendSlower.length === 0
          ? "The send step alone is at least as fast as the raw client's whole upload, so the gap is the spool step"
          : `The send step alone is slower than the raw client's whole upload at ${sendSlower.map((x) => `${x.backend} ${x.size.value} MiB (${x2(x.sendVsRaw.value)}x)`).join(', ')}: there the gap is more than the spool step (section 2)`) +
        (gcBackends.length > 0
          ? `. In the run the spool step at ${largest} MiB is slower than alone with many more full (mark-compact) GCs: ${gcBackends.map((b) => `${b} ${majorGcs(inRunGc(b)?.major.value)} (${mib(inRunGc(b)?.ms.value)} ms of GC, ${mib(inRunSpool(b) - sp.src.value)} ms slower)`).join(', ')} against ${gcAloneText}: the measured reason the in-run spool step is slower than alone (section 1)`
          : gcRunsSentence
            ? `. Within the run at ${largest} MiB ${gcRunsSentence} (section 1)`
            : ''),
      fix: () =>
        `none measured here. The spool step can shrink only to reading and hashing (${mib(sp.hashOnly.value)} of its ${mib(sp.src.value)} ms alone): it is the price of the SHA-256 at CreateMultipartUpload, and the send cannot start before it ends. For a source that is already a whole file (as here) the module could hash the file in place and upload from it, skipping the write (${mib(sp.src.value - sp.hashOnly.value)} ms alone; not measured)`,
    },
    {
      name: 'streamed uploads against boto3',
      cause: () =>
        `the spool step (above), and CPU on ${cores} cores shared with the server: at ${largest} MiB boto3 uses ${cpuGiB('boto3', 'upload', largest)} CPU s per GiB and reads and sends parts from the file in 10 threads from the start, the module ${perBackend((b) => cpuGiB(CONTENDERS.module(b), 'upload', largest))} CPU s per GiB on one JavaScript thread, sending after the spool step; the module's profile: ${perBackend((b) => `garbage collection ${share(b, 'garbage collection')}%, SHA-256 ${share(b, 'SHA-256')}%, idle ${share(b, 'idle (waiting for the server)')}% of the main thread`)}`,
      fix: () =>
        `none measured here: the spool step must end before the first part is sent (the SHA-256 at CreateMultipartUpload), while boto3 reads and sends from the start in 10 threads; the part settings are in the sweep (section 4)`,
    },
    {
      name: 'downloads against the raw client',
      cause: (ts) =>
        `the module verifies the SHA-256 and the length of what it streams (${fmt(r.meta.sha256Speed.value, 0)} MiB/s of SHA-256 here, ${fmt(hashMs, 2)} ms per MiB on the JavaScript thread): at ${largest} MiB its process uses ${perBackend((b) => `${cpu(CONTENDERS.module(b), 'download', largest)}% of a core against ${cpu(CONTENDERS.raw(b), 'download', largest)}%`)}, taken from the server on ${cores} cores; fastest runs: ${fastestRuns(ts)}`,
      fix: () =>
        'none wanted: the verification is the contract (section 5); with the server on its own cores the gap should shrink (not measured)',
    },
    {
      name: 'downloads against boto3',
      cause: (ts) =>
        `boto3 downloads 8 MiB ranges with 10 threads (at ${largest} MiB ${tp(CONTENDERS.boto3, 'download', largest)} MiB/s at ${cpu(CONTENDERS.boto3, 'download', largest)}% of a core), the module one GetObject stream plus the verification; fastest runs: ${fastestRuns(ts)}`,
      fix: () =>
        !rp
          ? 'parallel ranged GETs reassembled in order, with a bounded window (not measured in this run; section 5)'
          : rangedFaster
            ? `parallel ranged GETs reassembled in order, with a bounded window: measured ${rangedText} of one GET here (section 5)`
            : `none measured here: ${rangedVerdict} (section 5)`,
    },
    {
      name: 'memory of uploads',
      cause: () =>
        `${perBackend((b) => `${mib(upMem(b)?.spoolPeak.value)} MiB by the end of the spool step, ${mib(upMem(b)?.sendPeak.value)} MiB in the send step, which holds ${mib(upMem(b)?.pool?.value)} MiB of part buffers`)} (${POOL_FORMULA}, allocated once and reused); ${beyondText}. From 64 to ${largest} MiB the growth changes by ${perBackend((b) => `${mib((upMem(b)?.growth.value ?? NaN) - (upMem(b, 64)?.growth.value ?? NaN))} MiB (spool step ${mib(upMem(b, 64)?.spoolPeak.value)} -> ${mib(upMem(b)?.spoolPeak.value)}, send step ${mib(upMem(b, 64)?.sendPeak.value)} -> ${mib(upMem(b)?.sendPeak.value)} MiB)`)} (section 3)`,
      fix: () =>
        fitting.length === 0
          ? `none measured here: no part setting of the sweep gets under ${MEMORY_LIMIT_MIB} MiB on both backends, and growth beyond the part buffers stays at ${sweepBeyondText} across its settings (section 4)`
          : `smaller part buffers: ${fittingText} meet the target in the sweep (${sweep.size.value} MiB)${rec?.meetsMemory ? `; the sweep recommends ${settingText(rec)} (section 4)` : ', none of them without a loss of throughput (section 4)'}`,
    },
  ];
  const sweepSpread = median(
    sweep.points.map((p) => {
      const ms = p.sendSamples.map((x) => x.value);
      return ((Math.max(...ms) - Math.min(...ms)) / median(ms)) * 100;
    }),
  );
  const byScore = [...sweep.settings].sort((a, b) => b.score.value - a.score.value);
  const settingFigures = (s: (typeof byScore)[number] | undefined) =>
    `${settingText(s)} (${fmt(s?.score.value ?? NaN, 0)}%, ${mib(s?.growth.value)} MiB)`;
  const sweepVerdict = `fastest ${settingFigures(byScore[0])}, slowest ${settingFigures(byScore[byScore.length - 1])}, the default ${settingFigures(cur)}, the least memory ${settingFigures([...sweep.settings].sort((a, b) => a.growth.value - b.growth.value)[0])}`;
  const inGroup = (g: Group) => (t: Target) => missedGroup(t, defaults.partSize.value) === g.name;
  const grouped = groups
    .map((g) => ({ g, ts: missed.filter(inGroup(g)) }))
    .filter(({ ts }) => ts.length > 0);
  const ungrouped = missed.filter((t) => !groups.some((g) => inGroup(g)(t)));

  out.push(
    '## Findings',
    '',
    'In short (each measured in this run):',
    '',
    `1. **The spool step** is what the design costs: in the transfer runs at ${largest} MiB ${perBackend(
      (b) => {
        const st = stepOf(CONTENDERS.module(b), largest);
        return `${mib(st?.spool.value)} ms, ${mib(st?.spoolShare.value)}% of the upload`;
      },
    )}; alone, without a server, ${mib(sp.src.value)} ms (${mib(sp.srcRate.value)} MiB/s), of which reading and hashing ${mib(sp.hashOnly.value)} ms. In exchange the SHA-256 goes with CreateMultipartUpload: no CopyObject, and no orphaned segments (${lo.afterTransfer.segmentObjects.value} after ${fmt(lo.transferModuleStreamedUploads.value, 0)} MiB of streamed uploads, ${lo.atEnd.spoolFiles.value} spool files left).`,
    `2. **The send step** (each part read from the spool file by position into one of ${POOL_BUFFERS} buffers of partSize, sent as \`UNSIGNED-PAYLOAD\`): at ${largest} MiB ${perBackend((b) => `${x2(stepOf(CONTENDERS.module(b), largest)?.sendVsRaw.value)}x the raw client's whole upload`)}. Memory of the whole upload at ${largest} MiB: ${perBackend((b) => `${mib(upMem(b)?.growth.value)} MiB, of which ${mib(upMem(b)?.pool?.value)} MiB part buffers`)} (target ${MEMORY_LIMIT_MIB} MiB).`,
    `3. **Defaults**: ${
      adoptRec
        ? `the sweep recommends ${settingText(rec)} over ${defaultText} (${r.sweep.recommendationReason ?? 'n/a'})`
        : recChanges
          ? `${defaultText} stays: the sweep's ${settingText(rec)} grows by more than ${MEMORY_LIMIT_MIB} MiB at ${largest} MiB (${recFailsAtLargest.map((x) => `${x.backend} ${fmt(x.growth ?? NaN, 0)} MiB`).join(', ')})`
          : `${defaultText} stays (${r.sweep.recommendationReason ?? 'n/a'})`
    }; section 4.`,
    rp && rangedFaster
      ? `4. **Downloads**: the integrity check is the difference to the raw clients; ${rangedVerdict}, a candidate for the module's downloads (section 5).`
      : `4. **Downloads**: no change (the integrity check is the difference); ${rangedVerdict} (section 5).`,
    '',
    '### Missed targets: cause and fix',
    '',
    missed.length === 0
      ? 'Every target is met in this run.'
      : markdownTable(
          ['missed targets (measured)', 'cause (measured)', 'what would fix it'],
          [
            ...grouped.map(({ g, ts }) => [
              `**${g.name}**: ${ts.map((t) => `${t.what.replace(/: .*/, '')}${t.id.endsWith('vs-boto3') ? ' / boto3' : t.id.endsWith('vs-raw') ? ' / raw' : t.id.endsWith('.flat') ? ' (flat)' : ''} ${fmt(t.value.value, 2)} ${t.value.unit}`).join(', ')}`,
              g.cause(ts),
              g.fix(ts),
            ]),
            ...ungrouped.map((t) => [
              `${t.what} ${fmt(t.value.value, 2)} ${t.value.unit}`,
              'see its section',
              '',
            ]),
          ],
          ['l', 'l', 'l'],
        ),
    '',
  );

  /** Why the in-run spool step is slower than alone, where it is: GC when measured so. */
  function spoolInRunText(): string {
    const slower = BACKENDS.filter((b) => inRunSpool(b) > sp.src.value);
    if (slower.length === 0) return '';
    const others = slower.filter((b) => !gcSlower(b));
    const parts: string[] = [];
    if (gcBackends.length > 0) {
      parts.push(
        `${gcBackends.map(gcInRunText).join('; ')}; against ${gcAloneText}: the garbage collector is the measured reason the in-run spool step is slower than alone (the transfer workers are long-lived and have sent earlier uploads; alone, the process only spools)`,
      );
    }
    if (others.length > 0) {
      parts.push(
        `${others.length < BACKENDS.length ? `${others.join(', ')}: ` : ''}there it shares the ${cores} cores and the disk with Swift, which may still be busy with the previous contender's upload and its deletion (${others.every((b) => inRunGc(b) && sp.srcGc) ? `${others.map((b) => `${b} ${majorGcs(inRunGc(b)?.major.value)}`).join(', ')} against ${majorGcs(aloneMajor)} alone, not many more; ` : ''}not separated further)`,
      );
    }
    return `, longer than alone${slower.length < BACKENDS.length ? ` (${slower.join(', ')})` : ''}: ${parts.join('; ')}`;
  }

  /** Section 5's part on the ranged-download probe. */
  function rangedSection(): string[] {
    if (!rp) {
      return [
        'Parallel ranged downloads (reassembled in order, with a bounded window to keep memory flat) were not measured in this run (`bench/ranged-probe.ts`).',
        '',
      ];
    }
    const single = rp.ways.find((w) => w.window.value === 1);
    return [
      `**Parallel ranged GETs, measured** (\`bench/ranged-probe.ts\`, what boto3's \`download_file\` does): the ${rp.size.value} MiB reference object downloaded into a file by one \`@aws-sdk/client-s3\` client (path style, keep-alive agent of up to 64 sockets) in a fresh process, ${rp.rounds.value} rounds with the ways alternated, medians. \`single\`: one GetObject, hashed (SHA-256) chunk by chunk as it is written. \`ranged xW\`: a first GetObject of the first ${rp.rangeSize.value} MiB (its Content-Range gives the size), then ${rp.rangeSize.value} MiB ranges with \`If-Match\` on its ETag, at most W-1 ahead of the range being written (at most W x ${rp.rangeSize.value} MiB in memory), each collected in memory, then hashed and written in order. Every way wrote the same ${rp.size.value} MiB with the same SHA-256${rp.matchesMetadata ? " (the object's `x-amz-meta-sha256`)" : ''}.`,
      '',
      markdownTable(
        [
          'way',
          'GETs',
          'median ms',
          'MiB/s',
          'throughput / single',
          'CPU % of wall',
          'each run ms',
        ],
        rp.ways.map((w) => [
          `\`${w.way}\``,
          String(w.requests.value),
          mib(w.median.value),
          mib(w.throughput.value),
          x2(w.vsSingle.value),
          mib(w.cpuOfWall.value),
          w.samples.map((x) => mib(x.value)).join(', '),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      (rangedFaster
        ? `Parallel ranged GETs are faster than one GET here, by more than ${gainPct}% at ${fasterWays.map((w) => `x${w.window.value}`).join(' and ')} (${rangedText}): reassembled in order with the bounded window above (memory stays flat), they are a candidate for the module's downloads.`
        : `Parallel ranged GETs are not the fix on this machine: ${rangedText} of one GET's throughput (within ${gainPct}% or slower), for more requests and up to W x ${rp.rangeSize.value} MiB of memory.`) +
        ` For scale (not side by side: the probe runs after the transfer runs): one GET hashed and written ${mib(single?.throughput.value)} MiB/s here; in the transfer runs at ${largest} MiB boto3 ${tp(CONTENDERS.boto3, 'download', largest)} MiB/s, ${bothBackends((b) => `the ${b} module ${tp(CONTENDERS.module(b), 'download', largest)} MiB/s`)}.`,
      '',
    ];
  }

  out.push(
    '### 1. The spool step',
    '',
    `Alone (\`bench/spool-child.ts\`: a fresh process, no server, the ${sp.size.value} MiB file read as a stream of 64 KiB chunks from the page cache, the two ways alternated over ${sp.runs.value} rounds, medians; "major GCs": full mark-compact collections that started within a run, "GC ms": the time of all collections in it, counted by \`bench/gc.ts\` as in the steps table):`,
    '',
    markdownTable(
      ['way', 'median ms', 'MiB/s', 'major GCs', 'GC ms', 'each run ms'],
      [
        [
          "src's spool (`prepareProjectBody`): read, hash, write to the spool file",
          mib(sp.src.value),
          mib(sp.srcRate.value),
          gcCount(sp.srcGc?.major.value),
          mib(sp.srcGc?.ms.value),
          sp.srcSamples.map((x) => mib(x.value)).join(', '),
        ],
        [
          'reading and hashing only, no file written (the floor)',
          mib(sp.hashOnly.value),
          mib(sp.hashOnlyRate.value),
          gcCount(sp.hashOnlyGc?.major.value),
          mib(sp.hashOnlyGc?.ms.value),
          sp.hashOnlySamples.map((x) => mib(x.value)).join(', '),
        ],
      ],
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Removing src's spool file afterwards (\`discard()\`) takes ${fmt(sp.remove.value, 0)} ms. Inside the transfer runs the spool step takes ${perBackend((b) => `${mib(inRunSpool(b))} ms`)} at ${largest} MiB (steps table in section 1)` +
      spoolInRunText() +
      (gcRunsSentenceRest
        ? `. Within the transfer runs at ${largest} MiB ${gcRunsSentenceRest}`
        : '') +
      `. The step is serial: the SHA-256 must be known before CreateMultipartUpload, so no part is sent before the whole source is in the spool file, and its share of each upload is the steps table's "spool % of upload". It cannot drop below reading and hashing without giving up the SHA-256 at CreateMultipartUpload, the point of the design; writing the file adds ${mib(sp.src.value - sp.hashOnly.value)} ms to it alone here.`,
    '',
    '### 2. Uploads: the send step',
    '',
    `The send step alone against the raw client's whole upload: ${perBackend(stepLine)}. boto3 uploads ${largest} MiB at ${tp('boto3', 'upload', largest)} MiB/s using ${cpu('boto3', 'upload', largest)}% of a core (${cpuGiB('boto3', 'upload', largest)} CPU s per GiB, over its 10 threads); ` +
      bothBackends(
        (b) =>
          `the ${b} module ${tp(CONTENDERS.module(b), 'upload', largest)} MiB/s at ${cpu(CONTENDERS.module(b), 'upload', largest)}% (${cpuGiB(CONTENDERS.module(b), 'upload', largest)} CPU s/GiB), its raw client ${tp(CONTENDERS.raw(b), 'upload', largest)} MiB/s at ${cpu(CONTENDERS.raw(b), 'upload', largest)}% (${cpuGiB(CONTENDERS.raw(b), 'upload', largest)} CPU s/GiB)`,
      ) +
      `. Swift's proxy and object server run on the same ${cores} cores, so every CPU second a client spends is taken from the server. ` +
      `A CPU profile of one ${largest} MiB module upload, spool step included (\`bench/profile-child.ts\`: the V8 profiler, as \`node --cpu-prof\`, around the upload only), share of the main thread's time: ${perBackend(profLine)}.` +
      (BACKENDS.some((b) => (ratioRow(b, largest, 'upload')?.moduleVsBoto3.value ?? 1) < 1)
        ? ` Where the module is slower than boto3 (module / boto3 at ${largest} MiB: ${perBackend((b) => x2(ratioRow(b, largest, 'upload')?.moduleVsBoto3.value))}), the figures show two differences: its spool step comes before the first part is sent (the steps table), and boto3 reads and sends parts from the file in 10 threads from the start, while the module does its work on one JavaScript thread and sends ${defaults.partConcurrency.value} parts at a time.`
        : ''),
    '',
    '### 3. Memory',
    '',
    bothBackends((b) => {
      const up = upMem(b);
      const raw = memRaw(b, 'upload');
      return `${b}: the module's upload of ${largest} MiB grows RSS by ${mib(up?.growth.value)} MiB (runs: ${up?.growthSamples.map((g) => fmt(g.value, 0)).join(', ')}): ${mib(up?.spoolPeak.value)} MiB by the end of the spool step, ${mib(up?.sendPeak.value)} MiB in the send step with its ${mib(up?.pool?.value)} MiB of part buffers; Buffer memory peaks at ${mib(up?.arrayBuffersPeak.value)} MiB; its raw client ${mib(raw?.growth.value)} MiB`;
    }) +
      `. The spool step holds the head of the body (up to one part, ${defaults.partSize.value} MiB, read ahead to tell a small project from a large one) and one source chunk at a time, yet RSS has grown by the spool-step figures above by its end: the source's 64 KiB chunks are separate Buffers that become garbage once written, and V8 collects external (Buffer) memory only after some of it has piled up. The send step then holds its part buffers (${POOL_FORMULA}, allocated once per upload and reused); ${beyondText}. Part settings change the part buffers; growth beyond them is ${sweepBeyondText} across the sweep's settings (section 4).`,
    '',
  );
  const recModule = (b: Backend) => rec && memExtra(b, settingText(rec));
  const noSettingMeets = fitting.length === 0;
  const lessMemory = [...sweep.settings]
    .filter((x) => cur && x.growth.value < cur.growth.value)
    .sort((a, b) => b.score.value - a.score.value);
  const lessMemoryAllSlower = lessMemory.every((x) => cur && x.score.value < cur.score.value);
  out.push(
    '### 4. Defaults',
    '',
    `The sweep (${sweep.size.value} MiB, the module as it is) scores the current ${defaultText} at ${fmt(cur?.score.value ?? NaN, 0)}% of the best with ${mib(cur?.growth.value)} MiB of growth (${mib(cur?.pool.value)} MiB of it part buffers), and recommends **${settingText(rec)}** (${r.sweep.recommendationReason ?? 'n/a'})` +
      (rec && settingText(rec) !== defaultText
        ? `: ${fmt(rec.score.value, 0)}% with ${mib(rec.growth.value)} MiB; checked at ${largest} MiB (memory table): ${bothBackends((b) => `${b} ${mib(recModule(b)?.growth.value)} MiB`)}`
        : '') +
      `. Runs of one setting spread by ${fmt(sweepSpread, 0)}% around their median here (median over settings of (slowest - fastest) / median), so the sweep tells apart only large differences: ${sweepVerdict}.`,
    '',
    `**Decision for src:** ${
      adoptRec
        ? `the sweep's recommendation, ${settingText(rec)}, differs from \`DEFAULT_TRANSFER_SETTINGS\` (${defaultText}) and meets the memory target at ${largest} MiB too: change the defaults`
        : recChanges
          ? `\`DEFAULT_TRANSFER_SETTINGS\` stays ${defaultText}: the sweep's ${settingText(rec)} (at ${sweep.size.value} MiB) grows by more than the ${MEMORY_LIMIT_MIB} MiB target at ${largest} MiB (${recFailsAtLargest.map((x) => `${x.backend} ${fmt(x.growth ?? NaN, 0)} MiB`).join(', ')}), and its lead over the default (${fmt(rec?.score.value ?? NaN, 0)}% against ${fmt(cur?.score.value ?? NaN, 0)}%) is within the sweep's spread of ${fmt(sweepSpread, 0)}%${(rec?.score.value ?? 0) - (cur?.score.value ?? 0) > sweepSpread ? ' (not within it: worth a closer look)' : ''}`
          : `\`DEFAULT_TRANSFER_SETTINGS\` stays ${defaultText}`
    }. ${
      noSettingMeets
        ? `No setting meets the memory target: growth beyond the part buffers is ${sweepBeyondText} across the settings (section 3), so even the smallest part buffers leave the upload above ${MEMORY_LIMIT_MIB} MiB here. `
        : `Settings that meet the memory target: ${fittingText}. `
    }${
      lessMemory.length === 0
        ? ''
        : lessMemoryAllSlower
          ? `Every setting with less memory than the default is slower (${lessMemory.map((x) => `${settingText(x)} ${fmt(x.score.value, 0)}%`).join(', ')} against ${fmt(cur?.score.value ?? NaN, 0)}%)${noSettingMeets ? ' and still above the target, so a change would cost throughput without meeting it' : ''}.`
          : `Settings with less memory than the default: ${lessMemory.map((x) => `${settingText(x)} (${fmt(x.score.value, 0)}%, ${mib(x.growth.value)} MiB)`).join(', ')}.`
    }`,
    '',
  );
  out.push(
    '### 5. Downloads',
    '',
    bothBackends((b) => {
      const mod = get(CONTENDERS.module(b), 'download', small);
      const raw = get(CONTENDERS.raw(b), 'download', small);
      const big = ratioRow(b, largest, 'download');
      return `${b}: at ${small} MiB the module takes ${fmt(mod?.median.value ?? NaN, 1)} ms against ${fmt(raw?.median.value ?? NaN, 1)} ms for the raw client; at ${largest} MiB module / raw is ${x2(big?.moduleVsRaw.value)} on the medians and ${x2(big?.bestRunVsRaw.value)} on the fastest runs, module / boto3 ${x2(big?.moduleVsBoto3.value)} and ${x2(big?.bestRunVsBoto3.value)}; the module's process uses ${cpu(CONTENDERS.module(b), 'download', largest)}% of a core against ${cpu(CONTENDERS.raw(b), 'download', largest)}% for the raw client`;
    }) +
      `. The module does strictly more than \`GetObject\`: it verifies the SHA-256 and the length through one more stream. This machine hashes ${fmt(r.meta.sha256Speed.value, 0)} MiB/s, so the check costs ${fmt(hashMs, 2)} ms of CPU per ${small} MiB on the one JavaScript thread. For large objects the extra CPU (see the CPU column) is taken from the server on the same ${cores} cores, which is what the ratios show; with the server on its own cores it should shrink (not measured). **Recommended:** keep the verification (it is the contract, and it is what makes \`UNSIGNED-PAYLOAD\` uploads safe end to end); the download targets against a client that does not verify cannot be met with margin here. boto3 downloads with 10 threads of 8 MiB ranged GETs.`,
    '',
    ...rangedSection(),
    '## Method notes',
    '',
    "- Uploads of each contender go to their own key and are deleted (untimed) after each run; downloads read the shared reference object. The bucket is on a fresh single-replica Swift on this machine's disk.",
    '- The module is compiled from `src/` into `bench/dist/src` at the start of the run (`tsc -p bench/tsconfig.json`), so the bench measures the working tree as it is.',
    '- Medians, not means: a single slow run (a disk flush, other work on the machine) does not move them.',
    "- The spool and send steps are timed by wrapping `ProjectStorage.prototype.upload` and the stores' `putParts` (`bench/steps.ts`); nothing else in src is touched.",
    '- Garbage collections are counted with a `PerformanceObserver` of `gc` entries (`bench/gc.ts`): each collection that starts within a step, by `detail.kind` (major = full mark-compact; minor = scavenge; incremental marking steps apart), and the sum of their durations.',
    '',
  );
  return out.join('\n');
}
