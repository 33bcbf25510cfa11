// The proxy's serving side as its process runs it (bin/commands/proxy.ts):
// in this very process (`workers: 1`), or in a cluster of worker processes
// behind a primary (cluster/cluster-serving.ts). Either way the process
// reloads it, reports on it and stops it the same way.
import type { LoadedConfig } from '../config/load.js';
import type { FailedAuthLimiter } from './auth/failure-limiter.js';
import { CredentialVerifier } from './auth/verifier.js';
import type { ClientsReport } from './clients.js';
import type { ProxyMetrics } from './metrics.js';
import type { ConfigOnTheWire } from './cluster/messages.js';
import { ProxyServer } from './server.js';
import type { Logger } from 'pino';

export interface Serving {
  /** The URL clients use (the scheme says whether TLS is on). */
  readonly url: string;
  /** Applies a validated config (`wire`: its exact bytes); resolves with what waits for a restart. */
  reload(loaded: LoadedConfig, wire: ConfigOnTheWire): Promise<readonly string[]>;
  openWatches(): Promise<number>;
  clients(): Promise<ClientsReport>;
  /** The Prometheus text of /metrics: every serving process's metrics, added up. */
  metrics(): Promise<string>;
  /** Ends watches as a stopping etcd does, drains the rest. */
  stop(): Promise<void>;
}

export interface ServingDependencies {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly limiter: FailedAuthLimiter;
}

/** `workers: 1`: today's single process, serving the port itself. */
export async function serveInThisProcess(loaded: LoadedConfig, deps: ServingDependencies): Promise<Serving> {
  const verifier = new CredentialVerifier({ table: loaded.users });
  const proxy = new ProxyServer(loaded, { ...deps, verifier });
  const url = await proxy.listen();
  return {
    url,
    reload: (next) => Promise.resolve(proxy.reload(next)),
    openWatches: () => Promise.resolve(proxy.openWatches),
    clients: () => Promise.resolve(proxy.clients.report()),
    metrics: () => deps.metrics.registry.metrics(),
    async stop() {
      await proxy.close();
      await verifier.close();
    },
  };
}
