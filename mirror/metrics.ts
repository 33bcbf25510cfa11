// Mirror metrics on a dedicated registry (never prom-client's global one, so
// a bundled mirror and the proxy cannot collide). etcdmirror's names are kept
// so existing alerts keep working.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MirrorState = 'replicating' | 'resyncing' | 'stopped';
const states: readonly MirrorState[] = ['replicating', 'resyncing', 'stopped'];

export interface MirrorMetrics {
  registry: Registry;
  replicatedEvents: Counter;
  lag: Gauge;
  writeLatency: Histogram;
  loadTime: Histogram;
  lastReplicatedIndex: Gauge;
  sourceIndex: Gauge;
  resyncs: Counter<'reason'>;
  strictFailures: Counter;
  setState(state: MirrorState): void;
  markSourceContact(): void;
}

/**
 * `api` labels every series of a v3 mirror ("v3") or a v2 → v3 migration
 * ("v2-to-v3"); the v2 mirror's series stay exactly as etcdmirror's.
 */
export function createMirrorMetrics(lag: () => number, api?: 'v3' | 'v2-to-v3'): MirrorMetrics {
  const registry = new Registry();
  // issue 12 touch point: the one change the v3 mirror needs here.
  if (api !== undefined) registry.setDefaultLabels({ api });
  let lastContact = Date.now();
  const state = new Gauge({ name: 'etcd_warden_mirror_state', help: 'Current mirror state (1 for the current one)', labelNames: ['state'], registers: [registry] });
  const metrics: MirrorMetrics = {
    registry,
    replicatedEvents: new Counter({ name: 'etcdmirror_replicated_events_total', help: 'Replica events treated', registers: [registry] }),
    lag: new Gauge({
      name: 'etcdmirror_lag',
      help: 'Calculated replica lag (source index minus replicated index)',
      registers: [registry],
      collect() {
        this.set(lag());
      },
    }),
    writeLatency: new Histogram({
      name: 'etcdmirror_write_latency',
      help: 'Etcd write latencies (seconds)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    loadTime: new Histogram({
      name: 'etcdmirror_load_time',
      help: 'Dump and load (resync) time (seconds)',
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    lastReplicatedIndex: new Gauge({ name: 'etcd_warden_mirror_last_replicated_index', help: 'Source index up to which every event is applied', registers: [registry] }),
    sourceIndex: new Gauge({ name: 'etcd_warden_mirror_source_index', help: 'Latest source index seen', registers: [registry] }),
    resyncs: new Counter({ name: 'etcd_warden_mirror_resyncs_total', help: 'Resyncs by reason', labelNames: ['reason'], registers: [registry] }),
    strictFailures: new Counter({ name: 'etcd_warden_mirror_strict_failures_total', help: 'Stops because the destination diverged', registers: [registry] }),
    setState(current) {
      for (const name of states) state.set({ state: name }, name === current ? 1 : 0);
    },
    markSourceContact() {
      lastContact = Date.now();
    },
  };
  new Gauge({
    name: 'etcd_warden_mirror_seconds_since_source_contact',
    help: 'Seconds since the source last answered',
    registers: [registry],
    collect() {
      this.set((Date.now() - lastContact) / 1000);
    },
  });
  metrics.resyncs.inc({ reason: 'index_cleared' }, 0);
  metrics.resyncs.inc({ reason: 'reload' }, 0);
  metrics.setState('replicating');
  return metrics;
}
