// What a v3 call leaves for the access log and the metrics: the same
// decision labels as v2, the gRPC method (Service/Method) where v2 has the
// HTTP method, and the key ranges decided on (never a value).
import type { GrpcCodeNumber } from '../../mirror/etcd/v3/errors.js';
import type { V3DecisionLabel } from './decide.js';

export interface V3CallRecord {
  /** gRPC on HTTP/2, or the JSON gateway on HTTP/1.1. */
  readonly protocol: 'grpc' | 'gateway';
  /** e.g. KV/Range; the raw :path for a method the .proto files do not define. */
  readonly method: string;
  readonly remote: string;
  /** The key ranges of the (first) message, as etcdctl prints keys. */
  target: string;
  user: string | undefined;
  /** Refusals of single messages inside a stream do not change it (see deniedMessages). */
  decision: V3DecisionLabel;
  /** The status the client got; undefined when it went away first. */
  grpcStatus: GrpcCodeNumber | undefined;
  reason: string | undefined;
  /** Watch, LeaseKeepAlive, Snapshot: counted apart in latency metrics. */
  readonly stream: boolean;
  /** Request messages decided. */
  messages: number;
  /** Of those, refused (a refused watch creation leaves the stream open). */
  deniedMessages: number;
  durationMs: number;
}
