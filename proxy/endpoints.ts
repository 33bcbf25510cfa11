// Everything on etcd 3.4's client port outside /v2/keys, and who may use it.
// Allow-listed: a path not in this table is answered 404 by the proxy. Every
// route that can change state needs an admin (research finding H: members,
// auth and log level mutate without credentials), except the v3 gateway,
// whose every request is decided on its decoded messages by the v3 rules
// (proxy/v3/gateway.ts), the same as gRPC.

export type EndpointPolicy =
  /** Plain reads anyone may do; other methods need an admin. */
  | { readonly kind: 'anonymous-read' }
  /** Any method, reads included, needs an admin. */
  | { readonly kind: 'admin' }
  /** The v3 JSON gateway: the v3 decision reads the body (decide.ts hands it over). */
  | { readonly kind: 'v3' }
  | { readonly kind: 'unknown' };

interface EndpointRoute {
  /** Exact path, or a subtree when it ends with `/`. */
  readonly path: string;
  readonly policy: EndpointPolicy;
  /** What etcd serves there, for the README table and for reviewers. */
  readonly serves: string;
}

const anonymousRead: EndpointPolicy = { kind: 'anonymous-read' };
const admin: EndpointPolicy = { kind: 'admin' };
const v3: EndpointPolicy = { kind: 'v3' };

export const endpointRoutes: readonly EndpointRoute[] = [
  { path: '/version', policy: anonymousRead, serves: 'server and cluster version' },
  { path: '/health', policy: anonymousRead, serves: 'member health' },
  { path: '/metrics', policy: anonymousRead, serves: "etcd's Prometheus metrics" },
  { path: '/v2/machines', policy: anonymousRead, serves: 'client URLs of the members' },
  { path: '/v2/members', policy: anonymousRead, serves: 'list (GET), add (POST)' },
  { path: '/v2/members/', policy: anonymousRead, serves: 'leader (GET), update (PUT), remove (DELETE)' },
  { path: '/v2/stats/', policy: anonymousRead, serves: 'self, leader and store statistics' },
  { path: '/v2/auth/', policy: admin, serves: 'v2 users, roles, enable/disable auth' },
  { path: '/config/local/log', policy: admin, serves: 'change the log level' },
  { path: '/debug/', policy: admin, serves: 'expvar and pprof (CPU-heavy profiles)' },
  { path: '/v3/', policy: v3, serves: 'v3 gRPC gateway (JSON), reads and writes' },
  { path: '/v3beta/', policy: v3, serves: 'v3 gRPC gateway, the same on etcd 3.4' },
  // etcd 3.4 serves no /v3alpha (404); kept for admins in case a newer etcd does.
  { path: '/v3alpha/', policy: admin, serves: 'v3 gRPC gateway, old prefix' },
];

export function endpointPolicy(path: string): EndpointPolicy {
  const route = endpointRoutes.find((r) => (r.path.endsWith('/') ? path.startsWith(r.path) || path === r.path.slice(0, -1) : path === r.path));
  return route?.policy ?? { kind: 'unknown' };
}
