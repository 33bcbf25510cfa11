// `workers: N` (N > 1): the port served by N worker processes behind this
// primary (primary.ts). What must be one per host stays here: the heartbeat
// writer of a read-write proxy (each worker of a replica follows the
// heartbeat itself, for its own staleness guard), and the sums the metrics
// address shows.
import { AggregatorRegistry } from 'prom-client';
import type { LoadedConfig } from '../../config/load.js';
import type { HeartbeatSection } from '../../config/schema.js';
import { mergeClientsReports } from '../clients.js';
import { Heartbeat } from '../heartbeat.js';
import { upstreamOptionsOf } from '../upstream-options.js';
import type { Serving, ServingDependencies } from '../serving.js';
import type { ConfigOnTheWire } from './messages.js';
import { ClusterPrimary } from './primary.js';

/** A stopping worker gets its shutdown grace and this much more before it is killed. */
const stopMarginMs = 5_000;

export async function serveInWorkers(loaded: LoadedConfig, wire: ConfigOnTheWire, workers: number, deps: ServingDependencies): Promise<Serving> {
  let current = loaded;
  const primary = new ClusterPrimary({
    workers, config: wire, log: deps.log, limiter: deps.limiter,
    stopTimeoutMs: () => current.config.timeouts.shutdownGraceMs + stopMarginMs,
  });
  const url = await primary.start();
  let heartbeat = startHeartbeatWriter(current, deps);
  return {
    url,
    async reload(next, nextWire) {
      const before = current;
      current = next;
      const atNextRestart = await primary.reload(nextWire);
      if (!sameWriter(before, next)) {
        void heartbeat?.stop();
        heartbeat = startHeartbeatWriter(next, deps);
      }
      if (before.config.workers !== next.config.workers) atNextRestart.push('workers changed: takes effect at the next restart');
      return atNextRestart;
    },
    openWatches: async () => (await primary.ask('open-watches')).reduce((sum, count) => sum + count, 0),
    clients: async () => mergeClientsReports(await primary.ask('clients')),
    async metrics() {
      const [own, perWorker] = await Promise.all([deps.metrics.registry.getMetricsAsJSON(), primary.ask('metrics')]);
      return AggregatorRegistry.aggregate([own, ...perWorker]).metrics();
    },
    async stop() {
      await heartbeat?.stop();
      await primary.stop();
    },
  };
}

/** Only a read-write proxy writes heartbeats; a replica's workers follow them (server.ts). */
function startHeartbeatWriter(loaded: LoadedConfig, deps: ServingDependencies): Heartbeat | undefined {
  const { heartbeat, readOnly } = loaded.config;
  if (heartbeat === undefined || readOnly) return undefined;
  return new Heartbeat('writer', heartbeat, upstreamOptionsOf(loaded), deps.log, {
    written: (result) => deps.metrics.heartbeatWrites.inc({ result }),
  });
}

function sameWriter(a: LoadedConfig, b: LoadedConfig): boolean {
  const same = (x: HeartbeatSection | undefined, y: HeartbeatSection | undefined): boolean =>
    x === undefined || y === undefined ? x === y : x.key === y.key && x.intervalMs === y.intervalMs;
  return a.config.readOnly === b.config.readOnly && a.config.upstream.origin === b.config.upstream.origin && same(a.config.heartbeat, b.config.heartbeat);
}
