/**
 * Garbage collections of this process, by kind, within time windows: a `PerformanceObserver`
 * of `gc` entries records each collection (its start on the `performance.now()` clock, its
 * duration and `detail.kind`), and `gcIn(from, to)` counts those that started in a window.
 * Entries reach the observer a little after the collection: count a window once the event loop
 * has turned past its end (`settleGc()`), or later.
 */
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';

/** Collections that started within one window, by kind, and their total duration. */
export interface GcCounts {
  /** Scavenges of the young generation (`NODE_PERFORMANCE_GC_MINOR`). */
  minor: number;
  /** Full mark-compact collections (`NODE_PERFORMANCE_GC_MAJOR`). */
  major: number;
  /** Incremental marking steps (`NODE_PERFORMANCE_GC_INCREMENTAL`). */
  incremental: number;
  /** Weak callback processing and anything else. */
  other: number;
  /** Sum of the durations of all of them (ms). */
  ms: number;
}

interface GcEntry {
  start: number;
  ms: number;
  kind: number;
}

let entries: GcEntry[] = [];
let observer: PerformanceObserver | undefined;

const take = (list: PerformanceEntry[]) => {
  for (const entry of list) {
    // A gc entry's `detail` (NodeGCPerformanceDetail), which these typings leave off the class.
    const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
    entries.push({ start: entry.startTime, ms: entry.duration, kind: detail?.kind ?? 0 });
  }
};

/** Starts recording (idempotent). */
export function recordGc(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => take(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
}

/** Forgets what was recorded so far (a long-lived process keeps only the current window's). */
export function clearGc(): void {
  if (observer) take(observer.takeRecords());
  entries = [];
}

/** Lets the entries of collections that already ran reach the observer. */
export async function settleGc(): Promise<void> {
  await turn();
  await turn();
  if (observer) take(observer.takeRecords());
}

/** The collections that started in [from, to) (`performance.now()` times). */
export function gcIn(from: number, to: number): GcCounts {
  if (observer) take(observer.takeRecords());
  const counts: GcCounts = { minor: 0, major: 0, incremental: 0, other: 0, ms: 0 };
  for (const e of entries) {
    if (!(e.start >= from && e.start < to)) continue;
    counts.ms += e.ms;
    if (e.kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minor++;
    else if (e.kind === constants.NODE_PERFORMANCE_GC_MAJOR) counts.major++;
    else if (e.kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) counts.incremental++;
    else counts.other++;
  }
  return counts;
}
