// What a running mirror says about itself: GET /status on its status port
// (mirror/status.ts), the same for the v2 mirror, the v3 mirror and the
// v2 → v3 migration. Shared by `mirror-status`, `health --mirror` and
// `switchover --mirror`.
import type { MirrorStop } from '../../mirror/stop.js';
import { jsonBody, type Prober } from './probe.js';

export type ReportedState = 'replicating' | 'resyncing' | 'stopped' | 'unknown';

export interface MirrorStatus {
  readonly url: string;
  /** v2, v3 or v2-to-v3. */
  readonly api?: string;
  readonly lag: number;
  readonly state: ReportedState;
  /** The source index (v2 sources) or revision (v3) up to which everything is in the replica. */
  readonly lastReplicatedIndex: number | undefined;
  readonly sourceIndex: number | undefined;
  readonly secondsSinceSourceContact: number | undefined;
  readonly resyncs: Readonly<Record<string, number>>;
  readonly strictFailures: number | undefined;
  readonly replicatedEvents: number | undefined;
  /** Why a stopped mirror stopped (the key, both values, the index). */
  readonly stop?: MirrorStop;
}

/** Seconds without hearing from the source after which a mirror is not "fine" (idle watches renew every 10 s). */
export const sourceContactLimitSeconds = 60;

/** A status URL may be given as the base (http://host:8000) or as one of its pages (/lag, /metrics, /status). */
export function mirrorBaseUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = parsed.pathname.replace(/\/(lag|metrics|status)\/?$/, '/').replace(/\/+$/, '');
  parsed.search = '';
  return parsed.toString().replace(/\/$/, '');
}

const optionalNumber = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

function isStop(value: unknown): value is MirrorStop {
  return typeof value === 'object' && value !== null && typeof (value as { reason?: unknown }).reason === 'string';
}

export async function readMirrorStatus(prober: Prober, url: string): Promise<MirrorStatus> {
  const base = mirrorBaseUrl(url);
  const answer = await prober.get(`${base}/status`);
  const body = jsonBody(answer);
  const report = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  const lag = optionalNumber(report?.lag);
  if (answer.status !== 200 || report === undefined || lag === undefined) {
    throw new Error(`${base}/status answered HTTP ${answer.status} ${JSON.stringify(answer.body.slice(0, 100))}, not a mirror's status: is this an etcd-warden mirror's status port?`);
  }
  const states: ReportedState[] = ['replicating', 'resyncing', 'stopped'];
  const resyncs: Record<string, number> = {};
  if (typeof report.resyncs === 'object' && report.resyncs !== null) {
    for (const [reason, count] of Object.entries(report.resyncs)) if (typeof count === 'number') resyncs[reason] = count;
  }
  return {
    url: base,
    ...(typeof report.api === 'string' ? { api: report.api } : {}),
    lag,
    state: states.find((state) => state === report.state) ?? 'unknown',
    lastReplicatedIndex: optionalNumber(report.lastReplicatedIndex),
    sourceIndex: optionalNumber(report.sourceIndex),
    secondsSinceSourceContact: optionalNumber(report.secondsSinceSourceContact),
    resyncs,
    strictFailures: optionalNumber(report.strictFailures),
    replicatedEvents: optionalNumber(report.replicatedEvents),
    ...(isStop(report.stop) ? { stop: report.stop } : {}),
  };
}

/** Why a mirror is not fine, or nothing; `maxLag` in etcd indexes (revisions for v3). */
export function mirrorProblems(status: MirrorStatus, maxLag: number): string[] {
  const problems: string[] = [];
  if (status.state !== 'replicating') problems.push(`mirror ${status.url} is ${status.state}, not replicating${status.stop === undefined ? '' : `: ${status.stop.reason}`}`);
  if (status.lag > maxLag) problems.push(`mirror ${status.url} lags ${status.lag} ${status.api === 'v3' ? 'revisions' : 'indexes'} behind its source (limit ${maxLag})`);
  if (status.secondsSinceSourceContact !== undefined && status.secondsSinceSourceContact > sourceContactLimitSeconds) {
    problems.push(`mirror ${status.url} has not heard from its source for ${Math.round(status.secondsSinceSourceContact)} s`);
  }
  if (status.strictFailures !== undefined && status.strictFailures > 0) problems.push(`mirror ${status.url} stopped on ${status.strictFailures} strict failure(s): the replica diverged`);
  return problems;
}
