// What a running mirror says about itself: /lag and the metrics behind it,
// read over its status port. Shared by `mirror-status`, `health --mirror` and
// `switchover --mirror`.
import { parsePrometheusText, sampleValue } from './prometheus-text.js';
import type { Prober } from './probe.js';

export type ReportedState = 'replicating' | 'resyncing' | 'stopped' | 'unknown';

export interface MirrorStatus {
  readonly url: string;
  readonly lag: number;
  readonly state: ReportedState;
  readonly lastReplicatedIndex: number | undefined;
  readonly sourceIndex: number | undefined;
  readonly secondsSinceSourceContact: number | undefined;
  readonly resyncs: Readonly<Record<string, number>>;
  readonly strictFailures: number | undefined;
  readonly replicatedEvents: number | undefined;
}

/** Seconds without hearing from the source after which a mirror is not "fine" (idle watches renew every 10 s). */
export const sourceContactLimitSeconds = 60;

/** A status URL may be given as the base (http://host:8000) or as its /lag or /metrics page. */
export function mirrorBaseUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = parsed.pathname.replace(/\/(lag|metrics)\/?$/, '/').replace(/\/+$/, '');
  parsed.search = '';
  return parsed.toString().replace(/\/$/, '');
}

export async function readMirrorStatus(prober: Prober, url: string): Promise<MirrorStatus> {
  const base = mirrorBaseUrl(url);
  const lagAnswer = await prober.get(`${base}/lag`);
  const lag = Number(lagAnswer.body.trim());
  if (lagAnswer.status !== 200 || !Number.isFinite(lag)) {
    throw new Error(`${base}/lag answered HTTP ${lagAnswer.status} ${JSON.stringify(lagAnswer.body.slice(0, 100))}, not a number: is this a mirror's status port?`);
  }
  const metricsAnswer = await prober.get(`${base}/metrics`);
  const samples = metricsAnswer.status === 200 ? parsePrometheusText(metricsAnswer.body) : [];
  const states: ReportedState[] = ['replicating', 'resyncing', 'stopped'];
  const state = states.find((name) => sampleValue(samples, 'etcd_warden_mirror_state', { state: name }) === 1) ?? 'unknown';
  const resyncs: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name === 'etcd_warden_mirror_resyncs_total' && sample.labels.reason !== undefined) resyncs[sample.labels.reason] = sample.value;
  }
  return {
    url: base,
    lag,
    state,
    lastReplicatedIndex: sampleValue(samples, 'etcd_warden_mirror_last_replicated_index'),
    sourceIndex: sampleValue(samples, 'etcd_warden_mirror_source_index'),
    secondsSinceSourceContact: sampleValue(samples, 'etcd_warden_mirror_seconds_since_source_contact'),
    resyncs,
    strictFailures: sampleValue(samples, 'etcd_warden_mirror_strict_failures_total'),
    replicatedEvents: sampleValue(samples, 'etcdmirror_replicated_events_total'),
  };
}

/** Why a mirror is not fine, or nothing; `maxLag` in etcd indexes. */
export function mirrorProblems(status: MirrorStatus, maxLag: number): string[] {
  const problems: string[] = [];
  if (status.state !== 'replicating') problems.push(`mirror ${status.url} is ${status.state}, not replicating`);
  if (status.lag > maxLag) problems.push(`mirror ${status.url} lags ${status.lag} indexes behind its source (limit ${maxLag})`);
  if (status.secondsSinceSourceContact !== undefined && status.secondsSinceSourceContact > sourceContactLimitSeconds) {
    problems.push(`mirror ${status.url} has not heard from its source for ${Math.round(status.secondsSinceSourceContact)} s`);
  }
  if (status.strictFailures !== undefined && status.strictFailures > 0) problems.push(`mirror ${status.url} stopped on ${status.strictFailures} strict failure(s): the replica diverged`);
  return problems;
}
