// One JSON line per request. Never the Authorization header, never a value:
// `value` and `prevValue` travel in the query string of some clients' writes
// and may hold secrets, so they are redacted.
import type { Logger } from 'pino';
import type { DecisionLabel } from './gate.js';

export interface AccessRecord {
  readonly method: string;
  /** The key (for /v2/keys) or the path etcd would see; the raw URL if it could not be parsed. */
  readonly target: string;
  readonly query: string;
  readonly remote: string;
  user: string | undefined;
  status: number;
  bytes: number;
  decision: DecisionLabel;
  watch: boolean;
  /** Why the request was refused or failed, for the operator. */
  reason: string | undefined;
}

const redactedParameters = new Set(['value', 'prevValue']);

export function redactQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((pair) => {
      const name = pair.split('=', 1)[0] ?? '';
      let decodedName = name;
      try {
        decodedName = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // an undecodable name is logged as sent
      }
      return redactedParameters.has(decodedName) ? `${name}=[redacted]` : pair;
    })
    .join('&');
}

export function logAccess(log: Logger, record: AccessRecord, durationMs: number): void {
  log.info({
    msg: 'request',
    method: record.method,
    key: record.target,
    query: redactQuery(record.query),
    user: record.user,
    remote: record.remote,
    status: record.status,
    bytes: record.bytes,
    durationMs: Math.round(durationMs * 1000) / 1000,
    decision: record.decision,
    watch: record.watch,
    reason: record.reason,
  });
}
