// One JSON line per request. Never the Authorization header, never a value:
// `value` and `prevValue` travel in the query string of some clients' writes
// and may hold secrets, so they are redacted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ClientRegistry } from './clients.js';
import type { Decision } from './decide.js';
import type { DecisionLabel } from './gate.js';
import type { ProxyMetrics } from './metrics.js';
import { loggableTarget } from './request.js';

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

/** What the access line tells of a request. */
export type Told = Pick<Decision, 'logged' | 'label' | 'reason' | 'user'>;

/** A request that never got a Decision (refused by the router, or a bug threw). */
export function unparsed(raw: IncomingMessage, label: DecisionLabel, reason: string | undefined): Told {
  return { logged: { ...loggableTarget(raw.url ?? ''), watch: false }, label, reason, user: undefined };
}

/** Each HTTP/1.1 request's record: shown in /clients while it runs, then one access line and the metrics once its response closes. */
export class AccessRecorder {
  constructor(private readonly deps: { readonly log: Logger; readonly metrics: ProxyMetrics; readonly clients: ClientRegistry }) {}

  start(incoming: IncomingMessage, client: ServerResponse, told: Told, started: bigint): AccessRecord {
    const access: AccessRecord = {
      method: incoming.method ?? '',
      target: told.logged.target,
      query: told.logged.query,
      remote: incoming.socket.remoteAddress ?? '',
      user: told.user,
      status: 0,
      bytes: 0,
      decision: told.label,
      watch: told.logged.watch,
      reason: told.reason,
    };
    const untrack = this.deps.clients.trackRequest(access);
    client.once('close', () => {
      untrack();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      access.status = client.statusCode;
      if (!client.writableFinished && access.reason === undefined) access.reason = 'client went away before the response was complete';
      this.deps.metrics.observeRequest(access.method, access.status, access.decision, access.watch, seconds);
      logAccess(this.deps.log, access, seconds * 1000);
    });
    return access;
  }
}
