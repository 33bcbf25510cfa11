// The staleness guard for readers of a replica (the split-brain concern: a
// long-running script acting on stale config must be able to notice). The
// replica's proxy knows how old its newest heartbeat from the primary is;
// a client may ask for data no older than X-Etcd-Max-Staleness seconds.
import { badRequestError, type ProxyError } from './errors.js';
import { EtcdErrorCode } from '../mirror/etcd/wire-error.js';

export const replicaAgeHeader = 'x-etcd-replica-age';
export const maxStalenessHeader = 'x-etcd-max-staleness';

/** Seconds, with millisecond precision, as sent in X-Etcd-Replica-Age. */
export function formatAge(ageSeconds: number): string {
  return (Math.round(ageSeconds * 1000) / 1000).toFixed(3);
}

/**
 * `ageSeconds` is undefined when no heartbeat has been seen yet: freshness
 * cannot be proven, so a client that asks for a bound is refused.
 */
export function stalenessGate(maxStaleness: string | string[] | undefined, ageSeconds: number | undefined): ProxyError | undefined {
  if (maxStaleness === undefined) return undefined;
  const text = Array.isArray(maxStaleness) ? maxStaleness[0] : maxStaleness;
  const bound = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(bound) || bound < 0) {
    return badRequestError(`X-Etcd-Max-Staleness must be a number of seconds, got ${JSON.stringify(text)}`);
  }
  if (ageSeconds !== undefined && ageSeconds <= bound) return undefined;
  return {
    status: 503,
    headers: ageSeconds === undefined ? {} : { [replicaAgeHeader]: formatAge(ageSeconds) },
    body: {
      errorCode: EtcdErrorCode.RaftInternal,
      message: 'Replica data is older than the requested maximum staleness',
      cause:
        ageSeconds === undefined
          ? 'no heartbeat from the primary has been seen on this replica'
          : `replica age ${formatAge(ageSeconds)} s exceeds X-Etcd-Max-Staleness ${text} s`,
      index: 0,
    },
  };
}
