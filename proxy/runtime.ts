// compile(config) → Runtime: everything the request path reads, built once
// (ACL trees, the user table, limits, the upstream pools; for v3 the ACLs as
// byte intervals and the HTTP/2 connection to etcd), as Caddy's
// provision step does. A reload compiles a new Runtime and swaps one
// reference; a request keeps the Runtime it started with. What a reload
// cannot change on a running listener is told apart here, as a typed diff.
import type { HtpasswdTable } from '../config/htpasswd.js';
import type { LoadedConfig, TlsMaterial } from '../config/load.js';
import type { ClientLimits, HeartbeatSection, ListenAddress, Timeouts, V3Settings } from '../config/schema.js';
import { compileAcl } from './acl.js';
import type { AccessPolicy } from './gate.js';
import { Upstream, type UpstreamOptions } from './upstream.js';
import { upstreamOptionsOf } from './upstream-options.js';
import { compileV3Runtime, type V3Runtime } from './v3/runtime.js';

export interface Runtime {
  readonly listen: ListenAddress;
  /** The proxy's public URL, which etcd must advertise as its client URL (member-url-check.ts). */
  readonly advertise: URL | undefined;
  /** The certificate to serve; undefined for plain HTTP. */
  readonly tls: TlsMaterial | undefined;
  readonly readOnly: boolean;
  readonly policy: AccessPolicy;
  readonly users: HtpasswdTable;
  readonly limits: ClientLimits;
  readonly maxBodyBytes: number;
  readonly timeouts: Timeouts;
  /** Where etcd is and how to reach it; `upstream` holds the pools built from it. */
  readonly upstreamOptions: UpstreamOptions;
  readonly upstream: Upstream;
  readonly heartbeat: HeartbeatSection | undefined;
  /** The same acls, readAcls, admins and read-only switch as v3 byte intervals, and the connection gRPC calls ride to etcd. */
  readonly v3: V3Runtime;
  readonly v3Settings: V3Settings;
}

/** `previous`: the Runtime being replaced, whose upstream pools are kept when nothing about them changed. */
export function compileRuntime(loaded: LoadedConfig, previous?: Runtime): Runtime {
  const { config } = loaded;
  const upstreamOptions = upstreamOptionsOf(loaded);
  return {
    listen: config.listen,
    advertise: config.advertise,
    tls: loaded.tls,
    readOnly: config.readOnly,
    policy: {
      readOnly: config.readOnly,
      writeAcl: compileAcl(config.acls),
      readAcl: compileAcl(config.readAcls),
      admins: new Set(config.admins),
    },
    users: loaded.users,
    limits: config.limits,
    maxBodyBytes: config.maxBodyBytes,
    timeouts: config.timeouts,
    upstreamOptions,
    upstream: previous !== undefined && sameUpstream(previous.upstreamOptions, upstreamOptions) ? previous.upstream : new Upstream(upstreamOptions),
    heartbeat: config.heartbeat,
    v3: compileV3Runtime(
      { readOnly: config.readOnly, acls: config.acls, readAcls: config.readAcls, admins: config.admins, upstream: config.upstream, ...(upstreamOptions.ca === undefined ? {} : { upstreamCa: upstreamOptions.ca }) },
      previous?.v3,
    ),
    v3Settings: config.v3,
  };
}

/** What swapping `previous` for `next` means for the parts that outlive one request. */
export interface RuntimeChange {
  /** Settings the running listener keeps until the next restart, one sentence each for the log. */
  readonly atNextRestart: readonly string[];
  /** A certificate to hand the running TLS listener (TLS stays on). */
  readonly certificate: TlsMaterial | undefined;
  /** New upstream pools: the old ones close once their requests finish. */
  readonly upstreamReplaced: boolean;
  /** A new HTTP/2 connection to etcd for v3: the old one closes once its calls end. */
  readonly v3UpstreamReplaced: boolean;
  /** The heartbeat restarts: other settings, another role (the read-only switch) or another etcd. */
  readonly heartbeatChanged: boolean;
}

export function runtimeChange(previous: Runtime, next: Runtime): RuntimeChange {
  const atNextRestart: string[] = [];
  if (previous.listen.host !== next.listen.host || previous.listen.port !== next.listen.port) atNextRestart.push('listen changed: takes effect at the next restart');
  const tlsToggled = (previous.tls === undefined) !== (next.tls === undefined);
  if (tlsToggled) atNextRestart.push('turning TLS on or off takes effect at the next restart');
  // A reload swaps the secure context (certificate, key, client CA), not whether the listener asks for client certificates.
  else if (previous.tls !== undefined && next.tls !== undefined && (previous.tls.clientCa === undefined) !== (next.tls.clientCa === undefined)) {
    atNextRestart.push('adding or removing tls.clientCa takes effect at the next restart');
  }
  // Node fixes these when the listener is made (maxHeaderSize, its timeout checking tick).
  if (previous.limits.maxHeaderBytes !== next.limits.maxHeaderBytes) atNextRestart.push('limits.maxHeaderBytes changed: takes effect at the next restart');
  for (const field of ['clientRequestMs', 'clientHeadersMs', 'clientKeepAliveMs'] as const) {
    if (previous.timeouts[field] !== next.timeouts[field]) atNextRestart.push(`timeouts.${field} changed: takes effect at the next restart`);
  }
  const upstreamReplaced = previous.upstream !== next.upstream;
  return {
    atNextRestart,
    certificate: tlsToggled ? undefined : next.tls,
    upstreamReplaced,
    v3UpstreamReplaced: previous.v3.upstream !== next.v3.upstream,
    heartbeatChanged: upstreamReplaced || previous.readOnly !== next.readOnly || !sameHeartbeat(previous.heartbeat, next.heartbeat),
  };
}

function sameUpstream(a: UpstreamOptions, b: UpstreamOptions): boolean {
  return (
    a.origin.origin === b.origin.origin &&
    a.connectTimeoutMs === b.connectTimeoutMs &&
    a.requestTimeoutMs === b.requestTimeoutMs &&
    (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca))
  );
}

function sameHeartbeat(a: HeartbeatSection | undefined, b: HeartbeatSection | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.key === b.key && a.followKey === b.followKey && a.intervalMs === b.intervalMs;
}
