// The proxy's own Prometheus metrics, on a registry of its own (served on the
// `metrics` address; `/metrics` on the client port stays etcd's).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionLabel } from './gate.js';

const knownMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'POST', 'DELETE', 'PATCH']);

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'etcd_warden_requests_total',
    help: 'Requests by method, status and decision (allowed, denied-auth, denied-readonly, denied-acl, denied-limit, bad-request); v3 calls by gRPC method (KV/Range) and status (gRPC code name; HTTP status on the JSON gateway)',
    labelNames: ['method', 'status', 'decision'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'etcd_warden_request_duration_seconds',
    help: 'Time from request to the end of the response; watches (kind="watch") and other v3 streams (kind="stream") are counted apart because they last until an event or for hours',
    labelNames: ['method', 'kind'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'etcd_warden_auth_failures_total',
    help: 'Failed authentications by reason (no-credentials, bad-credentials, not-permitted, rate-limited, verifier-busy; v3: invalid-token)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly openWatches = new Gauge({ name: 'etcd_warden_open_watches', help: 'Watches currently open through the proxy (v2 long polls, v3 Watch streams)', registers: [this.registry] });
  readonly upstreamErrors = new Counter({
    name: 'etcd_warden_upstream_errors_total',
    help: 'Requests that failed talking to etcd, by kind (unreachable, timeout, protocol)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  // With several proxy processes /metrics adds their metrics up (prom-client's
  // AggregatorRegistry); these gauges say the same in every process, so the
  // largest is the value (the primary, which serves no request, reports 0).
  readonly readOnly = new Gauge({ name: 'etcd_warden_read_only', help: '1 when the read-only switch is on', registers: [this.registry], aggregator: 'max' });
  readonly configReloads = new Counter({
    name: 'etcd_warden_config_reloads_total',
    help: 'Config reloads by result (success, failure)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'etcd_warden_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate, as a Unix timestamp',
    registers: [this.registry],
    aggregator: 'max',
  });

  readonly memberUrlBypass = new Gauge({
    name: 'etcd_warden_member_url_bypass',
    help: 'An etcd member advertises this client URL, which goes around the proxy (1); see the error log for the fix',
    labelNames: ['member', 'url'],
    registers: [this.registry],
  });

  readonly heartbeatWrites = new Counter({
    name: 'etcd_warden_heartbeat_writes_total',
    help: 'Heartbeat writes by the primary proxy to its local etcd, by result (success, failure)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly requestChildren = new Map<string, Counter.Internal>();
  private readonly durationChildren = new Map<string, Histogram.Internal<'method' | 'kind'>>();
  private replicaAgeSource: () => number | undefined = () => undefined;
  readonly replicaAge = new Gauge({
    name: 'etcd_warden_replica_age_seconds',
    help: "Age of the newest primary heartbeat seen on this replica; absent until one is seen or on a primary",
    registers: [this.registry],
    // The oldest view among the processes: a reader may be served by any of them.
    aggregator: 'max',
    collect: () => {
      const age = this.replicaAgeSource();
      if (age === undefined) this.replicaAge.reset();
      else this.replicaAge.set(age);
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'etcd_warden_' });
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0);
  }

  /** Where the replica-age gauge reads from at scrape time. */
  followReplicaAge(source: () => number | undefined): void {
    this.replicaAgeSource = source;
  }

  observeRequest(method: string, status: number, decision: DecisionLabel, watch: boolean, seconds: number): void {
    const methodLabel = knownMethods.has(method) ? method : 'OTHER';
    const kind = watch ? 'watch' : 'ordinary';
    // prom-client hashes a label object on every call; the few label sets seen are resolved once.
    const requestsKey = `${methodLabel} ${status} ${decision}`;
    let counted = this.requestChildren.get(requestsKey);
    if (counted === undefined) {
      counted = this.requests.labels({ method: methodLabel, status: String(status), decision });
      this.requestChildren.set(requestsKey, counted);
    }
    counted.inc();
    const durationKey = `${methodLabel} ${kind}`;
    let timed = this.durationChildren.get(durationKey);
    if (timed === undefined) {
      timed = this.duration.labels({ method: methodLabel, kind });
      this.durationChildren.set(durationKey, timed);
    }
    timed.observe(seconds);
  }

  /** A v3 call: `method` is Service/Method, or a raw path (one the .proto files do not define: counted as OTHER). */
  observeV3Call(method: string, status: string, decision: DecisionLabel, kind: 'ordinary' | 'watch' | 'stream', seconds: number): void {
    const methodLabel = method.startsWith('/') ? 'OTHER' : method;
    this.requests.inc({ method: methodLabel, status, decision });
    this.duration.observe({ method: methodLabel, kind }, seconds);
  }
}
