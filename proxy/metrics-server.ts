// The proxy's own /metrics and /healthz, on a separate (normally loopback)
// address, so scraping the proxy never competes with etcd's /metrics that
// clients read through the client port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { ListenAddress } from '../config/schema.js';
import type { ClientsReport } from './clients.js';

export interface HealthReport {
  /** degraded: the proxy serves, but an operator must act on `problems`. */
  readonly status: 'ok' | 'degraded';
  readonly problems: readonly string[];
  readonly readOnly: boolean;
  readonly openWatches: number;
  readonly configFile: string;
}

/** What the address shows; with several proxy processes each is gathered from all of them. */
export interface StatusSources {
  /** Prometheus text. */
  readonly metrics: () => Promise<string>;
  readonly health: () => Promise<HealthReport>;
  /** Open client connections and requests, for `etcd-warden clients`. */
  readonly clients: () => Promise<ClientsReport>;
}

export async function startMetricsServer(address: ListenAddress, sources: StatusSources): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const answer = (read: () => Promise<string>, contentType: string): void => {
      read().then(
        (text) => response.writeHead(200, { 'content-type': contentType }).end(text),
        (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${path} failed: ${error.message}\n`),
      );
    };
    if (path === '/metrics') return answer(sources.metrics, Registry.PROMETHEUS_CONTENT_TYPE);
    if (path === '/healthz') return answer(async () => JSON.stringify(await sources.health()) + '\n', 'application/json');
    if (path === '/clients') return answer(async () => JSON.stringify(await sources.clients()) + '\n', 'application/json');
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /clients\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
