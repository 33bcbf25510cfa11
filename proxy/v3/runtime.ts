// What a v3 call reads from the compiled config: the decision policy and the
// connection to etcd. Built by proxy/runtime.ts with the rest of the config
// (one compile per load and reload); a call keeps the connection it opened
// on, and each message of a stream is judged by the policy in force when it
// arrives.
import { compileV3Policy, type V3Policy, type V3PolicySource } from './decide.js';
import { EtcdUpstream } from './upstream.js';

export interface V3Runtime {
  readonly policy: V3Policy;
  readonly upstream: EtcdUpstream;
}

export interface V3RuntimeSource extends V3PolicySource {
  /** etcd's client URL (gRPC and its JSON gateway are both served there). */
  readonly upstream: URL;
  readonly upstreamCa?: Buffer;
}

/**
 * A reload keeps the previous connection to etcd when its URL and CA are
 * unchanged; otherwise the caller retires the old one (closeWhenIdle) once
 * the new runtime is in force.
 */
export function compileV3Runtime(source: V3RuntimeSource, previous?: V3Runtime): V3Runtime {
  const sameUpstream =
    previous !== undefined &&
    previous.upstream.url.origin === source.upstream.origin &&
    (previous.upstream.ca?.equals(source.upstreamCa ?? Buffer.alloc(0)) ?? source.upstreamCa === undefined);
  const upstream = sameUpstream ? previous.upstream : new EtcdUpstream({ url: source.upstream, ...(source.upstreamCa === undefined ? {} : { ca: source.upstreamCa }) });
  return { policy: compileV3Policy(source), upstream };
}
