// Mirror metrics on their own registry (metrics-text.ts), never shared with
// the proxy's. etcdmirror's names are kept so existing alerts keep working.
import { Counter, Gauge, Histogram, MetricsRegistry } from './metrics-text.js';

export type MirrorState = 'replicating' | 'resyncing' | 'stopped';
const states: readonly MirrorState[] = ['replicating', 'resyncing', 'stopped'];

/** What a mirror replicates: the v2 mirror's series carry no label (etcdmirror's), the others `api`. */
export type MirrorApi = 'v2' | 'v3' | 'v2-to-v3';

export interface MirrorMetrics {
  registry: MetricsRegistry;
  replicatedEvents: Counter;
  writeLatency: Histogram;
  loadTime: Histogram;
  lastReplicatedIndex: Gauge;
  sourceIndex: Gauge;
  resyncs: Counter;
  strictFailures: Counter;
  setState(state: MirrorState): void;
  readonly state: MirrorState;
  markSourceContact(): void;
  readonly secondsSinceSourceContact: number;
}

export function createMirrorMetrics(lag: () => number, api: MirrorApi = 'v2'): MirrorMetrics {
  const registry = new MetricsRegistry(api === 'v2' ? {} : { api });
  let lastContact = Date.now();
  let current: MirrorState = 'replicating';
  const stateGauge = registry.register(new Gauge('etcd_warden_mirror_state', 'Current mirror state (1 for the current one)', { labelNames: ['state'] }));
  const metrics: MirrorMetrics = {
    registry,
    replicatedEvents: registry.register(new Counter('etcdmirror_replicated_events_total', 'Replica events treated')),
    writeLatency: registry.register(new Histogram('etcdmirror_write_latency', 'Etcd write latencies (seconds)', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])),
    loadTime: registry.register(new Histogram('etcdmirror_load_time', 'Dump and load (resync) time (seconds)', [0.1, 0.5, 1, 5, 10, 30, 60, 300])),
    lastReplicatedIndex: registry.register(new Gauge('etcd_warden_mirror_last_replicated_index', 'Source index up to which every event is applied')),
    sourceIndex: registry.register(new Gauge('etcd_warden_mirror_source_index', 'Latest source index seen')),
    resyncs: registry.register(new Counter('etcd_warden_mirror_resyncs_total', 'Resyncs by reason: index_cleared (the source no longer held the place: the mirror was down or cut off for more than 1000 source events), reload (--reload)', ['reason'])),
    strictFailures: registry.register(new Counter('etcd_warden_mirror_strict_failures_total', 'Stops because the destination diverged')),
    setState(state) {
      current = state;
      for (const name of states) stateGauge.set({ state: name }, name === state ? 1 : 0);
    },
    get state() {
      return current;
    },
    markSourceContact() {
      lastContact = Date.now();
    },
    get secondsSinceSourceContact() {
      return (Date.now() - lastContact) / 1000;
    },
  };
  registry.register(new Gauge('etcdmirror_lag', 'Calculated replica lag (source index minus replicated index)', { collect: lag }));
  registry.register(new Gauge('etcd_warden_mirror_seconds_since_source_contact', 'Seconds since the source last answered', { collect: () => metrics.secondsSinceSourceContact }));
  metrics.resyncs.inc({ reason: 'index_cleared' }, 0);
  metrics.resyncs.inc({ reason: 'reload' }, 0);
  metrics.setState('replicating');
  return metrics;
}
