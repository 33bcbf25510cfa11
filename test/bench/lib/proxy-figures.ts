// The proxy bench's results as data, and the few derived figures both the
// tables and the targets read: medians over GET rounds, CPU per request,
// RSS added by watches.
import type { MixedRun, ProxiedServer, RowId, ServerName } from './load-scenarios.js';
import type { TreeRss } from './proc-tree.js';
import type { WatchRow } from './proxy-watches.js';
import type { FanOutResult } from './watch-fanout.js';
import type { WrkResult } from './wrk.js';

export interface MixedSet {
  readonly alone: MixedRun;
  readonly authPuts: MixedRun;
  readonly wrongPasswords: MixedRun;
}

/** One wrk run of the GET row, with the server tree's CPU time over it (none for etcd direct). */
export interface GetRun {
  readonly wrk: WrkResult;
  readonly cpuSeconds?: number;
}

export interface ProxyBenchResults {
  readonly heading: string;
  readonly rounds: number;
  readonly getRuns: Partial<Record<ServerName, GetRun[]>>;
  /** The PUT rows (ABBA halves combined). */
  readonly throughput: Partial<Record<RowId, Partial<Record<ServerName, WrkResult>>>>;
  readonly mixed: Partial<Record<ProxiedServer, MixedSet>>;
  readonly watches: Partial<Record<ProxiedServer, WatchRow>>;
  readonly largeWatches: Partial<Record<ProxiedServer, WatchRow>>;
  readonly idleRss: Partial<Record<ProxiedServer, TreeRss>>;
  readonly finalRss: Partial<Record<ProxiedServer, TreeRss>>;
  readonly nginxMissing?: string;
}

export function hasErrors(result: WrkResult | undefined): boolean {
  return result !== undefined && result.errorResponses + result.socketErrors > 0;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0 || values.some((value) => !Number.isFinite(value))) return undefined;
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

export function cpuPerRequestUs(run: GetRun): number {
  return run.cpuSeconds === undefined || run.wrk.requests === 0 ? NaN : (run.cpuSeconds * 1e6) / run.wrk.requests;
}

export interface GetSummary {
  readonly rate: Spread;
  readonly cpuUs: Spread | undefined;
  /** The run whose req/s is the (lower) median: what the throughput table shows for latency. */
  readonly medianRun: WrkResult;
  readonly errors: boolean;
}

export function summarizeGet(runs: readonly GetRun[] | undefined): GetSummary | undefined {
  if (runs === undefined || runs.length === 0) return undefined;
  const rate = spread(runs.map((run) => run.wrk.requestsPerSecond));
  const byRate = [...runs].sort((a, b) => a.wrk.requestsPerSecond - b.wrk.requestsPerSecond);
  const medianRun = byRate[Math.floor((byRate.length - 1) / 2)]?.wrk;
  if (rate === undefined || medianRun === undefined) return undefined;
  return { rate, cpuUs: spread(runs.map(cpuPerRequestUs)), medianRun, errors: runs.some((run) => hasErrors(run.wrk)) };
}

export function measuredWatches(row: WatchRow | undefined): FanOutResult | undefined {
  return row === undefined || 'skipped' in row ? undefined : row;
}

export function addedRssBytes(fan: FanOutResult): number {
  return fan.rssAfterBytes - fan.rssBeforeBytes;
}
