// The mirror's status port: etcdmirror's GET /lag (a plain number) and
// GET /metrics, and GET /status, everything `etcd-warden mirror-status`
// shows as one JSON object, including why a stopped mirror stopped.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MirrorApi, MirrorMetrics, MirrorState } from './metrics.js';
import type { MirrorStop } from './stop.js';

export interface MirrorStatusReport {
  readonly api: MirrorApi;
  readonly state: MirrorState;
  readonly lag: number;
  readonly lastReplicatedIndex: number;
  readonly sourceIndex: number;
  readonly secondsSinceSourceContact: number;
  readonly resyncs: Readonly<Record<string, number>>;
  readonly strictFailures: number;
  readonly replicatedEvents: number;
  readonly stop?: MirrorStop;
}

export interface StatusSource {
  readonly api: MirrorApi;
  readonly metrics: MirrorMetrics;
  lag(): number;
  stop(): MirrorStop | undefined;
}

export function statusReport(source: StatusSource): MirrorStatusReport {
  const { metrics } = source;
  const stop = source.stop();
  return {
    api: source.api,
    state: metrics.state,
    lag: source.lag(),
    lastReplicatedIndex: metrics.lastReplicatedIndex.value(),
    sourceIndex: metrics.sourceIndex.value(),
    secondsSinceSourceContact: Math.round(metrics.secondsSinceSourceContact * 10) / 10,
    resyncs: { index_cleared: metrics.resyncs.value({ reason: 'index_cleared' }), reload: metrics.resyncs.value({ reason: 'reload' }) },
    strictFailures: metrics.strictFailures.value(),
    replicatedEvents: metrics.replicatedEvents.value(),
    ...(stop === undefined ? {} : { stop }),
  };
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

export async function startStatusServer(host: string, port: number, source: StatusSource): Promise<StatusServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/lag') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end(String(source.lag()));
      return;
    }
    if (path === '/status') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(statusReport(source)) + '\n');
      return;
    }
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': source.metrics.registry.contentType }).end(source.metrics.registry.text());
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
