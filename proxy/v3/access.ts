// What a v3 call leaves for the access log, the metrics and /clients: the
// same decision labels as v2, the gRPC method (Service/Method) where v2 has
// the HTTP method, and the key ranges decided on (never a value). One record
// per unary call, and one per stream, told when the stream ends with the
// number of messages it carried.
import type { GrpcCodeNumber } from '../../mirror/etcd/v3/errors.js';
import type { V3DecisionLabel } from './decide.js';

export interface V3CallRecord {
  /** gRPC on HTTP/2, or the JSON gateway on HTTP/1.1. */
  readonly protocol: 'grpc' | 'gateway';
  /** e.g. KV/Range; the raw path for a method the .proto files do not define. */
  readonly method: string;
  readonly remote: string;
  /** The key ranges of the (first) message, as etcdctl prints keys. */
  target: string;
  user: string | undefined;
  /** Refusals of single messages inside a stream do not change it (see deniedMessages). */
  decision: V3DecisionLabel;
  /** The status the client got; undefined when it went away first. */
  grpcStatus: GrpcCodeNumber | undefined;
  /** The gateway's HTTP status; undefined on gRPC. */
  httpStatus: number | undefined;
  reason: string | undefined;
  /** etcd could not be reached, or broke the call (counted in etcd_warden_upstream_errors_total). */
  upstreamFailed: boolean;
  /** Watch, LeaseKeepAlive, Snapshot: counted apart in latency metrics. */
  readonly stream: boolean;
  /** Request messages decided. */
  messages: number;
  /** Of those, refused (a refused watch creation leaves the stream open). */
  deniedMessages: number;
  durationMs: number;
}

/** A new record, before anything is decided. */
export function newCallRecord(protocol: V3CallRecord['protocol'], method: string, remote: string, stream: boolean): V3CallRecord {
  return {
    protocol, method, remote, target: '', user: undefined, decision: 'allowed',
    grpcStatus: undefined, httpStatus: undefined, reason: undefined, upstreamFailed: false, stream, messages: 0, deniedMessages: 0, durationMs: 0,
  };
}

/** Told when a call starts (it shows in /clients until it ends) and once when it ends (the access line, the metrics). */
export interface V3CallObserver {
  begin(record: V3CallRecord): void;
  end(record: V3CallRecord): void;
}
