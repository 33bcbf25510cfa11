// What the operator sees of v3 calls, in the same places as v2 requests:
// /clients while a call is open, then one access line (a stream's when it
// ends, with the messages it carried) and the same metrics with the same
// decision labels. The method is the gRPC one (KV/Range), on gRPC and on the
// JSON gateway alike; the status is the gRPC code's name on gRPC and the
// HTTP status on the gateway, which is HTTP.
import type { Logger } from 'pino';
import { GrpcCode, type GrpcCodeNumber } from '../../mirror/etcd/v3/errors.js';
import type { ClientRegistry, TrackedRequest } from '../clients.js';
import type { ProxyMetrics } from '../metrics.js';
import type { V3CallObserver, V3CallRecord } from './access.js';

export interface V3CallReportDependencies {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly clients: ClientRegistry;
}

const codeNames = new Map<number, string>(
  Object.entries(GrpcCode).map(([name, code]) => [code, name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()]),
);

/** OK, PERMISSION_DENIED…; a call whose client left before any status is CANCELLED, as gRPC names it. */
export function grpcStatusName(code: GrpcCodeNumber | undefined): string {
  return codeNames.get(code ?? GrpcCode.Cancelled) ?? 'UNKNOWN';
}

/** The auth-failure label of a refused authentication, from the status it got. */
function authFailureOf(record: V3CallRecord): string {
  switch (record.grpcStatus) {
    case GrpcCode.ResourceExhausted:
      return 'rate-limited';
    case GrpcCode.Unavailable:
      return 'verifier-busy';
    case GrpcCode.Unauthenticated:
      return 'invalid-token';
    default:
      return 'bad-credentials';
  }
}

const isWatch = (record: V3CallRecord): boolean => record.method === 'Watch/Watch';

export class V3CallReport implements V3CallObserver {
  private readonly untrack = new Map<V3CallRecord, () => void>();
  private watchStreams = 0;

  constructor(private readonly deps: V3CallReportDependencies) {}

  /** v3 Watch streams open now (each may hold several watches). */
  get openWatchStreams(): number {
    return this.watchStreams;
  }

  begin(record: V3CallRecord): void {
    const shown: TrackedRequest = {
      remote: record.remote,
      method: record.method,
      watch: isWatch(record),
      // Read when /clients is asked: known once the first message is decided.
      get user() {
        return record.user;
      },
      get target() {
        return record.target;
      },
    };
    this.untrack.set(record, this.deps.clients.trackRequest(shown));
    if (isWatch(record)) {
      this.watchStreams += 1;
      this.deps.metrics.openWatches.inc();
    }
  }

  end(record: V3CallRecord): void {
    const untrack = this.untrack.get(record);
    if (untrack === undefined) return;
    untrack();
    this.untrack.delete(record);
    if (isWatch(record)) {
      this.watchStreams -= 1;
      this.deps.metrics.openWatches.dec();
    }
    const { metrics, log } = this.deps;
    const status = record.protocol === 'gateway' ? String(record.httpStatus ?? 0) : grpcStatusName(record.grpcStatus);
    const kind = isWatch(record) ? 'watch' : record.stream ? 'stream' : 'ordinary';
    metrics.observeV3Call(record.method, status, record.decision, kind, record.durationMs / 1000);
    if (record.decision === 'denied-auth') metrics.authFailures.inc({ reason: authFailureOf(record) });
    if (record.upstreamFailed) metrics.upstreamErrors.inc({ kind: 'unreachable' });
    log.info({
      msg: 'request',
      protocol: record.protocol,
      method: record.method,
      key: record.target,
      user: record.user,
      remote: record.remote,
      status: record.protocol === 'gateway' ? record.httpStatus : status,
      durationMs: Math.round(record.durationMs * 1000) / 1000,
      decision: record.decision,
      watch: isWatch(record),
      ...(record.stream ? { messages: record.messages, deniedMessages: record.deniedMessages } : {}),
      reason: record.reason,
    });
  }
}
