/**
 * bench/results.json: the figures of one run (medians with their samples) and the verdicts on
 * them. Targets have ids `transfer.<backend>.<direction>.<size>.<body>.vs-<contender>` and
 * `memory.<backend>.<direction>.<size>.<body>` (see `rows.ts` for the rules), each with `value`
 * and `met` (null: reported, not a target, or a quick run, which claims nothing).
 */
import { type Backend, BACKENDS, median, MiB, mibPerS } from './common.js';
import type { Boto3Info } from './contenders.js';
import type { MemorySamples } from './memory.js';
import type { RegistryOutcome } from './registry.js';
import {
  type Body,
  type Client,
  type ContenderRow,
  type Direction,
  FLAT_MIB,
  MEMORY_RULES,
  NO_REGRESSION_SHARE,
  ONE_MIB_BASELINE,
  PUT_OF,
  RATIO_RULES,
  ROWS,
} from './rows.js';
import type { StartupFigure } from './startup.js';
import type { TransferSamples } from './transfer.js';

interface RowFields {
  row: string;
  label: string;
  client: Client;
  backend?: Backend;
  direction: Direction;
  body: Body;
  sizeMiB: number;
}

export interface TransferFigure extends RowFields {
  medianMs: number;
  minMs: number;
  maxMs: number;
  mibps: number;
  /** CPU of the row's process, % of one core (null: not measured). */
  cpuPct: number | null;
  /** The Swift server's CPU time over the median transfer time, in % of one core. */
  serverCpuPct: number;
  ms: number[];
}

export interface MemoryFigure extends RowFields {
  /** Peak RSS growth over the baseline, median over fresh processes (MiB). */
  growthMiB: number;
  baselineMiB: number;
  samples: number[];
}

/** What the run left behind once every object was deleted again through S3. */
export interface Leftovers {
  /** Objects in Swift's `<bucket>+segments` container (multipart segments), and a few names. */
  segmentObjects: number;
  segmentMiB: number;
  segmentNames: string[];
  objectsInBucket: number;
  /** Files in the module's spoolDir. */
  spoolFiles: number;
}

export interface Meta {
  measuredAt: string;
  command: string;
  quick: boolean;
  durationS: number;
  machine: Record<string, unknown> & { cpu: string; cores: number; node: string; swift: string };
  boto3?: Boto3Info;
  moduleDefaults: { partSizeMiB: number; partConcurrency: number };
  sha256MiBps: number;
  /** Runs per size (MiB). */
  runs: Record<string, number>;
}

export interface Measurements {
  meta: Meta;
  transfer: TransferFigure[];
  memory: MemoryFigure[];
  registry: RegistryOutcome;
  startup: StartupFigure[];
  leftovers: { afterTransfer: Leftovers; atEnd: Leftovers; moduleUploadsMiB: number };
}

export interface Verdict {
  id: string;
  value: number | null;
  unit: string;
  wanted: string;
  met: boolean | null;
}

export interface Results extends Measurements {
  summary: { targets: number; met: number; checks: number; passed: number };
  targets: Verdict[];
  checks: Verdict[];
  /** `<direction>.<body>` of rules without figures in this run (or without the feature yet). */
  notMeasured: string[];
}

function rowFields(id: string, bytes: number): RowFields {
  const r = ROWS.find((x) => x.id === id) as ContenderRow;
  const { label, client, backend, direction, body } = r;
  return { row: id, label, client, backend, direction, body, sizeMiB: bytes / MiB };
}

export function transferFigures(samples: TransferSamples[]): TransferFigure[] {
  return samples.map((s) => ({
    ...rowFields(s.row, s.bytes),
    medianMs: median(s.ms),
    minMs: Math.min(...s.ms),
    maxMs: Math.max(...s.ms),
    mibps: mibPerS(s.bytes, median(s.ms)),
    cpuPct: s.cpuMs.length ? (median(s.cpuMs) / median(s.ms)) * 100 : null,
    serverCpuPct: (median(s.serverCpuMs) / median(s.ms)) * 100,
    ms: s.ms,
  }));
}

export function memoryFigures(samples: MemorySamples[]): MemoryFigure[] {
  return samples.map((s) => ({
    ...rowFields(s.row, s.bytes),
    growthMiB: median(s.growthMiB),
    baselineMiB: median(s.baselineMiB),
    samples: s.growthMiB,
  }));
}

/** The row of `client` matching a module row (the raw client: same body if it has one). */
function contenderFor(
  m: TransferFigure,
  vs: string,
  all: TransferFigure[],
): TransferFigure | undefined {
  const same = (f: TransferFigure) => f.sizeMiB === m.sizeMiB && f.direction === m.direction;
  if (vs === 'module') {
    const own = PUT_OF[m.body];
    return all.find(
      (f) => same(f) && f.client === 'module' && f.backend === m.backend && f.body === own,
    );
  }
  if (vs !== 'raw') return all.find((f) => same(f) && f.client === vs);
  const raws = all.filter((f) => same(f) && f.client === 'raw' && f.backend === m.backend);
  return raws.find((f) => f.body === m.body) ?? raws.find((f) => f.body === 'fs-stream');
}

