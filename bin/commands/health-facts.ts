// What `etcd-warden health` learns about a cluster, as plain data: the
// probe (health-probe.ts) fills it in, the assessment (health-assess.ts)
// judges it, so the judging is a pure function with a test table.
import type { MirrorStatus } from './mirror-status-read.js';

export interface MemberFacts {
  readonly id: string;
  readonly name: string;
  /** The first advertised client URL; undefined for a member added but never started. */
  readonly clientUrl: string | undefined;
  /** /health said {"health":"true"}. */
  readonly healthy: boolean;
  /** Why it is not healthy: unreachable, timeout, or etcd's own reason. */
  readonly problem?: string;
  readonly version?: string;
  readonly clusterVersion?: string;
  readonly raftIndex?: number;
  readonly raftTerm?: number;
  /** The leader this member follows (from its /v2/stats/self). */
  readonly leaderId?: string;
}

export interface ProxyFacts {
  readonly url: string;
  readonly readOnly?: boolean;
  readonly openWatches?: number;
  /** Why the proxy could not be asked (unreachable, not a proxy's /healthz). */
  readonly problem?: string;
  /** Problems the proxy reports about itself (its /healthz says "degraded"), e.g. a member URL around it. */
  readonly reports?: readonly string[];
}

export interface MirrorFacts {
  readonly url: string;
  readonly status?: MirrorStatus;
  readonly problem?: string;
}

export interface ClusterFacts {
  readonly endpoints: readonly string[];
  readonly clusterId?: string;
  /** Set when no endpoint answered /v2/members. */
  readonly membersProblem?: string;
  readonly members: readonly MemberFacts[];
  readonly leader?: { readonly id: string; readonly name: string };
  readonly proxies: readonly ProxyFacts[];
  readonly mirror?: MirrorFacts;
}

export interface HealthExpectations {
  readonly readOnly?: boolean;
  /** Raft indexes sampled one member after another differ a little under writes. */
  readonly maxRaftSpread: number;
  readonly maxMirrorLag: number;
}
