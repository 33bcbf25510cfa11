// The proxy's own /metrics and /healthz, on a separate (normally loopback)
// address, so scraping the proxy never competes with etcd's /metrics that
// clients read through the client port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../config/schema.js';
import type { ClientsReport } from './clients.js';
import type { ProxyMetrics } from './metrics.js';

export interface HealthReport {
  /** degraded: the proxy serves, but an operator must act on `problems`. */
  readonly status: 'ok' | 'degraded';
  readonly problems: readonly string[];
  readonly readOnly: boolean;
  readonly openWatches: number;
  readonly configFile: string;
}

export interface StatusSources {
  readonly health: () => HealthReport;
  /** Open client connections and requests, for `etcd-warden clients`. */
  readonly clients: () => ClientsReport;
}

export async function startMetricsServer(address: ListenAddress, metrics: ProxyMetrics, sources: StatusSources): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${error.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sources.health()) + '\n');
      return;
    }
    if (path === '/clients') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sources.clients()) + '\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /clients\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