export function judge(m: Measurements): Results {
  const quick = m.meta.quick;
  const targets: Verdict[] = [];
  const notMeasured = new Set<string>();
  const claim = (met: boolean): boolean | null => (quick ? null : met);
  const sizes = [...new Set(m.transfer.map((f) => f.sizeMiB))].sort((a, b) => a - b);
  for (const rule of RATIO_RULES) {
    for (const sizeMiB of sizes) {
      for (const backend of BACKENDS) {
        const mod = m.transfer.find(
          (f) =>
            f.client === 'module' &&
            f.backend === backend &&
            f.direction === rule.direction &&
            f.body === rule.body &&
            f.sizeMiB === sizeMiB,
        );
        if (!mod) {
          notMeasured.add(`${rule.direction}.${rule.body}`);
          continue;
        }
        const other = contenderFor(mod, rule.vs, m.transfer);
        if (!other) continue;
        const baseline =
          ONE_MIB_BASELINE[`${backend}.${rule.direction}.${rule.body}.vs-${rule.vs}`];
        const min =
          sizeMiB === 1 && baseline !== undefined
            ? NO_REGRESSION_SHARE * baseline
            : rule.atMiB === undefined || rule.atMiB === sizeMiB
              ? rule.min
              : undefined;
        const value = other.medianMs / mod.medianMs;
        targets.push({
          id: `transfer.${backend}.${rule.direction}.${sizeMiB}MiB.${rule.body}.vs-${rule.vs}`,
          value,
          unit: 'x',
          wanted: min === undefined ? 'report' : `>= ${min.toFixed(2)}`,
          met: min === undefined ? null : claim(value >= min),
        });
      }
    }
  }
  const memSizes = [...new Set(m.memory.map((f) => f.sizeMiB))];
  const largest = Math.max(...memSizes);
  for (const rule of MEMORY_RULES) {
    for (const backend of BACKENDS) {
      const growth = (sizeMiB: number) =>
        m.memory.find(
          (f) =>
            f.client === 'module' &&
            f.backend === backend &&
            f.direction === rule.direction &&
            f.body === rule.body &&
            f.sizeMiB === sizeMiB,
        )?.growthMiB;
      const top = growth(largest);
      if (top === undefined) continue;
      const base = `memory.${backend}.${rule.direction}`;
      targets.push({
        id: `${base}.${largest}MiB.${rule.body}`,
        value: top,
        unit: 'MiB',
        wanted: `<= ${rule.maxMiB} MiB`,
        met: claim(top <= rule.maxMiB),
      });
      const at64 = growth(64);
      if (rule.flat && at64 !== undefined && largest > 64) {
        targets.push({
          id: `${base}.${rule.body}.flat`,
          value: top - at64,
          unit: 'MiB',
          wanted: `<= ${FLAT_MIB} MiB`,
          met: claim(top - at64 <= FLAT_MIB),
        });
      }
    }
  }
  targets.push({
    id: 'registry.ecr-calls',
    value: m.registry.ecrApiCalls,
    unit: 'calls',
    wanted: '= 1',
    met: claim(m.registry.ecrApiCalls === 1),
  });
  for (const s of m.startup) {
    const foreign = s.backend === 'aws' ? s.minioFiles : s.awsSdkFiles;
    const own = s.backend === 'aws' ? s.awsSdkFiles : s.minioFiles;
    targets.push({
      id: `startup.${s.backend}.no-foreign-sdk`,
      value: foreign,
      unit: 'files',
      wanted: '= 0',
      met: claim(foreign === 0 && own > 0),
    });
  }
  const lo = m.leftovers;
  const zero = (id: string, value: number, unit: string): Verdict => ({
    id,
    value,
    unit,
    wanted: '= 0',
    met: value === 0,
  });
  const checks = [
    zero('checks.segments.transfer', lo.afterTransfer.segmentObjects, 'objects'),
    zero('checks.segments.end', lo.atEnd.segmentObjects, 'objects'),
    zero('checks.spool.transfer', lo.afterTransfer.spoolFiles, 'files'),
    zero('checks.spool.end', lo.atEnd.spoolFiles, 'files'),
  ];
  const judged = targets.filter((t) => t.met !== null);
  return {
    ...m,
    summary: {
      targets: judged.length,
      met: judged.filter((t) => t.met).length,
      checks: checks.length,
      passed: checks.filter((c) => c.met).length,
    },
    targets,
    checks,
    notMeasured: [...notMeasured],
  };
}
